"""Naming speakers: match each diarized speaker's centroid to the enrolled voices.

Each speaker of a :class:`~diarize.types.Result` has a centroid in ``result.embeddings``; each voice a
reference vector (:attr:`Voice.vector`). Their cosine similarities form a ``(speakers, voices)`` matrix. A
one-to-one assignment maximising the total similarity (the Hungarian algorithm,
``scipy.optimize.linear_sum_assignment``) proposes at most one voice per speaker and one speaker per voice;
a proposal is accepted only when its similarity reaches the threshold. Other speakers keep ``SPEAKER_xx``.

Calibration (``diarize dev calibrate-voices``; 7 cases on simconv, pyannote's sample and three AMI
excerpts, voices enrolled on single-speaker stretches of 1-10 s of one part, speakers diarized in another,
plus four single-speaker "stranger" voices in every library). Naming someone wrongly is worse than leaving
``SPEAKER_xx``, so the threshold lies just above every impostor trial (CAM++: at the next 0.05 step). The
thresholds and these trial statistics are data, in ``data/voice_thresholds.json`` (:data:`CALIBRATION`):

=======  ===================  =======================  ============  ================================
model    targets: n, min       impostors: n, mean, max  EER (thr.)    default threshold on these trials
=======  ===================  =======================  ============  ================================
CAM++    11, 0.29 (mean .58)  135, 0.05, 0.42          8.6 % (0.32)  0.45: 3/11 targets missed, 0 FA
GE2E     7, 0.76 (mean .82)   95, 0.56, 0.86           3.2 % (0.76)  0.88: 5/7 targets missed, 0 FA
=======  ===================  =======================  ============  ================================

With CAM++ at 0.45 the naming itself gave 5/6 diarized speakers of enrolled people the right name (the miss:
a second cluster the speaker stage made of one AMI speaker; one voice names one cluster), none a wrong
name, and 0/17 speakers of people never enrolled a name. The three missed target trials all come from
AMI's overlapping far-field audio with 1-2 s enrolments; clean enrolments of 3 s or more scored 0.59-0.76.
GE2E separates voices poorly (impostors up to 0.86, targets from 0.76): at 0.88 it named 2/4 speakers of
enrolled people, none wrongly, and 0/12 strangers; it names only very close matches.

Voices must come from the embedding model that made the result: similarities between two models' embeddings
mean nothing, so a mismatch is a :class:`~diarize.errors.ConfigError`, never a guess.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from diarize.errors import ConfigError
from diarize.models.registry import data_path
from diarize.types import Result
from diarize.voices.library import Voice
from diarize.writers.labels import rename_speakers

__all__ = [
    "CALIBRATION",
    "DEFAULT_THRESHOLDS",
    "NamingOptions",
    "SpeakerMatch",
    "check_models",
    "match_speakers",
    "name_speakers",
    "result_model",
]

logger = logging.getLogger(__name__)

CALIBRATION: Mapping[str, Any] = json.loads(data_path("voice_thresholds.json").read_text(encoding="utf-8"))["models"]
"""Per embedding model: its ``threshold`` and the trials it was calibrated on (``targets``, ``impostors``, ``eer``,
``eer_threshold``, ``at_threshold``), as measured by ``diarize dev calibrate-voices``."""

DEFAULT_THRESHOLDS: Mapping[str, float] = {model: float(entry["threshold"]) for model, entry in CALIBRATION.items()}
"""Least cosine similarity for a name, per embedding model (from :data:`CALIBRATION`)."""


@dataclass(frozen=True)
class NamingOptions:
    """How diarized speakers are matched to voices."""

    threshold: float | None = None
    """Least cosine similarity between a speaker's centroid and a voice for the speaker to get its name.
    ``None``: the embedding model's calibrated default (:data:`DEFAULT_THRESHOLDS`)."""

    def __post_init__(self) -> None:
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ConfigError(f"voice threshold must lie in [-1, 1], got {self.threshold}")

    def threshold_for(self, model: str) -> float:
        if self.threshold is not None:
            return self.threshold
        if model not in DEFAULT_THRESHOLDS:
            raise ConfigError(
                f"no calibrated voice threshold for embedding model {model!r}: give one explicitly"
            )
        return DEFAULT_THRESHOLDS[model]


