"""Media decoding: any audio or video container becomes 16 kHz mono float32, mixed or one channel at a time.

Decoding uses PyAV, whose wheel carries its own FFmpeg libraries, so no ffmpeg binary is needed and the
container's exact metadata (rational frame rates, presentation timestamps) is read in-process. Decoding streams
frame by frame, so a long file never needs more than its decoded 16 kHz samples in memory.

This is the door of the pipeline: every file is validated here once, and every failure becomes a
:class:`~diarize.errors.MediaError` whose message names the file and the problem. Rules:

1. A header is a claim, not a fact. A sample rate outside :data:`SAMPLE_RATE_RANGE` or a channel count outside
   :data:`CHANNEL_RANGE` is refused before decoding, in the stream header and in every decoded frame.
2. A WAV header is read by :mod:`diarize.wavheader` before FFmpeg sees it: its frame size must match its channel
   count and bit depth, its data chunk must fit in the file (else the file is truncated), and no more than
   :data:`STRAY_TOLERANCE` bytes may follow the data chunk outside any chunk (else its length field lies).
3. Decoded audio is paid for by the file's bytes: a PCM sample costs its coded size, a sample (of all channels)
   of any other codec ``1 / MAX_SAMPLES_PER_BYTE`` bytes. Decoding stops with an error as soon as the cost passes
   the file's size, so memory is bounded by what the file holds, never by what its header claims.
4. Every channel count FFmpeg decodes (up to 512) is downmixed to the plain mean of the channels, computed here
   from the frame's samples (FFmpeg's own downmix needs a standard layout and weights channels unequally).
   The mono signal is then resampled to 16 kHz by libswresample. Rule 6 decodes channels on their own instead.
   Float samples that are not finite (NaN, ±inf: a broken encoder or a corrupt float WAV) count as silence,
   set to 0 before the downmix so that the resampler cannot spread them, and are reported in the log.
5. ``MediaInfo.duration`` and ``sample_rate`` are those of the decoded frames at their original rate. A stream
   that decodes to more than :data:`TRUNCATION_TOLERANCE` less than its container declares is truncated.
6. One channel, or each: ``load_audio(path, channel=k)`` decodes channel ``k`` alone (numbered from 0, checked
   against the stream's channel count before decoding) and :func:`load_channels` every channel of a stream of at
   most ``max_channels`` (:data:`MAX_SPLIT_CHANNELS` by default), each its own 16 kHz signal with its own
   resampler. Rules 1–3 and 5 hold unchanged (the byte budget counts every channel decoded, used or not), and
   rule 4's treatment of non-finite samples too; a stream whose channel count changes midway is refused.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from diarize.errors import MediaError, NoAudioError
from diarize.types import SAMPLE_RATE, Audio, MediaInfo, VideoInfo
from diarize.wavheader import PCM_FORMAT_TAGS, read_wav_header

__all__ = [
    "CHANNEL_RANGE",
    "MAX_SAMPLES_PER_BYTE",
    "MAX_SPLIT_CHANNELS",
    "SAMPLE_RATE_RANGE",
    "STRAY_TOLERANCE",
    "TRUNCATION_TOLERANCE",
    "check_channel_pick",
    "load_audio",
    "load_channels",
    "probe",
]

logger = logging.getLogger(__name__)

TRUNCATION_TOLERANCE = 0.5
"""Seconds of audio a stream may fall short of its declared duration before it counts as truncated."""

SAMPLE_RATE_RANGE = (1_000, 768_000)
"""Sample rates (Hz, inclusive) a header may plausibly claim; anything else is a corrupt or hostile header."""

CHANNEL_RANGE = (1, 512)
"""Channel counts (inclusive) that can be decoded; FFmpeg refuses more than 512."""

STRAY_TOLERANCE = 4096
"""Bytes that may follow a WAV data chunk outside any chunk before its declared length counts as a lie."""

MAX_SAMPLES_PER_BYTE = 8192
"""Decoded samples (of all channels) one byte of a non-PCM file may give: above FLAC's and Opus's best on silence."""

MAX_SPLIT_CHANNELS = 8
"""Most channels :func:`load_channels` decodes one by one by default: each costs the memory of a mono decode."""

_RESERVE_LIMIT = 4 * 3600.0  # s: the most audio a header's duration reserves memory for up front
_VFR_TOLERANCE = 1e-3  # s: frame intervals varying by more than this mean variable frame rate
_PCM_CODEC = re.compile(r"pcm_[a-z]*?(8|16|24|32|64)")
_PCM_8BIT_CODECS = ("pcm_alaw", "pcm_mulaw")
_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}


def probe(path: str | Path) -> MediaInfo:
    """Read a media file's metadata without decoding its audio.

    Raises :class:`MediaError` for a missing, empty, unreadable or non-media file, or one whose header is
    implausible (rules 1 and 2), and :class:`NoAudioError` when the file holds no audio stream.
    """
    path = _check_path(path)
    _check_wav_header(path)
    with _open(path) as container:
        return _media_info(path, container)


def load_audio(path: str | Path, channel: int | None = None) -> Audio:
    """Decode ``path`` to 16 kHz mono float32 samples, with what was found about the file.

    ``channel`` ``None`` mixes the channels (rule 4); a number decodes that channel alone (rule 6, numbered from
    0; :class:`MediaError` when the file has no such channel). ``MediaInfo.duration`` is the decoded audio's
    duration at its original sample rate. A stream that decodes to noticeably less than its container declares
    is reported as truncated rather than silently shortened.
    """
    info = probe(path)
    check_channel_pick(info, channel=channel)
    return _load(info, channel)[0]


def load_channels(path: str | Path, max_channels: int = MAX_SPLIT_CHANNELS) -> tuple[Audio, ...]:
    """Decode every channel of ``path`` on its own (rule 6): one 16 kHz mono :class:`Audio` per channel, in
    channel order, all with the file's :class:`MediaInfo`. A file of more than ``max_channels`` channels is a
    :class:`MediaError`."""
    info = probe(path)
    check_channel_pick(info, max_split=max_channels)
    return _load(info, "each")


def check_channel_pick(info: MediaInfo, channel: int | None = None, max_split: int | None = None) -> None:
    """Rule 6, before decoding: :class:`MediaError` naming the file unless it has channel ``channel`` (from 0)
    and, with ``max_split``, at most that many channels to split."""
    if channel is not None:
        _check_pick(Path(info.path), info.channels, channel)
    if max_split is not None and info.channels > max_split:
        raise MediaError(
            info.path, f"has {info.channels} audio channels; at most {max_split} can be split into one party "
            "each (mix them, or pick one)"
        )


def _load(info: MediaInfo, pick: int | str | None) -> tuple[Audio, ...]:
    path = Path(info.path)
    with _open(path) as container:
        stream = _audio_stream(path, container)
        declared = _declared_duration(stream)
        outputs, decoded, rate = _decode(path, container, stream, pick, declared)
    if decoded == 0:
        raise MediaError(path, "the audio stream holds no samples")
    info = replace(info, duration=decoded / rate, sample_rate=rate)
    _check_truncation(path, declared=declared, decoded=info.duration)
    if len(outputs[0].samples) == 0:
        raise MediaError(path, f"holds only {decoded} samples at {rate} Hz, too short to resample to {SAMPLE_RATE} Hz")
    audios = []
    for signal in outputs:
        samples = signal.samples
        np.clip(samples, -1.0, 1.0, out=samples)
        audios.append(Audio(samples=samples, info=info))
    logger.debug("decoded %s: %.3f s, %d Hz, %d ch, %s", path, info.duration, info.sample_rate, info.channels,
                 "mixed" if pick is None else f"channel {pick}")
    return tuple(audios)


class _Signal:
    """A float32 signal appended to piece by piece, in one buffer that doubles when full.

    ``reserve`` samples are reserved up front: reserved pages that are never written take no memory, so
    reserving what the header declares decodes a truthful file without ever holding it twice.
    """

    def __init__(self, reserve: int) -> None:
        self._buffer = np.empty(max(reserve, 1 << 16), dtype=np.float32)
        self._size = 0

    def extend(self, piece: np.ndarray) -> None:
        end = self._size + len(piece)
        if end > len(self._buffer):
            grown = np.empty(max(end, 2 * len(self._buffer)), dtype=np.float32)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : end] = piece
        self._size = end

    @property
    def samples(self) -> np.ndarray:
        """The samples appended so far (a view of the buffer)."""
        return self._buffer[: self._size]


def _decode(
    path: Path, container: Any, stream: Any, pick: int | str | None, declared: float | None = None
) -> tuple[list[_Signal], int, int]:
    """Stream ``stream`` through the downmix (or the channel pick) and the resamplers: each output signal at
    16 kHz, the samples decoded, their rate. ``declared`` (seconds, from the header) sizes the buffers."""
    import av

    budget = float(path.stat().st_size)
    pcm_bytes = _pcm_bytes(str(stream.codec_context.name))
    resamplers: list[Any] = []
    outputs: list[_Signal] = []
    # a header may lie: a reservation beyond about 4 hours is left to the buffer's doubling
    reserve = int(min(declared or 0.0, _RESERVE_LIMIT) * SAMPLE_RATE * 1.01) + SAMPLE_RATE
    decoded = rate = first_channels = 0
    try:
        for frame in container.decode(stream):
            rate = _check_frame(path, frame, rate, decoded)
            channels = len(frame.layout.channels)
            _check_channels(path, channels, f"the frame at sample {decoded}")
            if pick is not None and channels != (first_channels or channels):
                raise MediaError(path, f"the channel count changes from {first_channels} to {channels} at sample "
                                 f"{decoded}; mix the channels instead")
            if isinstance(pick, int):
                _check_pick(path, channels, pick)
            first_channels = channels
            budget -= frame.samples * (channels * pcm_bytes if pcm_bytes else 1 / MAX_SAMPLES_PER_BYTE)
            decoded += frame.samples
            if budget < 0:
                raise MediaError(
                    path, f"decodes to more audio than its {path.stat().st_size} bytes can hold "
                    f"({decoded} samples at {rate} Hz): the stream is corrupt"
                )
            mono = _mono_frames(frame, pick)
            while len(resamplers) < len(mono):
                resamplers.append(av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE))
                outputs.append(_Signal(reserve))
            for resampler, signal, piece in zip(resamplers, outputs, mono, strict=True):
                for resampled in resampler.resample(piece):
                    signal.extend(_plane(resampled))
        for resampler, signal in zip(resamplers, outputs, strict=True):
            for resampled in resampler.resample(None):
                signal.extend(_plane(resampled))
    except (av.error.FFmpegError, ValueError) as exc:
        raise MediaError(path, f"corrupt or truncated audio after {decoded} samples ({_reason(exc)})") from exc
    return outputs or [_Signal(0)], decoded, rate


def _pcm_bytes(codec: str) -> float:
    """Bytes one sample of one channel takes in the file for a PCM codec; 0 for any other codec."""
    if codec in _PCM_8BIT_CODECS:
        return 1.0
    match = _PCM_CODEC.fullmatch(codec.removesuffix("le").removesuffix("be").removesuffix("_planar"))
    return int(match.group(1)) / 8 if match else 0.0


def _check_frame(path: Path, frame: Any, rate: int, decoded: int) -> int:
    """The frame's sample rate, checked against rule 1 and against the frames before it."""
    frame_rate = int(frame.sample_rate)
    if frame_rate != rate:
        _check_rate(path, frame_rate, f"the frame at sample {decoded}")
        if rate:
            raise MediaError(
                path, f"the sample rate changes from {rate} to {frame_rate} Hz at sample {decoded}; "
                "convert the file to one rate first"
            )
    return frame_rate


