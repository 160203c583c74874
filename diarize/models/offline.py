"""Keeping the third-party stack offline and loadable on a CPU-only machine.

Two facts about the stack diarize runs on:

* **torchaudio.** No CPU build of torchaudio matches torch 2.13. The newest wheel (2.11) ships compiled
  libraries linked against CUDA torch (``libtorch_cuda.so``, ``libc10_cuda.so``), so ``import torchaudio`` fails
  on CPU torch. Its pure-Python parts, the ones diarize and pyannote.audio use (Kaldi fbank, resampling), work
  once those libraries are gone: torchaudio then reports its extension as unavailable and carries on.
  :func:`repair_torchaudio` removes exactly those libraries, and only when they cannot load.
* **Hubs and telemetry.** pyannote.audio and huggingface_hub call home on load and on every run unless told not
  to. :func:`offline_environment` sets their switches before either is imported. It is called by the model
  loaders, never at import time of diarize.

Run ``python -m diarize.models.offline`` to check (and with ``--fix`` to repair) an installation.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["broken_torchaudio_libraries", "offline_environment", "quiet_imports", "repair_torchaudio"]

logger = logging.getLogger(__name__)

_OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "PYANNOTE_METRICS_ENABLED": "0",
}


def offline_environment() -> None:
    """Switch off hub downloads and telemetry for pyannote.audio and huggingface_hub (idempotent)."""
    for key, value in _OFFLINE.items():
        if os.environ.get(key) != value:
            os.environ[key] = value
    hub = sys.modules.get("huggingface_hub.constants")
    if hub is not None:  # already imported: it read the environment once, at import
        vars(hub).update(HF_HUB_OFFLINE=True, HF_HUB_DISABLE_TELEMETRY=True)


@contextmanager
def quiet_imports() -> Iterator[None]:
    """Silence the import-time warnings of the model stack (torchcodec absent, deprecations)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torchcodec.*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"pyannote\..*")
        warnings.filterwarnings("ignore", category=UserWarning, module=r"torchaudio\..*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def _torchaudio_lib_dir() -> Path | None:
    spec = importlib.util.find_spec("torchaudio")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "lib"


def broken_torchaudio_libraries() -> list[Path]:
    """torchaudio's compiled libraries that cannot load next to the installed torch."""
    import torch  # noqa: F401  (loads libtorch so that a CPU-compatible library would resolve)

    lib_dir = _torchaudio_lib_dir()
    if lib_dir is None or not lib_dir.is_dir():
        return []
    broken = []
    for path in sorted(lib_dir.glob("*.so")):
        try:
            ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        except OSError:
            broken.append(path)
    return broken


def repair_torchaudio() -> list[Path]:
    """Remove torchaudio's compiled libraries when they cannot load; return what was removed."""
    broken = broken_torchaudio_libraries()
    if not broken:
        return []
    lib_dir = broken[0].parent
    removed = sorted(lib_dir.glob("*.so"))  # the extension is all or nothing: keep none of it
    for path in removed:
        path.unlink()
        logger.info("removed %s (linked against CUDA torch)", path)
    return removed


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m diarize.models.offline", description=__doc__.split("\n")[0])
    parser.add_argument("--fix", action="store_true", help="remove torchaudio libraries that cannot load")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.fix:
        removed = repair_torchaudio()
        logger.info("torchaudio: %s", f"removed {len(removed)} CUDA-linked libraries" if removed else "ok")
    broken = broken_torchaudio_libraries()
    if broken:
        logger.error("torchaudio cannot load %s; run `python -m diarize.models.offline --fix`", broken[0].name)
        return 1
    import torchaudio

    logger.info("torchaudio %s imports (compiled extension: %s)", torchaudio.__version__,
                "absent" if not any((_torchaudio_lib_dir() or Path()).glob("*.so")) else "loaded")
    return 0


if __name__ == "__main__":
    sys.exit(_main())
