"""Whisper encoder features: window layout and row count with a small random model (fast), then the real
tiny.en model on real recordings and through ``diarize run --features`` (slow)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from diarize.asr.features import WINDOW_FEATURES, encoder_features, save_features
from diarize.frames import feature_count
from diarize.types import Audio, MediaInfo

torch = pytest.importorskip("torch")
whisper = pytest.importorskip("whisper")


@pytest.fixture(scope="module")
def small_model():
    """A one-layer Whisper with random weights: the real encoder code at a fraction of the cost."""
    from whisper.model import ModelDimensions, Whisper

    torch.manual_seed(0)
    dims = ModelDimensions(
        n_mels=80, n_audio_ctx=1500, n_audio_state=16, n_audio_head=2, n_audio_layer=1,
        n_vocab=64, n_text_ctx=8, n_text_state=16, n_text_head=2, n_text_layer=1,
    )
    return Whisper(dims).eval()


def _audio(samples: np.ndarray) -> Audio:
    duration = len(samples) / 16_000
    info = MediaInfo(
        path="x.wav", duration=duration, sample_rate=16_000, channels=1, codec="pcm", container="wav"
    )
    return Audio(samples=samples.astype(np.float32), info=info)


def _noise(seconds: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * 16_000))
    envelope = 0.05 + 0.3 * (np.sin(np.arange(n) / 16_000 * 2.1) > 0)  # loud and quiet stretches
    return (rng.standard_normal(n) * envelope).astype(np.float32)


def _encode(model: Any, mel: Any) -> np.ndarray:
    with torch.inference_mode():
        return model.encoder(whisper.pad_or_trim(mel, 3000)[None])[0].numpy()


def test_short_audio_matches_whispers_own_recipe(small_model):
    samples = _noise(8.0)
    features = encoder_features(_audio(samples), small_model)
    assert features.shape == (400, 16) and features.dtype == np.float32
    # whisper's documented way: pad the audio to 30 s, log-Mel, encode
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(samples)))
    reference = _encode(small_model, mel)
    assert reference.shape == (WINDOW_FEATURES, 16)
    np.testing.assert_allclose(features, reference[:400], rtol=1e-4, atol=1e-4)


def test_long_audio_is_encoded_in_30_s_windows(small_model):
    samples = _noise(61.3)
    features = encoder_features(_audio(samples), small_model)
    assert features.shape == (3065, 16)
    mel = whisper.log_mel_spectrogram(torch.from_numpy(samples), padding=whisper.audio.N_SAMPLES)
    windows = [_encode(small_model, mel[:, start : start + 3000]) for start in (0, 3000, 6000)]
    np.testing.assert_allclose(features[:1500], windows[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features[1500:3000], windows[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features[3000:], windows[2][:65], rtol=1e-4, atol=1e-4)  # padded, trimmed
    assert not np.allclose(features[:1500], features[1500:3000])


@pytest.mark.parametrize(
    "n_samples", [128_000, 128_159, 128_160, 128_319, 128_320, 16_000 * 30, 16_000 * 30 + 200]
)
def test_row_count_is_floor_duration_times_50_and_at_most_one_under_the_encoders(small_model, n_samples):
    samples = _noise(n_samples / 16_000)[:n_samples]
    assert len(samples) == n_samples
    features = encoder_features(_audio(samples), small_model)
    assert len(features) == feature_count(n_samples / 16_000) == n_samples // 320
    encoder_rows_in_audio = math.ceil((n_samples // 160) / 2)  # features centred inside the audio
    assert encoder_rows_in_audio - len(features) == (1 if n_samples % 320 >= 160 else 0)


def test_empty_audio_gives_no_rows(small_model):
    assert encoder_features(_audio(np.zeros(100, dtype=np.float32)), small_model).shape == (0, 16)


def test_saved_features_load_back(tmp_path):
    features = np.arange(12, dtype=np.float32).reshape(4, 3)
    path = save_features(features, tmp_path / "clip.whisper.npy")
    loaded = np.load(path)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, features)
    assert [p.name for p in tmp_path.iterdir()] == ["clip.whisper.npy"]


@pytest.mark.slow
def test_real_model_two_windows(shared_data):
    from diarize.audio import load_audio
    from diarize.models.cache import ModelCache

    model = ModelCache().openai_whisper("tiny.en")
    audio = load_audio(shared_data / "meetings/simconv_en_text.wav")
    features = encoder_features(audio, model)
    assert features.shape == (feature_count(audio.info.duration), 384)
    assert 1500 < len(features) < 3000
    mel = whisper.log_mel_spectrogram(torch.from_numpy(audio.samples), padding=whisper.audio.N_SAMPLES)
    np.testing.assert_allclose(features[:1500], _encode(model, mel[:, :3000]), rtol=1e-4, atol=1e-3)
    tail = _encode(model, mel[:, 3000:6000])[: len(features) - 1500]
    np.testing.assert_allclose(features[1500:], tail, rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_cli_saves_features_beside_the_frame_table(shared_data, tmp_path):
    from click.testing import CliRunner

    from diarize.cli.main import cli
    from diarize.frames import frame_table
    from diarize.types import Result

    video = shared_data / "video/WDA_KatieHill_000.mp4"
    args = ["run", str(video), "-o", str(tmp_path), "--pipeline", "archive", "-f", "json,frames"]
    args.append("--features")
    outcome = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    assert "WDA_KatieHill_000.{json,speakers.npz,frames.csv,frames.parquet,whisper.npy}" in outcome.output
    features = np.load(tmp_path / "WDA_KatieHill_000.whisper.npy")
    assert features.shape == (400, 384)  # tiny.en: 8.0 s × 50, d_model 384
    import json

    result = Result.from_dict(json.loads((tmp_path / "WDA_KatieHill_000.json").read_text()))
    assert "decode" in result.provenance.timings
    table = frame_table(result)
    windows = features[table.window_indices()]  # every frame's window, by index
    assert windows.shape == (200, 8, 384)
    np.testing.assert_array_equal(windows[100], features[196:204])
