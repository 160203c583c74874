"""Frame-accurate subtitle timing: cue times moved onto the video's frame boundaries (rule 7 of
:mod:`diarize.writers.cues`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from diarize.types import VideoInfo

if TYPE_CHECKING:
    from diarize.writers.cues import Cue

__all__ = ["frame_boundaries", "snap_to_frames"]

_EPS = 1e-6  # seconds: float noise in a gap of exactly ``min_gap``


def frame_boundaries(video: VideoInfo, until: float) -> np.ndarray:
    """Presentation times (s) of the video's frames up to past ``until``: ``start_time + k / fps`` with the exact
    rational rate, or each frame's pts for variable-rate video (continued at the last interval past the end)."""
    if video.variable_frame_rate and video.frame_times:
        times = np.asarray(video.frame_times, dtype=np.float64)
        step = float(times[-1] - times[-2]) if len(times) > 1 else float(1 / Fraction(video.fps))
        extra = max(0, math.ceil((until - float(times[-1])) / step) + 2) if step > 0 else 0
        return np.concatenate([times, times[-1] + step * np.arange(1, extra + 1)])
    fps = Fraction(video.fps)
    count = max(2, math.ceil((until - video.start_time) * fps) + 3)
    num, den = fps.numerator, fps.denominator
    return np.asarray([video.start_time + (k * den) / num for k in range(count)], dtype=np.float64)


def _nearest(grid: np.ndarray, t: float) -> int:
    i = int(np.searchsorted(grid, t))
    if i <= 0:
        return 0
    if i >= len(grid):
        return len(grid) - 1
    return i - 1 if t - grid[i - 1] <= grid[i] - t else i


def snap_to_frames(cues: Sequence[Cue], video: VideoInfo, gap: float) -> tuple[Cue, ...]:
    """``cues`` with every start and end on a frame boundary, one cue after the other: a start goes to the
    nearest boundary, later where it would come less than ``gap`` after the previous end; an end goes to the
    next boundary at or after it where the gap before the next cue allows, else the nearest, and stays at least
    one frame after its start, so snapping never creates an overlap or a short gap."""
    if not cues:
        return ()
    grid = frame_boundaries(video, max(c.end for c in cues) + 2 * gap + 1.0)
    snapped: list[Cue] = []
    prev_end: int | None = None
    for i, cue in enumerate(cues):
        first = _nearest(grid, cue.start)
        if prev_end is not None:
            first = max(first, int(np.searchsorted(grid, grid[prev_end] + gap - _EPS)))
        first = min(first, len(grid) - 2)
        last = _nearest(grid, cue.end)
        later = min(int(np.searchsorted(grid, cue.end - _EPS)), len(grid) - 1)  # the first boundary at or after
        if i + 1 == len(cues) or grid[later] + gap <= cues[i + 1].start + _EPS:
            last = later  # never shorten a cue where the silence after it has room
        last = max(last, first + 1)
        snapped.append(replace(cue, start=float(grid[first]), end=float(grid[last])))
        prev_end = last
    return tuple(snapped)
