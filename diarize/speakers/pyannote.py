"""The pyannote.audio side of the speaker stage: embedding-model adapter, PLDA stand-in, pipeline factory.

Importing this module imports pyannote.audio (slow), so the rest of diarize imports it lazily, from the speaker
stage, never at ``import diarize``. The module itself sets no environment variable: hub access and telemetry are
switched off (:func:`diarize.models.offline.offline_environment`) by the model loaders before they import
pyannote.audio, and again by :func:`build_pipeline` before a pipeline is built.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from diarize.cores import current_budget
from diarize.errors import ModelError
from diarize.models.offline import offline_environment, quiet_imports
from diarize.models.threads import torch_threads
from diarize.speakers.nets.campplus import CAMPPlus
from diarize.speakers.nets.ge2e import GE2E
from diarize.speakers.turns import ClusteredSpeakers, FrameGrid

with quiet_imports():
    from pyannote.audio import Model
    from pyannote.audio.core.plda import PLDA
    from pyannote.audio.core.task import Specifications
    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering, BaseClustering, VBxClustering
    from pyannote.audio.utils.signal import binarize
    from pyannote.core import SlidingWindow, SlidingWindowFeature
    from scipy.optimize import linear_sum_assignment
    from sklearn.cluster import KMeans

if TYPE_CHECKING:
    from diarize.speakers.options import SpeakerOptions

__all__ = [
    "SpeakerEmbedding",
    "SpeakerFrames",
    "assemble",
    "build_pipeline",
    "enforce_bounds",
    "identity_plda",
    "make_clustering",
    "overlap_speakers",
    "run_clustering",
    "run_constrained",
    "run_segmentation",
]

logger = logging.getLogger(__name__)

Network = CAMPPlus | GE2E
Embedder = Callable[[Network, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


class SpeakerEmbedding(Model):
    """A speaker embedding network behind pyannote.audio's embedding-model interface.

    ``forward(waveforms (B, 1, T), weights (B, frames) | None) -> (B, D)`` embeds, for each window, the speech
    where ``weights`` marks the speaker active (see :func:`diarize.speakers.embeddings.embed`). Passing an instance
    (not a name) to the pipeline bypasses pyannote's name-based loader dispatch.
    """

    def __init__(
        self, network: Network, name: str, embed: Embedder, min_num_samples: int, workers: int = 1
    ) -> None:
        super().__init__(sample_rate=16_000, num_channels=1)
        self.network = network
        self.name = name
        self.dimension = int(network.embedding_size)
        self._embed = embed
        self._min_num_samples = min_num_samples
        self._workers = max(1, workers)

    # pyannote's base class declares forward(waveforms, **kwargs); its pipeline passes weights=
    def forward(  # type: ignore[override]
        self, waveforms: torch.Tensor, weights: torch.Tensor | None = None
    ) -> torch.Tensor:
        # pyannote measures the shortest usable input by calling forward without weights on ever shorter noise
        # until it raises; that length decides when a speaker's overlap-free frames are enough to embed
        if weights is None and waveforms.shape[-1] < self._min_num_samples:
            raise ValueError(f"{waveforms.shape[-1]} samples are too few for a speaker embedding")

        def one(b: int) -> torch.Tensor:
            return self._embed(self.network, waveforms[b, 0], None if weights is None else weights[b])

        return self.embed_items(one, waveforms.shape[0])

    @property
    def workers(self) -> int:
        """Items embedded side by side now: the stage's thread budget when one is bound (it grows when
        transcription finishes, :mod:`diarize.cores` rule 7), else the count the model was made with."""
        budget = current_budget()
        return self._workers if budget is None else budget.threads

    def embed_items(self, one: Callable[[int], torch.Tensor], count: int) -> torch.Tensor:
        """``(count, dimension)``: ``one(b)`` for every item ``b`` of a batch, :attr:`workers` side by side."""

        def run(b: int) -> torch.Tensor:
            with torch.inference_mode():  # thread-local: entered in each worker
                return one(b)

        workers = self.workers
        # one torch thread per item; workers started inside take the count set here
        with torch_threads(1):
            if workers == 1 or count == 1:
                rows = [run(b) for b in range(count)]
            else:
                # items run side by side: no OpenMP barrier to spin on a busy machine
                with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embedding") as pool:
                    rows = list(pool.map(run, range(count)))
        _release_freed_memory()
        # shape: (batch, dimension)
        return torch.stack(rows)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_freed_memory() -> None:
    """Hand memory freed by torch back to the system (glibc only).

    Every embedding works on differently sized tensors, and glibc keeps the freed blocks in its heaps: on 10
    minutes of audio resident memory grew by 20 MB per batch of 32 (+560 MB in all); trimmed after each batch
    it stays flat (trimming after each embedding saves a little more but costs 30 % more time).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def identity_plda(dimension: int, between_class: float = 1.0) -> PLDA:
    """A PLDA that only length-normalises: identity transforms, one between-class variance for every axis.

    pyannote's pipeline needs a PLDA object even for agglomerative clustering, which never uses it; VBx uses
    it as its speaker model, where ``between_class`` (the between/within-speaker variance ratio) sets how
    readily it opens new speakers. The packages diarize installs ship no PLDA trained for CAM++ or GE2E.
    """
    transform, plda = io.BytesIO(), io.BytesIO()
    eye = np.eye(dimension)
    np.savez(transform, mean1=np.zeros(dimension), mean2=np.zeros(dimension), lda=eye)
    np.savez(plda, mu=np.zeros(dimension), tr=eye, psi=np.full(dimension, float(between_class)))
    transform.seek(0)
    plda.seek(0)
    # np.load (inside PLDA) reads file objects as well as paths
    return PLDA(transform, plda, lda_dimension=dimension)  # type: ignore[arg-type]


