"""SpanMap: joined-audio times back to the original timeline, exact to the sample, boundaries included."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.spans import SpanMap
from diarize.types import Span

SR = 16_000


def test_times_inside_pieces_map_by_offset() -> None:
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR)  # [1, 2) s and [5, 5.5) s
    assert m.length == 24_000 and m.duration == 1.5 and len(m) == 2
    assert m.to_original(0.25) == 1.25
    assert m.to_original(1.25) == 5.25
    assert m.span(1) == Span(5.0, 5.5)
    assert m.joined_span(1) == Span(1.0, 1.5)


def test_border_belongs_to_next_piece_as_start_and_previous_as_end() -> None:
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR)
    assert m.piece_index(1.0) == 1
    assert m.to_original(1.0) == 5.0
    assert m.piece_index(1.0, is_end=True) == 0
    assert m.to_original(1.0, is_end=True) == 2.0


def test_first_and_last_sample() -> None:
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR)
    assert m.to_original(0.0) == 1.0
    assert m.to_original(0.0, is_end=True) == 1.0
    assert m.to_original(1.5, is_end=True) == 5.5
    assert m.to_original(1.5) == 5.5  # the very end: nothing starts after it, so it stays in the last piece


def test_times_outside_the_joined_audio_clamp() -> None:
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR)
    assert m.to_original(-3.0) == 1.0
    assert m.to_original(99.0) == 5.5
    assert m.to_original(99.0, is_end=True) == 5.5


def test_gap_times_snap_to_the_neighbouring_piece() -> None:
    # Pieces [1, 2) and [5, 5.5) joined with 0.5 s of silence: the gap is joined [1.0, 1.5).
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR, gap=8_000)
    assert m.length == 32_000
    assert m.joined_span(1) == Span(1.5, 2.0)
    for t in (1.0, 1.2, 1.4999):
        assert m.piece_index(t) == 1
        assert m.to_original(t) == 5.0
        assert m.piece_index(t, is_end=True) == 0
        assert m.to_original(t, is_end=True) == 2.0
    assert m.to_original(1.5) == 5.0
    assert m.to_original(1.75) == 5.25


def test_explicit_piece_clamps_into_that_piece() -> None:
    m = SpanMap([(16_000, 32_000), (80_000, 88_000)], SR)
    assert m.to_original(1.2, piece=0) == 2.0  # a word that spills into the next piece stops at its own end
    assert m.to_original(0.8, piece=1) == 5.0
    assert m.to_original(0.5, piece=0) == 1.5


def test_conversions_are_exact_to_the_sample() -> None:
    m = SpanMap.from_spans([Span(0.123456, 0.5), Span(7.0000625, 9.0)], SR)
    assert m.span(0) == Span(1975 / SR, 0.5)  # 0.123456 s rounds to sample 1975
    # 7.0000625 s is sample 112001 exactly; the second piece starts at joined sample 8000 - 1975 = 6025.
    assert m.to_original(6025 / SR) == 112_001 / SR
    assert m.to_original(6026 / SR) == 112_002 / SR


def test_join_builds_the_audio_the_map_describes() -> None:
    original = np.arange(100_000, dtype=np.float32)
    m = SpanMap([(100, 400), (1_000, 1_050), (5_000, 9_000)], SR, gap=37)
    joined = m.join(original)
    assert len(joined) == m.length == 300 + 50 + 4_000 + 2 * 37
    assert joined.dtype == original.dtype
    assert np.all(joined[300:337] == 0) and np.all(joined[387:424] == 0)
    for i in range(len(joined)):
        t = i / SR
        piece = m.piece_index(t)
        if not m.joined_span(piece).start <= t < m.joined_span(piece).end:
            continue  # a gap sample: silence, not from the original
        assert joined[i] == original[round(m.to_original(t) * SR)]


def test_join_reads_past_the_end_as_silence() -> None:
    m = SpanMap([(8, 20)], SR)
    joined = m.join(np.ones(12, dtype=np.float32))
    assert joined.tolist() == [1.0] * 4 + [0.0] * 8


def test_empty_map() -> None:
    m = SpanMap([], SR, gap=100)
    assert m.length == 0 and len(m) == 0
    assert len(m.join(np.ones(10, dtype=np.float32))) == 0
    with pytest.raises(ValueError):
        m.piece_index(0.0)


@pytest.mark.parametrize(
    ("pieces", "gap"),
    [
        ([(10, 10)], 0),
        ([(10, 5)], 0),
        ([(-5, 5)], 0),
        ([(0, 10), (5, 20)], 0),
        ([(20, 30), (0, 10)], 0),
        ([], -1),
    ],
)
def test_invalid_pieces_are_rejected(pieces: list[tuple[int, int]], gap: int) -> None:
    with pytest.raises(ValueError):
        SpanMap(pieces, SR, gap)


def test_touching_pieces_are_allowed() -> None:
    m = SpanMap([(0, 10), (10, 20)], SR)
    assert m.to_original(10 / SR) == 10 / SR
    assert m.piece_index(10 / SR) == 1
    assert m.piece_index(10 / SR, is_end=True) == 0
