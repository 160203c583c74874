"""Speaker diarization stage: who spoke when, overlap included.

pyannote.audio's diarization recipe, run on models passed in (no loading, no file I/O here):

1. **segmentation** — pyannote segmentation-3.0 slides a 10 s window over the audio every ``step`` seconds and
   finds up to three local speakers per window (two at once at most);
2. **embeddings** — each local speaker of each window gets one speaker embedding (CAM++ by default) computed
   from only the frames where that speaker talks alone ("gather" pooling, see :mod:`diarize.speakers.embeddings`);
3. **clustering** — agglomerative clustering of the embeddings links local speakers across windows into
   global speakers; speaker-count hints are enforced here;
4. **turns** — the clustered activity is stitched on the segmentation frame grid (about 17 ms) into the
   overlap-aware turns and the one-speaker-at-a-time exclusive view (:mod:`diarize.speakers.turns`);
5. **too little speech** — when no local speaker talks alone long enough for a reliable embedding (2 s in
   one window: never in a clip shorter than 2 s, often not in one of 2–3 s), voices cannot be told apart:
   all the speech is one speaker (more only when speaker-count hints ask for them), with no centroid, and
   ``Diarization.note`` says so. A speaker whose centroid is missing or not finite gets none in
   ``Diarization.centroids``.

Embeddings take most of the time (about 80 %): each second of speech is embedded ``10 / step`` times.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
from torch import nn

from diarize.errors import ConfigError, ModelError
from diarize.speakers.nets.campplus import CAMPPlus
from diarize.speakers.nets.ge2e import GE2E
from diarize.speakers.turns import (
    EXCLUSIVE_RULES,
    ClusteredSpeakers,
    absorb_short_runs,
    ensure_speakers,
    exclusive_frames,
    frames_to_turns,
    label_in_order,
    top_speakers,
)
from diarize.types import Audio, Diarization, SpeakerTurn

if TYPE_CHECKING:
    from pyannote.audio import Model

    from diarize.speakers.pyannote import SpeakerFrames

__all__ = ["CLUSTERING_METHODS", "DEFAULT_THRESHOLDS", "Hook", "SpeakerModels", "SpeakerOptions", "diarize"]

logger = logging.getLogger(__name__)

Hook = Callable[[str, int, int], None]
"""Progress callback ``hook(stage, completed, total)``; stages: segmentation, embeddings, clustering."""

CLUSTERING_METHODS = ("auto", "constrained", "agglomerative", "vbx")
_AUTO_CLUSTERING = {"campplus": "constrained", "ge2e": "agglomerative"}
_NETWORKS: dict[str, type[nn.Module]] = {"campplus": CAMPPlus, "ge2e": GE2E}
_WINDOW = 10.0  # s: the segmentation model's analysis window

DEFAULT_THRESHOLDS: dict[tuple[str, str], float] = {
    ("campplus", "constrained"): 0.6,
    ("ge2e", "constrained"): 0.3,
    ("campplus", "agglomerative"): 0.85,
    ("ge2e", "agglomerative"): 0.5,
    ("campplus", "vbx"): 0.8,
    ("ge2e", "vbx"): 0.8,
}
"""Clustering thresholds. Constrained: chosen by 2-fold cross-validation over pyannote's sample, nine AMI
excerpts, a simulated conversation and each fold's concatenation (DER plus one point per speaker-count
error); GE2E's is the best of a sweep on the same files. Agglomerative and VBx: measured on pyannote's
sample, three AMI excerpts, the simulated conversation and a 10-minute concatenation
(``python -m diarize.speakers.tuning sweep``)."""


@dataclass(frozen=True)
class SpeakerOptions:
    """Everything that decides the speaker stage's output; defaults measured on AMI and pyannote's sample."""

    embedding_model: str = "campplus"
    """Speaker embedding network: ``"campplus"`` (3D-Speaker CAM++, 192-dim, default) or ``"ge2e"``
    (resemblyzer's GE2E, 256-dim; less accurate, kept as a fallback)."""

    step: float = 1.0
    """Seconds between successive 10 s analysis windows; each second of speech is embedded ``10 / step``
    times, so time grows as ``1 / step``. 2.0 halves the time; DER rose by 0.3 points on a 10-minute test
    and by 1.5 on 30 s excerpts, and clips of a few seconds get too few windows."""

    clustering: str = "auto"
    """``"auto"`` (default): ``"constrained"`` for CAM++, ``"agglomerative"`` for GE2E (with GE2E,
    constrained clustering lowered AMI DER from 32.7 to 27.4 % but found a third speaker in pyannote's
    two-speaker sample). ``"constrained"``: average linkage on cosine distance over the local speakers with
    enough clean speech, the local speakers of one window then assigned to different speakers
    (:mod:`diarize.speakers.clustering`); ``"agglomerative"``
    (pyannote's centroid linkage) or ``"vbx"`` (pyannote's VB-HMM clustering with a length-normalising
    stand-in PLDA: no PLDA trained for CAM++/GE2E ships, so it is experimental)."""

    threshold: float | None = None
    """Constrained: average-linkage cosine distance at which merging stops (higher → fewer speakers).
    Agglomerative: Euclidean threshold between centroids of unit embeddings below which clusters merge.
    VBx: Euclidean threshold (unit vectors) of its agglomerative initialisation. ``None``: the measured
    default of the embedding model and method (:data:`DEFAULT_THRESHOLDS`)."""

    min_clean: float = 1.0
    """Constrained: seconds a local speaker must talk alone in its window for its embedding to shape the
    clusters (shorter ones are only assigned to them)."""

    min_speech: float = 1.0
    """Constrained: distinct seconds of single-speaker speech a cluster needs to count as a speaker."""

    cannot_link: bool = False
    """Constrained: never merge clusters holding two local speakers of one window while other merges are
    left (off: it raised DER on AMI and on concatenated meetings, see :mod:`diarize.speakers.clustering`)."""

    linkage: str = "centroid"
    """Agglomerative only: linkage method (scipy): centroid, average, complete, single, ward, median, weighted."""

    min_cluster_size: int | None = None
    """Agglomerative only: clusters with fewer embeddings are merged into the nearest large one.
    ``None``: ``round(6 / step)``, i.e. about 6 s of windows whatever the step (12 s merged real speakers who
    talk little on a 10-minute, 14-speaker test). pyannote lowers it to 10 % of the embeddings on short files."""

    constrained: bool = False
    """Agglomerative only: assign the local speakers of one window to different clusters (Hungarian matching)."""

    overlap_evidence: float = 1.0
    """Seconds during which segmentation hears ``n`` speakers at once that prove at least ``n`` distinct
    speakers (raising the minimum unless ``num_speakers`` is set); ``0`` turns this off. It keeps two people
    who only ever talk together from being merged into one."""

    exclude_overlap: bool = True
    """Embed each local speaker from the frames where it talks alone (when there are enough of them)."""

    min_duration_off: float = 0.0
    """Gaps shorter than this (s) inside one speaker's speech are filled."""

    min_duration_on: float = 0.1
    """Turns shorter than this (s) are merged into the neighbouring speaker's turn, or dropped when nobody
    speaks next to them (:func:`diarize.speakers.turns.absorb_short_runs`); ``0`` keeps every turn."""

    exclusive_rule: str = "confident"
    """How the exclusive view picks one speaker in overlap: ``"confident"`` (most active) or ``"keep"``
    (whoever holds the floor keeps it)."""

    vbx_fa: float = 1.0
    """VBx only: scale of the embedding statistics (pyannote's 0.07 collapsed CAM++ to one or two
    speakers)."""

    vbx_fb: float = 1.0
    """VBx only: speaker regularisation; larger → fewer speakers."""

    vbx_between_class: float = 3.0
    """VBx only: between/within-speaker variance ratio of the stand-in PLDA."""

    num_speakers: int | None = None
    """Exact number of speakers, when known. Honoured exactly unless the audio holds fewer distinct local
    speakers (window, speaker pairs) than that, which is logged as a warning."""

    min_speakers: int | None = None
    """At least this many speakers (when the audio holds that many distinct voices)."""

    max_speakers: int | None = None
    """At most this many speakers."""

    embedding_batch_size: int = 32
    """(window, speaker) pairs embedded per batch; bounds memory on long audio."""

    segmentation_batch_size: int = 8
    """Windows segmented per batch (32 cost 300 MB more memory and ran no faster)."""

    num_threads: int = 2
    """CPU threads the stage uses. torch runs single-threaded while the stage runs (restored afterwards) and
    this many (window, speaker) embeddings are computed side by side: no OpenMP thread spins waiting for
    another, which on a busy 2-core machine slowed multi-threaded torch 10×. Segmentation uses one thread."""

    def __post_init__(self) -> None:
        _check_choice("embedding_model", self.embedding_model, tuple(_NETWORKS))
        _check_choice("clustering", self.clustering, CLUSTERING_METHODS)
        _check_choice("exclusive_rule", self.exclusive_rule, EXCLUSIVE_RULES)
        _check_choice(
            "linkage",
            self.linkage,
            ("average", "centroid", "complete", "median", "single", "ward", "weighted"),
        )
        if self.min_duration_on < 0 or self.min_duration_off < 0:
            raise ConfigError("min_duration_on and min_duration_off must be at least 0 s")
        if self.min_clean < 0 or self.min_speech < 0:
            raise ConfigError(f"min_clean and min_speech must be at least 0 s, got {self.min_clean}, {self.min_speech}")
        if not 0.0 < self.step <= _WINDOW:
            raise ConfigError(f"speaker step must lie in (0, {_WINDOW:g}] s, got {self.step}")
        for name in ("num_speakers", "min_speakers", "max_speakers", "min_cluster_size", "num_threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}")
        if self.embedding_batch_size < 1 or self.segmentation_batch_size < 1:
            raise ConfigError("speaker batch sizes must be at least 1")
        lo, hi = self.min_speakers, self.max_speakers
        if lo is not None and hi is not None and lo > hi:
            raise ConfigError(f"min_speakers ({lo}) is larger than max_speakers ({hi}): lower one of them")
        if self.num_speakers is not None and not (lo or 1) <= self.num_speakers <= (hi or self.num_speakers):
            raise ConfigError(f"num_speakers ({self.num_speakers}) contradicts min/max_speakers ({lo}, {hi})")

    @property
    def speaker_bounds(self) -> tuple[int, float]:
        """``(min, max)`` number of speakers the output must have (``max`` may be infinite)."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        return self.min_speakers or 1, float(self.max_speakers) if self.max_speakers else float("inf")

    @property
    def cluster_threshold(self) -> float:
        """``threshold``, or the default for this embedding model and clustering method."""
        if self.threshold is not None:
            return self.threshold
        return DEFAULT_THRESHOLDS[(self.embedding_model, self.clustering_method)]

    @property
    def clustering_method(self) -> str:
        """``clustering`` with ``"auto"`` resolved for the embedding model."""
        return _AUTO_CLUSTERING[self.embedding_model] if self.clustering == "auto" else self.clustering

    @property
    def cluster_size(self) -> int:
        return self.min_cluster_size if self.min_cluster_size is not None else max(1, round(6.0 / self.step))


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"speaker option {name}={value!r} is not one of: {', '.join(choices)}")


@dataclass(frozen=True, eq=False)
class SpeakerModels:
    """The models the stage runs: pyannote's segmentation model and a speaker embedding network.

    ``embedding`` is the bare network (:class:`~diarize.speakers.nets.campplus.CAMPPlus` or
    :class:`~diarize.speakers.nets.ge2e.GE2E`) as
    the model cache loads it (``diarize.speakers.embeddings.load_campplus`` / ``load_ge2e``).
    """

    segmentation: Model
    embedding: nn.Module


def diarize(
    audio: Audio, options: SpeakerOptions, models: SpeakerModels, hook: Hook | None = None
) -> Diarization:
    """Who spoke when in ``audio``: overlap-aware turns, an exclusive view, one centroid per speaker.

    Raises :class:`ModelError` when ``models.embedding`` is not the network ``options.embedding_model`` names.
    ``audio`` is not modified.
    """
    expected = _NETWORKS[options.embedding_model]
    if not isinstance(models.embedding, expected):
        raise ModelError(
            f"speaker embedding model is a {type(models.embedding).__name__}, but options ask for "
            f"{options.embedding_model!r} ({expected.__name__})"
        )
    if len(audio.samples) == 0:
        return Diarization(turns=(), exclusive=(), speakers=(), embedding_model=options.embedding_model)
    with _torch_threads(1):
        return _diarize(audio, options, models, hook or _no_hook)


def _no_hook(stage: str, completed: int, total: int) -> None:
    return None


@contextlib.contextmanager
def _torch_threads(num_threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _pipeline_hook(hook: Hook) -> Callable[..., None]:
    def relay(
        step: str,
        artifact: Any = None,
        file: Any = None,
        total: int | None = None,
        completed: int | None = None,
    ) -> None:
        if total is not None and completed is not None:
            hook(step, min(int(completed), int(total)), int(total))

    return relay


def _diarize(audio: Audio, options: SpeakerOptions, models: SpeakerModels, hook: Hook) -> Diarization:
    analysis = _analyse(audio, options, models, hook)
    if analysis is None:
        return Diarization(turns=(), exclusive=(), speakers=(), embedding_model=options.embedding_model)
    frames, embeddings = analysis
    hook("clustering", 0, 1)
    clustered = cluster(frames, embeddings, options)
    hook("clustering", 1, 1)
    return _build(clustered, audio.duration, options)


def cluster(frames: SpeakerFrames, embeddings: np.ndarray, options: SpeakerOptions) -> ClusteredSpeakers:
    """Local speakers to global speakers with the clustering method ``options`` names; inputs unchanged."""
    from diarize.speakers.pyannote import make_clustering, run_clustering, run_constrained

    if options.clustering_method == "constrained":
        return run_constrained(frames, embeddings, options)
    clustering = make_clustering(options, embeddings.shape[-1])
    return run_clustering(clustering, frames, embeddings.copy(), options)


def _analyse(
    audio: Audio, options: SpeakerOptions, models: SpeakerModels, hook: Hook
) -> tuple[SpeakerFrames, np.ndarray] | None:
    """Segmentation and embeddings: ``(frames, embeddings)``, or ``None`` when nobody speaks."""
    from diarize.speakers.embeddings import speaker_embedding
    from diarize.speakers.pyannote import build_pipeline, run_segmentation

    network = cast("CAMPPlus | GE2E", models.embedding)  # checked by diarize()
    embedding = speaker_embedding(network, options.embedding_model, workers=options.num_threads)
    pipeline = build_pipeline(models.segmentation, embedding, options)
    file = {"waveform": _waveform(audio), "sample_rate": audio.sample_rate, "uri": "audio"}
    relay = _pipeline_hook(hook)
    frames = run_segmentation(pipeline, models.segmentation, file, relay)
    if frames.empty:
        return None
    embeddings = pipeline.get_embeddings(
        file, frames.binarized, exclude_overlap=options.exclude_overlap, hook=relay
    )
    # shape: (num_chunks, local_speakers, dimension)
    return frames, embeddings


def _waveform(audio: Audio) -> torch.Tensor:
    samples = np.asarray(audio.samples, dtype=np.float32)
    if not samples.flags.writeable:  # torch wants a writable buffer; nothing here writes to it
        samples = samples.copy()
    # shape: (channel, time)
    return torch.from_numpy(samples).reshape(1, -1)


def _build(clustered: ClusteredSpeakers, duration: float, options: SpeakerOptions) -> Diarization:
    """Overlap-aware and exclusive turns, speaker names and normalised centroids from clustered activity."""
    activations, count, grid = clustered.activations, clustered.count, clustered.grid
    active = top_speakers(activations, count)  # shape: (num_frames, num_clusters)
    active = ensure_speakers(active, activations, clustered.min_speakers)
    min_frames = math.ceil(options.min_duration_on / grid.step - 1e-9) if options.min_duration_on > 0 else 0
    active = absorb_short_runs(active, activations, min_frames, clustered.min_speakers)
    exclusive = exclusive_frames(active, activations, options.exclusive_rule)
    exclusive = absorb_short_runs(exclusive, activations, min_frames, clustered.min_speakers)
    raw = frames_to_turns(active, grid, options.min_duration_off, end=duration)
    raw_exclusive = frames_to_turns(exclusive, grid, options.min_duration_off, end=duration)
    names = label_in_order(raw)
    turns = tuple(SpeakerTurn(start=s, end=e, speaker=names[k]) for s, e, k in raw)
    exclusive_turns = tuple(
        SpeakerTurn(start=s, end=e, speaker=names[k]) for s, e, k in raw_exclusive if k in names
    )
    vectors = {name: v for k, name in names.items() if (v := _unit(clustered.centroids, k)) is not None}
    note = _embedding_note(clustered.embedded, names, vectors, exclusive_turns)
    if note:
        logger.info("%s", note)
    return Diarization(
        turns=turns,
        exclusive=exclusive_turns,
        speakers=tuple(names.values()),  # insertion order: first appearance
        centroids=vectors,
        embedding_model=options.embedding_model,
        note=note,
    )


def _embedding_note(
    embedded: bool, names: dict[int, str], vectors: dict[str, np.ndarray], exclusive: tuple[SpeakerTurn, ...]
) -> str:
    """What the provenance says about speakers without a centroid (empty when every speaker has one)."""
    if not embedded and names:
        seconds = sum(t.duration for t in exclusive)  # the exclusive view never counts a second twice
        assumed = "one speaker assumed" if len(names) == 1 else f"{len(names)} speakers as asked, without embeddings"
        return f"too little speech to embed reliably ({seconds:.1f} s); {assumed}"
    missing = [name for name in names.values() if name not in vectors]
    return f"no usable embedding for {', '.join(missing)}" if missing else ""


def _unit(centroids: np.ndarray, k: int) -> np.ndarray | None:
    """Cluster ``k``'s centroid L2-normalised (float32), or ``None`` when it has none that is finite."""
    if k >= len(centroids):
        return None
    vector = np.asarray(centroids[k], dtype=np.float32)
    norm = float(np.linalg.norm(vector)) if np.isfinite(vector).all() else 0.0
    return vector / norm if norm > 1e-12 else None
