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

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from diarize.errors import ModelError
from diarize.hooks import Hook, no_hook
from diarize.models.threads import torch_threads
from diarize.speakers.nets.campplus import CAMPPlus
from diarize.speakers.nets.ge2e import GE2E
from diarize.speakers.options import SpeakerOptions
from diarize.speakers.turns import (
    ClusteredSpeakers,
    absorb_short_runs,
    ensure_speakers,
    exclusive_frames,
    frames_to_turns,
    label_in_order,
    top_speakers,
)
from diarize.types import Audio, Diarization, SpeakerActivity, SpeakerTurn

if TYPE_CHECKING:
    from pyannote.audio import Model

    from diarize.speakers.pyannote import SpeakerFrames

__all__ = ["Hook", "SpeakerModels", "analyse", "build_diarization", "cluster", "diarize", "waveform_tensor"]

logger = logging.getLogger(__name__)


_NETWORKS: dict[str, type[nn.Module]] = {"campplus": CAMPPlus, "ge2e": GE2E}


@dataclass(frozen=True, eq=False)
class SpeakerModels:
    """The models the stage runs: pyannote's segmentation model and a speaker embedding network.

    ``embedding`` is the bare network (:class:`~diarize.speakers.nets.campplus.CAMPPlus` or
    :class:`~diarize.speakers.nets.ge2e.GE2E`) as
    the model cache loads it (``diarize.speakers.embeddings.load_campplus`` / ``load_ge2e``).
    """

    segmentation: Model
    embedding: CAMPPlus | GE2E


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
    with torch_threads(1):
        return _diarize(audio, options, models, hook or no_hook)


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
    analysis = analyse(audio, options, models, hook)
    if analysis is None:
        return Diarization(turns=(), exclusive=(), speakers=(), embedding_model=options.embedding_model)
    frames, embeddings = analysis
    hook("clustering", 0, 1)
    clustered = cluster(frames, embeddings, options)
    hook("clustering", 1, 1)
    return build_diarization(clustered, audio.duration, options)


def cluster(frames: SpeakerFrames, embeddings: np.ndarray, options: SpeakerOptions) -> ClusteredSpeakers:
    """Local speakers to global speakers with the clustering method ``options`` names; inputs unchanged."""
    from diarize.speakers.pyannote import make_clustering, run_clustering, run_constrained

    if options.clustering_method == "constrained":
        return run_constrained(frames, embeddings, options)
    clustering = make_clustering(options, embeddings.shape[-1])
    return run_clustering(clustering, frames, embeddings.copy(), options)


def analyse(
    audio: Audio, options: SpeakerOptions, models: SpeakerModels, hook: Hook | None = None
) -> tuple[SpeakerFrames, np.ndarray] | None:
    """Segmentation and embeddings, the stage's first two steps: ``(frames, embeddings)``, or ``None`` when
    nobody speaks.

    ``embeddings`` has shape ``(num_chunks, local_speakers, dimension)``. :func:`cluster` and
    :func:`build_diarization` finish what :func:`diarize` does from them, so that tuning can cluster one
    analysis many ways. Unlike :func:`diarize`, it neither checks ``models.embedding`` against
    ``options.embedding_model`` nor sets torch's thread count (wrap it in
    :func:`diarize.models.threads.torch_threads` as :func:`diarize` does).
    """
    from diarize.speakers.embeddings import speaker_embedding
    from diarize.speakers.pyannote import build_pipeline, run_segmentation

    network = models.embedding
    embedding = speaker_embedding(network, options.embedding_model, workers=options.num_threads)
    pipeline = build_pipeline(models.segmentation, embedding, options)
    file = {"waveform": waveform_tensor(audio), "sample_rate": audio.sample_rate, "uri": "audio"}
    relay = _pipeline_hook(hook or no_hook)
    frames = run_segmentation(pipeline, models.segmentation, file, relay)
    if frames.empty:
        return None
    embeddings = pipeline.get_embeddings(
        file, frames.binarized, exclude_overlap=options.exclude_overlap, hook=relay
    )
    # shape: (num_chunks, local_speakers, dimension)
    return frames, embeddings


def waveform_tensor(audio: Audio) -> torch.Tensor:
    """``audio``'s samples as the ``(channel, time)`` float32 tensor pyannote.audio takes for an in-memory file
    (sharing memory with them where they are writable)."""
    samples = np.asarray(audio.samples, dtype=np.float32)
    if not samples.flags.writeable:  # torch wants a writable buffer; nothing here writes to it
        samples = samples.copy()
    # shape: (channel, time)
    return torch.from_numpy(samples).reshape(1, -1)


def build_diarization(clustered: ClusteredSpeakers, duration: float, options: SpeakerOptions) -> Diarization:
    """The stage's output from clustered activity: overlap-aware and exclusive turns, speaker names in order of
    first appearance, and unit centroids (:func:`cluster` makes ``clustered``; the oracle floor of
    :mod:`diarize.eval.oracle` makes its own)."""
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
        activity=_activity(clustered, names, active, exclusive),
    )


def _activity(
    clustered: ClusteredSpeakers, names: dict[int, str], active: np.ndarray, exclusive: np.ndarray
) -> SpeakerActivity:
    """The frames the turns were made from, columns in speaker order (clusters without a turn left out)."""
    columns = list(names)  # insertion order: first appearance
    strength = np.where(active, clustered.activations, 0.0)[:, columns]
    grid = clustered.grid
    return SpeakerActivity(
        start=grid.start,
        step=grid.step,
        duration=grid.duration,
        speakers=tuple(names[k] for k in columns),
        active=active[:, columns].copy(),
        exclusive=exclusive[:, columns].copy(),
        strength=np.clip(strength, 0.0, None).astype(np.float32),
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
