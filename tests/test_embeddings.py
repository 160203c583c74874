"""Speaker embedding networks: packaged weights, front ends, gather pooling, real-speech geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diarize.errors import ModelError
from diarize.models.cache import ModelCache
from diarize.speakers.embeddings import MIN_FRAMES, embed, load_campplus, load_ge2e, speaker_embedding
from diarize.speakers.nets.campplus import CAMPPlus, fbank, normalize_fbank
from diarize.speakers.nets.ge2e import GE2E, mel_spectrogram, normalize_volume


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def campplus(cache: ModelCache) -> CAMPPlus:
    return load_campplus(cache.prepare("campplus"))


@pytest.fixture(scope="module")
def ge2e(cache: ModelCache) -> GE2E:
    return load_ge2e(cache.prepare("ge2e"))


@pytest.fixture(scope="module")
def ami05(shared_data: Path) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    from diarize.audio import load_audio

    wav = shared_data / "meetings" / "ami_trn05.wav"
    rttm = [line.split() for line in wav.with_suffix(".rttm").read_text().splitlines() if line.strip()]
    turns = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in rttm]
    return load_audio(wav).samples, turns


def _clip(samples: np.ndarray, start: float, end: float) -> torch.Tensor:
    return torch.from_numpy(samples[int(start * 16000) : int(end * 16000)].copy())


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


def test_campplus_loads_the_reference_architecture_strictly(campplus: CAMPPlus) -> None:
    dense = campplus.xvector.dense
    # the embedding layer ends with a plain batchnorm: no ReLU, no affine parameters
    assert [type(m).__name__ for m in dense.nonlinear] == ["BatchNorm1d"]
    assert dense.nonlinear.batchnorm.affine is False
    assert not campplus.training
    with torch.inference_mode():
        out = campplus(torch.randn(2, 200, 80))
    assert out.shape == (2, 192)
    assert (out < 0).any(), "a final ReLU would make every coordinate non-negative"


def test_load_campplus_rejects_other_weights(tmp_path: Path, cache: ModelCache) -> None:
    wrong = tmp_path / "wrong.pt"
    torch.save({"lstm.weight": torch.zeros(3)}, wrong)
    with pytest.raises(ModelError, match="not a CAM\\+\\+ state dict"):
        load_campplus(wrong)
    with pytest.raises(ModelError, match="not found"):
        load_campplus(tmp_path / "missing.pt")
    with pytest.raises(ModelError, match="not a GE2E state dict"):
        load_ge2e(cache.prepare("campplus"))


def test_fbank_is_kaldi_shaped_and_mean_normalised() -> None:
    wave = torch.sin(torch.arange(16000) * 0.05) * 0.1
    feats = fbank(wave)
    assert feats.shape == (1 + (16000 - 400) // 160, 80)
    assert torch.allclose(normalize_fbank(feats).mean(dim=0), torch.zeros(80), atol=1e-4)


def test_ge2e_front_end_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    rng = np.random.default_rng(0)
    wave = (rng.standard_normal(8000) * 0.1).astype(np.float32)
    expected = librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    got = mel_spectrogram(torch.from_numpy(wave)).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6 * expected.max())


def test_normalize_volume_only_raises_the_level() -> None:
    quiet = torch.full((1000,), 0.001)
    loud = torch.full((1000,), 0.5)
    assert normalize_volume(quiet).abs().max() > 0.01
    assert torch.equal(normalize_volume(loud), loud)


def test_gather_pools_only_the_masked_frames(campplus: CAMPPlus) -> None:
    rng = np.random.default_rng(1)
    first = torch.from_numpy((rng.standard_normal(16000) * 0.1).astype(np.float32))
    second = torch.sin(torch.arange(16000) * 0.3) * 0.3
    wave = torch.cat([first, second])
    mask = torch.cat([torch.ones(50), torch.zeros(50)])  # active over the first second only
    feats = fbank(wave)  # 198 frames; fbank frame i reads mask frame floor(i * 100 / 198): i < 100 are active
    with torch.inference_mode():
        gathered = embed(campplus, wave, mask)
        whole = embed(campplus, wave)
        expected = campplus(normalize_fbank(feats[:100])[None])[0]
    torch.testing.assert_close(gathered, expected, rtol=1e-4, atol=1e-4)
    assert torch.nn.functional.cosine_similarity(gathered, whole, dim=0) < 0.9
    assert torch.isnan(embed(campplus, wave, torch.zeros(100))).all()


def test_pyannote_adapter_contract(campplus: CAMPPlus) -> None:
    model = speaker_embedding(campplus, "campplus")
    assert model.dimension == 192 and model.audio.sample_rate == 16000
    waves = torch.randn(3, 1, 32000) * 0.1
    weights = torch.zeros(3, 100)
    weights[0, :60] = 1
    weights[1, 40:] = 1
    out = model(waves, weights=weights)
    assert out.shape == (3, 192)
    assert torch.isfinite(out[:2]).all() and torch.isnan(out[2]).all()
    # pyannote finds the shortest usable input by probing forward() without weights until it raises
    with pytest.raises(ValueError):
        model(torch.randn(1, 1, MIN_FRAMES * 160 - 1))
    # embedding items side by side gives the same numbers
    parallel = speaker_embedding(campplus, "campplus", workers=2)(waves, weights=weights)
    torch.testing.assert_close(parallel, out, equal_nan=True)


def test_campplus_separates_speakers_in_a_real_meeting(campplus: CAMPPlus, ami05: tuple) -> None:
    samples, turns = ami05
    assert any(s <= 10 and e >= 25 and spk == "FEE078" for s, e, spk in turns)
    assert any(abs(s - 1.456) < 0.01 and spk == "FEE081" for s, e, spk in turns)
    with torch.inference_mode():
        a1 = _unit(embed(campplus, _clip(samples, 10.0, 13.0)))  # FEE078 alone
        a2 = _unit(embed(campplus, _clip(samples, 22.0, 25.0)))  # FEE078 alone, later
        b = _unit(embed(campplus, _clip(samples, 1.472, 2.112)))  # FEE081 alone
    same, different = float(a1 @ a2), max(float(a1 @ b), float(a2 @ b))
    assert same > 0.5
    assert same - different > 0.3


def test_ge2e_separates_speakers_in_a_real_meeting(ge2e: GE2E, ami05: tuple) -> None:
    samples, _ = ami05
    with torch.inference_mode():
        a1 = embed(ge2e, _clip(samples, 10.0, 13.0))
        a2 = embed(ge2e, _clip(samples, 22.0, 25.0))
        b = embed(ge2e, _clip(samples, 1.472, 2.112))
    assert float(a1.norm()) == pytest.approx(1.0, abs=1e-5)
    assert float(a1 @ a2) > max(float(a1 @ b), float(a2 @ b)) + 0.1
