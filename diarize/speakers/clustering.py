"""Constrained clustering of local speakers into global speakers (the speaker stage's default).

Segmentation finds up to three *local* speakers in every 10 s window; each has one embedding
(``(num_chunks, local_speakers, dimension)``). Rules, in order:

1. **Seeds.** Only local speakers with at least ``min_clean`` seconds of speech where they talk alone, and a
   valid embedding, shape the clusters. Below about 1 s of such speech a CAM++ embedding is as close to other
   speakers as to its own (measured on AMI: mean cosine to the true speaker 0.2–0.3, to others 0.2), from
   1–2 s it is informative (0.47 vs 0.16), from 4 s reliable (0.79 vs 0.19). When no local speaker has that
   much, the ones with the most such speech seed instead.
2. **Linkage.** Seeds are clustered by average linkage on cosine distance (:mod:`diarize.speakers.linkage`); merging
   stops at ``threshold``. Average linkage compares mean pairwise distances, which do not shrink or grow with
   the number of embeddings, so one threshold holds for 30 s clips and hour-long meetings alike. With
   ``cannot_link``, two clusters holding local speakers of one window merge only when nothing else is left;
   off by default: segmentation sometimes splits one voice into two local speakers of a window, and the
   constraint then kept wrong clusters apart (AMI DER 27.3 vs 27.1 %, concatenated meetings 24.2 vs 21.2 %).
3. **Speakers.** A cluster is a speaker when its seeds cover at least ``min_speech`` distinct seconds of
   single-speaker speech (overlapping windows see the same speech: it is counted once). Smaller clusters are
   dissolved: their local speakers join the nearest speaker in rule 5.
4. **Hints.** With ``num_speakers`` / ``min_speakers`` / ``max_speakers`` (``lo``, ``hi``), the cut of the
   merge history nearest the threshold that yields an allowed number of speakers is taken instead; when none
   does (fewer seeds than speakers asked for), :func:`diarize.speakers.pyannote.enforce_bounds` re-clusters.
5. **Assignment.** Every active local speaker (seed or not) goes to the speaker whose centroid (mean unit
   seed embedding) is most similar, the local speakers of one window to different speakers (Hungarian
   matching on cosine similarity) while there are enough speakers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from diarize.speakers.linkage import MergeHistory, labels_at, merge_history

__all__ = [
    "ClusterRules",
    "LocalClusters",
    "SeedSet",
    "assign_local_speakers",
    "clean_seconds",
    "cluster_local_speakers",
    "select_seeds",
    "speech_seconds",
]


@dataclass(frozen=True)
class ClusterRules:
    """The knobs of the module docstring's rules (defaults: :class:`~diarize.speakers.options.SpeakerOptions`)."""

    threshold: float = 0.6
    """Rule 2: average-linkage cosine distance at which merging stops."""
    min_clean: float = 1.0
    """Rule 1: seconds alone in its window a local speaker needs to seed."""
    min_speech: float = 1.0
    """Rule 3: distinct seconds of single-speaker speech a cluster needs to be a speaker."""
    cannot_link: bool = False
    """Rule 2: keep local speakers of one window in different clusters while other merges are left."""


@dataclass(frozen=True, eq=False)
class LocalClusters:
    """Global speaker of every local speaker, and the speakers' centroids."""

    hard: np.ndarray  # shape: (num_chunks, local_speakers); speaker index, -2 for silent local speakers
    centroids: np.ndarray  # shape: (num_speakers, dimension), mean unit seed embedding


@dataclass(frozen=True, eq=False)
class SeedSet:
    """The local speakers that shape the clusters, and the speech each covers on the global frame grid."""

    chunk: np.ndarray  # shape: (num_seeds,), window index
    speaker: np.ndarray  # shape: (num_seeds,), local speaker index
    points: np.ndarray  # shape: (num_seeds, dimension), unit embeddings
    frames: tuple[np.ndarray, ...]  # per seed: global frame indices where it talks alone


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def clean_seconds(binarized: np.ndarray, frame_step: float) -> np.ndarray:
    """Seconds each local speaker talks alone in its window: ``(num_chunks, local_speakers)``.

    ``binarized`` ``(num_chunks, num_frames, local_speakers)`` is the segmentation's 0/1 activity (NaN as 0).
    """
    active = np.nan_to_num(binarized) > 0
    alone = active.sum(axis=2, keepdims=True) == 1
    return (active & alone).sum(axis=1) * frame_step


def select_seeds(
    embeddings: np.ndarray, binarized: np.ndarray, frame_step: float, chunk_step: float, min_clean: float
) -> SeedSet:
    """Rule 1 of the module docstring: the seeds, with their unit embeddings and clean frames."""
    active = np.nan_to_num(binarized) > 0
    valid = active.any(axis=1) & ~np.isnan(embeddings).any(axis=-1)
    clean = clean_seconds(binarized, frame_step)
    seed = valid & (clean >= min_clean)
    if not seed.any() and valid.any():
        best = clean[valid].max()
        seed = valid & (clean >= 0.5 * best)
    chunk, speaker = np.nonzero(seed)
    alone = active.sum(axis=2) == 1  # shape: (num_chunks, num_frames)
    offsets = np.rint(np.arange(binarized.shape[0]) * chunk_step / frame_step).astype(np.int64)
    frames = tuple(offsets[c] + np.flatnonzero(active[c, :, s] & alone[c]) for c, s in zip(chunk, speaker, strict=True))
    return SeedSet(chunk=chunk, speaker=speaker, points=_unit(embeddings[chunk, speaker]), frames=frames)


