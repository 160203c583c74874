"""Cross-talk suppression between the channels of one recording: a frame-wise energy comparison.

Rules 1–3 of :mod:`diarize.channels`: each channel is cut into frames of ``frame`` seconds; a channel's frame
is its own speech (it *dominates*) when its energy is within ``within_db`` dB of the loudest channel's energy
in that frame; every other frame is cross-talk from another party and is silenced, with the gain moving
linearly between frame centres so that no click is made where it changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ENERGY_FLOOR", "Signals", "dominance", "frame_energies", "suppress_bleed"]

Signals = np.ndarray | Sequence[np.ndarray]
"""Channels of equal length: a ``(channels, samples)`` array, or one 1-D array per channel (not copied)."""

ENERGY_FLOOR = 1e-10
"""Mean square (−100 dBFS) below which a frame counts as digital silence, so that its log energy is finite."""

_BLOCK_FRAMES = 3000  # frames whose gains are interpolated at once (a minute of 20 ms frames)


def _frame_size(rate: int, frame: float) -> int:
    return max(1, int(round(frame * rate)))


def frame_energies(signals: Signals, rate: int, frame: float) -> np.ndarray:
    """Mean square energy (dB) of each channel's frames; the last, partial frame over its own samples.

    Returns shape ``(channels, frames)``.
    """
    size = _frame_size(rate, frame)
    length = len(signals[0])
    frames = max(1, -(-length // size))
    full = length // size
    power = np.zeros((len(signals), frames), dtype=np.float64)  # shape: (channels, frames)
    for c, signal in enumerate(signals):
        if full:
            power[c, :full] = np.mean(np.square(signal[: full * size].reshape(full, size).astype(np.float64)), axis=1)
        if length > full * size:
            power[c, full] = np.mean(np.square(signal[full * size :].astype(np.float64)))
    return 10.0 * np.log10(np.maximum(power, ENERGY_FLOOR))


def dominance(signals: Signals, rate: int, frame: float, within_db: float) -> np.ndarray:
    """Rule 2: which channel holds its own speech in each frame, shape ``(channels, frames)``, bool.

    A frame of channel ``c`` dominates when its energy is at least the loudest channel's minus ``within_db``
    dB; the loudest channel always dominates, and in a frame silent on every channel every channel does.
    """
    energies = frame_energies(signals, rate, frame)
    return energies >= energies.max(axis=0, keepdims=True) - within_db


def suppress_bleed(signals: Signals, rate: int, frame: float, within_db: float) -> np.ndarray:
    """Rule 3: ``signals`` with every non-dominant frame silenced, shape ``(channels, samples)``.

    The gain is 1 on dominant frames and 0 elsewhere, interpolated linearly between frame centres (so a change
    of gain takes one frame); the input is not modified. Returns float32 of the same shape.
    """
    size = _frame_size(rate, frame)
    mask = dominance(signals, rate, frame, within_db).astype(np.float32)  # shape: (channels, frames)
    channels, frames = mask.shape
    length = len(signals[0])
    out = np.empty((channels, length), dtype=np.float32)
    centres = (np.arange(frames, dtype=np.float64) + 0.5) * size
    for first in range(0, frames, _BLOCK_FRAMES):
        stop = min(frames, first + _BLOCK_FRAMES)
        lo, hi = first * size, min(length, stop * size)
        around = slice(max(0, first - 1), min(frames, stop + 1))
        positions = np.arange(lo, hi, dtype=np.float64) + 0.5
        for c in range(channels):
            gain = np.interp(positions, centres[around], mask[c, around]).astype(np.float32)
            out[c, lo:hi] = signals[c][lo:hi] * gain
    return out