def _specifications(segmentation: Model) -> Specifications:
    specifications = segmentation.specifications
    if isinstance(specifications, tuple):
        raise ModelError("the segmentation model has several tasks; expected pyannote segmentation-3.0")
    return specifications


class _Diarization(SpeakerDiarization):
    """pyannote's diarization pipeline, whose CAM++ embeddings slice one fbank of the whole in-memory file
    (:func:`diarize.speakers.embeddings.window_embeddings`) rather than compute it for every window and local
    speaker; anything else (GE2E, windows off the 10 ms grid, audio read from a path) goes through pyannote's
    own ``get_embeddings``."""

    def get_embeddings(
        self,
        file: dict[str, Any],
        binary_segmentations: SlidingWindowFeature,
        exclude_overlap: bool = False,
        hook: Callable[..., Any] | None = None,
    ) -> np.ndarray:
        from diarize.speakers.embeddings import FileFbank, window_embeddings

        model, waveform, rate = self.embedding, file.get("waveform"), file.get("sample_rate")
        # the samples pyannote's Audio.crop cuts for each chunk
        windows = [(self._audio.get_num_samples(chunk.start, rate), self._audio.get_num_samples(chunk.end, rate))
                   for chunk, _ in binary_segmentations]
        if (
            self.training  # pyannote keeps embeddings between trials
            or not isinstance(model, SpeakerEmbedding)
            or not isinstance(model.network, CAMPPlus)
            or waveform is None
            or waveform.shape[0] != 1
            or rate != model.audio.sample_rate
            or not all(FileFbank.aligned(start) for start, _ in windows)
        ):
            return super().get_embeddings(file, binary_segmentations, exclude_overlap=exclude_overlap, hook=hook)
        min_samples = self._embedding.min_num_samples if exclude_overlap else None
        masks = embedding_masks(binary_segmentations, min_samples, model.audio.sample_rate)
        return window_embeddings(model, waveform[0], windows, masks, self.embedding_batch_size, hook)


