"""Accuracy metrics, computed the way the field computes them.

- **DER** (missed speech + false alarm + speaker confusion, over scored reference speech) and **JER**
  come from ``pyannote.metrics``. Collars follow pyannote's convention: ``collar=c`` removes ``c/2`` seconds
  on each side of every reference boundary, so pyannote ``collar=0.5`` is dscore/md-eval ``--collar 0.25``.
- **WER** is Levenshtein word error over whitespace tokens (``jiwer``), after an optional text normaliser
  (Whisper's ``EnglishTextNormalizer`` by default in :mod:`diarize.evaluate`).
- **cpWER** and **tcpWER** come from ``meeteval``.
- **WDER** (word diarization error rate) is computed here: see :func:`wder`.

Scores are records of *components* (seconds, word counts) that add up across files with ``+``; the rates are
properties, so a total is always the ratio of summed components, never a mean of per-file rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

import numpy as np

from diarize.types import Segment, Span, SpeakerTurn

__all__ = [
    "CpWerScore",
    "DerScore",
    "JerScore",
    "LabelledWord",
    "SpeakerCount",
    "WderScore",
    "WordErrors",
    "cpwer",
    "der",
    "jer",
    "speaker_count",
    "tcpwer",
    "wder",
    "word_errors",
]

LabelledWord = tuple[str, "str | None"]
"""A word and the speaker it is attributed to (``None``: no speaker)."""

Normalizer = Callable[[str], str]


def _ratio(errors: float, total: float) -> float:
    """``errors / total``; 0 when both are 0, infinity when only the total is 0."""
    if total > 0:
        return errors / total
    return 0.0 if errors == 0 else math.inf


class _Summable:
    """``+`` on a frozen dataclass of counts: numbers add up, ``_keys`` fields must agree, others reset."""

    _keys: ClassVar[tuple[str, ...]] = ()

    def __add__(self: _S, other: _S) -> _S:
        if type(other) is not type(self):
            raise TypeError(f"cannot add {type(other).__name__} to {type(self).__name__}")
        values: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in self._keys:
                if mine != theirs:
                    raise ValueError(f"cannot add scores with different {f.name}: {mine} and {theirs}")
                values[f.name] = mine
            elif isinstance(mine, (int, float)) and not isinstance(mine, bool):
                values[f.name] = mine + theirs
        return type(self)(**values)


_S = TypeVar("_S", bound=_Summable)


@dataclass(frozen=True)
class DerScore(_Summable):
    """Diarization error components (seconds) at one collar; add scores of several files with ``+``."""

    _keys = ("collar", "skip_overlap")
    collar: float
    """pyannote convention: ``collar/2`` seconds are removed on each side of every reference boundary."""
    skip_overlap: bool
    """True when regions where several reference speakers overlap are not scored."""
    total: float = 0.0
    """Scored reference speech (s), counted once per speaker (overlap counts twice)."""
    missed: float = 0.0
    """Reference speech the hypothesis does not cover (s)."""
    false_alarm: float = 0.0
    """Hypothesised speech where the reference has none, or too many speakers (s)."""
    confusion: float = 0.0
    """Speech attributed to the wrong speaker after the optimal one-to-one speaker mapping (s)."""

    @property
    def der(self) -> float:
        """Diarization error rate (fraction)."""
        return _ratio(self.missed + self.false_alarm + self.confusion, self.total)


@dataclass(frozen=True)
class JerScore(_Summable):
    """Jaccard error: the sum of per-reference-speaker JERs and the number of reference speakers."""

    _keys = ("collar", "skip_overlap")
    collar: float
    """pyannote convention, as in :class:`DerScore`."""
    skip_overlap: bool
    """True when overlap regions are not scored."""
    speaker_error: float = 0.0
    """Sum over reference speakers of ``(FA + MISS) / TOTAL`` against the mapped system speaker."""
    speakers: int = 0
    """Number of reference speakers scored."""

    @property
    def jer(self) -> float:
        """Jaccard error rate (fraction): the mean per-speaker JER over all speakers of all files added;
        NaN (undefined) without any reference speaker."""
        return self.speaker_error / self.speakers if self.speakers else math.nan


@dataclass(frozen=True)
class SpeakerCount(_Summable):
    """How many speakers the reference and the hypothesis hold in the scored region."""

    reference: int = 0
    hypothesis: int = 0
    abs_error: int = 0
    """``|hypothesis - reference|`` per file, summed over the files added."""

    @property
    def error(self) -> int:
        """System minus reference (signed; summed over the files added)."""
        return self.hypothesis - self.reference


@dataclass(frozen=True)
class WordErrors(_Summable):
    """Word alignment counts; ``reference_words = hits + substitutions + deletions``."""

    reference_words: int = 0
    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Word error rate (fraction)."""
        return _ratio(self.errors, self.reference_words)