def _check_rate(path: Path, rate: int, where: str) -> None:
    low, high = SAMPLE_RATE_RANGE
    if not low <= rate <= high:
        raise MediaError(path, f"{where} claims {rate} Hz sampling, which is implausible (supported: {low}–{high} Hz)")


def _check_channels(path: Path, channels: int, where: str) -> None:
    low, high = CHANNEL_RANGE
    if not low <= channels <= high:
        raise MediaError(path, f"{where} claims {channels} audio channels (supported: {low}–{high})")


def _check_pick(path: Path, channels: int, channel: int) -> None:
    if not 0 <= channel < channels:
        numbers = "only channel 0" if channels == 1 else f"channels 0–{channels - 1}"
        raise MediaError(path, f"has {channels} audio channel{'s' if channels > 1 else ''} ({numbers}): there is "
                         f"no channel {channel}")


def _mono_frames(frame: Any, pick: int | str | None) -> list[Any]:
    """The frame as ``flt`` mono frames: the channels' mean (rule 4, ``pick`` ``None``), channel ``pick``, or
    every channel (``"each"``, rule 6)."""
    if pick is None:
        return [_mono_frame(frame)]
    channels = len(frame.layout.channels)
    name = frame.format.name.removesuffix("p")
    scale = np.float32(1.0 / _INT_SCALE.get(name, 1.0))
    data = _finite(frame.to_ndarray())
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T  # shape: (channels, samples)
    rows = range(channels) if pick == "each" else [int(pick)]
    out = []
    for row in rows:
        mono = data[row].astype(np.float32) * scale  # shape: (samples,)
        if name == "u8":
            mono -= 1.0
        out.append(_as_frame(mono, frame.sample_rate))
    return out


