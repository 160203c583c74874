"""Video frame alignment (stage 5): speech turns and words on video frame indices.

Whisper sees 16 kHz audio through 100 mel frames/s, halved by its encoder to :data:`FEATURE_RATE` = 50
feature frames/s (20 ms each); feature ``k`` is centred at ``k / 50`` s, so ``int(t * 50)`` is the last
feature centred at or before ``t``. Every video frame is mapped onto that grid, one row per frame of the
picture stream, and every conversion lives here:

- **Constant frame rate**: frame ``i`` is presented at ``t = start_time + i / fps`` and its centre feature
  is ``center_idx = int(t * 50)``, which is ``int(i * 50 / fps)`` for a picture starting at 0 (nearly every
  file). ``fps`` is the container's exact :class:`~fractions.Fraction` (``30000/1001`` stays ``30000/1001``)
  and the index is computed with integers, so nothing drifts however long the video is.
- **Variable frame rate**: ``t`` is each frame's presentation timestamp and ``center_idx = int(t * 50)``;
  the table and the JSON provenance say ``time_source: pts``.
- **Windows**: ``FrameOptions.left``/``right`` count VIDEO frames; they become feature frames as
  ``round_half_up(left * 50 / fps)`` (2 frames at 25 fps → 4 features, at 30000/1001 → 3, at 24 → 4), and
  the window is ``[center_idx - left_f, center_idx + right_f)`` (variable-rate video: the average rate).
  ``right_f`` is at least 1, so a window always holds its centre. :meth:`FrameTable.window_indices` gives
  the ``left_f + right_f`` indices of every window.
- **Clamping**: the audio has ``n_features = floor(audio_duration * 50)`` feature frames. Every index in the
  table (``center_idx``, ``window_first``, ``window_last`` and the window indices) is clamped to
  ``[0, n_features - 1]``; a window at either end repeats the edge index, so every window has the same
  length and can index a ``(n_features, d_model)`` feature array directly. A frame whose own centre falls
  outside the audio (picture longer than the sound) has ``in_audio = false`` and ``is_speech = false``.
- **Speech**: a turn or word ``[start, end)`` covers the frames whose time lies in it. ``speakers`` lists
  every speaker with a turn covering the frame, in the result's speaker order (the files join them as
  ``SPEAKER_00|SPEAKER_01``); ``turn_ids`` are the indices of those turns in ``Result.turns``, in the same
  order. ``word`` is the first word (transcript order) covering the frame. ``is_speech`` is true for a frame
  in the audio that some turn or word covers.
- **Sync**: the audio duration is compared with the picture's end (``start_time + n_frames / fps``, or the
  last pts plus its interval for variable-rate video); the offset goes to the provenance, and above
  ``FrameOptions.sync_tolerance`` a warning is logged. Frames are never dropped or truncated.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from diarize.errors import ConfigError, MediaError
from diarize.strict import options_from_dict
from diarize.types import Result, SpeakerTurn, VideoInfo

__all__ = [
    "FEATURE_RATE",
    "SPEAKER_SEPARATOR",
    "FrameOptions",
    "FrameTable",
    "SyncCheck",
    "align",
    "feature_count",
    "feature_window",
    "frame_table",
    "turn_frames",
    "with_frames",
]

logger = logging.getLogger(__name__)

FEATURE_RATE = 50
"""Whisper encoder frames per second (16 kHz, hop 160 → 100 mel frames/s, halved by the encoder: 20 ms)."""

SPEAKER_SEPARATOR = "|"
"""Joins the speakers (and turn ids) of a frame where turns overlap: ``SPEAKER_00|SPEAKER_01``."""

_EPS = 1e-6  # feature frames (20 ns): absorbs float noise in times that sit exactly on a feature boundary


@dataclass(frozen=True)
class FrameOptions:
    """How video frames are mapped onto Whisper's 50 Hz feature grid."""

    left: int = 2
    """Video frames of context before each frame's centre, converted to feature frames."""

    right: int = 2
    """Video frames of context after each frame's centre, converted to feature frames."""

    sync_tolerance: float = 0.1
    """Seconds of audio/video duration mismatch above which a warning is given."""

    def __post_init__(self) -> None:
        if self.left < 0 or self.right < 0:
            raise ConfigError(f"frames left/right must be >= 0, got {self.left}, {self.right}")
        if self.sync_tolerance < 0:
            raise ConfigError(f"frames sync_tolerance must be >= 0, got {self.sync_tolerance}")


