"""Calibrate and check the voice-naming threshold on real recordings: ``diarize dev calibrate-voices``.

Needs the project's test recordings (``--data``, the folder of ``meetings/*.wav`` + ``.rttm``) and pyannote's
bundled sample. Each case enrols voices on single-speaker stretches of one recording (or one half of it),
taken from the reference RTTM, and names the speakers the speaker stage finds in another recording of the same
people (or the other half). A diarized speaker's true identity is the reference speaker who talks most in it.

* **trials** — every (diarized speaker, voice) similarity: *target* when the voice is the speaker's true
  identity, *impostor* otherwise. Their distributions give the equal-error threshold and the threshold at
  which no impostor trial would be accepted.
* **naming** — :func:`diarize.voices.naming.match_speakers` with one enrolment per person: *accuracy* is the share of
  diarized speakers whose person was enrolled and who got the right name; *false naming* the share of
  diarized speakers whose person was not enrolled and who got a name anyway.

The default thresholds (:data:`diarize.voices.naming.DEFAULT_THRESHOLDS`) are chosen from this output; the numbers
are recorded in ``data/voice_thresholds.json`` and summed up in :mod:`diarize.voices.naming`'s docstring.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from diarize.speakers.diarization import SpeakerModels, diarize
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, Diarization
from diarize.voices.enrol import Clip, EnrolmentError, embed_clip
from diarize.voices.library import Voice
from diarize.voices.naming import match_speakers

__all__ = [
    "CASES",
    "Case",
    "NamingCounts",
    "Region",
    "clean_turns",
    "diarized_identities",
    "naming_counts",
]

logger = logging.getLogger(__name__)

RefTurn = tuple[float, float, str]


@dataclass(frozen=True)
class Region:
    """``[start, end)`` seconds of one recording (a path relative to the data folder, or ``sample``)."""

    recording: str
    start: float = 0.0
    end: float = float("inf")


@dataclass(frozen=True)
class Case:
    """Enrol on ``enrol``'s single-speaker stretches; name the speakers of each of ``evaluate``."""

    name: str
    enrol: Region
    evaluate: tuple[Region, ...]


CASES: tuple[Case, ...] = (
    Case(
        "simconv 1st half -> 2nd",
        Region("meetings/simconv_en_text.wav", 0, 15),
        (Region("meetings/simconv_en_text.wav", 15),),
    ),
    Case(
        "simconv 2nd half -> 1st",
        Region("meetings/simconv_en_text.wav", 15),
        (Region("meetings/simconv_en_text.wav", 0, 15),),
    ),
    Case("sample 1st half -> 2nd", Region("sample", 0, 15), (Region("sample", 15),)),
    Case("sample 2nd half -> 1st", Region("sample", 15), (Region("sample", 0, 15),)),
    Case(
        "ami trn07 -> trn08, trn05",
        Region("meetings/ami_trn07.wav"),
        (Region("meetings/ami_trn08.wav"), Region("meetings/ami_trn05.wav")),
    ),
    Case(
        "ami trn08 -> trn07, trn05",
        Region("meetings/ami_trn08.wav"),
        (Region("meetings/ami_trn07.wav"), Region("meetings/ami_trn05.wav")),
    ),
    Case(
        "ami trn05 -> trn07, trn08",
        Region("meetings/ami_trn05.wav"),
        (Region("meetings/ami_trn07.wav"), Region("meetings/ami_trn08.wav")),
    ),
)
"""The calibration cases: AMI trn07/trn08 are two excerpts of one meeting; trn05 is another meeting."""


def clean_turns(reference: Sequence[RefTurn], start: float, end: float, min_duration: float) -> list[RefTurn]:
    """Stretches of ``[start, end)`` where exactly one reference speaker talks, at least ``min_duration``
    long, longest first."""
    cuts = sorted({start, end, *(min(max(t, start), end) for s, e, _ in reference for t in (s, e))})
    stretches: list[RefTurn] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        middle = (a + b) / 2
        talking = {who for s, e, who in reference if s <= middle < e}
        who = next(iter(talking)) if len(talking) == 1 else ""
        if stretches and stretches[-1][2] == who and abs(stretches[-1][1] - a) < 1e-9:
            stretches[-1] = (stretches[-1][0], b, who)
        else:
            stretches.append((a, b, who))
    keep = [t for t in stretches if t[2] and t[1] - t[0] >= min_duration]
    return sorted(keep, key=lambda t: t[0] - t[1])


def diarized_identities(
    diarization: Diarization, reference: Sequence[RefTurn], offset: float = 0.0
) -> dict[str, str | None]:
    """Each diarized speaker's true identity: the reference speaker overlapping its turns most, or ``None``.

    ``offset`` is the start of the diarized audio in the reference's timeline.
    """
    identity: dict[str, str | None] = {}
    for speaker in diarization.speakers:
        overlap: dict[str, float] = {}
        for turn in diarization.turns:
            if turn.speaker != speaker:
                continue
            for s, e, who in reference:
                shared = min(e, turn.end + offset) - max(s, turn.start + offset)
                if shared > 0:
                    overlap[who] = overlap.get(who, 0.0) + shared
        identity[speaker] = max(overlap, key=lambda w: overlap[w]) if overlap else None
    return identity


@dataclass
class NamingCounts:
    """Naming outcomes over diarized speakers."""

    enrolled: int = 0
    """Diarized speakers whose person has a voice."""
    correct: int = 0
    """... and who got that voice's name."""
    wrong: int = 0
    """... and who got another name."""
    strangers: int = 0
    """Diarized speakers whose person has no voice (or who match no reference speaker)."""
    false_named: int = 0
    """... and who got a name anyway."""
    details: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.enrolled if self.enrolled else float("nan")

    @property
    def false_naming(self) -> float:
        return self.false_named / self.strangers if self.strangers else float("nan")

    def add(self, other: NamingCounts) -> None:
        for name in ("enrolled", "correct", "wrong", "strangers", "false_named"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.details.extend(other.details)


def naming_counts(
    diarization: Diarization, identities: dict[str, str | None], voices: Sequence[Voice], threshold: float
) -> NamingCounts:
    """Match ``diarization``'s centroids to ``voices`` and count the outcomes against ``identities``."""
    counts = NamingCounts()
    known = {v.name for v in voices}
    for match in match_speakers(diarization.centroids, voices, threshold):
        truth = identities.get(match.speaker)
        if truth in known:
            counts.enrolled += 1
            counts.correct += match.name == truth
            counts.wrong += match.name is not None and match.name != truth
        else:
            counts.strangers += 1
            counts.false_named += match.name is not None
        counts.details.append(f"{match.speaker} ({truth}) -> {match.name} [{match.candidate} {match.score}]")
    return counts


class _Recordings:
    """Decoded recordings and their references, cut to regions, cached."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self._audio: dict[str, Audio] = {}

    def path(self, recording: str) -> Path:
        if recording == "sample":
            from diarize.models.registry import sample_path

            return sample_path()
        return self.data / recording

    def audio(self, recording: str) -> Audio:
        if recording not in self._audio:
            from diarize.audio import load_audio

            self._audio[recording] = load_audio(self.path(recording))
        return self._audio[recording]

    def reference(self, recording: str) -> list[RefTurn]:
        from diarize.eval.io import load_rttm

        turns = load_rttm(self.path(recording).with_suffix(".rttm"))
        return [(t.start, t.end, t.speaker) for file_turns in turns.values() for t in file_turns]

    def cut(self, region: Region) -> Audio:
        audio = self.audio(region.recording)
        samples = np.array(audio.slice(region.start, min(region.end, audio.duration)), dtype=np.float32)
        return replace(audio, samples=samples)


def enrol_region(
    recordings: _Recordings,
    region: Region,
    models: SpeakerModels,
    options: SpeakerOptions,
    per_speaker: int,
    min_duration: float = 1.0,
) -> dict[str, list[np.ndarray]]:
    """Embeddings of up to ``per_speaker`` single-speaker stretches (longest first) per reference speaker."""
    audio = recordings.audio(region.recording)
    end = min(region.end, audio.duration)
    found: dict[str, list[np.ndarray]] = {}
    for s, e, who in clean_turns(recordings.reference(region.recording), region.start, end, min_duration):
        if len(found.get(who, [])) >= per_speaker:
            continue
        clip = Clip(recordings.path(region.recording), s, e)
        try:
            vector, _ = embed_clip(audio, clip, models, options)
        except EnrolmentError as exc:
            logger.info("skipped: %s", exc)
            continue
        found.setdefault(who, []).append(vector)
    return found


STRANGERS: tuple[tuple[str, int | None], ...] = (
    ("video/WDA_KatieHill_000.mp4", None),
    ("meetings/stereo_diarization.wav", 0),
    ("meetings/stereo_diarization.wav", 1),
    ("speech/jfk.flac", None),
)
"""Single-speaker clips (a file, or one channel of it) of people in no case: voices added to every case's
library, so that each diarized speaker also faces voices of strangers. (JFK also speaks in simconv, whose
cases leave him out.)"""


def enrol_strangers(data: Path, models: SpeakerModels, options: SpeakerOptions) -> dict[str, np.ndarray]:
    """One embedding per stranger clip (whole clip, single-speaker check included)."""
    from diarize.audio import load_audio

    found = {}
    for recording, channel in STRANGERS:
        path = data / recording
        audio = load_audio(path)
        if channel is not None:
            import soundfile

            samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
            if rate != audio.sample_rate:
                raise ValueError(f"{path}: expected {audio.sample_rate} Hz, got {rate}")
            audio = replace(audio, samples=np.ascontiguousarray(samples[:, channel]))
        label = f"{path.stem}" + ("" if channel is None else f"[{channel}]")
        found[label], _ = embed_clip(audio, Clip(path), models, options)
    return found


def _voices(found: dict[str, list[np.ndarray]], model: str) -> list[Voice]:
    from diarize.voices.library import Enrolment

    return [
        Voice(name=who, model=model, embeddings=rows[0][None], enrolments=(Enrolment(who),))
        for who, rows in found.items()
    ]


def run_cases(
    data: Path,
    models: SpeakerModels,
    options: SpeakerOptions,
    threshold: float,
    cases: Iterable[Case] = CASES,
    per_speaker: int = 3,
) -> tuple[list[float], list[float], NamingCounts]:
    """Target scores, impostor scores and the naming counts (one enrolment per person) over ``cases``."""
    recordings = _Recordings(data)
    diarized: dict[Region, tuple[Diarization, dict[str, str | None]]] = {}
    targets: list[float] = []
    impostors: list[float] = []
    total = NamingCounts()
    strangers = enrol_strangers(data, models, options)
    for case in cases:
        found = enrol_region(recordings, case.enrol, models, options, per_speaker)
        for label, vector in strangers.items():
            if not (label == "jfk" and "simconv" in case.enrol.recording):
                found[label] = [vector]
        for region in case.evaluate:
            if region not in diarized:
                result = diarize(recordings.cut(region), options, models)
                reference = recordings.reference(region.recording)
                diarized[region] = (result, diarized_identities(result, reference, offset=region.start))
            result, identities = diarized[region]
            for speaker, truth in identities.items():
                centroid = result.centroids.get(speaker)
                if centroid is None or not np.isfinite(centroid).all():
                    continue
                for who, rows in found.items():
                    (targets if who == truth else impostors).extend(float(centroid @ row) for row in rows)
            counts = naming_counts(result, identities, _voices(found, options.embedding_model), threshold)
            logger.info("%s / %s: %s", case.name, region.recording, "; ".join(counts.details))
            total.add(counts)
    return targets, impostors, total


def equal_error_threshold(targets: Sequence[float], impostors: Sequence[float]) -> tuple[float, float]:
    """``(threshold, equal error rate)``: where misses of targets and acceptances of impostors balance."""
    best = (0.0, 1.0, float("inf"))
    for t in sorted({*targets, *impostors}):
        miss = float(np.mean(np.asarray(targets) < t))
        accept = float(np.mean(np.asarray(impostors) >= t))
        if abs(miss - accept) < best[2]:
            best = (t, (miss + accept) / 2, abs(miss - accept))
    return best[0], best[1]
