"""Stage 1: voice activity detection with WebRTC's VAD.

WebRTC's classifier labels each short frame (10, 20 or 30 ms) speech or not. Those labels become regions: runs
of speech frames separated by less than ``min_silence`` are merged, regions shorter than ``min_speech`` are
dropped, the rest are padded by ``speech_pad`` on both sides (clamped to the audio) and merged where the
padding makes them meet. A region longer than ``max_span`` is cut into chunks of at most ``max_span`` at its
quietest point, preferring frames the classifier called non-speech, so that a cut falls between words wherever
the audio allows.

Everything is computed on integer sample counts; the returned spans are seconds on the audio's own timeline.
The audio is read in blocks, so an hour of audio needs no more memory than the audio itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import webrtcvad

from diarize.errors import ConfigError, InputError
from diarize.spans import merge_spans
from diarize.strict import check_choice
from diarize.types import Audio, Span

__all__ = ["VadOptions", "detect_speech"]

log = logging.getLogger(__name__)

_WEBRTC_RATES = (8000, 16000, 32000, 48000)
_BLOCK_FRAMES = 2000  # frames classified per block of audio converted to 16-bit PCM
_ENERGY_FLOOR = 1e-10  # mean square of digital silence, so that its log energy is finite


@dataclass(frozen=True)
class VadOptions:
    """How speech regions are found, cleaned up and cut into chunks."""

    frame_ms: int = 30
    """Length of the frames WebRTC's VAD classifies, in milliseconds: 10, 20 or 30."""

    aggressiveness: int = 2
    """WebRTC's mode, 0 to 3: higher rejects more non-speech (noise, music) at the risk of clipping soft
    speech."""

    speech_pad: float = 0.2
    """Seconds of audio added before and after every region (clamped to the audio)."""

    min_silence: float = 0.3
    """Gaps between speech frames shorter than this (seconds) are merged into one region."""

    min_speech: float = 0.25
    """Regions shorter than this (seconds, before padding) are dropped as blips."""

    max_span: float = 30.0
    """Longest region returned (seconds, padding included); longer ones are cut into chunks at quiet
    points."""

    energy_window: float = 0.1
    """Window (seconds) of the short-term energy that picks the quietest point to cut a long region."""

    def __post_init__(self) -> None:
        check_choice("vad.frame_ms", self.frame_ms, (10, 20, 30))
        check_choice("vad.aggressiveness", self.aggressiveness, (0, 1, 2, 3))
        for name in ("speech_pad", "min_silence", "min_speech"):
            value = getattr(self, name)
            if not 0.0 <= value <= 10.0:
                raise ConfigError(f"vad {name} must lie in [0, 10] seconds, got {value!r}")
        if not 1.0 <= self.max_span <= 3600.0:
            raise ConfigError(f"vad max_span must lie in [1, 3600] seconds, got {self.max_span!r}")
        if not self.frame_ms / 1000 <= self.energy_window <= self.max_span / 4:
            raise ConfigError(
                f"vad energy_window must lie between one frame and max_span / 4, got {self.energy_window!r}"
            )


def detect_speech(audio: Audio, options: VadOptions | None = None) -> list[Span]:
    """The speech regions of ``audio``, in order, non-overlapping, each at most ``options.max_span`` long."""
    options = options or VadOptions()
    rate = audio.sample_rate
    if rate not in _WEBRTC_RATES:
        raise InputError(f"{audio.info.path}: WebRTC's VAD needs audio at {_WEBRTC_RATES} Hz, not {rate} Hz")
    frame = rate * options.frame_ms // 1000
    flags, energy = _classify(audio.samples, rate, frame, options.aggressiveness)
    runs = _speech_runs(flags)
    runs = merge_spans(runs, gap=round(options.min_silence * 1000 / options.frame_ms))
    min_frames = round(options.min_speech * 1000 / options.frame_ms)
    runs = [(a, b) for a, b in runs if b - a >= max(1, min_frames)]
    pad = round(options.speech_pad * rate)
    n = len(audio.samples)
    regions = merge_spans([(max(0, a * frame - pad), min(n, b * frame + pad)) for a, b in runs])
    max_len = round(options.max_span * rate)
    smooth = max(1, round(options.energy_window * 1000 / options.frame_ms))
    cost = _cut_cost(flags, energy, smooth)
    spans: list[Span] = []
    for start, end in regions:
        for a, b in _split(start, end, max_len, frame, cost):
            spans.append(Span(a / rate, b / rate))
    log.debug("vad: %d speech spans, %.1f s of %.1f s", len(spans), sum(s.duration for s in spans), n / rate)
    return spans


def _classify(samples: np.ndarray, rate: int, frame: int, mode: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame speech flags and log energies of the whole frames of ``samples``, computed block by block."""
    n_frames = len(samples) // frame
    flags = np.zeros(n_frames, dtype=bool)  # shape: (n_frames,)
    energy = np.zeros(n_frames, dtype=np.float32)  # shape: (n_frames,), log10 mean square
    vad = webrtcvad.Vad(mode)
    for first in range(0, n_frames, _BLOCK_FRAMES):
        count = min(_BLOCK_FRAMES, n_frames - first)
        block = samples[first * frame : (first + count) * frame].reshape(
            count, frame
        )  # shape: (count, frame)
        block64 = block.astype(np.float64)
        energy[first : first + count] = np.log10(np.mean(block64 * block64, axis=1) + _ENERGY_FLOOR)
        pcm = (np.clip(block64, -1.0, 1.0) * 32767.0).round().astype("<i2")  # shape: (count, frame)
        for i in range(count):
            flags[first + i] = vad.is_speech(pcm[i].tobytes(), rate, frame)
    return flags, energy


def _speech_runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open frame ranges ``[a, b)`` where ``flags`` is true."""
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]


def _cut_cost(flags: np.ndarray, energy: np.ndarray, smooth: int) -> np.ndarray:
    """How bad a cut at each frame would be: smoothed log energy, with speech frames ranked after all
    non-speech."""
    if len(energy) == 0:
        return energy
    kernel = np.ones(smooth, dtype=np.float64) / smooth
    smoothed = np.convolve(energy.astype(np.float64), kernel, mode="same")  # shape: (n_frames,)
    # Log energies lie in [-10, 0]; a speech frame costs more than any non-speech frame.
    return smoothed + np.where(flags, 20.0, 0.0)


def _split(start: int, end: int, max_len: int, frame: int, cost: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` (samples) cut into pieces of at most ``max_len`` samples at the cheapest frame
    borders.

    Each cut is searched in the second half of the piece it ends, so no piece but the last is shorter than
    ``max_len / 2``.
    """
    pieces: list[tuple[int, int]] = []
    while end - start > max_len:
        lo = -(-(start + max_len // 2) // frame)  # first frame starting in the search range
        hi = (start + max_len) // frame  # frame borders up to the longest allowed piece
        candidates = cost[lo : min(hi, len(cost))]
        if len(candidates) == 0:
            cut = start + max_len
        else:
            # The middle of the cheapest frame; ties go to the latest frame so that pieces stay long.
            best = lo + len(candidates) - 1 - int(np.argmin(candidates[::-1]))
            cut = min(best * frame + frame // 2, start + max_len)
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces
