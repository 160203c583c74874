"""Accuracy metrics, computed the way the field computes them.

- **DER** (missed speech + false alarm + speaker confusion, over scored reference speech) and **JER**
  come from ``pyannote.metrics`` (this module). Collars follow pyannote's convention: ``collar=c`` removes
  ``c/2`` seconds on each side of every reference boundary, so pyannote ``collar=0.5`` is dscore/md-eval
  ``--collar 0.25``.
- **WER**, **WDER**, **cpWER** and **tcpWER** live in :mod:`diarize.eval.words` and are re-exported here.

Scores are records of *components* (seconds, word counts; :mod:`diarize.eval.scores`) that add up across
files with ``+``; the rates are properties, so a total is always the ratio of summed components, never a mean
of per-file rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from diarize.eval.scores import (
    CpWerScore,
    DerScore,
    JerScore,
    LabelledWord,
    SpeakerCount,
    WderScore,
    WordErrors,
)
from diarize.eval.words import cpwer, tcpwer, wder, word_errors
from diarize.types import Span, SpeakerTurn

__all__ = [
    "CpWerScore",
    "DerScore",
    "JerScore",
    "LabelledWord",
    "SpeakerCount",
    "WderScore",
    "WordErrors",
    "annotation",
    "cpwer",
    "der",
    "jer",
    "speaker_count",
    "tcpwer",
    "wder",
    "word_errors",
]


# ----------------------------------------------------------------------------------------------------
# Diarization: DER, JER, speaker count (pyannote.metrics)
# ----------------------------------------------------------------------------------------------------


def annotation(turns: Iterable[SpeakerTurn], uri: str | None = None) -> Any:
    """``turns`` as a ``pyannote.core.Annotation``, one track per turn so that overlapping turns stay apart."""
    from pyannote.core import Annotation
    from pyannote.core import Segment as PSegment

    result = Annotation(uri=uri)
    for track, turn in enumerate(turns):
        if turn.end > turn.start:
            result[PSegment(turn.start, turn.end), track] = turn.speaker
    return result


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
        annotation(reference),
        annotation(hypothesis),
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
        annotation(reference),
        annotation(hypothesis),
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
        labelled = annotation(turns)
        if region is not None:
            labelled = labelled.crop(region)
        return len(labelled.labels())

    n_ref, n_hyp = count(reference), count(hypothesis)
    return SpeakerCount(reference=n_ref, hypothesis=n_hyp, abs_error=abs(n_hyp - n_ref))