@dataclass(frozen=True)
class SyncCheck:
    """How the audio's length compares with the picture's."""

    audio_duration: float
    """Seconds of decoded audio."""
    video_start: float
    """Presentation time (s) of the first video frame."""
    video_end: float
    """End (s) of the last video frame: ``start + n_frames / fps``, or last pts plus its interval (VFR)."""
    tolerance: float
    """``FrameOptions.sync_tolerance`` (s)."""
    frames_without_audio: int
    """Video frames whose centre lies outside the audio (``in_audio`` false)."""

    @property
    def offset(self) -> float:
        """``audio_duration - video_end`` (s): positive when the audio runs longer than the picture."""
        return self.audio_duration - self.video_end

    @property
    def in_sync(self) -> bool:
        return abs(self.offset) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {
            "audio_duration": self.audio_duration,
            "video_start": self.video_start,
            "video_end": self.video_end,
            "offset": round(self.offset, 6),
            "tolerance": self.tolerance,
            "in_sync": self.in_sync,
            "frames_without_audio": self.frames_without_audio,
        }


@dataclass(frozen=True, eq=False)
class FrameTable:
    """One row per video frame (the rules are in the module docstring); ``len(table)`` is the frame count."""

    frame: np.ndarray  # shape: (n_frames,), int64, 0..n_frames-1 in presentation order
    time: np.ndarray  # shape: (n_frames,), float64, presentation time (s)
    center_idx: np.ndarray  # shape: (n_frames,), int64, in [0, n_features - 1]
    window_first: np.ndarray  # shape: (n_frames,), int64, first feature of the clamped window
    window_last: np.ndarray  # shape: (n_frames,), int64, last feature of the clamped window (inclusive)
    in_audio: np.ndarray  # shape: (n_frames,), bool, the unclamped centre lies in [0, n_features)
    is_speech: np.ndarray  # shape: (n_frames,), bool
    speakers: tuple[tuple[str, ...], ...]
    turn_ids: tuple[tuple[int, ...], ...]
    words: tuple[str | None, ...]
    fps: Fraction
    variable_frame_rate: bool
    n_features: int
    left: int
    """Window context before the centre, in feature frames."""
    right: int
    """Window context from the centre on, in feature frames (the centre included)."""
    sync: SyncCheck

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def speaker(self) -> tuple[str | None, ...]:
        """Each frame's speakers joined with ``|``; ``None`` where nobody speaks."""
        return tuple(SPEAKER_SEPARATOR.join(s) if s else None for s in self.speakers)

    @property
    def turn_id(self) -> tuple[str | None, ...]:
        """Each frame's turn indices joined with ``|`` (same order as :attr:`speaker`); ``None`` for none."""
        return tuple(SPEAKER_SEPARATOR.join(map(str, t)) if t else None for t in self.turn_ids)

    @property
    def time_source(self) -> str:
        """``pts`` (variable frame rate: per-frame timestamps) or ``frame_rate`` (``start + i / fps``)."""
        return "pts" if self.variable_frame_rate else "frame_rate"

    def window_indices(self) -> np.ndarray:
        """Feature indices of every frame's window, edges repeated: ``features[table.window_indices()]`` has
        shape ``(n_frames, left + right, d_model)``."""
        offsets = np.arange(-self.left, self.right)
        # shape: (n_frames, left + right)
        return np.clip(self.center_idx[:, None] + offsets[None, :], 0, self.n_features - 1)

    def summary(self) -> dict[str, Any]:
        """What the JSON provenance records under ``frames``."""
        return {
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "variable_frame_rate": self.variable_frame_rate,
            "time_source": self.time_source,
            "n_frames": len(self),
            "n_features": self.n_features,
            "feature_rate": FEATURE_RATE,
            "window": {"left": self.left, "right": self.right, "unit": "feature frames"},
            "speech_frames": int(self.is_speech.sum()),
            "sync": self.sync.to_dict(),
        }


