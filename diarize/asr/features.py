"""Whisper encoder features of a whole recording, for frame-level work: ``(n_features, d_model)`` float32.

The features are computed once and saved (``<stem>.whisper.npy``), so that any video frame's feature window
(:meth:`diarize.frames.FrameTable.window_indices`) is a slice of the array, without running the model again.

How they are made, as Whisper's own ``transcribe`` prepares its input:

1. The log-Mel spectrogram of the whole 16 kHz recording, with 30 s of zeros appended (so the dynamic-range
   floor, 8 log10 units under the loudest bin, is taken over the whole recording, as in transcription).
2. The encoder on consecutive 30 s windows of 3000 mel frames, each giving 1500 rows; the last window is
   padded with the zeros' spectrum to 3000 frames and its rows past the audio are dropped.

**Row count.** The array has exactly ``n_features = floor(duration * 50)`` rows
(:func:`diarize.frames.feature_count`), the count the frame table clamps its indices to, so every index in the
table is a valid row. Row ``k`` is centred at ``k / 50`` s. Whisper's encoder has
``ceil((n_samples // 160) / 2)`` rows whose centre lies in the audio (``n_samples`` at 16 kHz), which is one
more than ``n_features`` when ``n_samples % 320 >= 160``: that last row would see only 10-20 ms of audio and
is left out. So the file holds the encoder's rows, minus at most that one (the "± 1 row").
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from diarize.frames import feature_count
from diarize.types import Audio
from diarize.writers.files import atomic_write

if TYPE_CHECKING:
    import whisper

__all__ = ["FEATURES_SUFFIX", "WINDOW_FEATURES", "encoder_features", "save_features"]

FEATURES_SUFFIX = ".whisper.npy"
"""What follows the stem in the features file's name."""

WINDOW_FEATURES = 1500
"""Encoder rows per 30 s window (3000 mel frames, halved)."""


def encoder_features(audio: Audio, model: whisper.model.Whisper) -> np.ndarray:
    """Whisper encoder output for all of ``audio``, shape ``(floor(duration * 50), n_audio_state)``.

    ``model`` is an openai-whisper model, e.g. ``ModelCache().openai_whisper("tiny.en")``; it is only read.
    """
    import torch
    from whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim

    n_features = feature_count(audio.info.duration)
    width = int(model.dims.n_audio_state)
    if n_features == 0:
        return np.zeros((0, width), dtype=np.float32)
    samples = torch.from_numpy(np.ascontiguousarray(audio.samples, dtype=np.float32))
    param = next(model.encoder.parameters())
    with torch.inference_mode():
        # shape: (n_mels, n_samples // 160 + 3000)
        mel = log_mel_spectrogram(samples, model.dims.n_mels, padding=N_SAMPLES)
        n_windows = math.ceil(n_features / WINDOW_FEATURES)
        rows = np.empty((n_windows * WINDOW_FEATURES, width), dtype=np.float32)
        for w in range(n_windows):
            window = pad_or_trim(mel[:, w * N_FRAMES : (w + 1) * N_FRAMES], N_FRAMES)  # (n_mels, 3000)
            encoded = model.encoder(window[None].to(device=param.device, dtype=param.dtype))  # (1, 1500, d)
            rows[w * WINDOW_FEATURES : (w + 1) * WINDOW_FEATURES] = encoded[0].float().cpu().numpy()
    return rows[:n_features]


def save_features(features: np.ndarray, path: str | Path) -> Path:
    """Write ``features`` as a ``.npy`` file, atomically; returns the path."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(features, dtype=np.float32), allow_pickle=False)
    return atomic_write(path, buffer.getvalue())