@dataclass(frozen=True)
class SpeakerMatch:
    """What matching found for one speaker."""

    speaker: str
    """The speaker's label in the result (``SPEAKER_xx``)."""

    name: str | None
    """The voice it was named after, or ``None`` (no proposal, or one below the threshold)."""

    candidate: str | None
    """The voice the one-to-one assignment proposed (named or not), ``None`` when there was none left."""

    score: float | None
    """Cosine similarity with ``candidate``."""

    scores: Mapping[str, float]
    """Cosine similarity with every voice."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "name": self.name,
            "candidate": self.candidate,
            "score": self.score,
            "scores": dict(self.scores),
        }


def check_models(
    voices: Sequence[Voice], model: str, dimension: int | None, where: str = "the voice library"
) -> None:
    """:class:`ConfigError` unless every voice was enrolled with ``model`` (and ``dimension``, when given)."""
    wrong = [v for v in voices if v.model != model or (dimension is not None and v.dimension != dimension)]
    if not wrong:
        return
    found = ", ".join(sorted({f"{v.model} ({v.dimension}-dim)" for v in wrong}))
    names = ", ".join(v.name for v in wrong[:5]) + (" ..." if len(wrong) > 5 else "")
    expected = model if dimension is None else f"{model} ({dimension}-dim)"
    raise ConfigError(
        f"{where}: voices {names} were enrolled with {found}, "
        f"but these speaker embeddings come from {expected}: "
        f"enrol them again with --embedding-model {model}, or run with the model they were enrolled with"
    )


def result_model(result: Result, source: str = "the result") -> str:
    """The embedding model that made ``result.embeddings`` (from its provenance).

    Raises :class:`ConfigError` when the provenance does not say.
    """
    model = result.provenance.models.get("embedding")
    if not model:
        raise ConfigError(
            f"{source}: the provenance does not name the speaker embedding model (models.embedding)"
        )
    return str(model)


def _unit(vector: np.ndarray) -> np.ndarray | None:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    if vector.ndim != 1 or not math.isfinite(norm) or norm == 0.0:
        return None
    return vector / norm


def match_speakers(
    embeddings: Mapping[str, np.ndarray], voices: Sequence[Voice], threshold: float
) -> tuple[SpeakerMatch, ...]:
    """Match speakers (label → centroid ``(dimension,)``) to ``voices`` one to one; see the module docstring.

    Speakers whose centroid is missing, empty or not finite are left unnamed. The caller checks models.
    """
    from scipy.optimize import linear_sum_assignment

    units = {s: u for s, u in ((s, _unit(v)) for s, v in embeddings.items()) if u is not None}
    speakers = list(units)
    matches = {s: SpeakerMatch(s, None, None, None, {}) for s in embeddings}
    if not speakers or not voices:
        return tuple(matches.values())
    references = np.stack([v.vector for v in voices]).astype(np.float64)
    # shape: (num_speakers, num_voices)
    similarity = np.stack([units[s] for s in speakers]) @ references.T
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    proposals = {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
    for i, speaker in enumerate(speakers):
        scores = {v.name: round(float(similarity[i, j]), 4) for j, v in enumerate(voices)}
        j = proposals.get(i)
        if j is None:
            matches[speaker] = SpeakerMatch(speaker, None, None, None, scores)
            continue
        score = float(similarity[i, j])
        name = voices[j].name if score >= threshold else None
        matches[speaker] = SpeakerMatch(speaker, name, voices[j].name, round(score, 4), scores)
    return tuple(matches.values())


def name_speakers(
    result: Result,
    voices: Sequence[Voice],
    options: NamingOptions | None = None,
    *,
    fixed: Mapping[str, str] | None = None,
    library: str | None = None,
) -> Result:
    """A copy of ``result`` whose speakers carry the names of the voices they match, everywhere.

    ``fixed`` maps labels to names the user chose (``--speaker-names``): those speakers are not matched and
    those names are not given to anyone else. Each matched speaker's similarity goes to ``speaker_scores``;
    the threshold, the library (``library``, for the record) and every similarity go to the provenance under
    ``voices``. Raises :class:`ConfigError` when the voices come from another embedding model than the result.
    """
    options = options or NamingOptions()
    fixed = dict(fixed or {})
    if not voices:
        return rename_speakers(result, fixed)
    model = result_model(result)
    dimensions = {int(np.asarray(v).shape[-1]) for v in result.embeddings.values()}
    check_models(
        voices, model, dimensions.pop() if len(dimensions) == 1 else None, library or "the voice library"
    )
    threshold = options.threshold_for(model)
    candidates = [v for v in voices if v.name not in fixed.values()]
    embeddings = {
        s: result.embeddings[s] for s in result.speakers if s in result.embeddings and s not in fixed
    }
    matches = match_speakers(embeddings, candidates, threshold)
    mapping = {**{m.speaker: m.name for m in matches if m.name is not None}, **fixed}
    scores = {m.speaker: m.score for m in matches if m.score is not None}
    record = {
        "library": library,
        "model": model,
        "threshold": threshold,
        "voices": [v.name for v in candidates],
        "matches": [m.to_dict() for m in matches],
    }
    for m in matches:
        logger.info("%s: %s (similarity %s with %s)", m.speaker, m.name or "unnamed", m.score, m.candidate)
    scored = replace(
        result,
        speaker_scores={**result.speaker_scores, **scores},
        provenance=replace(result.provenance, extra={**result.provenance.extra, "voices": record}),
    )
    return rename_speakers(scored, mapping)
