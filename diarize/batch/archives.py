"""Safe extraction of ``.zip`` and ``.tar`` (``.gz``, ``.bz2``, ``.xz``) inputs under a private folder.

Every member name is checked before anything is written: absolute names, drive letters, ``..`` components,
NUL bytes, symbolic and hard links, devices and FIFOs are rejected (and reported, one reason per member), so
nothing can land outside the extraction folder. Files are created with ``O_EXCL | O_NOFOLLOW`` in folders
this module made itself. :class:`~diarize.batch.options.ArchiveLimits` bound the member count and the unpacked
size; bytes are counted while copying, so a header that understates a member's size cannot get past them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from diarize.batch.options import ArchiveLimits
from diarize.errors import InputError

__all__ = ["ARCHIVE_SUFFIXES", "ExtractedArchive", "extract_archive", "is_archive", "member_problem"]

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
"""File name endings treated as archives."""

_CHUNK = 1 << 20


@dataclass
class ExtractedArchive:
    """What an archive held: extracted regular files and rejected members, by member name."""

    files: list[tuple[str, Path]] = field(default_factory=list)
    """``(member name, extracted path)`` of every regular file written."""

    rejected: list[tuple[str, str]] = field(default_factory=list)
    """``(member name, reason)`` of every member that was not extracted."""


def is_archive(path: Path) -> bool:
    """Whether ``path``'s name ends like an archive this module extracts."""
    return path.name.lower().endswith(ARCHIVE_SUFFIXES)


def member_problem(name: str) -> str | None:
    """Why a member name is unsafe to extract, or ``None`` when it stays inside the extraction folder."""
    if not name or "\0" in name:
        return "empty name or NUL byte in the name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "path leaves the extraction folder (..)"
    if all(p in ("", ".") for p in parts):
        return "empty name"
    return None


class _Budget:
    """Bytes still allowed for one archive and for each member."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.total = 0

    def copy(self, src: IO[bytes], target: Path) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                self.total += len(chunk)
                if written > self.limits.max_member_bytes:
                    raise _LimitError(f"member unpacks to more than {self.limits.max_member_bytes} bytes")
                if self.total > self.limits.max_total_bytes:
                    raise _LimitError(f"archive unpacks to more than {self.limits.max_total_bytes} bytes")
                out.write(chunk)


class _LimitError(Exception):
    """A size limit was reached while copying."""


def _target(root: Path, name: str) -> Path:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    target = root.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return target


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits) -> ExtractedArchive:
    """Extract ``archive``'s regular files under ``dest`` (created, private), within ``limits``.

    Raises :class:`InputError` when the archive cannot be read or breaks a limit; then nothing of it remains
    under ``dest``. Unsafe or unreadable members are skipped and listed in ``rejected``.
    """
    dest.mkdir(parents=True, mode=0o700)
    try:
        if archive.name.lower().endswith(".zip"):
            return _extract_zip(archive, dest, limits)
        return _extract_tar(archive, dest, limits)
    except InputError:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract_zip(archive: Path, dest: Path, limits: ArchiveLimits) -> ExtractedArchive:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{archive}: not a readable zip archive ({exc})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise InputError(f"{archive}: {len(infos)} members, more than the limit of {limits.max_members}")
        declared = sum(i.file_size for i in infos)
        if declared > limits.max_total_bytes:
            raise InputError(f"{archive}: unpacks to {declared} bytes, more than the limit of "
                             f"{limits.max_total_bytes}")
        found, budget = ExtractedArchive(), _Budget(limits)
        for info in infos:
            problem = member_problem(info.filename) or _zip_type_problem(info)
            if problem == "":
                continue  # a folder
            if problem:
                found.rejected.append((info.filename, problem))
                continue
            _extract_member(archive, info.filename, functools.partial(zf.open, info), dest, budget, found)
        return found


def _zip_type_problem(info: zipfile.ZipInfo) -> str | None:
    """``""`` for a folder, a reason for a link or special file, ``None`` for a regular file."""
    if info.is_dir():
        return ""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "symbolic link"
    if kind not in (0, stat.S_IFREG):
        return "special file (device, FIFO or socket)"
    if info.flag_bits & 0x1:
        return "encrypted member"
    return None


def _extract_member(
    archive: Path,
    name: str,
    opener: Callable[[], IO[bytes] | None],
    dest: Path,
    budget: _Budget,
    found: ExtractedArchive,
) -> None:
    """Copy one member; a member-level failure is recorded, an archive-level limit re-raised."""
    target: Path | None = None
    try:
        target = _target(dest, name)
        src = opener()
        if src is None:
            raise ValueError("no data")
        with src:
            budget.copy(src, target)
    except _LimitError as exc:
        if target is not None:
            with contextlib.suppress(OSError):
                target.unlink()
        if "archive" in str(exc):
            raise InputError(f"{archive}: {exc}") from None
        found.rejected.append((name, str(exc)))
        return
    except FileExistsError:
        found.rejected.append((name, "duplicate member name"))
        return
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, ValueError) as exc:
        if target is not None:
            with contextlib.suppress(OSError):
                target.unlink()
        found.rejected.append((name, f"cannot be extracted ({exc})"))
        return
    found.files.append((name, target))


def _extract_tar(archive: Path, dest: Path, limits: ArchiveLimits) -> ExtractedArchive:
    try:
        tf = tarfile.open(archive, mode="r:*")  # noqa: SIM115 - closed by the with block below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{archive}: not a readable tar archive ({exc})") from None
    found, budget = ExtractedArchive(), _Budget(limits)
    declared = 0
    with tf:
        try:
            for count, member in enumerate(_tar_members(tf), start=1):
                if count > limits.max_members:
                    raise InputError(f"{archive}: more than the limit of {limits.max_members} members")
                declared += member.size if member.isfile() else 0
                if declared > limits.max_total_bytes:
                    raise InputError(
                        f"{archive}: unpacks to more than the limit of {limits.max_total_bytes} bytes"
                    )
                problem = member_problem(member.name) or _tar_type_problem(member)
                if problem == "":
                    continue
                if problem:
                    found.rejected.append((member.name, problem))
                    continue
                _extract_member(archive, member.name, functools.partial(tf.extractfile, member), dest, budget,
                                found)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise InputError(f"{archive}: corrupt or truncated tar archive ({exc})") from None
    return found


def _tar_members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """Members one by one, without keeping the list (an archive of millions of entries stays small)."""
    while (member := tf.next()) is not None:
        yield member
        tf.members = []  # type: ignore[attr-defined]  # tarfile keeps every header otherwise


def _tar_type_problem(member: tarfile.TarInfo) -> str | None:
    if member.isdir():
        return ""
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if not member.isfile():
        return "special file (device, FIFO or socket)"
    return None
