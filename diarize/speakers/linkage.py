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

No distance matrix is kept. For unit vectors the mean cosine distance of clusters ``A`` and ``B`` is exactly
``1 - mean(A) · mean(B)``, so each cluster keeps the sum of its unit vectors and a row of distances is one
matrix-vector product. Each cluster also keeps its nearest neighbour, and a merge recomputes only the rows it
made stale: time is ``O(n² · dimension)`` at worst, memory ``O(n · dimension)``. An hour of meeting gives about
4 300 seeds (3.6 s, 31 MB); three hours about 13 000, which need some 100 MB where a float32 distance matrix
and a boolean conflict matrix took 0.85 GB. Constraints (when ``groups`` are given) live in a bit-packed
``n × n`` conflict matrix (21 MB at 13 000 points).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["MergeHistory", "labels_at", "merge_history"]

_BLOCK = 256  # rows of distances computed at once


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


class _Clusters:
    """Live clusters as sums of unit vectors, their sizes and (optionally) which pairs share a group.

    Distances are computed against a float32 copy of the live clusters' sums, rebuilt whenever half of its
    rows have died, so that each row of distances costs time in proportion to the clusters still alive.
    """

    def __init__(self, points: np.ndarray, groups: np.ndarray | None) -> None:
        n = len(points)
        norm = np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
        # shape: (n, dimension), sum of each cluster's unit vectors
        self.sums = np.asarray(points / norm, dtype=np.float64)
        self.size = np.ones(n, dtype=np.float64)
        self.alive = np.ones(n, dtype=bool)
        # shape: (n, ceil(n / 8)), bit j of row i set where clusters i and j share a group
        self.conflict: np.ndarray | None = None
        if groups is not None:
            groups = np.asarray(groups)
            self.conflict = np.packbits(groups[:, None] == groups[None, :], axis=1)
        self._compact()

    def _compact(self) -> None:
        # shape: (live,), the clusters that columns of distances stand for
        self.columns = np.flatnonzero(self.alive)
        # shape: (live, dimension), float32 mean unit vector of each of them
        self.means = (self.sums[self.columns] / self.size[self.columns, None]).astype(np.float32)
        self.position = np.full(len(self.size), -1, dtype=np.int64)
        self.position[self.columns] = np.arange(len(self.columns))

    def distances(self, rows: np.ndarray) -> np.ndarray:
        """Average-linkage distances ``(len(rows), len(columns))`` from the clusters ``rows`` to those of
        ``columns`` (which hold every live cluster)."""
        means = (self.sums[rows] / self.size[rows, None]).astype(np.float32)
        return np.subtract(1.0, means @ self.means.T)

    def conflicts(self, rows: np.ndarray) -> np.ndarray:
        """``(len(rows), n)``: True where the two clusters share a group."""
        n = len(self.size)
        if self.conflict is None:
            return np.zeros((len(rows), n), dtype=bool)
        return np.unpackbits(self.conflict[rows], axis=1, count=n).view(bool)

    def merge(self, a: int, b: int) -> None:
        """Cluster ``a`` absorbs cluster ``b``."""
        self.sums[a] += self.sums[b]
        self.size[a] += self.size[b]
        self.alive[b] = False
        if 2 * int(self.alive.sum()) < len(self.columns):
            self._compact()
        else:
            self.means[self.position[a]] = self.sums[a] / self.size[a]
        if self.conflict is not None:
            self.conflict[a] |= self.conflict[b]
            column, bit = divmod(a, 8)
            mask = np.uint8(0x80 >> bit)  # packbits' bit order: the first column is the highest bit
            row = self.conflicts(np.array([a]))[0]
            self.conflict[row, column] |= mask
            self.conflict[~row, column] &= ~mask

    def nearest(self, rows: np.ndarray, forced: bool) -> tuple[np.ndarray, np.ndarray]:
        """Nearest live neighbour (and its distance) of each cluster in ``rows``; conflicts excluded unless
        ``forced``."""
        rows = np.asarray(rows, dtype=np.int64)
        best = np.zeros(len(rows), dtype=np.int64)
        best_d = np.full(len(rows), np.inf)
        if len(self.columns) == 0:
            return best, best_d
        excluded = ~self.alive[self.columns]
        for first in range(0, len(rows), _BLOCK):
            block_rows = rows[first : first + _BLOCK]
            block = self.distances(block_rows).astype(np.float64)
            block[:, excluded] = np.inf
            inside = self.position[block_rows]  # a cluster is not its own neighbour
            block[(inside >= 0).nonzero()[0], inside[inside >= 0]] = np.inf
            if not forced and self.conflict is not None:
                block[self.conflicts(block_rows)[:, self.columns]] = np.inf
            index = np.argmin(block, axis=1)
            best[first : first + _BLOCK] = self.columns[index]
            best_d[first : first + _BLOCK] = block[np.arange(len(block_rows)), index]
        return best, best_d


def merge_history(points: np.ndarray, groups: np.ndarray | None = None) -> MergeHistory:
    """Cluster ``points`` ``(n, dimension)`` (any norm; compared by cosine) down to one cluster.

    ``groups`` ``(n,)`` names each point's group; two clusters holding points of one group merge only when
    nothing else is left to merge (see the module docstring). ``None``: no constraint.
    """
    if len(points) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return MergeHistory(empty, empty, np.zeros(0), np.zeros(0, dtype=bool))
    # one BLAS thread: the loop's matrix-vector products are too small to share, and threads waiting on a
    # core busy with transcription made them ten times slower
    with threadpool_limits(limits=1, user_api="blas"):
        return _merge(_Clusters(points, groups))


def _merge(clusters: _Clusters) -> MergeHistory:
    n = len(clusters.size)
    a_out, b_out, d_out, f_out = [], [], [], []
    forced_phase = False
    nearest, near_d = clusters.nearest(np.arange(n), forced_phase)
    for _ in range(n - 1):
        candidates = np.where(clusters.alive, near_d, np.inf)
        a = int(np.argmin(candidates))
        if not np.isfinite(candidates[a]):  # only conflicting pairs are left
            forced_phase = True
            live = np.flatnonzero(clusters.alive)
            nearest[live], near_d[live] = clusters.nearest(live, forced_phase)
            candidates = np.where(clusters.alive, near_d, np.inf)
            a = int(np.argmin(candidates))
        b = int(nearest[a])
        d_out.append(float(near_d[a]))
        a, b = min(a, b), max(a, b)
        a_out.append(a)
        b_out.append(b)
        f_out.append(bool(clusters.conflicts(np.array([a]))[0, b]))
        clusters.merge(a, b)
        near_d[b] = np.inf
        stale = np.flatnonzero(clusters.alive & ((nearest == a) | (nearest == b)))
        stale = np.union1d(stale, [a])
        # other rows keep their nearest neighbour: an average-linkage distance to the merged cluster lies
        # between the distances to its two parts, and a conflict only removes candidates
        nearest[stale], near_d[stale] = clusters.nearest(stale, forced_phase)
    return MergeHistory(
        a=np.asarray(a_out, dtype=np.int64),
        b=np.asarray(b_out, dtype=np.int64),
        distance=np.asarray(d_out, dtype=np.float64),
        forced=np.asarray(f_out, dtype=bool),
    )


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
