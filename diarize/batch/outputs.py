"""The output folder of a batch: per-input folders committed atomically, the run manifest, a lock.

Layout of ``OUT``::

    OUT/<id>/<stem>.<ext>          one folder per input that finished, complete or absent
    OUT/<id>/.diarize-batch.json   completion marker: the input's manifest record, written last
    OUT/manifest.jsonl             run manifest, one JSON line per finished attempt (see diarize.batch)
    OUT/summary.parquet            one row per input of the latest run
    OUT/.diarize-batch.lock        held (flock) by the run using the folder
    OUT/.tmp-*                     work in progress (``.tmp-extract-*``: archive members being processed);
                                   removed at the end of the run, and by the next run after a kill

An input's outputs are written into ``OUT/.tmp-<id>-<token>/`` (every file fsynced, the marker last), then the
folder is renamed to ``OUT/<id>``; only then is its manifest line appended and fsynced. A run killed at any
point leaves either no ``OUT/<id>`` or a complete one, never a half-written folder under the final name.
Output folders and files get the usual permissions (0777 and 0666 less the umask); scratch folders are private.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any, TextIO

from diarize.errors import OutputError

__all__ = [
    "LOCK_NAME",
    "MANIFEST_NAME",
    "MARKER_NAME",
    "SUMMARY_NAME",
    "TMP_PREFIX",
    "OutputStore",
    "RunManifest",
    "final_state",
]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
SUMMARY_NAME = "summary.parquet"
MARKER_NAME = ".diarize-batch.json"
LOCK_NAME = ".diarize-batch.lock"
TMP_PREFIX = ".tmp-"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a folder; rename is still atomic
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def final_state(lines: list[str]) -> dict[str, dict[str, Any]]:
    """The final state of a manifest: the last valid record per id, ordered by that record's position.

    Lines that are not JSON objects with an ``id`` and a ``status`` (a line torn by a killed run) are skipped.
    """
    state: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            logger.warning("manifest line %d is incomplete (a killed run?); ignored", number)
            continue
        if not isinstance(record, dict) or "id" not in record or "status" not in record:
            logger.warning("manifest line %d is not a record; ignored", number)
            continue
        state.pop(record["id"], None)
        state[record["id"]] = record
    return state


class RunManifest:
    """``OUT/manifest.jsonl``: records appended and fsynced one by one; compacted to one line per id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO | None = None

    def read(self) -> dict[str, dict[str, Any]]:
        """The final state (see :func:`final_state`); empty when there is no manifest yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot read the run manifest ({exc.strerror})") from None
        return final_state(text.splitlines())

    def compact(self) -> dict[str, dict[str, Any]]:
        """Rewrite the manifest as its final state (atomically) and return that state."""
        self.close()
        state = self.read()
        if not self.path.exists():
            return state
        data = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in state.values())
        tmp = self.path.with_name(f"{TMP_PREFIX}{self.path.name}.{secrets.token_hex(4)}")
        try:
            _write_synced(tmp, data.encode("utf-8"))
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise OutputError(f"{self.path}: cannot rewrite the run manifest ({exc.strerror})") from None
        _fsync_dir(self.path.parent)
        return state

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line and fsync it before returning."""
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        try:
            if self._fh is None:
                self._fh = self.path.open("a", encoding="utf-8")
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot append to the run manifest ({exc.strerror})") from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class OutputStore:
    """An output folder used by one batch run at a time (``open`` takes the lock and removes leftovers)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest = RunManifest(self.root / MANIFEST_NAME)
        self._lock_fd: int | None = None

    def open(self) -> None:
        """Create the folder, lock it against a second run and remove temp folders of killed runs."""
        from diarize.writers import prepare_out_dir

        prepare_out_dir(self.root)
        self._lock()
        for leftover in sorted(self.root.glob(f"{TMP_PREFIX}*")):
            logger.info("removing %s (left by an interrupted run)", leftover)
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    leftover.unlink()

    def _lock(self) -> None:
        import fcntl

        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(
                f"{self.root}: another diarize batch is using this folder; wait or choose another -o"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        """Close the manifest and release the lock."""
        self.manifest.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def temp_dir(self, kind: str, *, private: bool = True) -> Path:
        """A new folder ``OUT/.tmp-<kind>-<token>`` (removed by the next run if this one dies): private (0700)
        for scratch work, else with the usual permissions (0777 less the umask) for a folder of outputs."""
        path = self.root / f"{TMP_PREFIX}{kind}-{secrets.token_hex(4)}"
        path.mkdir(mode=0o700 if private else 0o777)
        return path

    def commit(self, item_id: str, files: dict[str, bytes], record: dict[str, Any]) -> dict[str, Any]:
        """Put ``files`` in ``OUT/<item_id>/`` atomically; returns ``record`` with its ``outputs`` list.

        A previous folder of the same id is replaced. Raises :class:`OutputError` when the folder cannot be
        written (a full disk stops the run: every later file would fail the same way).
        """
        final = self.root / item_id
        try:
            tmp = self.temp_dir(item_id, private=False)
            outputs = []
            for name, data in files.items():
                if Path(name).name != name or name.startswith("."):
                    raise OutputError(f"invalid output file name {name!r}")
                _write_synced(tmp / name, data)
                outputs.append({"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
            record = {**record, "outputs": outputs}
            _write_synced(tmp / MARKER_NAME, json.dumps(record, sort_keys=True).encode("utf-8"))
            _fsync_dir(tmp)
            trash = None
            if final.exists():
                trash = self.root / f"{TMP_PREFIX}old-{item_id}-{secrets.token_hex(4)}"
                os.rename(final, trash)
            os.rename(tmp, final)
            _fsync_dir(self.root)
        except OSError as exc:
            raise OutputError(f"{final}: cannot write the outputs ({exc.strerror})") from None
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return record

    def intact(self, record: dict[str, Any]) -> bool:
        """Whether a ``done`` record's folder holds its marker and every output, with the recorded size and
        hash."""
        folder = self.root / str(record.get("id", ""))
        if not (folder / MARKER_NAME).is_file() or not isinstance(record.get("outputs"), list):
            return False
        for entry in record["outputs"]:
            path = folder / str(entry.get("file", ""))
            try:
                if path.stat().st_size != entry.get("bytes") or _sha256(path) != entry.get("sha256"):
                    return False
            except OSError:
                return False
        return True

    def marker(self, item_id: str) -> dict[str, Any] | None:
        """The completion marker of ``OUT/<item_id>``: its record, even if the run died before its line."""
        try:
            record = json.loads((self.root / item_id / MARKER_NAME).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        return record if isinstance(record, dict) and record.get("id") == item_id else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
