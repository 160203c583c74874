"""Media decoding on real recordings and on broken files made in the tests."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize import audio as audio_module
from diarize.audio import load_audio, probe
from diarize.errors import MediaError, NoAudioError
from diarize.types import SAMPLE_RATE

ONE_SAMPLE = 1 / SAMPLE_RATE
REPO = Path(__file__).resolve().parent.parent


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


def test_decoded_samples_are_exact_whether_the_header_sizes_the_buffer_or_it_grows(tmp_path, monkeypatch):
    """A truthful header reserves one buffer that the samples fill without a copy; a header that declares far
    less than the file holds makes the buffer grow, and every sample still arrives in order."""
    path = tmp_path / "noise.wav"
    pcm = np.random.default_rng(0).integers(-20_000, 20_000, 20 * SAMPLE_RATE + 123).astype(np.int16)
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")
    expected = pcm.astype(np.float32) / 32768.0
    audio = load_audio(path)
    np.testing.assert_array_equal(audio.samples, expected)
    assert audio.samples.base is not None and audio.samples.base.nbytes <= 1.02 * expected.nbytes + 4 * SAMPLE_RATE
    monkeypatch.setattr(audio_module, "_declared_duration", lambda stream: 0.5)
    np.testing.assert_array_equal(load_audio(path).samples, expected)


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


# --- headers that lie --------------------------------------------------------------------------------------------

_FMT_FIELDS = {"channels": (2, "<H"), "sample_rate": (4, "<I"), "byte_rate": (8, "<I"), "block_align": (12, "<H")}
_DECODE_IN_CHILD = """
import json, resource, sys, warnings
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))  # a regression fails fast instead of taking the machine
warnings.simplefilter("error")
from diarize.audio import load_audio
from diarize.errors import MediaError
try:
    audio = load_audio(sys.argv[1])
    result = {"samples": len(audio.samples), "duration": audio.info.duration}
except MediaError as exc:
    result = {"error": str(exc)}
# VmHWM is this program's own peak: ru_maxrss can carry over the peak of the process that spawned it.
with open("/proc/self/status") as status:
    result["maxrss_kib"] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps(result))