def embedding_masks(
    binary_segmentations: SlidingWindowFeature, min_num_samples: int | None, sample_rate: int
) -> np.ndarray:
    """``(num_chunks, num_frames, local_speakers)`` float32: the frames each local speaker is embedded from.

    pyannote's rule (``SpeakerDiarization.get_embeddings``): with ``min_num_samples`` (overlap excluded), a
    speaker's frames without overlap when there are more than ``min_num_samples`` worth of them, else all
    its frames; NaN frames (partial stitching) are off.
    """
    data = binary_segmentations.data
    masks = np.nan_to_num(data, nan=0.0).astype(np.float32)
    if min_num_samples is None:
        return masks
    num_frames = data.shape[1]
    num_samples = binary_segmentations.sliding_window.duration * sample_rate
    min_num_frames = math.ceil(num_frames * min_num_samples / num_samples)
    clean = np.nan_to_num(data * (1.0 * (np.sum(data, axis=2, keepdims=True) < 2)), nan=0.0).astype(np.float32)
    enough = clean.sum(axis=1, keepdims=True) > min_num_frames  # shape: (num_chunks, 1, local_speakers)
    return np.where(enough, clean, masks)


def build_pipeline(
    segmentation: Model, embedding: SpeakerEmbedding, options: SpeakerOptions
) -> SpeakerDiarization:
    """pyannote's diarization pipeline on the given models (no hub access), for segmentation and embeddings.

    Its own clustering step is not used (see :func:`make_clustering`), but pyannote 4.0.7 refuses to build
    without a PLDA even for agglomerative clustering, so it gets the stand-in :func:`identity_plda`.
    """
    offline_environment()  # pyannote reads its telemetry switch on every run
    with quiet_imports():
        pipeline = _Diarization(
            segmentation=segmentation,
            segmentation_step=options.step / _specifications(segmentation).duration,
            embedding=embedding,
            embedding_exclude_overlap=options.exclude_overlap,
            plda=identity_plda(embedding.dimension),
            clustering="AgglomerativeClustering",
            embedding_batch_size=options.embedding_batch_size,
            segmentation_batch_size=options.segmentation_batch_size,
        )
    pipeline.instantiate(
        {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {"method": "centroid", "threshold": 1.0, "min_cluster_size": 1},
        }
    )
    return pipeline


def make_clustering(options: SpeakerOptions, dimension: int) -> BaseClustering:
    """pyannote's agglomerative or VBx clustering, its hyper-parameters set from ``options``."""
    clustering: BaseClustering
    if options.clustering == "vbx":
        clustering = VBxClustering(identity_plda(dimension, options.vbx_between_class), metric="cosine")
        clustering.instantiate(
            {"threshold": options.cluster_threshold, "Fa": options.vbx_fa, "Fb": options.vbx_fb}
        )
    else:
        clustering = AgglomerativeClustering(metric="cosine", constrained_assignment=options.constrained)
        clustering.instantiate(
            {
                "method": options.linkage,
                "threshold": options.cluster_threshold,
                "min_cluster_size": options.cluster_size,
            }
        )
    return clustering


@dataclass(frozen=True, eq=False)
class SpeakerFrames:
    """What segmentation found, window by window."""

    segmentations: SlidingWindowFeature  # shape: (num_chunks, num_frames, local_speakers), scores
    binarized: SlidingWindowFeature  # shape: (num_chunks, num_frames, local_speakers), 0/1
    count: SlidingWindowFeature  # shape: (total_frames, 1), speakers talking at once

    @property
    def empty(self) -> bool:
        return not bool((np.nan_to_num(self.count.data) > 0).any())


