"""Media decoding on real recordings and on broken files made in the tests."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from diarize.audio import load_audio, probe
from diarize.errors import MediaError, NoAudioError
from diarize.types import SAMPLE_RATE

ONE_SAMPLE = 1 / SAMPLE_RATE


@pytest.mark.parametrize(
    ("relpath", "duration", "rate", "channels"),
    [
        ("speech/jfk.flac", 11.0, 44_100, 2),
        ("meetings/ami_trn05.wav", 480_001 / 16_000, 16_000, 1),
        ("video/WDA_KatieHill_000.mp4", 8.0, 16_000, 2),
        ("video/big_buck_bunny_small.mp4", 254_976 / 48_000, 48_000, 6),
    ],
)
def test_decodes_to_16k_mono_float32(shared_data, relpath, duration, rate, channels):
    audio = load_audio(shared_data / relpath)
    assert audio.sample_rate == SAMPLE_RATE
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.duration - duration) <= ONE_SAMPLE
    assert abs(audio.info.duration - duration) <= 1 / rate
    assert audio.info.sample_rate == rate and audio.info.channels == channels
    assert np.abs(audio.samples).max() <= 1.0
    assert np.sqrt(np.mean(audio.samples**2)) > 1e-3, "decoded audio is silent"


@pytest.mark.parametrize(
    ("relpath", "frames", "size"),
    [("video/WDA_KatieHill_000.mp4", 200, (512, 512)), ("video/big_buck_bunny_small.mp4", 132, (320, 240))],
)
def test_video_info_is_exact(shared_data, relpath, frames, size):
    info = probe(shared_data / relpath)
    assert info.video is not None
    assert info.video.fps == Fraction(25, 1)
    assert isinstance(info.video.fps, Fraction)
    assert info.video.n_frames == frames
    assert (info.video.width, info.video.height) == size
    assert not info.video.variable_frame_rate and info.video.frame_times is None


def test_audio_file_has_no_video(shared_data):
    assert probe(shared_data / "speech/jfk.flac").video is None


def test_downmix_and_resample_preserve_a_tone(tmp_path):
    """A 440 Hz tone in 5 channels at 44.1 kHz comes out as the same tone at 16 kHz mono."""
    path = tmp_path / "tone.flac"
    t = np.arange(44_100 * 2) / 44_100
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    _write_audio(path, np.stack([tone] * 5), 44_100, "flac", layout="5.0")
    audio = load_audio(path)
    assert abs(audio.duration - 2.0) <= ONE_SAMPLE
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(audio.samples)
    assert abs(peak_hz - 440) < 2


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        load_audio(tmp_path / "absent.wav")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaError, match="empty file") as info:
        load_audio(tmp_path / "empty.wav")
    assert "empty.wav" in str(info.value)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("minutes of the meeting\n" * 50)
    with pytest.raises(MediaError, match="cannot be decoded") as info:
        load_audio(path)
    assert "notes.wav" in str(info.value)


def test_truncated_mp4(shared_data, tmp_path):
    data = (shared_data / "video/WDA_KatieHill_000.mp4").read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError) as info:
        load_audio(path)
    assert "cut.mp4" in str(info.value)


def test_truncated_stream_with_header_intact(tmp_path):
    """A file whose header survives but whose samples stop early is reported as truncated."""
    path = tmp_path / "long.wav"
    _write_audio(path, np.zeros((1, 16_000 * 10)), 16_000, "wav")
    data = path.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated"):
        load_audio(cut)


def test_video_without_audio_is_a_clear_error(tmp_path):
    path = tmp_path / "silent_film.mp4"
    _write_video(path, frames=10)
    with pytest.raises(NoAudioError, match="no audio stream"):
        load_audio(path)


def _write_audio(path: Path, data: np.ndarray, rate: int, fmt: str, layout: str | None = None) -> None:
    import av

    layout = layout or ("mono" if data.shape[0] == 1 else "stereo")
    codec = {"flac": "flac", "wav": "pcm_s16le"}[fmt]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(
            (np.clip(data, -1, 1) * 32767).astype(np.int16).reshape(1, -1, order="F"),
            format="s16",
            layout=layout,
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _write_video(path: Path, frames: int) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(frames):
            image = np.full((64, 64, 3), i * 20 % 255, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
