"""GE2E speaker encoder (the network resemblyzer ships) and its mel front end, without resemblyzer's imports.

The network (Wan et al., "Generalized End-to-End Loss for Speaker Verification", ICASSP 2018) is a 3-layer
LSTM over 40-bin mel power spectrograms (25 ms windows, 10 ms hop) followed by a linear layer, a ReLU and L2
normalisation. It embeds fixed 1.6 s partial utterances; a longer utterance is the normalised mean of its
partials. The front end reproduces resemblyzer's (librosa ``melspectrogram``: centred frames, Hann window,
Slaney mel scale and normalisation, power 2) with torch, so resemblyzer's webrtcvad import chain is not
needed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["GE2E", "MEL_BINS", "PARTIAL_FRAMES", "mel_spectrogram", "normalize_volume"]

MEL_BINS = 40
PARTIAL_FRAMES = 160  # 1.6 s of 10 ms frames
_N_FFT = 400  # 25 ms at 16 kHz
_HOP = 160  # 10 ms at 16 kHz
_TARGET_DBFS = -30.0
_INT16_MAX = 2**15 - 1


def normalize_volume(waveform: torch.Tensor) -> torch.Tensor:
    """Raise (never lower) the level of ``waveform`` to -30 dBFS, as resemblyzer's preprocessing does."""
    rms = torch.sqrt(torch.mean((waveform * _INT16_MAX) ** 2))
    if rms <= 0:
        return waveform
    change_db = _TARGET_DBFS - 20.0 * math.log10(float(rms) / _INT16_MAX)
    return waveform * (10.0 ** (change_db / 20.0)) if change_db > 0 else waveform


def _mel_filters(sample_rate: int) -> torch.Tensor:
    from torchaudio.functional import melscale_fbanks

    # shape: (n_fft // 2 + 1, mel_bins)
    return melscale_fbanks(
        _N_FFT // 2 + 1, 0.0, sample_rate / 2, MEL_BINS, sample_rate, norm="slaney", mel_scale="slaney"
    )


def mel_spectrogram(waveform: torch.Tensor, sample_rate: int = 16_000) -> torch.Tensor:
    """Mel power spectrogram of a mono waveform ``(num_samples,)`` → ``(1 + num_samples // 160, 40)``."""
    window = torch.hann_window(_N_FFT, periodic=True, dtype=torch.float32)
    padded = torch.nn.functional.pad(waveform.reshape(1, -1).float(), (_N_FFT // 2, _N_FFT // 2))
    spec = torch.stft(padded[0], _N_FFT, _HOP, window=window, center=False, return_complex=True)
    power = spec.abs() ** 2  # shape: (freq, frames)
    return power.T @ _mel_filters(sample_rate)


class GE2E(nn.Module):
    """``forward(mels (B, frames, 40)) -> (B, 256)`` L2-normalised embeddings of (partial) utterances."""

    def __init__(self, hidden: int = 256, embedding_size: int = 256, num_layers: int = 3) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.lstm = nn.LSTM(MEL_BINS, hidden, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden, embedding_size)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(mels)
        embeds = self.relu(self.linear(hidden[-1]))
        return embeds / embeds.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def embed_utterance(self, mels: torch.Tensor, step: int = PARTIAL_FRAMES // 2) -> torch.Tensor:
        """Embed one utterance ``(frames, 40)`` as the normalised mean of its 1.6 s partials → ``(256,)``.

        Partials start every ``step`` frames; an utterance shorter than one partial is embedded whole.
        """
        frames = mels.shape[0]
        if frames <= PARTIAL_FRAMES:
            partials = mels[None]
        else:
            starts = list(range(0, frames - PARTIAL_FRAMES + 1, step))
            if starts[-1] + PARTIAL_FRAMES < frames:
                starts.append(frames - PARTIAL_FRAMES)
            partials = torch.stack([mels[s : s + PARTIAL_FRAMES] for s in starts])
        mean = self(partials).mean(dim=0)
        return mean / mean.norm().clamp_min(1e-12)