@dataclass(frozen=True)
class CpWerScore(WordErrors):
    """cpWER or tcpWER counts (meeteval), with speaker counts and the speaker assignment it chose."""

    missed_speakers: int = 0
    """Reference speakers left without a hypothesis stream."""
    falarm_speakers: int = 0
    """Hypothesis streams left without a reference speaker."""
    scored_speakers: int = 0
    assignment: tuple[tuple[str | None, str | None], ...] = ()
    """(reference speaker, hypothesis speaker) pairs; empty for a sum over several files."""


@dataclass(frozen=True)
class WderScore(_Summable):
    """Word diarization error: of the scored aligned words, how many carry the wrong speaker."""

    scored: int = 0
    """Aligned reference words with a reference speaker (hits; plus substitutions if they were included)."""
    wrong: int = 0
    """Scored words whose hypothesised speaker is not the mapped reference speaker (or is missing)."""
    mapping: dict[str, str] = field(default_factory=dict)
    """Hypothesis speaker -> reference speaker; empty for a sum over several files."""

    @property
    def wder(self) -> float:
        """Word diarization error rate (fraction)."""
        return self.wrong / self.scored if self.scored else 0.0


# ----------------------------------------------------------------------------------------------------
# Diarization: DER, JER, speaker count (pyannote.metrics)
# ----------------------------------------------------------------------------------------------------


def _annotation(turns: Iterable[SpeakerTurn]) -> Any:
    from pyannote.core import Annotation
    from pyannote.core import Segment as PSegment

    annotation = Annotation()
    for track, turn in enumerate(turns):
        if turn.end > turn.start:
            annotation[PSegment(turn.start, turn.end), track] = turn.speaker
    return annotation


def _timeline(
    uem: Sequence[Span] | None, reference: Sequence[SpeakerTurn], hypothesis: Sequence[SpeakerTurn]
) -> Any:
    """The scored region: the UEM, or else the extent of reference and hypothesis (as dscore does)."""
    from pyannote.core import Segment as PSegment
    from pyannote.core import Timeline

    if uem is None:
        turns = [*reference, *hypothesis]
        if not turns:
            return Timeline()
        uem = [Span(min(t.start for t in turns), max(t.end for t in turns))]
    return Timeline([PSegment(s.start, s.end) for s in uem if s.end > s.start]).support()


def der(
    reference: Sequence[SpeakerTurn],
    hypothesis: Sequence[SpeakerTurn],
    uem: Sequence[Span] | None = None,
    collar: float = 0.0,
    skip_overlap: bool = False,
) -> DerScore:
    """Diarization error of one file with ``pyannote.metrics.diarization.DiarizationErrorRate``.

    ``collar`` follows pyannote (``collar/2`` on each side of reference boundaries). Without ``uem`` the
    scored region is the extent of reference and hypothesis together.
    """
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    detail = metric(
        _annotation(reference),
        _annotation(hypothesis),
        uem=_timeline(uem, reference, hypothesis),
        detailed=True,
    )
    return DerScore(
        collar=collar,
        skip_overlap=skip_overlap,
        total=float(detail["total"]),
        missed=float(detail["missed detection"]),
        false_alarm=float(detail["false alarm"]),
        confusion=float(detail["confusion"]),
    )


def jer(
    reference: Sequence[SpeakerTurn],
    hypothesis: Sequence[SpeakerTurn],
    uem: Sequence[Span] | None = None,
    collar: float = 0.0,
    skip_overlap: bool = False,
) -> JerScore:
    """Jaccard error of one file with ``pyannote.metrics.diarization.JaccardErrorRate``.

    pyannote computes JER on exact segment times; dscore computes it on 10 ms frames (a frame
    ``[t, t+0.01)`` is active when ``onset <= t < offset``, i.e. boundaries round up to the next 10 ms). The
    two therefore differ in the last digits (dscore's test files: 33.24631 % vs 33.21709 %); quantising the
    turns to dscore's frames first reproduces dscore exactly. Both map speakers one-to-one with the Hungarian
    algorithm (pyannote maximises overlap time, dscore minimises the summed JER), which usually agree.
    """
    from pyannote.metrics.diarization import JaccardErrorRate

    metric = JaccardErrorRate(collar=collar, skip_overlap=skip_overlap)
    detail = metric(
        _annotation(reference),
        _annotation(hypothesis),
        uem=_timeline(uem, reference, hypothesis),
        detailed=True,
    )
    return JerScore(
        collar=collar,
        skip_overlap=skip_overlap,
        speaker_error=float(detail["speaker error"]),
        speakers=int(detail["speaker count"]),
    )