def run_segmentation(
    pipeline: SpeakerDiarization, segmentation: Model, file: dict[str, Any], hook: Callable[..., None]
) -> SpeakerFrames:
    """Segment every window and count the speakers talking at once in each frame.

    With a thread budget bound (:func:`diarize.cores.current_budget`), each batch runs on as many PyTorch
    threads as the budget gives when the batch starts.
    """
    segmentations = pipeline.get_segmentations(file, hook=_following_budget(hook))
    if _specifications(segmentation).powerset:
        binarized = segmentations
    else:
        binarized = binarize(segmentations, onset=0.5, initial_state=False)
    count = pipeline.speaker_count(binarized, segmentation.receptive_field, warm_up=(0.0, 0.0))
    return SpeakerFrames(segmentations=segmentations, binarized=binarized, count=count)


def _following_budget(hook: Callable[..., None]) -> Callable[..., None]:
    """``hook``, first setting this thread's PyTorch threads to the bound budget (pyannote calls the hook
    before the first batch and after each one, in the thread that runs the batches)."""
    budget = current_budget()
    if budget is None:
        return hook

    def relay(*args: Any, **kwargs: Any) -> None:
        if torch.get_num_threads() != budget.threads:
            torch.set_num_threads(budget.threads)
        hook(*args, **kwargs)

    return relay


def run_clustering(
    clustering: BaseClustering, frames: SpeakerFrames, embeddings: np.ndarray, options: SpeakerOptions
) -> ClusteredSpeakers:
    """Cluster local speakers into global ones and stitch their activity over the whole audio.

    pyannote clusters only the embeddings it trusts: finite, of a local speaker who talks alone for at least
    20 % of a window (2 s): a clip shorter than 2 s never has one, and one of 2–3 s often has none. Then the
    voices cannot be told apart (:func:`_too_little_speech`): every local speaker is one speaker, no centroid
    is kept, and ``embedded`` is false.
    """
    lo, hi = options.speaker_bounds
    # shape: (num_chunks, local_speakers)
    active = np.sum(frames.binarized.data, axis=1) > 0
    trusted, _, _ = clustering.filter_embeddings(embeddings, segmentations=frames.binarized)
    if len(trusted) == 0:
        hard, centroids = _too_little_speech(embeddings, active, lo, hi)
    else:
        lo = max(lo, int(min(_overlap_minimum(frames.count, options), hi)))
        hard, centroids = _cluster(clustering, frames, embeddings, options, lo, hi)
        hard, centroids = enforce_bounds(hard, centroids, embeddings, active, lo, hi)
    return assemble(frames, hard, centroids, (lo, hi), embedded=len(trusted) > 0)


def run_constrained(frames: SpeakerFrames, embeddings: np.ndarray, options: SpeakerOptions) -> ClusteredSpeakers:
    """Cluster local speakers with :func:`diarize.speakers.clustering.cluster_local_speakers` and stitch their activity.

    With no local speaker talking alone for ``min_clean`` seconds there is nothing to cluster: all the speech
    is one speaker, as in :func:`run_clustering`. Every speaker the clustering keeps must show in the output
    (it has ``min_speech`` seconds of its own), so the output's minimum is raised to their number.
    """
    from diarize.speakers.clustering import ClusterRules, clean_seconds, cluster_local_speakers

    lo, hi = options.speaker_bounds
    active = np.sum(frames.binarized.data, axis=1) > 0
    frame_step = frames.count.sliding_window.step
    valid = active & np.isfinite(embeddings).all(axis=-1)
    if not (valid & (clean_seconds(frames.binarized.data, frame_step) >= options.min_clean)).any():
        hard, centroids = _too_little_speech(embeddings, active, lo, hi)
        return assemble(frames, hard, centroids, (lo, hi), embedded=False)
    lo = max(lo, int(min(_overlap_minimum(frames.count, options), hi)))
    clusters = cluster_local_speakers(
        embeddings,
        frames.binarized.data,
        (frame_step, frames.binarized.sliding_window.step),
        ClusterRules(options.cluster_threshold, options.min_clean, options.min_speech, options.cannot_link),
        bounds=(lo, hi),
    )
    hard, centroids = enforce_bounds(clusters.hard, clusters.centroids, embeddings, active, lo, hi)
    used = len(np.unique(hard[active & (hard >= 0)]))
    return assemble(frames, hard, centroids, (int(min(max(lo, used), hi)), hi))


