"""Average-linkage agglomerative clustering with cannot-link constraints (pure numpy).

Local speakers of one analysis window are different people: segmentation separates them. Agglomerative
clustering that may merge two of them into one cluster throws that knowledge away; this one never does
while a constraint-respecting merge is left:

1. every point starts as its own cluster; the distance of two clusters is the mean cosine distance of their
   points (average linkage, ``1 - cos``);
2. at each step the closest pair of clusters that share no *group* (analysis window) merges;
3. when no such pair is left, the closest pairs merge regardless of groups (so any number of clusters down to
   one can still be reached, as exact speaker-count hints require); these merges are flagged.

:func:`merge_history` records every merge; :func:`labels_at` replays the history down to ``k`` clusters.
Finding the closest pair keeps each cluster's nearest neighbour and recomputes only the rows a merge made
stale, so the usual cost is ``O(n²)`` time and memory (float32 distances plus a boolean conflict matrix:
6 000 points, about an hour of meeting, take 4 s and about 230 MB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MergeHistory", "labels_at", "merge_history"]

_BLOCK = 512  # rows scanned at once when looking for nearest neighbours


@dataclass(frozen=True, eq=False)
class MergeHistory:
    """The ``n - 1`` merges of ``n`` points, in order; cluster ``a[i]`` absorbs cluster ``b[i]``.

    Clusters are named by their first point's index. ``distance[i]`` is the average-linkage distance at
    merge ``i``; ``forced[i]`` marks merges of clusters that share a group (made only once no other merge was
    left).
    """

    a: np.ndarray  # shape: (n - 1,), int
    b: np.ndarray  # shape: (n - 1,), int
    distance: np.ndarray  # shape: (n - 1,), float
    forced: np.ndarray  # shape: (n - 1,), bool

    @property
    def size(self) -> int:
        """Number of points clustered."""
        return len(self.a) + 1


def merge_history(points: np.ndarray, groups: np.ndarray | None = None) -> MergeHistory:
    """Cluster ``points`` ``(n, dimension)`` (any norm; compared by cosine) down to one cluster.

    ``groups`` ``(n,)`` names each point's group; two clusters holding points of one group merge only when
    nothing else is left to merge (see the module docstring). ``None``: no constraint.
    """
    n = len(points)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return MergeHistory(empty, empty, np.zeros(0), np.zeros(0, dtype=bool))
    unit = (points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    # shape: (n, n), average-linkage distances between live clusters
    distance = unit @ unit.T
    np.subtract(1.0, distance, out=distance)
    groups = np.arange(n) if groups is None else np.asarray(groups)
    # shape: (n, n), True where the two clusters share a group
    conflict = groups[:, None] == groups[None, :]
    size = np.ones(n, dtype=np.float64)
    alive = np.ones(n, dtype=bool)
    a_out, b_out, d_out, f_out = [], [], [], []
    forced_phase = False
    nearest, near_d = _nearest(distance, conflict, alive, np.arange(n), forced_phase)
    for _ in range(n - 1):
        candidates = np.where(alive, near_d, np.inf)
        a = int(np.argmin(candidates))
        if not np.isfinite(candidates[a]):  # only conflicting pairs are left
            forced_phase = True
            live = np.flatnonzero(alive)
            nearest[live], near_d[live] = _nearest(distance, conflict, alive, live, forced_phase)
            candidates = np.where(alive, near_d, np.inf)
            a = int(np.argmin(candidates))
        b = int(nearest[a])
        a, b = min(a, b), max(a, b)
        a_out.append(a)
        b_out.append(b)
        d_out.append(float(distance[a, b]))
        f_out.append(bool(conflict[a, b]))
        # Lance-Williams update for average linkage
        merged = (size[a] * distance[a] + size[b] * distance[b]) / (size[a] + size[b])
        distance[a], distance[:, a] = merged, merged
        conflict[a] |= conflict[b]
        conflict[:, a] = conflict[a]
        size[a] += size[b]
        alive[b] = False
        near_d[b] = np.inf
        stale = np.flatnonzero(alive & ((nearest == a) | (nearest == b)))
        stale = np.union1d(stale, [a])
        # other rows keep their nearest neighbour: an average-linkage distance to the merged cluster lies
        # between the distances to its two parts, and a conflict only removes candidates
        nearest[stale], near_d[stale] = _nearest(distance, conflict, alive, stale, forced_phase)
    return MergeHistory(
        a=np.asarray(a_out, dtype=np.int64),
        b=np.asarray(b_out, dtype=np.int64),
        distance=np.asarray(d_out, dtype=np.float64),
        forced=np.asarray(f_out, dtype=bool),
    )


def _nearest(
    distance: np.ndarray, conflict: np.ndarray, alive: np.ndarray, rows: np.ndarray, forced: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest live neighbour (and its distance) of each cluster in ``rows``; conflicts excluded unless
    ``forced``. Rows are scanned in blocks so that memory stays at the distance matrix's."""
    rows = np.asarray(rows, dtype=np.int64)
    best = np.zeros(len(rows), dtype=np.int64)
    best_d = np.full(len(rows), np.inf)
    for first in range(0, len(rows), _BLOCK):
        block_rows = rows[first : first + _BLOCK]
        block = distance[block_rows].astype(np.float64)
        block[:, ~alive] = np.inf
        block[np.arange(len(block_rows)), block_rows] = np.inf
        if not forced:
            block[conflict[block_rows]] = np.inf
        if block.shape[1]:
            index = np.argmin(block, axis=1)
            best[first : first + _BLOCK] = index
            best_d[first : first + _BLOCK] = block[np.arange(len(block_rows)), index]
    return best, best_d


def labels_at(history: MergeHistory, num_clusters: int) -> np.ndarray:
    """Cluster labels ``(n,)``, numbered ``0 … num_clusters - 1`` by first point, after ``n - num_clusters``
    merges of ``history``."""
    n = history.size
    num_clusters = int(min(max(num_clusters, 1), n))
    parent = np.arange(n)
    for a, b in zip(history.a[: n - num_clusters], history.b[: n - num_clusters], strict=True):
        parent[parent == b] = a
    _, labels = np.unique(parent, return_inverse=True)
    return labels.astype(np.int64)
