"""Shared file handling of the writers: an output folder check and atomic writes (temp file + rename)."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from diarize.errors import OutputError

__all__ = ["atomic_write", "prepare_out_dir"]


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or exc.__class__.__name__


def prepare_out_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` if needed and check that files can be written into it; else raise
    :class:`OutputError`."""
    path = Path(out_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{path}: output path exists and is not a folder; choose another -o") from None
    except OSError as exc:
        raise OutputError(
            f"{path}: cannot create the output folder ({_reason(exc)}); choose another -o"
        ) from None
    if not path.is_dir():
        raise OutputError(f"{path}: output path is not a folder; choose another -o")
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{path}: output folder is not writable; choose another -o")
    return path


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically: a temp file in the same folder, flushed, then renamed.

    Readers see either the old file or the complete new one; on failure no temp or partial file remains and an
    :class:`OutputError` names the file. New files get the usual permissions (0666 less the umask).
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OutputError(f"{target}: cannot write ({_reason(exc)})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OutputError(f"{target}: cannot write ({_reason(exc)})") from None
    return target