"""


def _tone(rate: int, n: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(n) / rate)


def _lying_wav(path: Path, seconds: float = 60.0, append: bytes = b"", **fields: int) -> Path:
    """A 16 kHz 16-bit mono tone (1.92 MB for 60 s) whose header fields are then overwritten with ``fields``."""
    sf.write(path, _tone(16_000, int(16_000 * seconds)), 16_000, subtype="PCM_16")
    data = bytearray(path.read_bytes() + append)
    fmt = data.index(b"fmt ") + 8
    for name, (offset, code) in _FMT_FIELDS.items():
        if name in fields:
            struct.pack_into(code, data, fmt + offset, fields[name])
    if "riff_size" in fields:
        struct.pack_into("<I", data, 4, fields["riff_size"])
    if "data_size" in fields:
        struct.pack_into("<I", data, data.index(b"data") + 4, fields["data_size"])
    path.write_bytes(bytes(data))
    return path


def _decode_in_child(path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_IN_CHILD, str(path)], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("rate", [1, 2, 10, 999])
def test_header_claiming_a_very_low_rate_is_refused_in_bounded_memory(tmp_path, rate):
    """1.9 MB claiming 1 Hz would resample to days of 16 kHz audio; it is refused before decoding."""
    path = _lying_wav(tmp_path / "low.wav", sample_rate=rate, byte_rate=2 * rate)
    result = _decode_in_child(path)
    assert result["error"] == (
        f"{path}: the header claims {rate} Hz sampling, which is implausible (supported: 1000–768000 Hz)"
    )
    assert result["maxrss_kib"] < 1 << 20


def test_lowest_plausible_rate_decodes_what_the_bytes_hold_in_bounded_memory(tmp_path):
    """15 s at 16 kHz claiming 1 kHz is believed: 240 s, bounded by its 240 000 samples, not by a duration claim."""
    path = _lying_wav(tmp_path / "slow.wav", seconds=15.0, sample_rate=1000, byte_rate=2000)
    result = _decode_in_child(path)
    assert result["duration"] == 240.0
    assert result["samples"] == 240 * SAMPLE_RATE
    assert result["maxrss_kib"] < 1 << 20


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("rate", [768_001, 1_000_000_000, 4_000_000_000])
def test_header_claiming_a_very_high_rate_is_refused(tmp_path, rate):
    path = _lying_wav(tmp_path / "high.wav", sample_rate=rate)
    message = f"high.wav: the header claims {rate} Hz sampling, which is implausible"
    with pytest.raises(MediaError, match=message):
        probe(path)
    with pytest.raises(MediaError, match=message):
        load_audio(path)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"channels": 0}, "the header claims 0 audio channels"),
        ({"channels": 65535}, "the header claims 65535 audio channels"),
        ({"channels": 2}, "inconsistent WAV header: 2 channels of 16-bit samples take 4 bytes per frame"),
        ({"channels": 7}, "inconsistent WAV header: 7 channels of 16-bit samples take 14 bytes per frame"),
        ({"block_align": 3}, "inconsistent WAV header: 1 channels of 16-bit samples take 2 bytes"),
        ({"data_size": 0x7FFFFFFF}, "truncated: the WAV data chunk declares 2147483647 bytes, 1920000 remain"),
        ({"data_size": 1000}, "the WAV data chunk declares 1000 bytes, but 1919000 more bytes follow it"),
    ],
)
def test_header_that_lies_about_channels_or_length_is_refused(tmp_path, fields, message):
    path = _lying_wav(tmp_path / "liar.wav", **fields)
    with pytest.raises(MediaError, match=message) as info:
        load_audio(path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(
    ("fields", "append"),
    [
        ({"riff_size": 0x7FFFFFFF}, b""),
        ({"riff_size": 100}, b""),
        ({"data_size": 0}, b""),
        ({"data_size": 0xFFFFFFFF}, b""),
        ({}, b"LIST" + struct.pack("<I", 10_000) + b"INFO" + bytes(9_996)),
        ({}, b"ID3\x04\x00" + bytes(20_000)),
    ],
    ids=["riff-too-big", "riff-too-small", "streamed-0", "streamed-ffffffff", "list-after-data", "appended-id3"],
)
def test_harmless_header_lengths_decode_every_sample(tmp_path, fields, append):
    """The RIFF length is not needed to decode; a stream's unknown data length means "to the end of the file"."""
    audio = load_audio(_lying_wav(tmp_path / "odd.wav", append=append, **fields))
    assert audio.info.duration == 60.0
    assert len(audio.samples) == 60 * SAMPLE_RATE


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("rate", [1, 10])
def test_flac_whose_streaminfo_lies_about_its_rate_is_refused(tmp_path, rate):
    path = tmp_path / "liar.flac"
    sf.write(path, _tone(44_100, 44_100 * 5), 44_100, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    packed = int.from_bytes(data[18:21], "big")  # STREAMINFO: 20-bit sample rate, then 4 bits of channels/depth
    data[18:21] = ((rate << 4) | (packed & 0xF)).to_bytes(3, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="liar.flac"):
        load_audio(path)


def test_decoding_stops_once_the_audio_outgrows_the_file(tmp_path, monkeypatch):
    """Rule 3: a stream decoding to more samples than its bytes can hold stops with an error, not at its end."""
    path = tmp_path / "silence.flac"
    sf.write(path, np.zeros(16_000 * 60), 16_000, subtype="PCM_16")
    monkeypatch.setattr(audio_module, "MAX_SAMPLES_PER_BYTE", 1)
    with pytest.raises(MediaError, match=r"decodes to more audio than its \d+ bytes can hold \((\d+) samples") as info:
        load_audio(path)
    decoded = int(str(info.value).split("(")[1].split()[0])
    assert decoded <= path.stat().st_size + 16_384 < 16_000 * 60


@pytest.mark.parametrize(
    ("codec", "expected"),
    [("pcm_s16le", 2), ("pcm_s24le", 3), ("pcm_f64be", 8), ("pcm_u8", 1), ("pcm_alaw", 1), ("flac", 0), ("aac", 0)],
)
def test_pcm_codecs_cost_their_coded_size(codec, expected):
    assert audio_module._pcm_bytes(codec) == expected


def test_audio_shorter_than_one_output_sample_is_an_error(tmp_path):
    path = tmp_path / "blip.wav"
    sf.write(path, np.full(2, 0.5), 48_000, subtype="PCM_16")
    with pytest.raises(MediaError, match="blip.wav: holds only 2 samples at 48000 Hz, too short"):
        load_audio(path)


# --- channels and rates ------------------------------------------------------------------------------------------


def _one_channel_tone(path: Path, channels: int, fmt: str, subtype: str) -> np.ndarray:
    """A quarter second of tone on the last of ``channels`` channels, silence on the others; the tone as written."""
    data = np.zeros((4_000, channels))
    data[:, -1] = _tone(16_000, 4_000, hz=1000.0)
    sf.write(path, data, 16_000, format=fmt, subtype=subtype)
    return sf.read(path, dtype="float64", always_2d=True)[0][:, -1]


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("channels", range(1, 65))
def test_any_channel_count_in_wav_is_the_mean_of_its_channels(tmp_path, channels):
    path = tmp_path / f"ch{channels}.wav"
    tone = _one_channel_tone(path, channels, "WAV", "PCM_16")
    audio = load_audio(path)
    assert audio.info.channels == channels and audio.info.duration == 0.25
    np.testing.assert_allclose(audio.samples, tone / channels, atol=1e-6)
    assert abs(np.abs(audio.samples).max() - 0.5 / channels) < 1e-4


@pytest.mark.parametrize("channels", range(1, 9))
def test_any_channel_count_in_flac_is_the_mean_of_its_channels(tmp_path, channels):
    """FLAC holds at most 8 channels."""
    path = tmp_path / f"ch{channels}.flac"
    tone = _one_channel_tone(path, channels, "FLAC", "PCM_24")
    audio = load_audio(path)
    assert audio.info.channels == channels and audio.info.duration == 0.25
    np.testing.assert_allclose(audio.samples, tone / channels, atol=1e-6)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
@pytest.mark.parametrize("channels", [1, 3, 9, 64])
def test_every_sample_format_downmixes_to_the_mean(tmp_path, subtype, channels):
    """Every channel carries its own signal; the result is their mean, at full scale, whatever the sample type."""
    path = tmp_path / "mix.wav"
    rng = np.random.default_rng(channels)
    data = rng.uniform(-0.4, 0.4, size=(4_000, channels)) + 0.3 * np.sin(np.arange(4_000) / 7)[:, None]
    sf.write(path, data, 16_000, subtype=subtype)
    written = sf.read(path, dtype="float64", always_2d=True)[0]
    np.testing.assert_allclose(load_audio(path).samples, written.mean(axis=1), atol=1e-6)


def test_more_channels_than_ffmpeg_decodes_is_a_clear_error(tmp_path):
    path = tmp_path / "wide.wav"
    sf.write(path, np.zeros((100, 513)), 16_000, subtype="PCM_16")
    with pytest.raises(MediaError, match="wide.wav: the header claims 513 audio channels \\(supported: 1–512\\)"):
        load_audio(path)
    sf.write(path, np.zeros((100, 512)), 16_000, subtype="PCM_16")
    assert load_audio(path).info.channels == 512


@pytest.mark.parametrize(
    ("rate", "subtype", "n"),
    [(8_000, "PCM_16", 8_000 * 7), (96_000, "PCM_24", 96_000 * 3), (96_000, "PCM_24", 96_000 * 3 + 1)],
)
def test_low_and_high_rates_keep_exact_durations(tmp_path, rate, subtype, n):
    path = tmp_path / "tone.wav"
    sf.write(path, _tone(rate, n, hz=1000.0), rate, subtype=subtype)
    audio = load_audio(path)
    assert audio.info.sample_rate == rate
    assert audio.info.duration == n / rate
    assert abs(len(audio.samples) - n * SAMPLE_RATE / rate) <= 1
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spectrum) * SAMPLE_RATE / len(audio.samples) - 1000) < 2
    middle = audio.samples[SAMPLE_RATE // 10 : -SAMPLE_RATE // 10]
    assert abs(np.sqrt(np.mean(middle**2)) - 0.5 / np.sqrt(2)) < 0.005