def speech_seconds(labels: np.ndarray, seeds: SeedSet, frame_step: float) -> np.ndarray:
    """Distinct seconds of single-speaker speech each cluster's seeds cover: ``(num_clusters,)``."""
    num_clusters = int(labels.max()) + 1 if len(labels) else 0
    seconds = np.zeros(num_clusters)
    for k in range(num_clusters):
        members = [seeds.frames[i] for i in np.flatnonzero(labels == k)]
        seconds[k] = len(np.unique(np.concatenate(members))) * frame_step if members else 0.0
    return seconds


def _threshold_cut(history: MergeHistory, threshold: float) -> int:
    """Number of clusters left when merging stops at ``threshold`` (or at the first forced merge)."""
    stop = np.flatnonzero((history.distance > threshold) | history.forced)
    return history.size - (int(stop[0]) if len(stop) else len(history.distance))


def _speakers_at(
    history: MergeHistory, seeds: SeedSet, num_clusters: int, min_speech: float, frame_step: float
) -> tuple[np.ndarray, np.ndarray]:
    labels = labels_at(history, num_clusters)
    return labels, np.flatnonzero(speech_seconds(labels, seeds, frame_step) >= min_speech)


def _cut(
    history: MergeHistory,
    seeds: SeedSet,
    threshold: float,
    min_speech: float,
    frame_step: float,
    bounds: tuple[int, float],
) -> tuple[np.ndarray, np.ndarray]:
    """Rules 3–4: seed labels and the clusters that are speakers, at the threshold or the nearest allowed cut."""
    lo, hi = bounds
    start = _threshold_cut(history, threshold)
    labels, speakers = _speakers_at(history, seeds, start, min_speech, frame_step)
    if lo <= len(speakers) <= hi:
        return labels, speakers
    for k in sorted(range(1, history.size + 1), key=lambda q: (abs(q - start), q)):
        candidate = _speakers_at(history, seeds, k, min_speech, frame_step)
        if lo <= len(candidate[1]) <= hi:
            return candidate
    return labels, speakers


def assign_local_speakers(embeddings: np.ndarray, active: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Rule 5: ``hard`` ``(num_chunks, local_speakers)``, -2 for silent local speakers or missing embeddings."""
    hard = np.full(active.shape, -2, dtype=np.int64)
    valid = active & ~np.isnan(embeddings).any(axis=-1)
    unit = _unit(centroids)
    for c in np.flatnonzero(valid.any(axis=1)):
        speakers = np.flatnonzero(valid[c])
        similarity = _unit(embeddings[c, speakers]) @ unit.T
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        hard[c, speakers[rows]] = cols
        for s in np.setdiff1d(np.arange(len(speakers)), rows):  # more local speakers than speakers
            hard[c, speakers[s]] = int(np.argmax(similarity[s]))
    return hard


def cluster_local_speakers(
    embeddings: np.ndarray,
    binarized: np.ndarray,
    steps: tuple[float, float],
    rules: ClusterRules,
    bounds: tuple[int, float] = (1, float("inf")),
) -> LocalClusters:
    """Cluster local speakers into global speakers by the rules of the module docstring.

    ``embeddings`` ``(num_chunks, local_speakers, dimension)`` (NaN where none), ``binarized``
    ``(num_chunks, num_frames, local_speakers)``; ``steps`` is ``(frame_step, chunk_step)`` in seconds;
    ``bounds`` the ``(lo, hi)`` number of speakers allowed (``hi`` may be infinite). The number of speakers
    may still fall outside ``bounds`` when there are too few seeds (rule 4).
    """
    frame_step, chunk_step = steps
    active = (np.nan_to_num(binarized) > 0).any(axis=1)
    seeds = select_seeds(embeddings, binarized, frame_step, chunk_step, rules.min_clean)
    if len(seeds.chunk) == 0:
        return LocalClusters(
            hard=np.full(active.shape, -2, dtype=np.int64), centroids=np.zeros((0, embeddings.shape[-1]))
        )
    history = merge_history(seeds.points, seeds.chunk if rules.cannot_link else None)
    labels, speakers = _cut(history, seeds, rules.threshold, rules.min_speech, frame_step, bounds)
    if len(speakers) == 0:  # nobody has enough speech: the best-covered cluster speaks for all
        speakers = np.array([int(np.argmax(speech_seconds(labels, seeds, frame_step)))])
    centroids = np.stack([_unit(seeds.points[labels == k].mean(axis=0)) for k in speakers])
    return LocalClusters(hard=assign_local_speakers(embeddings, active, centroids), centroids=centroids)
