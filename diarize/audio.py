"""Media decoding: any audio or video container becomes 16 kHz mono float32.

Decoding uses PyAV, whose wheel carries its own FFmpeg libraries, so no ffmpeg binary is needed and the
container's exact metadata (rational frame rates, presentation timestamps) is read in-process. Any channel
count is downmixed and any rate resampled by FFmpeg's libswresample, streamed frame by frame so a long file
never needs more than its decoded 16 kHz samples in memory.

This is the door of the pipeline: every file is validated here once, and every failure becomes a
:class:`~diarize.errors.MediaError` whose message names the file and the problem.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from diarize.errors import MediaError, NoAudioError
from diarize.types import SAMPLE_RATE, Audio, MediaInfo, VideoInfo

__all__ = ["load_audio", "probe", "TRUNCATION_TOLERANCE"]

logger = logging.getLogger(__name__)

TRUNCATION_TOLERANCE = 0.5
"""Seconds of audio a stream may fall short of its declared duration before it counts as truncated."""

_VFR_TOLERANCE = 1e-3  # s: frame intervals varying by more than this mean variable frame rate


def probe(path: str | Path) -> MediaInfo:
    """Read a media file's metadata without decoding its audio.

    Raises :class:`MediaError` for a missing, empty, unreadable or non-media file and :class:`NoAudioError`
    when the file holds no audio stream.
    """
    path = _check_path(path)
    with _open(path) as container:
        return _media_info(path, container)


def load_audio(path: str | Path) -> Audio:
    """Decode ``path`` to 16 kHz mono float32 samples, with what was found about the file.

    ``MediaInfo.duration`` is the decoded audio's duration at its original sample rate. A stream that decodes
    to noticeably less than its container declares is reported as truncated rather than silently shortened.
    """
    import av

    info = probe(path)
    path = Path(info.path)
    with _open(path) as container:
        stream = _audio_stream(path, container)
        declared = _declared_duration(stream)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks: list[np.ndarray] = []
        decoded = 0
        try:
            for frame in container.decode(stream):
                decoded += frame.samples
                chunks.extend(_plane(f) for f in resampler.resample(frame))
            chunks.extend(_plane(f) for f in resampler.resample(None))
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(path, f"corrupt or truncated audio after {decoded} samples ({_reason(exc)})") from exc
    if decoded == 0:
        raise MediaError(path, "the audio stream holds no samples")
    info = replace(info, duration=decoded / info.sample_rate)
    _check_truncation(path, declared=declared, decoded=info.duration)
    _check_riff_size(path)
    samples = np.concatenate(chunks)
    np.clip(samples, -1.0, 1.0, out=samples)
    logger.debug("decoded %s: %.3f s, %d Hz, %d ch", path, info.duration, info.sample_rate, info.channels)
    return Audio(samples=samples, info=info)


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file")
    if path.is_dir():
        raise MediaError(path, "is a directory, not a media file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror})") from exc
    if size == 0:
        raise MediaError(path, "empty file")
    return path


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except PermissionError as exc:
        raise MediaError(path, "permission denied") from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(path, f"cannot be decoded: not a media file, or corrupt/truncated ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() if text else type(exc).__name__


def _audio_stream(path: Path, container: Any) -> Any:
    streams = list(container.streams.audio)
    if not streams:
        raise NoAudioError(path, "has no audio stream")
    stream = streams[0]
    if not stream.codec_context.sample_rate:
        raise MediaError(path, "the audio stream has no sample rate (corrupt header)")
    return stream


def _plane(frame: Any) -> np.ndarray:
    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1)


def _declared_duration(stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    container_duration = stream.container.duration
    return None if container_duration is None else container_duration / 1_000_000


def _check_truncation(path: Path, declared: float | None, decoded: float) -> None:
    if declared is not None and decoded + TRUNCATION_TOLERANCE < declared:
        raise MediaError(
            path, f"truncated: decoded {decoded:.2f} s of audio but the file declares {declared:.2f} s"
        )


def _check_riff_size(path: Path) -> None:
    """A WAV whose data chunk declares more bytes than the file holds was cut short.

    FFmpeg estimates a WAV's duration from the file size, so the generic duration check cannot see this.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            available = path.stat().st_size - (pos + 8)
            if 0 < size < 0xFFFFFFFF and available < size:
                raise MediaError(path, f"truncated: the WAV data chunk declares {size} bytes, {available} remain")
            return
        pos += 8 + size + (size & 1)


def _media_info(path: Path, container: Any) -> MediaInfo:
    stream = _audio_stream(path, container)
    ctx = stream.codec_context
    rate = int(ctx.sample_rate)
    duration = _declared_duration(stream) or 0.0
    channels = int(getattr(ctx, "channels", 0) or len(stream.layout.channels))
    video = _video_info(path, container) if container.streams.video else None
    return MediaInfo(
        path=str(path),
        duration=duration,
        sample_rate=rate,
        channels=channels,
        codec=str(ctx.name),
        container=str(container.format.name),
        video=video,
    )


def _video_info(path: Path, container: Any) -> VideoInfo | None:
    """Describe the first picture stream; cover art (a single attached picture) is not video."""
    stream = container.streams.video[0]
    if stream.disposition and "attached_pic" in str(stream.disposition).lower():
        return None
    times = _frame_times(container, stream)
    if not times:
        return None
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    intervals = np.diff(np.asarray(times))
    variable = bool(len(intervals) > 1 and float(np.ptp(intervals)) > _VFR_TOLERANCE)
    fps = Fraction(rate) if rate else Fraction(len(times) - 1, 1) / Fraction(times[-1] - times[0])
    return VideoInfo(
        fps=fps,
        n_frames=len(times),
        width=int(stream.codec_context.width or 0),
        height=int(stream.codec_context.height or 0),
        duration=float(times[-1] - times[0]) + (float(intervals[-1]) if len(intervals) else 0.0),
        codec=str(stream.codec_context.name),
        start_time=float(times[0]),
        variable_frame_rate=variable,
        frame_times=tuple(times) if variable else None,
    )


def _frame_times(container: Any, stream: Any) -> list[float]:
    """Presentation times (s) of every frame, in display order, read from packets without decoding."""
    import av

    base = stream.time_base
    pts: list[int] = []
    try:
        for packet in container.demux(stream):
            if packet.pts is not None and packet.size > 0:
                pts.append(int(packet.pts))
    except av.error.FFmpegError as exc:
        logger.warning("%s: video stream is damaged after %d frames (%s)", container.name, len(pts), exc)
    pts.sort()
    return [float(p * base) for p in pts]