def assemble(
    frames: SpeakerFrames,
    hard: np.ndarray,
    centroids: np.ndarray,
    bounds: tuple[int, float],
    embedded: bool = True,
) -> ClusteredSpeakers:
    """Stitch the clustered local speakers ``hard`` ``(num_chunks, local_speakers)`` over the whole audio.

    ``hard[c, s] = k`` puts local speaker ``s`` of window ``c`` in global speaker ``k``; negative values and
    silent local speakers are dropped. ``bounds`` is ``(lo, hi)``: the fewest speakers the output must show,
    and the cap on speakers talking at once.
    """
    lo, hi = bounds
    active = np.sum(frames.binarized.data, axis=1) > 0
    hard = np.where(active, hard, -2)
    count = np.minimum(frames.count.data[:, 0], hi).astype(np.int64)
    activations = _stitch(frames.segmentations, hard, frames.count.sliding_window)
    num_frames = min(len(activations.data), len(count))
    window = activations.sliding_window
    return ClusteredSpeakers(
        activations=activations.data[:num_frames],
        count=count[:num_frames],
        centroids=centroids,
        grid=FrameGrid(start=window.start, step=window.step, duration=window.duration),
        min_speakers=lo,
        embedded=embedded,
    )


def _overlap_minimum(count: SlidingWindowFeature, options: SpeakerOptions) -> int:
    """The fewest speakers that overlapped speech proves (1 when the count is given or evidence is off)."""
    if options.num_speakers is not None:
        return 1
    heard = overlap_speakers(count, options.overlap_evidence)
    if heard > 1:
        logger.debug(
            "%d speakers talk at once for %.1f s or more: at least %d speakers",
            heard,
            options.overlap_evidence,
            heard,
        )
    return heard


def _cluster(
    clustering: BaseClustering,
    frames: SpeakerFrames,
    embeddings: np.ndarray,
    options: SpeakerOptions,
    lo: int,
    hi: float,
) -> tuple[np.ndarray, np.ndarray]:
    """pyannote's clustering: ``hard`` ``(num_chunks, local_speakers)``, ``centroids`` ``(clusters, dim)``."""
    with contextlib.redirect_stdout(io.StringIO()) as chatter:  # pyannote prints when it misses a count
        hard, _, centroids = clustering(
            embeddings=embeddings,
            segmentations=frames.binarized,
            num_clusters=options.num_speakers,
            min_clusters=lo,
            # VBx compares against it, so "no maximum" is infinity rather than None
            max_clusters=hi if math.isinf(hi) else int(hi),  # type: ignore[arg-type]
        )
    if chatter.getvalue().strip():
        logger.debug("clustering: %s", chatter.getvalue().strip())
    return hard, centroids