def _finite(data: np.ndarray) -> np.ndarray:
    """Rule 4: non-finite float samples become silence (0), reported in the log."""
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        logger.info("non-finite samples (NaN or inf) decoded as silence")
        return np.where(np.isfinite(data), data, 0.0).astype(data.dtype)
    return data


def _as_frame(mono: np.ndarray, sample_rate: int) -> Any:
    import av

    out = av.AudioFrame.from_ndarray(mono.reshape(1, -1), format="flt", layout="mono")
    out.sample_rate = sample_rate
    return out


def _mono_frame(frame: Any) -> Any:
    """The frame's channels averaged into one ``flt`` mono frame at the same rate (rule 4)."""
    channels = len(frame.layout.channels)
    name = frame.format.name.removesuffix("p")
    scale = _INT_SCALE.get(name, 1.0)
    weights = np.full(channels, 1.0 / (channels * scale), dtype=np.float32)  # shape: (channels,)
    data = _finite(frame.to_ndarray())  # shape: (channels, samples) if planar, else (1, samples * channels)
    if frame.format.is_planar:
        mono = weights @ data.astype(np.float32)  # shape: (samples,)
    else:
        mono = data.reshape(-1, channels).astype(np.float32) @ weights
    if name == "u8":
        mono -= 1.0  # unsigned 8-bit samples sit around 128, which the weights map to 1.0
    return _as_frame(mono, frame.sample_rate)


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
    _check_rate(path, int(stream.codec_context.sample_rate), "the header")
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


def _check_wav_header(path: Path) -> None:
    """Rule 2: a WAV header must be plausible, self-consistent and fit the file before FFmpeg decodes it."""
    header = read_wav_header(path)
    if header is None:
        return
    _check_rate(path, header.sample_rate, "the header")
    _check_channels(path, header.channels, "the header")
    frame_bytes = header.channels * math.ceil(header.bits_per_sample / 8)
    if header.format_tag in PCM_FORMAT_TAGS and header.block_align != frame_bytes:
        raise MediaError(
            path, f"inconsistent WAV header: {header.channels} channels of {header.bits_per_sample}-bit samples "
            f"take {frame_bytes} bytes per frame, but it declares {header.block_align}"
        )
    if header.data_size is not None and header.data_available < header.data_size:
        raise MediaError(
            path, f"truncated: the WAV data chunk declares {header.data_size} bytes, {header.data_available} remain"
        )
    if header.stray_bytes > STRAY_TOLERANCE:
        raise MediaError(
            path, f"the WAV data chunk declares {header.data_size} bytes, but {header.stray_bytes} more bytes follow "
            "it outside any chunk: its length field is wrong"
        )


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