def speaker_count(
    reference: Sequence[SpeakerTurn], hypothesis: Sequence[SpeakerTurn], uem: Sequence[Span] | None = None
) -> SpeakerCount:
    """Distinct speakers with speech inside the scored region (the UEM, or everything)."""
    region = _timeline(uem, reference, hypothesis) if uem is not None else None

    def count(turns: Sequence[SpeakerTurn]) -> int:
        annotation = _annotation(turns)
        if region is not None:
            annotation = annotation.crop(region)
        return len(annotation.labels())

    n_ref, n_hyp = count(reference), count(hypothesis)
    return SpeakerCount(reference=n_ref, hypothesis=n_hyp, abs_error=abs(n_hyp - n_ref))


# ----------------------------------------------------------------------------------------------------
# Words: WER, WDER (jiwer alignment)
# ----------------------------------------------------------------------------------------------------


def _alignment(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """Levenshtein alignment chunks ``(kind, ref_start, ref_end, hyp_start, hyp_end)`` from jiwer."""
    if not reference or not hypothesis:
        chunks = []
        if reference:
            chunks.append(("delete", 0, len(reference), 0, 0))
        if hypothesis:
            chunks.append(("insert", 0, 0, 0, len(hypothesis)))
        return chunks
    import jiwer

    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return [
        (c.type, c.ref_start_idx, c.ref_end_idx, c.hyp_start_idx, c.hyp_end_idx) for c in out.alignments[0]
    ]


def _check_tokens(words: Iterable[str]) -> None:
    for word in words:
        if not word or word.split() != [word]:
            raise ValueError(f"words must be non-empty and free of whitespace, got {word!r}")


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """Word alignment counts of two token sequences (already normalised and split)."""
    _check_tokens(reference)
    _check_tokens(hypothesis)
    counts = {"equal": 0, "substitute": 0, "delete": 0, "insert": 0}
    for kind, r0, r1, h0, h1 in _alignment(reference, hypothesis):
        counts[kind] += max(r1 - r0, h1 - h0)
    return WordErrors(
        reference_words=len(reference),
        hits=counts["equal"],
        substitutions=counts["substitute"],
        deletions=counts["delete"],
        insertions=counts["insert"],
    )


def _optimal_mapping(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One-to-one hypothesis -> reference speaker mapping that maximises the number of agreeing pairs."""
    from scipy.optimize import linear_sum_assignment

    refs = sorted({r for r, _ in pairs})
    hyps = sorted({h for _, h in pairs})
    counts = np.zeros((len(refs), len(hyps)))  # shape: (num_ref_speakers, num_hyp_speakers)
    for r, h in pairs:
        counts[refs.index(r), hyps.index(h)] += 1
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {hyps[c]: refs[r] for r, c in zip(rows, cols, strict=True) if counts[r, c] > 0}


def wder(
    reference: Sequence[LabelledWord], hypothesis: Sequence[LabelledWord], include_substitutions: bool = False
) -> WderScore:
    """Word diarization error rate of one file.

    The reference and hypothesis words (in time order, normalised, one token each) are aligned with the
    Levenshtein alignment used for WER. Scored are the aligned pairs — hits only by default; with
    ``include_substitutions`` also substituted words, as in Shafey et al. (2019) — whose reference word has
    a speaker (a reference word without a speaker cannot be judged and is left out). Hypothesis speakers are
    then mapped one-to-one onto reference speakers with the Hungarian algorithm, maximising the number of
    scored words whose speakers agree (so WDER is the lowest over all one-to-one mappings). A scored word is
    wrong when its hypothesised speaker is missing, unmapped, or mapped to another reference speaker.
    Deleted and inserted words are WER's business and never count here.
    """
    ref_words = [w for w, _ in reference]
    hyp_words = [w for w, _ in hypothesis]
    _check_tokens(ref_words)
    _check_tokens(hyp_words)
    kinds = ("equal", "substitute") if include_substitutions else ("equal",)
    pairs: list[tuple[str, str | None]] = []
    for kind, r0, r1, h0, h1 in _alignment(ref_words, hyp_words):
        if kind in kinds:
            for i, j in zip(range(r0, r1), range(h0, h1), strict=True):
                ref_speaker = reference[i][1]
                if ref_speaker is not None:
                    pairs.append((ref_speaker, hypothesis[j][1]))
    mapping = _optimal_mapping([(r, h) for r, h in pairs if h is not None])
    wrong = sum(1 for r, h in pairs if h is None or mapping.get(h) != r)
    return WderScore(scored=len(pairs), wrong=wrong, mapping=mapping)


# ----------------------------------------------------------------------------------------------------
# Speaker-attributed words: cpWER, tcpWER (meeteval)
# ----------------------------------------------------------------------------------------------------


def _normalised(segments: Sequence[Segment], normalizer: Normalizer | None) -> list[tuple[Segment, str]]:
    """Each segment with its normalised, whitespace-collapsed text."""
    out = []
    for s in segments:
        text = normalizer(s.text) if normalizer is not None else s.text
        out.append((s, " ".join(text.split())))
    return out


def _seglst(segments: list[tuple[Segment, str]]) -> Any:
    from meeteval.io import SegLST

    return SegLST(
        [
            {
                "session_id": "f",
                "speaker": s.speaker if s.speaker is not None else "<none>",
                "start_time": s.start,
                "end_time": s.end,
                "words": text,
            }
            for s, text in segments
        ]
    )


def _one_side_empty(
    reference: list[tuple[Segment, str]], hypothesis: list[tuple[Segment, str]]
) -> CpWerScore:
    """cpWER when one side has no words (meeteval refuses it): everything is deleted or inserted."""

    def speakers(segments: list[tuple[Segment, str]]) -> int:
        return len({s.speaker for s, text in segments if text})

    n_ref = sum(len(text.split()) for _, text in reference)
    n_hyp = sum(len(text.split()) for _, text in hypothesis)
    return CpWerScore(
        reference_words=n_ref,
        deletions=n_ref,
        insertions=n_hyp,
        missed_speakers=speakers(reference),
        falarm_speakers=speakers(hypothesis),
        scored_speakers=speakers(reference),
    )


def _has_words(segments: list[tuple[Segment, str]]) -> bool:
    return any(text for _, text in segments)


def _cp_score(result: Any) -> CpWerScore:
    return CpWerScore(
        reference_words=int(result.length),
        hits=int(result.length - result.substitutions - result.deletions),
        substitutions=int(result.substitutions),
        deletions=int(result.deletions),
        insertions=int(result.insertions),
        missed_speakers=int(result.missed_speaker),
        falarm_speakers=int(result.falarm_speaker),
        scored_speakers=int(result.scored_speaker),
        assignment=tuple(tuple(pair) for pair in (result.assignment or ())),
    )


def cpwer(
    reference: Sequence[Segment], hypothesis: Sequence[Segment], normalizer: Normalizer | None = None
) -> CpWerScore:
    """Concatenated minimum-permutation WER of one file (``meeteval.wer.cpwer``).

    ``reference`` and ``hypothesis`` are speaker-attributed text segments (``Segment.speaker``,
    ``Segment.text``; a segment without a speaker counts as speaker ``"<none>"``). ``normalizer`` is applied
    to each segment's text before scoring.
    """
    ref, hyp = _normalised(reference, normalizer), _normalised(hypothesis, normalizer)
    if not (_has_words(ref) and _has_words(hyp)):
        return _one_side_empty(ref, hyp)
    import meeteval

    return _cp_score(meeteval.wer.cpwer(_seglst(ref), _seglst(hyp))["f"])


def tcpwer(
    reference: Sequence[Segment],
    hypothesis: Sequence[Segment],
    collar: float = 5.0,
    normalizer: Normalizer | None = None,
) -> CpWerScore:
    """Time-constrained cpWER of one file (``meeteval.wer.tcpwer``).

    A hypothesis word may only match a reference word when their times overlap once the hypothesis word is
    widened by ``collar`` seconds on each side (meeteval's convention; it recommends 5 s). Word times inside a
    segment are meeteval's defaults: character-based pseudo-timings for the reference, character-based points
    for the hypothesis.
    """
    ref, hyp = _normalised(reference, normalizer), _normalised(hypothesis, normalizer)
    if not (_has_words(ref) and _has_words(hyp)):
        return _one_side_empty(ref, hyp)
    import meeteval

    return _cp_score(meeteval.wer.tcpwer(_seglst(ref), _seglst(hyp), collar=collar)["f"])