def _too_little_speech(
    embeddings: np.ndarray, active: np.ndarray, lo: int, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(hard, centroids)`` when no embedding is reliable enough to cluster.

    Every active local speaker becomes speaker 0: overlap evidence is ignored (on a window holding a second
    or two of speech, segmentation-3.0 often hears a single voice as two). Speaker-count hints that ask for
    more are still honoured from the short embeddings (:func:`enforce_bounds`), but no centroid is kept: it
    would not be reliable enough to name a voice. ``centroids`` has no rows.
    """
    hard = np.where(active, 0, -2)
    if lo > 1:
        hard, _ = enforce_bounds(hard, np.zeros((1, embeddings.shape[-1])), embeddings, active, lo, hi)
    return hard, np.empty((0, embeddings.shape[-1]), dtype=np.float32)


def overlap_speakers(count: SlidingWindowFeature, evidence: float) -> int:
    """The most speakers heard at once for at least ``evidence`` seconds in all (0 disables: returns 1)."""
    if evidence <= 0:
        return 1
    frames = count.data[:, 0]
    needed = math.ceil(evidence / count.sliding_window.step)
    heard = 1
    while (frames >= heard + 1).sum() >= needed:
        heard += 1
    return heard


def _stitch(
    segmentations: SlidingWindowFeature, hard: np.ndarray, frames: SlidingWindow
) -> SlidingWindowFeature:
    """Sum, over overlapping windows, each global speaker's activity: ``(total_frames, num_clusters)``.

    A window's score for a global speaker is the highest of its local speakers in that cluster, frame by
    frame. The sum is what pyannote's ``Inference.aggregate`` (no Hamming window, no averaging, missing 0)
    gives on the stacked window scores, added window by window in the same order and on the same frames, so
    the numbers are equal; the stack itself (``(num_chunks, num_frames, num_clusters)``, 0.2 GB per hour of
    audio with 25 speakers, and copies of it inside ``aggregate``) is never held.
    """
    data = segmentations.data  # shape: (num_chunks, num_frames, local_speakers)
    num_chunks, num_frames, _ = data.shape
    num_clusters = int(hard.max()) + 1 if (hard >= 0).any() else 1
    chunks = segmentations.sliding_window
    grid = SlidingWindow(start=chunks.start, duration=frames.duration, step=frames.step)
    last = chunks.start + chunks.duration + (num_chunks - 1) * chunks.step
    total = grid.closest_frame(last + 0.5 * grid.duration) + 1
    summed = np.zeros((total, num_clusters), dtype=np.float32)  # shape: (total_frames, num_clusters)
    for c in range(num_chunks):
        first = grid.closest_frame(chunks[c].start + 0.5 * grid.duration)
        for k in np.unique(hard[c]):
            if k >= 0:
                score = np.max(data[c][:, hard[c] == k], axis=1)  # shape: (num_frames,)
                summed[first : first + num_frames, k] += np.nan_to_num(score, nan=0.0)
    return SlidingWindowFeature(summed, grid)


def enforce_bounds(
    hard: np.ndarray, centroids: np.ndarray, embeddings: np.ndarray, active: np.ndarray, lo: int, hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Re-cluster when the number of clusters in use falls outside ``[lo, hi]``.

    The embeddings of active local speakers are re-clustered (k-means on the unit sphere) into the nearest
    feasible count, then every local speaker is assigned to a cluster with the constraint that the speakers of
    one window go to different clusters. With fewer distinct local speakers than ``lo``, fewer clusters
    result.
    """
    used = np.unique(hard[active & (hard >= 0)])
    valid = active & ~np.isnan(embeddings).any(axis=-1)
    target = int(min(max(len(used), lo), hi, valid.sum()))
    if len(used) == target or target < 1:
        if not lo <= len(used) <= hi:
            logger.warning("found %d speakers, outside the requested [%d, %g]", len(used), lo, hi)
        return hard, centroids
    points = embeddings[valid]
    points = points / np.linalg.norm(points, axis=1, keepdims=True)
    labels = KMeans(n_clusters=target, n_init=10, random_state=0).fit_predict(points)
    centroids = np.stack([embeddings[valid][labels == k].mean(axis=0) for k in range(target)])
    unit = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
    hard = np.full(hard.shape, -2, dtype=np.int64)
    for c in np.flatnonzero(valid.any(axis=1)):
        speakers = np.flatnonzero(valid[c])
        vectors = embeddings[c, speakers]
        similarity = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)) @ unit.T
        rows, cols = linear_sum_assignment(similarity, maximize=True)
        hard[c, speakers[rows]] = cols
        for s in np.setdiff1d(np.arange(len(speakers)), rows):  # more local speakers than clusters
            hard[c, speakers[s]] = int(np.argmax(similarity[s]))
    logger.info("re-clustered into %d speakers to honour the requested [%d, %g]", target, lo, hi)
    return hard, centroids
