"""The speaker stage's networks under ONNX Runtime: exported once, the same outputs as torch on real speech."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from diarize.errors import ModelError
from diarize.models.cache import ModelCache
from diarize.models.threads import torch_threads
from diarize.speakers.embeddings import embed, speaker_embedding, window_embeddings
from diarize.speakers.nets.campplus import fbank, normalize_fbank
from diarize.speakers.nets.onnx import OnnxRuntime


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    return ModelCache(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def ami05(shared_data: Path) -> np.ndarray:
    from diarize.audio import load_audio

    return load_audio(shared_data / "meetings" / "ami_trn05.wav").samples


def _clip(samples: np.ndarray, start: float, end: float) -> torch.Tensor:
    return torch.from_numpy(samples[int(start * 16000) : int(end * 16000)].copy())


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm()


@pytest.mark.parametrize("name", ["campplus-onnx", "segmentation-3.0-onnx"])
def test_exports_are_prepared_once_into_the_cache(cache: ModelCache, name: str) -> None:
    path = cache.prepare(name)
    assert path.parent == cache.cache_dir and path.suffix == ".onnx" and path.stat().st_size > 1e6
    stamp = path.stat().st_mtime_ns
    assert cache.prepare(name) == path and path.stat().st_mtime_ns == stamp
    assert cache.status(name).state == "ready"
    assert not list(cache.cache_dir.glob(".*.tmp"))


def test_campplus_on_onnx_gives_torch_embeddings_on_real_speech_of_every_length(
    cache: ModelCache, ami05: np.ndarray
) -> None:
    onnx, plain = cache.campplus("onnx"), cache.campplus("torch")
    assert isinstance(onnx.runtime, OnnxRuntime) and plain.runtime is None
    # from a scrap padded up to the shortest input, to a whole window
    clips = [_clip(ami05, 1.472, 1.6), _clip(ami05, 1.472, 2.112), _clip(ami05, 10.0, 13.0), _clip(ami05, 0.0, 10.0)]
    with torch.inference_mode():
        for clip in clips:
            a, b = embed(plain, clip), embed(onnx, clip)
            assert float(_unit(a) @ _unit(b)) > 1 - 1e-5
            assert torch.allclose(a, b, atol=1e-3 * float(a.abs().max()))
        features = normalize_fbank(fbank(clips[2]))
        batch = torch.stack([features, features.flip(0)])
        expected = plain(batch)
        assert torch.allclose(onnx(batch), expected, atol=1e-3 * float(expected.abs().max()))


def test_window_embeddings_on_onnx_side_by_side_match_torch(cache: ModelCache, ami05: np.ndarray) -> None:
    wave = torch.from_numpy(ami05[: 24 * 16000].copy())
    windows = [(t * 16000, t * 16000 + 160_000) for t in (0, 7, 14)]
    masks = np.zeros((3, 589, 2), dtype=np.float32)
    masks[:, 40:320, 0] = 1
    masks[:, 200:589, 1] = 1
    ours = window_embeddings(speaker_embedding(cache.campplus("onnx"), "campplus", workers=2), wave, windows, masks, 4)
    theirs = window_embeddings(speaker_embedding(cache.campplus("torch"), "campplus"), wave, windows, masks, 4)
    cosine = (ours * theirs).sum(-1) / np.linalg.norm(ours, axis=-1) / np.linalg.norm(theirs, axis=-1)
    assert ours.shape == (3, 2, 192) and cosine.min() > 1 - 1e-5


def test_segmentation_on_onnx_gives_torch_scores_and_decisions_on_real_speech(
    cache: ModelCache, ami05: np.ndarray
) -> None:
    onnx, plain = cache.segmentation("onnx"), cache.segmentation("torch")
    assert isinstance(onnx.forward, OnnxRuntime) and not isinstance(plain.__dict__.get("forward"), OnnxRuntime)
    assert onnx.specifications == plain.specifications
    windows = torch.stack([_clip(ami05, t, t + 10.0) for t in (0.0, 7.5, 20.0)])[:, None]
    short = _clip(ami05, 3.0, 6.0)[None, None]  # a clip shorter than a window
    with torch.inference_mode():
        for batch in (windows, short):
            expected, got = plain(batch), onnx(batch)
            assert got.shape == expected.shape
            assert float((got - expected).abs().max()) < 1e-3
            assert (got.argmax(-1) == expected.argmax(-1)).float().mean() > 0.999  # the powerset class per frame


def test_sessions_follow_torchs_thread_count(cache: ModelCache, ami05: np.ndarray) -> None:
    runtime = cache.segmentation("onnx").forward
    batch = torch.stack([_clip(ami05, 0.0, 10.0)] * 2)[:, None]
    with torch_threads(1):
        one = runtime(batch)
    with torch_threads(2):
        two = runtime(batch)
    assert {1, 2} <= set(runtime._sessions)
    assert float((one - two).abs().max()) < 1e-4


def test_a_broken_graph_is_a_model_error_naming_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "campplus.onnx"
    broken.write_bytes(b"not a graph")
    with pytest.raises(ModelError, match="campplus.onnx"):
        OnnxRuntime(broken)


def test_without_onnxruntime_the_networks_run_in_torch_with_a_warning(
    cache: ModelCache, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with caplog.at_level(logging.WARNING, logger="diarize.models.cache"):
        network = cache.campplus("onnx")
        segmentation = cache.segmentation("onnx")
    assert network.runtime is None and not isinstance(segmentation.__dict__.get("forward"), OnnxRuntime)
    assert sum("onnxruntime is not installed" in r.getMessage() for r in caplog.records) == 2
