"""Speaker embedding networks: packaged weights, front ends, gather pooling, real-speech geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diarize.errors import ModelError
from diarize.models.cache import ModelCache
from diarize.models.threads import torch_threads
from diarize.speakers.embeddings import (
    MIN_FRAMES,
    FileFbank,
    embed,
    load_campplus,
    load_ge2e,
    speaker_embedding,
    window_embeddings,
)
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


def _padded_crop(wave: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """Samples ``[start, end)`` of ``wave``, zeros past its end (as pyannote crops the last windows)."""
    return torch.nn.functional.pad(wave[start:end], (0, max(0, end - wave.shape[0])))


def test_file_fbank_slices_are_the_per_window_fbank_on_real_speech(
    ami05: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave = torch.from_numpy(ami05[0].copy())
    monkeypatch.setattr(FileFbank, "BLOCK_FRAMES", 777)  # block edges fall inside windows
    monkeypatch.setattr(FileFbank, "KEEP", 2)  # blocks are dropped and, going back, computed again
    windows = [(t * 16000, t * 16000 + 160_000 - (t % 2)) for t in range(0, len(wave) // 16000, 3)]
    features = FileFbank(wave, max(end for _, end in windows))
    assert windows[-1][1] > len(wave)  # the last windows run past the end, zero-padded
    for start, end in [*windows, *reversed(windows)]:
        torch.testing.assert_close(features.window(start, end), fbank(_padded_crop(wave, start, end)))
    with pytest.raises(ValueError, match="10 ms"):
        features.window(80, 160_080)


def test_window_embeddings_match_embedding_every_window_on_real_speech(campplus: CAMPPlus, ami05: tuple) -> None:
    wave = torch.from_numpy(ami05[0][: 24 * 16000].copy())
    windows = [(t * 16000, t * 16000 + 160_000) for t in (0, 7, 14)]
    masks = np.zeros((3, 589, 3), dtype=np.float32)  # segmentation frames of 10 s windows
    masks[:, 50:300, 0] = 1
    masks[:, 250:589, 1] = 1  # speaker 2 of each window is silent
    masks[1, :, 0] = 0  # and speaker 0 of window 1
    reports: list[int] = []
    model = speaker_embedding(campplus, "campplus", workers=2)
    sliced = window_embeddings(model, wave, windows, masks, 4, lambda *a, **k: reports.append(k["completed"]))
    assert sliced.shape == (3, 3, 192) and reports == [0, 1, 2, 3]
    with torch.inference_mode():
        each = torch.stack([
            torch.stack([embed(campplus, wave[start:end], torch.from_numpy(masks[c, :, s])) for s in range(3)])
            for c, (start, end) in enumerate(windows)
        ]).numpy()
    assert (np.isnan(sliced) == np.isnan(each)).all() and np.isnan(sliced[:, 2]).all() and np.isnan(sliced[1, 0]).all()
    found = np.isfinite(each).all(axis=-1)
    a, b = sliced[found], each[found]
    cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert len(a) == 5 and cosine.min() > 1 - 1e-4


def test_pipeline_embeddings_from_one_fbank_match_pyannote_per_window(
    campplus: CAMPPlus, cache: ModelCache, ami05: tuple
) -> None:
    from pyannote.audio.pipelines import SpeakerDiarization

    from diarize.speakers.options import SpeakerOptions
    from diarize.speakers.pyannote import build_pipeline, run_segmentation

    segmentation = cache.segmentation()
    options = SpeakerOptions(step=2.5)
    pipeline = build_pipeline(segmentation, speaker_embedding(campplus, "campplus"), options)
    samples = ami05[0][: 25 * 16000].copy()
    file = {"waveform": torch.from_numpy(samples).reshape(1, -1), "sample_rate": 16000, "uri": "ami05"}
    with torch_threads(1):
        frames = run_segmentation(pipeline, segmentation, file, lambda *a, **k: None)
        ours = pipeline.get_embeddings(file, frames.binarized, exclude_overlap=True)
        theirs = SpeakerDiarization.get_embeddings(pipeline, file, frames.binarized, exclude_overlap=True)
    assert ours.shape == theirs.shape and ours.shape[0] == len(frames.binarized.data)
    assert (np.isnan(ours) == np.isnan(theirs)).all()
    found = np.isfinite(theirs).all(axis=-1)
    assert found.sum() >= 4
    a, b = ours[found], theirs[found]
    cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert cosine.min() > 1 - 1e-4

