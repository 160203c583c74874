"""From frame-level speaker activity to speaker turns: pure numpy, no models.

The speaker stage ends with, on a regular grid of frames (the segmentation model's, about 17 ms apart),

* ``activations`` — shape ``(num_frames, num_clusters)``: how strongly each clustered speaker is active,
  summed over the overlapping analysis windows that saw the frame;
* ``count`` — shape ``(num_frames,)``: how many speakers talk at once.

This module turns them into the overlap-aware view (the ``count`` most active speakers of each frame), the
exclusive view (one speaker per frame where anybody talks) and time-stamped turns, and names speakers in
order of first appearance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

__all__ = [
    "EXCLUSIVE_RULES",
    "ClusteredSpeakers",
    "ExclusiveRule",
    "FrameGrid",
    "absorb_short_runs",
    "ensure_speakers",
    "exclusive_frames",
    "frames_to_turns",
    "label_in_order",
    "top_speakers",
]

ExclusiveRule = Literal["confident", "keep"]
EXCLUSIVE_RULES: tuple[str, ...] = get_args(ExclusiveRule)
"""How the exclusive view picks one speaker in overlapped speech: ``"confident"`` takes the most active
speaker of each frame (pyannote's rule); ``"keep"`` lets the speaker who already holds the floor keep it
until they stop, and falls back to the most active speaker otherwise."""


@dataclass(frozen=True)
class FrameGrid:
    """Frame ``i`` covers ``[start + i * step, start + i * step + duration)``, time-stamped at its middle."""

    start: float
    step: float
    duration: float

    def time(self, index: int) -> float:
        return self.start + index * self.step + 0.5 * self.duration


@dataclass(frozen=True, eq=False)
class ClusteredSpeakers:
    """Global speakers' activity over the whole audio, on the segmentation frame grid."""

    activations: np.ndarray  # shape: (num_frames, num_clusters), summed window votes
    count: np.ndarray  # shape: (num_frames,), speakers talking at once
    # shape: (num_clusters, dimension), mean raw embedding of each cluster. A cluster without a finite row
    # (fewer rows than clusters; no rows when no embedding was reliable enough to cluster) has no centroid.
    centroids: np.ndarray
    grid: FrameGrid
    min_speakers: int  # the fewest speakers the output must show (hints and overlap evidence)
    embedded: bool = True  # False: no embedding was reliable enough to cluster (too little speech)


def top_speakers(activations: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mark, in each frame, the ``count`` most active speakers among those with positive activation.

    ``activations`` has shape ``(num_frames, num_speakers)``, ``count`` shape ``(num_frames,)``; the result is
    a boolean array shaped like ``activations``. Ties go to the lower speaker index.
    """
    num_frames, num_speakers = activations.shape
    # stable sort of -activation: ties keep index order
    order = np.argsort(-activations, axis=1, kind="stable")
    rank = np.empty_like(order)
    rank[np.arange(num_frames)[:, None], order] = np.arange(num_speakers)[None, :]
    wanted = np.minimum(np.asarray(count, dtype=np.int64).reshape(-1), num_speakers)
    return (rank < wanted[:, None]) & (activations > 0)


def ensure_speakers(active: np.ndarray, activations: np.ndarray, wanted: int) -> np.ndarray:
    """Give frames to clusters that :func:`top_speakers` left silent until ``wanted`` speakers are present.

    A cluster can lose every frame to louder neighbours when the speaker count is forced up. Such a cluster
    (the most active first) takes the frames where its activation is at least half its peak, from the weakest
    speaker there, so the number of speakers per frame is unchanged. Returns a new array.
    """
    active = active.copy()
    absent = [
        k
        for k in np.argsort(-activations.sum(axis=0))
        if not active[:, k].any() and activations[:, k].max() > 0
    ]
    for k in absent:
        if int(active.any(axis=0).sum()) >= wanted:
            break
        frames = np.flatnonzero(activations[:, k] >= 0.5 * activations[:, k].max())
        for t in frames:
            others = np.flatnonzero(active[t])
            if len(others):
                weakest = others[np.argmin(activations[t, others])]
                if active[:, weakest].sum() > 1:  # never silence another speaker entirely
                    active[t, weakest] = False
            active[t, k] = True
    return active


def _runs(column: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` frame runs where ``column`` is True."""
    padded = np.concatenate([[False], column.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def absorb_short_runs(
    active: np.ndarray, activations: np.ndarray, min_frames: int, min_speakers: int = 1
) -> np.ndarray:
    """Merge every speaker's runs shorter than ``min_frames`` frames into a neighbouring speaker's turn.

    ``active`` and ``activations`` are ``(num_frames, num_speakers)``. Shortest runs first, a short run of
    speaker ``k`` on ``[i, j)``:

    1. goes to the speaker active just before (``i - 1``) or just after (``j``) it — of the two, the one more
       active over ``[i, j)`` — whose turn thereby grows over the gap;
    2. with no such neighbour, is dropped (a lone blip in silence or inside someone else's speech);
    3. is kept when it is its speaker's last run and dropping the speaker would leave fewer than
       ``min_speakers`` speakers (hints stay exact).

    Returns a new array; ``min_frames <= 1`` returns a copy.
    """
    active = active.astype(bool, copy=True)
    if min_frames <= 1:
        return active
    num_frames = active.shape[0]
    changed = True
    while changed:
        changed = False
        runs = [(b - a, k, a, b) for k in range(active.shape[1]) for a, b in _runs(active[:, k]) if b - a < min_frames]
        for _, k, a, b in sorted(runs):
            if not active[a:b, k].all() or (a > 0 and active[a - 1, k]) or (b < num_frames and active[b, k]):
                continue  # an earlier merge in this pass changed this run
            last = active[:, k].sum() == b - a
            if last and int(active.any(axis=0).sum()) <= min_speakers:
                continue
            neighbours = set(np.flatnonzero(active[a - 1])) if a > 0 else set()
            neighbours |= set(np.flatnonzero(active[b])) if b < num_frames else set()
            neighbours.discard(k)
            active[a:b, k] = False
            if neighbours:
                best = max(sorted(neighbours), key=lambda q: float(activations[a:b, q].sum()))
                active[a:b, best] = True
            changed = True
    return active


def exclusive_frames(active: np.ndarray, activations: np.ndarray, rule: str = "confident") -> np.ndarray:
    """One speaker per frame wherever ``active`` ``(num_frames, num_speakers)`` has any.

    See :data:`EXCLUSIVE_RULES` for ``rule``.
    """
    if rule not in EXCLUSIVE_RULES:
        raise ValueError(f"unknown exclusive rule {rule!r}; expected one of {', '.join(EXCLUSIVE_RULES)}")
    num_frames, _ = active.shape
    scores = np.where(active, activations, -np.inf)
    choice: np.ndarray = np.argmax(scores, axis=1)
    anybody = np.asarray(active.any(axis=1), dtype=bool)
    if rule == "keep":
        holder = -1
        for t in range(num_frames):
            if not anybody[t]:
                holder = -1
            elif holder >= 0 and active[t, holder]:
                choice[t] = holder
            else:
                holder = int(choice[t])
    exclusive = np.zeros_like(active, dtype=bool)
    exclusive[np.flatnonzero(anybody), choice[anybody]] = True
    return exclusive


def frames_to_turns(
    active: np.ndarray, grid: FrameGrid, min_duration_off: float = 0.0, end: float | None = None
) -> list[tuple[float, float, int]]:
    """``(start, end, speaker_index)`` turns of each speaker's runs of active frames, sorted by time.

    A run of frames ``[i, j)`` becomes the turn ``[time(i), time(j))`` (frame middles, as pyannote does); a
    run reaching the last frame ends at that frame's middle. Gaps shorter than ``min_duration_off`` between
    two turns of the same speaker are filled. Times are clipped to ``[0, end]`` when ``end`` is given.
    """
    num_frames, num_speakers = active.shape
    turns: list[tuple[float, float, int]] = []
    for k in range(num_speakers):
        padded = np.concatenate([[False], active[:, k].astype(bool), [False]])
        edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
        runs: list[tuple[float, float]] = []
        for first, stop in zip(edges[::2], edges[1::2], strict=True):
            start_t = grid.time(int(first))
            end_t = grid.time(int(stop)) if stop < num_frames else grid.time(num_frames - 1)
            if runs and start_t - runs[-1][1] < min_duration_off:
                runs[-1] = (runs[-1][0], end_t)
            else:
                runs.append((start_t, end_t))
        for start_t, end_t in runs:
            lo = max(0.0, start_t)
            hi = end_t if end is None else min(end, end_t)
            if hi > lo:
                turns.append((lo, hi, k))
    return sorted(turns)


def label_in_order(turns: list[tuple[float, float, int]]) -> dict[int, str]:
    """Name speaker indices ``SPEAKER_00``, ``SPEAKER_01``… in order of their first turn."""
    names: dict[int, str] = {}
    for _, _, k in sorted(turns):
        if k not in names:
            names[k] = f"SPEAKER_{len(names):02d}"
    return names
