"""Which Whisper model ``asr.model_size`` (``diarize run --model``) names, and where it is. Nothing is downloaded.

:func:`resolve_whisper` looks, in this order, for:

1. ``tiny.en`` and ``base``: the models that ship with diarize's packages (:mod:`diarize.models.registry`);
2. an existing directory: a CTranslate2 model, as faster-whisper runs it (``model.bin``, ``config.json``,
   ``tokenizer.json`` and ``vocabulary.txt`` or ``vocabulary.json``);
3. an existing file: an openai-whisper checkpoint (``{"dims", "model_state_dict"}``, such as
   ``~/.cache/whisper/small.pt``);
4. a name (``small``, ``large-v3``, ``Systran/faster-whisper-small``): that model in a local cache, never
   downloaded: the Hugging Face cache (faster-whisper's names and hub ids, ``local_files_only``) and
   openai-whisper's cache (``$XDG_CACHE_HOME/whisper/<name>.pt``), the one that suits the backend first.

A model is English-only when its vocabulary has 51864 tokens (the ``*.en`` models; multilingual ones have 51865
or more): ``vocabulary.txt``/``vocabulary.json`` of a CTranslate2 model, ``dims.n_vocab`` of a checkpoint.

Backends: the ``faster`` backend runs CTranslate2 models; an openai-whisper checkpoint is an error there
(CTranslate2 4.x converts such checkpoints only through ``transformers``, which diarize does not install), naming
``--asr-backend openai``. The ``openai`` backend runs checkpoints, and CTranslate2 models converted in memory,
exactly (:mod:`diarize.models.convert`; float16 and float32 models, not quantized ones).

Each source has a cheap content :meth:`~WhisperSource.fingerprint` for provenance: a hash of ``config.json``
with the size and modification time of ``model.bin`` (of a checkpoint: its first MiB, size and time).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from diarize.errors import ConfigError, ModelError
from diarize.models.checkpoints import ENGLISH_VOCAB
from diarize.models.registry import WHISPER_SIZES

__all__ = [
    "CT2_FILES",
    "WhisperSource",
    "cached_models",
    "check_ct2_dir",
    "check_task",
    "fingerprint",
    "resolve_whisper",
    "user_model_rows",
]

log = logging.getLogger(__name__)

Kind = Literal["shipped", "ct2", "openai"]

CT2_FILES: tuple[str, ...] = ("model.bin", "config.json", "tokenizer.json")
"""Files a CTranslate2 Whisper directory must hold, besides ``vocabulary.txt`` or ``vocabulary.json``."""

_SHIPPED = WHISPER_SIZES
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
_NAME = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class WhisperSource:
    """A Whisper model located on this machine."""

    spec: str
    """What the user asked for (``base``, ``/models/small-ct2``, ``small``, …)."""
    kind: Kind
    """``shipped`` (``tiny.en``/``base``), ``ct2`` (a CTranslate2 directory) or ``openai`` (a ``.pt``)."""
    path: Path | None
    """The directory or checkpoint; ``None`` for a shipped model (the model cache knows where it is)."""
    english_only: bool
    """The model knows English only (51864 tokens)."""
    origin: str = "path"
    """``shipped``, ``path``, ``huggingface`` or ``whisper`` (the caches a name was found in)."""

    @property
    def shipped(self) -> bool:
        return self.kind == "shipped"

    def fingerprint(self, path: Path | None = None) -> str:
        """16 hex digits that change when the model's files do (``path``: where a shipped model lies)."""
        where = path or self.path
        return fingerprint(where) if where is not None else ""


def resolve_whisper(spec: str, backend: str = "faster") -> WhisperSource:
    """The model ``spec`` names (see the module docstring); :class:`ModelError` in one line if it is missing
    or broken, :class:`ConfigError` if ``backend`` cannot run it."""
    if spec in _SHIPPED:
        return WhisperSource(spec, "shipped", None, spec.endswith(".en"), "shipped")
    path = Path(spec).expanduser()
    if path.is_dir():
        return _ct2_source(spec, path, "path")
    if path.is_file():
        return _checkpoint_source(spec, path, "path", backend)
    if _NAME.match(spec) or _HUB_ID.match(spec):
        return _cached_source(spec, backend)
    raise ModelError(f"{spec}: no such model directory or checkpoint file")


def check_task(source: WhisperSource, language: str | None, task: str) -> None:
    """:class:`ConfigError` when an English-only model is asked for another language or for translation."""
    if not source.english_only:
        return
    if language not in (None, "en"):
        raise ConfigError(
            f"{source.spec}: the model is English-only but language {language!r} was asked for; use --model base"
        )
    if task == "translate":
        raise ConfigError(f"{source.spec}: the model is English-only and cannot translate; use --model base")


def check_ct2_dir(path: Path) -> bool:
    """Whether the CTranslate2 model in ``path`` is English-only; :class:`ModelError` naming the first missing
    file, or an unreadable vocabulary."""
    for name in CT2_FILES:
        if not (path / name).is_file():
            raise ModelError(f"{path}: not a CTranslate2 Whisper model, {name} is missing")
    return _vocabulary_size(path) <= ENGLISH_VOCAB


