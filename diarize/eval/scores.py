"""Score records: the components of each metric (seconds, word counts), which add up across files with ``+``.

The rates are properties, so a total over files is always the ratio of summed components, never a mean of
per-file rates. The metrics that fill these records are in :mod:`diarize.eval.metrics` (diarization) and
:mod:`diarize.eval.words` (words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CpWerScore",
    "DerScore",
    "JerScore",
    "LabelledWord",
    "SpeakerCount",
    "WderScore",
    "WordErrors",
]

LabelledWord = tuple[str, "str | None"]
"""A word and the speaker it is attributed to (``None``: no speaker)."""


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
