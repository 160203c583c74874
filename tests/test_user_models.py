"""Whisper models of the user's own: CTranslate2 directories, openai-whisper checkpoints, names in the local
caches; their language abilities and alignment heads; hotwords and translation on real speech."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarize.asr.options import AsrOptions
from diarize.errors import ConfigError, ModelError
from diarize.models import checkpoints, sources
from diarize.models.sources import check_task, resolve_whisper
from tests.test_asr import spanish  # noqa: F401  (a fixture: test_asr.SPANISH_TEXT spoken by espeak-ng)

REPO = Path(__file__).resolve().parent.parent
JFK_TEXT = "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
ENGLISH_TEXT = (  # test_asr.SPANISH_TEXT in English
    "Good morning. Today the weather is very good in Madrid, and in the afternoon we go to the park with the children."
)


def _ct2_dir(path: Path, vocab: int = 51865, heads: list[list[int]] | None = None) -> Path:
    """A directory shaped like a CTranslate2 Whisper model (its model.bin is not a real one)."""
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"\0" * 64)
    (path / "config.json").write_text(json.dumps({"alignment_heads": heads if heads is not None else [[1, 0]]}))
    (path / "tokenizer.json").write_text("{}")
    (path / "vocabulary.txt").write_text("".join(f"t{i}\n" for i in range(vocab)))
    return path


def _dims(n_vocab: int = 51865, layers: int = 6, heads: int = 8) -> dict[str, int]:
    return {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 512, "n_audio_head": 8, "n_audio_layer": 6,
            "n_vocab": n_vocab, "n_text_ctx": 448, "n_text_state": 512, "n_text_head": heads, "n_text_layer": layers}


def _checkpoint(path: Path, **dims: int) -> Path:
    import torch

    torch.save({"dims": _dims(**dims), "model_state_dict": {}}, path)
    return path


@pytest.fixture
def empty_caches(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty Hugging Face and openai-whisper caches under ``tmp_path``."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


# ---------------------------------------------------------------- locating, model-free


def test_shipped_names_need_no_files() -> None:
    assert resolve_whisper("base") == sources.WhisperSource("base", "shipped", None, False, "shipped")
    assert resolve_whisper("tiny.en").english_only


def test_a_ct2_directory_and_its_language(tmp_path: Path) -> None:
    multilingual = resolve_whisper(str(_ct2_dir(tmp_path / "m")))
    english = resolve_whisper(str(_ct2_dir(tmp_path / "e", vocab=51864)))
    assert (multilingual.kind, multilingual.english_only, english.english_only) == ("ct2", False, True)
    check_task(multilingual, "de", "translate")
    with pytest.raises(ConfigError, match=r"English-only but language 'de' was asked for; use --model base"):
        check_task(english, "de", "transcribe")
    with pytest.raises(ConfigError, match=r"English-only and cannot translate; use --model base"):
        check_task(english, None, "translate")


@pytest.mark.parametrize("missing", ["model.bin", "config.json", "tokenizer.json", "vocabulary.txt"])
def test_a_broken_directory_names_the_missing_file(tmp_path: Path, missing: str) -> None:
    (_ct2_dir(tmp_path / "m") / missing).unlink()
    with pytest.raises(ModelError, match=rf"m: not a CTranslate2 Whisper model, {missing} is missing$"):
        resolve_whisper(str(tmp_path / "m"))


def test_a_directory_without_alignment_heads_is_warned_about(tmp_path: Path, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        resolve_whisper(str(_ct2_dir(tmp_path / "m", heads=[])))
    assert "names no alignment_heads" in caplog.text


def test_a_checkpoint_runs_on_the_openai_backend_only(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path / "mine.pt", n_vocab=51864)
    source = resolve_whisper(str(path), "openai")
    assert (source.kind, source.english_only) == ("openai", True)
    with pytest.raises(ConfigError, match=r"mine.pt: an openai-whisper checkpoint runs on --asr-backend openai"):
        resolve_whisper(str(path), "faster")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all" * 10, b"PK\x03\x04broken zip"])
def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"broken.pt: not a readable openai-whisper checkpoint"):
        resolve_whisper(str(path), "openai")


def test_a_checkpoint_of_something_else_is_refused(tmp_path: Path) -> None:
    import torch

    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match=r"other.pt: not an openai-whisper checkpoint \(no 'dims'"):
        resolve_whisper(str(tmp_path / "other.pt"), "openai")


def test_missing_paths_and_unknown_names(empty_caches: Path) -> None:
    with pytest.raises(ModelError, match=r"^/nowhere/model: no such model directory or checkpoint file$"):
        resolve_whisper("/nowhere/model")
    with pytest.raises(ModelError, match=r"^small: no such Whisper model here: .*downloads nothing$"):
        resolve_whisper("small")
    with pytest.raises(ModelError, match=r"^Systran/faster-whisper-small: no such Whisper model here"):
        resolve_whisper("Systran/faster-whisper-small")


def test_names_are_found_in_the_local_caches(empty_caches: Path) -> None:
    repo = empty_caches / "hub" / "models--Systran--faster-whisper-small"
    snapshot = _ct2_dir(repo / "snapshots" / ("a" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    (empty_caches / "xdg" / "whisper").mkdir(parents=True)
    checkpoint = _checkpoint(empty_caches / "xdg" / "whisper" / "small.pt", layers=12, heads=12)

    faster = resolve_whisper("small", "faster")  # faster-whisper's name for Systran/faster-whisper-small
    assert (faster.kind, faster.path, faster.origin) == ("ct2", snapshot, "huggingface")
    assert resolve_whisper("Systran/faster-whisper-small").path == snapshot
    openai = resolve_whisper("small", "openai")  # openai-whisper's own download comes first there
    assert (openai.kind, openai.path, openai.origin) == ("openai", checkpoint, "whisper")
    assert sources.cached_models() == [("Systran/faster-whisper-small", snapshot), ("small", checkpoint)]
    rows, problems = sources.user_model_rows(["/nowhere"])
    assert [r[0] for r in rows] == ["/nowhere", "Systran/faster-whisper-small", "small"]
    assert rows[0][3] == "unusable" and problems == ["/nowhere: no such model directory or checkpoint file"]
    assert rows[1][1:] == ("Hugging Face cache", "0 MiB", "ready (CTranslate2, multilingual)")


def test_the_fingerprint_follows_the_files(tmp_path: Path) -> None:
    path = _ct2_dir(tmp_path / "m")
    first = sources.fingerprint(path)
    assert sources.fingerprint(path) == first and len(first) == 16
    (path / "config.json").write_text(json.dumps({"alignment_heads": [[2, 0]]}))
    assert sources.fingerprint(path) != first


# ---------------------------------------------------------------- alignment heads of checkpoints


def test_alignment_heads_come_from_the_checkpoint_the_name_or_the_shape(tmp_path: Path, caplog: Any) -> None:
    import whisper

    from diarize.models.convert import decode_alignment_heads, encode_alignment_heads

    own = {"dims": _dims(), "alignment_heads": [[3, 1], [5, 2]]}
    assert decode_alignment_heads(checkpoints.alignment_heads(own, tmp_path / "x.pt"), 6, 8) == [(3, 1), (5, 2)]
    dump = encode_alignment_heads([[4, 4]], 6, 8)
    assert checkpoints.alignment_heads({"dims": _dims(), "alignment_heads": dump}, tmp_path / "x.pt") == dump
    by_shape = checkpoints.alignment_heads({"dims": _dims()}, tmp_path / "mine.pt")
    assert by_shape == whisper._ALIGNMENT_HEADS["base"]
    large = {"dims": {**_dims(layers=32, heads=20), "n_mels": 80}}
    assert checkpoints.alignment_heads(large, tmp_path / "large-v1.pt") == whisper._ALIGNMENT_HEADS["large-v1"]
    with caplog.at_level(logging.WARNING):
        assert checkpoints.alignment_heads(large, tmp_path / "mine.pt") == whisper._ALIGNMENT_HEADS["large-v2"]
        assert checkpoints.alignment_heads({"dims": _dims(layers=5)}, tmp_path / "odd.pt") is None
    assert "large-v1 and large-v2 share this shape" in caplog.text
    assert "odd.pt: no alignment heads known" in caplog.text


# ---------------------------------------------------------------- the real models


@pytest.fixture(scope="module")
def cache() -> Any:
    from diarize.models.cache import ModelCache

    return ModelCache()


@pytest.fixture(scope="module")
def jfk(shared_data: Path) -> Any:
    from diarize.audio import load_audio

    return load_audio(shared_data / "speech" / "jfk.flac")


def _transcribe(audio: Any, cache: Any, backend: str, model: str, **options: Any) -> Any:
    from diarize.asr.transcription import transcribe, warm_up
    from diarize.vad import detect_speech

    asr = AsrOptions(backend=backend, model_size=model, cpu_threads=2, **options)
    loaded = cache.faster_whisper(model, "int8", 2) if backend == "faster" else cache.openai_whisper(model)
    warm_up(loaded, asr)
    return transcribe(audio, detect_speech(audio), loaded, asr)


def _wer(reference: str, hypothesis: str) -> float:
    import jiwer
    from whisper.normalizers import EnglishTextNormalizer

    normalise = EnglishTextNormalizer()
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


def _same_words(mine: Any, shipped: Any) -> None:
    assert [w.text for w in mine.words] == [w.text for w in shipped.words]
    for a, b in zip(mine.words, shipped.words, strict=True):
        assert abs(a.start - b.start) <= 0.05 and abs(a.end - b.end) <= 0.05, (a, b)


@pytest.mark.slow
def test_a_copied_directory_and_a_checkpoint_give_the_shipped_words(cache: Any, jfk: Any, tmp_path: Path) -> None:
    copy = shutil.copytree(cache.prepare("whisper-base"), tmp_path / "base-ct2")
    checkpoint = shutil.copy(cache.prepare("whisper-base-openai"), tmp_path / "whisper-base-openai.pt")
    shipped = _transcribe(jfk, cache, "faster", "base")
    assert _wer(JFK_TEXT, shipped.text) == 0.0, shipped.text
    _same_words(_transcribe(jfk, cache, "faster", str(copy)), shipped)
    shipped_openai = _transcribe(jfk, cache, "openai", "base")
    _same_words(_transcribe(jfk, cache, "openai", str(checkpoint)), shipped_openai)
    _same_words(_transcribe(jfk, cache, "openai", str(copy)), shipped_openai)  # converted in memory


@pytest.mark.slow
def test_the_run_command_records_a_user_model(cache: Any, shared_data: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(cache.prepare("whisper-base"), tmp_path / "base-ct2")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "diarize", "run", str(shared_data / "speech" / "jfk.flac"), "-o", str(out),
               "-f", "json", "--model", str(copy), "--hotwords", "Americans", "--num-speakers", "1"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "jfk.json").read_text(encoding="utf-8"))
    models, asr = data["provenance"]["models"], data["provenance"]["options"]["asr"]
    assert models["asr_model"] == str(copy) and models["asr_fingerprint"] == sources.fingerprint(copy)
    assert (models["asr_task"], asr["task"], asr["hotwords"], asr["model_size"]) == (
        "transcribe", "transcribe", "Americans", str(copy))
    assert _wer(JFK_TEXT, " ".join(s["text"] for s in data["segments"])) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faster", "openai"])
def test_hotwords_spell_the_surname(cache: Any, shared_data: Path, backend: str) -> None:
    from diarize.audio import load_audio

    stem = shared_data / "speech" / "ami_ES2011a_headset_40-46s"
    reference = " ".join(" ".join(line.split()[5:]) for line in stem.with_suffix(".stm").read_text().splitlines())
    audio = load_audio(stem.with_suffix(".wav"))
    plain = _transcribe(audio, cache, backend, "base")
    hinted = _transcribe(audio, cache, backend, "base", hotwords="Claflin")
    both = _transcribe(audio, cache, backend, "base", hotwords="Claflin, Abbie")
    # Measured (base, both backends): 22 % without (Crafren, Abby), 11 % with Claflin, 0 % with Claflin, Abbie.
    assert "claflin" not in plain.text.lower() and "Claflin" in hinted.text, (plain.text, hinted.text)
    assert _wer(reference, hinted.text) < _wer(reference, plain.text)
    assert _wer(reference, both.text) == 0.0, both.text


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["faster", "openai"])
def test_translation_gives_english_and_keeps_the_spoken_language(
    cache: Any, spanish: Any, backend: str  # noqa: F811  (the fixture imported above)
) -> None:
    translated = _transcribe(spanish, cache, backend, "base", task="translate")
    assert translated.language == "es"
    # base int8 translates this clip at 36 % WER where CTranslate2 has AVX-512 kernels and 55 % on AVX2 alone
    # ("Today you make a good time in Madrid": word for word): the bound holds on both
    assert _wer(ENGLISH_TEXT, translated.text) <= 0.6, translated.text
    text = translated.text.lower()
    assert "madrid" in text and not any(w in text.split() for w in ("hoy", "tiempo", "niños", "parque"))
    assert translated.words and all(w.end >= w.start >= 0.0 for w in translated.words)


def test_an_english_only_directory_cannot_translate(cache: Any, tmp_path: Path) -> None:
    from diarize.types import Audio, MediaInfo

    tiny = str(cache.prepare("whisper-tiny.en"))  # a path: the options cannot tell it is English-only
    info = MediaInfo(path="silence", duration=2.0, sample_rate=16_000, channels=1, codec="", container="")
    with pytest.raises(ConfigError, match="English-only and cannot translate; use --model base"):
        _transcribe(Audio(np.zeros(32_000, np.float32), info), cache, "faster", tiny, task="translate")


def test_word_alignment_heads_reach_the_openai_model(cache: Any, tmp_path: Path) -> None:
    import torch

    checkpoint = torch.load(cache.prepare("whisper-tiny.en-openai"), weights_only=True)
    del checkpoint["alignment_heads"]
    torch.save(checkpoint, tmp_path / "tiny.en.pt")  # as openai-whisper's own downloads are: heads by name
    model = cache.openai_whisper(str(tmp_path / "tiny.en.pt"))
    dense = model.alignment_heads.to_dense()
    assert dense.sum() == 8 and not model.is_multilingual
    assert np.array_equal(np.argwhere(dense.numpy()), [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]])


def test_models_list_shows_the_user_models(empty_caches: Path) -> None:
    from click.testing import CliRunner

    from diarize.cli.main import cli

    good = _ct2_dir(empty_caches / "mine", vocab=51864)
    broken = _ct2_dir(empty_caches / "broken")
    (broken / "model.bin").unlink()
    done = CliRunner().invoke(cli, ["models", "list", "--model", str(good), "--model", str(broken)])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert any(line.startswith(str(good)) and line.endswith("ready (CTranslate2, English-only)") for line in lines)
    assert any(line.startswith(str(broken)) and line.endswith("unusable") for line in lines)
    assert f"  {broken}: not a CTranslate2 Whisper model, model.bin is missing" in lines