def _vocabulary_size(path: Path) -> int:
    try:
        if (path / "vocabulary.json").is_file():
            return len(json.loads((path / "vocabulary.json").read_text(encoding="utf-8")))
        if (path / "vocabulary.txt").is_file():
            with (path / "vocabulary.txt").open(encoding="utf-8") as handle:
                return sum(1 for _ in handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise ModelError(f"{path}: cannot read the model's vocabulary ({exc})") from exc
    raise ModelError(f"{path}: not a CTranslate2 Whisper model, vocabulary.txt is missing")


def _ct2_source(spec: str, path: Path, origin: str) -> WhisperSource:
    english_only = check_ct2_dir(path)
    if not _has_alignment_heads(path):
        log.warning("%s: config.json names no alignment_heads; word times use every head of the decoder's "
                    "last half and are less exact", path)
    return WhisperSource(spec, "ct2", path, english_only, origin)


def _has_alignment_heads(path: Path) -> bool:
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}/config.json: cannot read the model configuration ({exc})") from exc
    return isinstance(config, dict) and bool(config.get("alignment_heads"))


def _checkpoint_source(spec: str, path: Path, origin: str, backend: str) -> WhisperSource:
    if backend == "faster":
        raise ConfigError(
            f"{path}: an openai-whisper checkpoint runs on --asr-backend openai (faster-whisper needs a "
            "CTranslate2 directory, and CTranslate2 converts checkpoints only through transformers)"
        )
    n_vocab = _checkpoint_vocab(path, *_stat(path))
    return WhisperSource(spec, "openai", path, n_vocab <= ENGLISH_VOCAB, origin)


@functools.lru_cache(maxsize=16)
def _checkpoint_vocab(path: Path, size: int, mtime_ns: int) -> int:
    from diarize.models.checkpoints import load_checkpoint

    del size, mtime_ns  # part of the cache key only
    return int(load_checkpoint(path, mmap=True)["dims"]["n_vocab"])


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _cached_source(spec: str, backend: str) -> WhisperSource:
    hub = _hub_snapshot(spec)
    checkpoint = _whisper_cache() / f"{spec}.pt"
    found = [("huggingface", hub), ("whisper", checkpoint if checkpoint.is_file() else None)]
    if backend == "openai":
        found.reverse()
    for origin, path in found:
        if path is not None:
            log.info("asr model %s: %s (%s cache)", spec, path, origin)
            if path.is_dir():
                return _ct2_source(spec, path, origin)
            return _checkpoint_source(spec, path, origin, backend)
    raise ModelError(
        f"{spec}: no such Whisper model here: not {', '.join(_SHIPPED)}, not a directory or file, and not in the "
        f"Hugging Face cache ({_hub_cache()}) or {_whisper_cache()}; diarize downloads nothing"
    )


def _hub_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def _whisper_cache() -> Path:
    """openai-whisper's download folder (``whisper.load_model``'s default ``download_root``)."""
    return Path(os.getenv("XDG_CACHE_HOME", os.path.expanduser("~/.cache"))) / "whisper"


def _hub_snapshot(spec: str) -> Path | None:
    """The local snapshot of faster-whisper's model ``spec`` (a size name or a hub id), without any request."""
    from diarize.models.offline import offline_environment

    offline_environment()
    from faster_whisper.utils import download_model
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    try:
        return Path(download_model(spec, local_files_only=True, cache_dir=str(_hub_cache())))
    except (ValueError, LocalEntryNotFoundError, HFValidationError, OSError):
        return None


def fingerprint(path: Path) -> str:
    """16 hex digits of SHA-256 over a CTranslate2 directory's ``config.json`` and the size and time of its
    ``model.bin``, or over a checkpoint's first MiB, size and time."""
    digest = hashlib.sha256()
    try:
        if path.is_dir():
            digest.update((path / "config.json").read_bytes())
            weights = path / "model.bin"
        else:
            with path.open("rb") as handle:
                digest.update(handle.read(1 << 20))
            weights = path
        digest.update(repr(_stat(weights)).encode())
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc})") from exc
    return digest.hexdigest()[:16]


def cached_models() -> list[tuple[str, Path]]:
    """Whisper models found in the local caches: (name, path) of every CTranslate2 snapshot in the Hugging
    Face cache (by hub id) and every checkpoint in openai-whisper's cache (by name)."""
    found: list[tuple[str, Path]] = []
    hub = _hub_cache()
    for repo in sorted(hub.glob("models--*")) if hub.is_dir() else ():
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        snapshot = _hub_snapshot(repo_id)
        if snapshot is not None and (snapshot / "model.bin").is_file() and (snapshot / "config.json").is_file():
            found.append((repo_id, snapshot))
    found.extend((p.stem, p) for p in sorted(_whisper_cache().glob("*.pt")))
    return found


_ORIGINS = {"path": "your model", "huggingface": "Hugging Face cache", "whisper": "openai-whisper cache"}
_KINDS = {"ct2": "CTranslate2", "openai": "openai-whisper .pt, --asr-backend openai"}


def user_model_rows(specs: tuple[str, ...] | list[str]) -> tuple[list[tuple[str, str, str, str]], list[str]]:
    """``(model, where, size, state)`` of the Whisper models ``specs`` names and those in the local caches,
    for ``diarize models list``, and for each unusable one a line saying why."""
    entries: list[tuple[str, str]] = [(spec, spec) for spec in specs]
    entries += [(name, str(path)) for name, path in cached_models() if name not in specs]
    rows, problems = [], []
    for name, spec in entries:
        try:
            source = resolve_whisper(spec, "openai")  # the backend that runs every kind
        except (ModelError, ConfigError) as exc:
            rows.append((name, "your model", "-", "unusable"))
            problems.append(str(exc))
            continue
        path = Path(source.path or spec)
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file()) if path.is_dir() else path.stat().st_size
        language = "English-only" if source.english_only else "multilingual"
        where = _ORIGINS["path" if spec in specs else ("whisper" if path.is_file() else "huggingface")]
        rows.append((name, where, f"{size / 2**20:.0f} MiB", f"ready ({_KINDS[source.kind]}, {language})"))
    return rows, problems
