"""Map times in audio cut from a recording back to the recording's own timeline.

A stage that works on trimmed audio (speech regions cut out of a recording and joined end to end, with an
optional stretch of silence between them) gets its times in the joined audio; :class:`SpanMap` turns them back
into times on the original timeline, the way faster-whisper's ``SpeechTimestampsMap`` does. Every conversion
goes through integer sample counts so that a boundary is the same sample on both sides::

    original  |---- a ----|.........|------ b ------|......
    joined    |---- a ----|gap|------ b ------|

A time in piece ``a`` maps to ``a``'s original start plus its offset into ``a``. A time that falls in an
inserted gap, or exactly on the border between two pieces, belongs to the next piece when it starts something
(``is_end=False``) and to the previous piece when it ends something (``is_end=True``).

:func:`merge_spans` is the one interval merge of the package (VAD regions, ASR input spans, speaker turns).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from typing import TypeVar

import numpy as np

from diarize.types import SAMPLE_RATE, Span

__all__ = ["SpanMap", "merge_spans"]

T = TypeVar("T", int, float)


def merge_spans(spans: Iterable[tuple[T, T]], gap: T | int = 0, *, touching: bool = True) -> list[tuple[T, T]]:
    """``(start, end)`` intervals sorted, with every two that are close enough merged into one.

    The rule: going through the intervals in order of start, the next one joins the merged interval before it
    when the space between them (its start minus that interval's end; negative when they overlap) is less
    than ``gap``, or is exactly zero — they touch — and ``touching`` is true. So with the defaults
    overlapping and touching intervals merge, ``gap=g`` also bridges spaces shorter than ``g``, and
    ``touching=False`` keeps intervals that only touch apart (pieces cut from one longer span).
    """
    merged: list[tuple[T, T]] = []
    for start, end in sorted(spans):
        if merged and (start - merged[-1][1] < gap or (touching and start == merged[-1][1])):
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class SpanMap:
    """Pieces ``[start, end)`` of an original recording, joined in order with ``gap`` samples of silence
    between.

    ``pieces`` are sample indices on the original timeline; they must be non-empty, in order and must not
    overlap.
    """

    def __init__(
        self, pieces: Sequence[tuple[int, int]], sample_rate: int = SAMPLE_RATE, gap: int = 0
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if gap < 0:
            raise ValueError(f"gap must not be negative, got {gap}")
        previous_end = None
        for start, end in pieces:
            if not 0 <= start < end:
                raise ValueError(f"piece [{start}, {end}) is empty or negative")
            if previous_end is not None and start < previous_end:
                raise ValueError(f"piece [{start}, {end}) overlaps or precedes the one before it")
            previous_end = end
        self.sample_rate = sample_rate
        self.gap = gap
        self._orig = [(int(s), int(e)) for s, e in pieces]
        # Where each piece starts in the joined audio (samples).
        self._joined_starts: list[int] = []
        position = 0
        for start, end in self._orig:
            self._joined_starts.append(position)
            position += end - start + gap
        self._length = max(0, position - gap)

    @classmethod
    def from_spans(cls, spans: Sequence[Span], sample_rate: int = SAMPLE_RATE, gap: float = 0.0) -> SpanMap:
        """The map of ``spans`` (seconds), rounded to whole samples, joined with ``gap`` seconds of
        silence."""
        pieces = [(round(s.start * sample_rate), round(s.end * sample_rate)) for s in spans]
        return cls(pieces, sample_rate, round(gap * sample_rate))

    def __len__(self) -> int:
        """The number of pieces."""
        return len(self._orig)

    @property
    def length(self) -> int:
        """Samples in the joined audio, gaps included."""
        return self._length

    @property
    def duration(self) -> float:
        """Seconds of joined audio, gaps included."""
        return self._length / self.sample_rate

    def span(self, index: int) -> Span:
        """Piece ``index`` on the original timeline (seconds)."""
        start, end = self._orig[index]
        return Span(start / self.sample_rate, end / self.sample_rate)

    def joined_span(self, index: int) -> Span:
        """Piece ``index`` on the joined timeline (seconds)."""
        start, end = self._orig[index]
        joined = self._joined_starts[index]
        return Span(joined / self.sample_rate, (joined + end - start) / self.sample_rate)

    def join(self, samples: np.ndarray) -> np.ndarray:
        """The joined audio: each piece of ``samples`` (the original recording) in order, with silent gaps."""
        # shape: (length,)
        out = np.zeros(self._length, dtype=samples.dtype)
        for (start, end), joined in zip(self._orig, self._joined_starts, strict=True):
            piece = samples[start:end]
            out[joined : joined + len(piece)] = piece
        return out

    def joined_sample(self, sample: int) -> int:
        """Where original sample ``sample``, inside one of the pieces, lies in the joined audio."""
        index = max(0, bisect.bisect_right([start for start, _ in self._orig], sample) - 1)
        start, end = self._orig[index]
        if not start <= sample <= end:
            raise ValueError(f"sample {sample} lies in no piece")
        return self._joined_starts[index] + sample - start

    def piece_index(self, time: float, is_end: bool = False) -> int:
        """The piece that joined time ``time`` (seconds) belongs to; times outside clamp to the ends."""
        if not self._orig:
            raise ValueError("an empty SpanMap has no pieces")
        sample = round(time * self.sample_rate)
        if is_end:
            # An end on a border belongs to the earlier piece: the last one starting before the sample.
            index = bisect.bisect_left(self._joined_starts, sample) - 1
            return max(0, index)
        # A start belongs to the piece starting at or before it, or to the next one if it lies in a gap.
        index = bisect.bisect_right(self._joined_starts, sample) - 1
        if index < 0:
            return 0
        start, end = self._orig[index]
        if sample >= self._joined_starts[index] + (end - start) and index + 1 < len(self._orig):
            return index + 1
        return index

    def to_original(self, time: float, piece: int | None = None, is_end: bool = False) -> float:
        """The original time (seconds) of joined time ``time``, clamped to its piece (or to ``piece`` if
        given)."""
        index = self.piece_index(time, is_end) if piece is None else piece
        start, end = self._orig[index]
        offset = round(time * self.sample_rate) - self._joined_starts[index]
        offset = min(max(offset, 0), end - start)
        return (start + offset) / self.sample_rate