def feature_count(duration: float) -> int:
    """``floor(duration * 50)``: the Whisper feature frames that lie wholly inside ``duration`` seconds."""
    return max(0, math.floor(duration * FEATURE_RATE + _EPS))


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def feature_window(fps: Fraction, options: FrameOptions) -> tuple[int, int]:
    """``(left, right)`` in feature frames: ``round_half_up(frames * 50 / fps)``, ``right`` at least 1."""
    if fps <= 0:
        raise ConfigError(f"video frame rate must be > 0, got {fps}")
    scale = Fraction(FEATURE_RATE) / Fraction(fps)
    return _round_half_up(options.left * scale), max(1, _round_half_up(options.right * scale))


def _frame_clock(video: VideoInfo) -> tuple[np.ndarray, np.ndarray]:
    """``(time, raw centre index)`` of every frame, before clamping; exact integer arithmetic for CFR."""
    if video.variable_frame_rate and video.frame_times:
        times = np.asarray(video.frame_times, dtype=np.float64)
        centers = np.floor(times * FEATURE_RATE + _EPS).astype(np.int64)
        return times, centers
    fps = Fraction(video.fps)
    if fps <= 0:
        raise ConfigError(f"video frame rate must be > 0, got {fps}")
    num, den = fps.numerator, fps.denominator
    step = FEATURE_RATE * den  # center = floor(i * 50 * den / num), in integers
    pairs = [divmod(i * step, num) for i in range(video.n_frames)]
    times = np.asarray([video.start_time + (i * den) / num for i in range(video.n_frames)], dtype=np.float64)
    centers = np.asarray([q for q, _ in pairs], dtype=np.int64)
    if video.start_time:
        frac = np.asarray([r / num for _, r in pairs], dtype=np.float64)
        centers = centers + np.floor(video.start_time * FEATURE_RATE + frac + _EPS).astype(np.int64)
    return times, centers


def _video_end(video: VideoInfo) -> float:
    if video.variable_frame_rate and video.frame_times:
        return video.start_time + video.duration
    return video.start_time + float(Fraction(video.n_frames) / Fraction(video.fps))


def _cover(times: np.ndarray, start: float, end: float) -> range:
    """Indices of the frames whose time lies in ``[start, end)``."""
    lo = int(np.searchsorted(times, start, side="left"))
    hi = int(np.searchsorted(times, end, side="left"))
    return range(lo, max(lo, hi))


def _speech(
    result: Result, times: np.ndarray, in_audio: np.ndarray
) -> tuple[list[list[int]], list[str | None]]:
    """Per frame: covering turn indices (speaker order, one per speaker) and the covering word."""
    rank = {name: i for i, name in enumerate(result.speakers)}
    order = sorted(range(len(result.turns)), key=lambda k: (rank.get(result.turns[k].speaker, len(rank)), k))
    turns: list[list[int]] = [[] for _ in times]
    for k in order:
        turn = result.turns[k]
        for i in _cover(times, turn.start, turn.end):
            if in_audio[i] and all(result.turns[j].speaker != turn.speaker for j in turns[i]):
                turns[i].append(k)
    words: list[str | None] = [None] * len(times)
    for word in result.words:
        for i in _cover(times, word.start, word.end):
            if in_audio[i] and words[i] is None:
                words[i] = word.text.strip()
    return turns, words


def _check_sync(result: Result, video: VideoInfo, tolerance: float, without_audio: int) -> SyncCheck:
    return SyncCheck(
        audio_duration=result.source.duration,
        video_start=video.start_time,
        video_end=_video_end(video),
        tolerance=tolerance,
        frames_without_audio=without_audio,
    )


def _build(result: Result, video: VideoInfo, options: FrameOptions) -> FrameTable:
    n_features = feature_count(result.source.duration)
    if n_features == 0:
        raise MediaError(result.source.path, "the audio is shorter than one feature frame (20 ms)")
    if video.n_frames <= 0:
        raise MediaError(result.source.path, "the video stream has no frames")
    left, right = feature_window(Fraction(video.fps), options)
    times, raw = _frame_clock(video)
    in_audio = (raw >= 0) & (raw < n_features) & (times >= 0)
    center = np.clip(raw, 0, n_features - 1)
    turns, words = _speech(result, times, in_audio)
    has_speech = np.asarray([bool(t) or w is not None for t, w in zip(turns, words, strict=True)], dtype=bool)
    return FrameTable(
        frame=np.arange(len(times), dtype=np.int64),
        time=times,
        center_idx=center,
        window_first=np.clip(center - left, 0, n_features - 1),
        window_last=np.clip(center + right - 1, 0, n_features - 1),
        in_audio=in_audio,
        is_speech=in_audio & has_speech,
        speakers=tuple(tuple(result.turns[k].speaker for k in t) for t in turns),
        turn_ids=tuple(tuple(t) for t in turns),
        words=tuple(words),
        fps=Fraction(video.fps),
        variable_frame_rate=bool(video.variable_frame_rate and video.frame_times),
        n_features=n_features,
        left=left,
        right=right,
        sync=_check_sync(result, video, options.sync_tolerance, int((~in_audio).sum())),
    )


def align(result: Result, video: VideoInfo, options: FrameOptions | None = None) -> FrameTable:
    """The frame table of ``result`` over the frames of ``video``; logs a warning when audio and picture
    lengths differ by more than ``options.sync_tolerance``.

    Raises :class:`~diarize.errors.MediaError` when there is nothing to align (no frames, or under 20 ms of
    audio).
    """
    options = options or FrameOptions()
    table = _build(result, video, options)
    sync = table.sync
    if not sync.in_sync:
        logger.warning(
            "%s: audio (%.3f s) and video (%.3f s) differ by %+.3f s, more than %.3g s; %d frame(s) have no "
            "audio and are marked as not speech",
            result.source.path, sync.audio_duration, sync.video_end, sync.offset, sync.tolerance,
            sync.frames_without_audio,
        )
    else:
        logger.info("%s: audio/video offset %+.3f s", result.source.path, sync.offset)
    return table


def turn_frames(turns: tuple[SpeakerTurn, ...], table: FrameTable) -> tuple[SpeakerTurn, ...]:
    """``turns`` with ``frames = (first, last)``: the frames whose row lists the turn (``None`` when no frame
    time lies in the turn, e.g. a turn shorter than one frame interval, or past the picture's end)."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for frame, ids in enumerate(table.turn_ids):
        for k in ids:
            first.setdefault(k, frame)
            last[k] = frame
    return tuple(
        dataclasses.replace(turn, frames=(first[k], last[k]) if k in first else None)
        for k, turn in enumerate(turns)
    )


def with_frames(result: Result, table: FrameTable) -> Result:
    """A copy of ``result`` with each turn's frame range and the table's summary (sync check included) in the
    provenance under ``frames``."""
    provenance = dataclasses.replace(
        result.provenance, extra={**dict(result.provenance.extra), "frames": table.summary()}
    )
    return dataclasses.replace(result, turns=turn_frames(result.turns, table), provenance=provenance)


def frame_table(result: Result) -> FrameTable:
    """Rebuild the frame table of a pipeline result (options from its provenance), without repeating the sync
    warning. Raises :class:`~diarize.errors.ConfigError` for a result without video."""
    video = result.source.video
    if video is None:
        raise ConfigError(f"{result.source.path}: the frames output needs a video input; this file has none")
    recorded = result.provenance.options.get("frames")
    options = options_from_dict(FrameOptions, recorded, where="provenance.options.frames")
    return _build(result, video, options)
