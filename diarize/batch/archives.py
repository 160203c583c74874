"""``.zip`` and ``.tar`` (``.gz``, ``.bz2``, ``.xz``) inputs: listed and hashed in place, unpacked one member at a
time, only while that member is processed.

Rules:

1. Every member name is checked before anything is read: absolute names, drive letters, ``..`` components,
   NUL bytes, symbolic and hard links, devices, FIFOs, sparse and encrypted members are rejected (one reason
   per member), so nothing can land outside the extraction folder.
2. Discovery (:func:`scan_archive`) streams each media member's bytes through SHA-256 without writing them
   anywhere: the content hash keys the input like any other file's. Members that are not media (by name, else
   by their first bytes) are counted and never read further.
3. Size limits (:class:`~diarize.batch.options.ArchiveLimits`) are checked against a member's declared size
   before its data is read, and against the bytes actually read while hashing and unpacking:
   ``max_member_bytes`` bounds one member, ``max_total_bytes`` all members of all archives of a run together
   (:class:`UnpackBudget`), ``max_members`` the entries of one archive.
4. :class:`MemberExtractor` unpacks one member into ``<root>/<key>/<name>`` (private folder, ``O_EXCL |
   O_NOFOLLOW``) just before it is processed, after checking the disk's free space, verifies that its content
   still has the hash found at discovery, and removes it when the attempt ends. With N workers at most N
   members are on disk at once.
5. Messages do not repeat the archive's path (the manifest record names the input) and name the option that
   raises a limit, in MiB as that option takes them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import lzma
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

from diarize.batch.options import ArchiveLimits
from diarize.errors import InputError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "ArchiveError",
    "ArchiveListing",
    "Member",
    "MemberExtractor",
    "UnpackBudget",
    "is_archive",
    "member_problem",
    "scan_archive",
]

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
"""File name endings treated as archives."""

HEAD_BYTES = 192 + 4
"""Bytes of a member's start handed to the media test."""

_CHUNK = 1 << 20
_MEMBER_OPTION = "--archive-max-mib"
_TOTAL_OPTION = "--archive-total-mib"
_COUNT_OPTION = "--archive-max-members"

MediaTest = Callable[[str, bytes], bool]
"""``(member name, its first HEAD_BYTES bytes) -> whether it is media``."""


class ArchiveError(InputError):
    """An archive, or one of its members, cannot be used; ``problem`` is the reason without the path."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class Member:
    """A media member found by :func:`scan_archive`, with what it takes to unpack it again."""

    archive: Path
    name: str
    """The member's name inside the archive."""
    size: int
    """Bytes it unpacks to."""
    digest: str
    """SHA-256 of its content (hex)."""
    kind: Literal["zip", "tar"]
    locator: int
    """zip: its index in the central directory; tar: the offset of its data in the unpacked stream."""


@dataclass
class ArchiveListing:
    """What an archive holds: media members, rejected members (by name, with the reason), ignored files."""

    members: list[Member] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0
    """Regular files that are not media, or hidden."""


def is_archive(path: Path) -> bool:
    """Whether ``path``'s name ends like an archive this module reads."""
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


def _mib(size: int) -> str:
    mib = size / 2**20
    return f"{mib:.0f}" if mib >= 10 else f"{mib:.2g}"


class UnpackBudget:
    """Bytes the archive members of one run may unpack to, one member and all together (rule 3)."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.total = 0

    def admit(self, size: int) -> str | None:
        """Reserve ``size`` bytes for a member, or say (without reserving) why it may not unpack."""
        if size > self.limits.max_member_bytes:
            return (f"unpacks to {_mib(size)} MiB, over the {_mib(self.limits.max_member_bytes)} MiB limit "
                    f"for one archive member (raise it with {_MEMBER_OPTION})")
        if self.total + size > self.limits.max_total_bytes:
            return (f"unpacks to {_mib(size)} MiB, which takes the archive members of this run over their "
                    f"{_mib(self.limits.max_total_bytes)} MiB limit in total (raise it with {_TOTAL_OPTION})")
        self.total += size
        return None


class _Oversize(Exception):
    """A member yields more bytes than its header declares."""


def _copy(src: IO[bytes], limit: int, sink: Callable[[bytes], object]) -> None:
    """Feed ``src`` to ``sink`` chunk by chunk; raise :class:`_Oversize` past ``limit`` bytes."""
    read = 0
    while chunk := src.read(_CHUNK):
        read += len(chunk)
        if read > limit:
            raise _Oversize
        sink(chunk)


_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError, zlib.error, lzma.LZMAError)


def scan_archive(archive: Path, budget: UnpackBudget, is_media: MediaTest) -> ArchiveListing:
    """List ``archive``'s media members and hash them in place (rules 1-3); nothing is written to disk.

    Raises :class:`ArchiveError` when the archive cannot be read or holds too many members; problems of one
    member are listed in ``rejected``.
    """
    if archive.name.lower().endswith(".zip"):
        return _scan_zip(archive, budget, is_media)
    return _scan_tar(archive, budget, is_media)


def _hidden(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).name.startswith(".")


def _take(
    listing: ArchiveListing, budget: UnpackBudget, is_media: MediaTest, name: str, size: int,
    opener: Callable[[], IO[bytes]],
) -> tuple[int, str] | None:
    """Hash one regular member when it is media; returns ``(size, digest)`` or ``None`` (listed otherwise)."""
    if _hidden(name):
        listing.ignored += 1
        return None
    with opener() as src:
        head = src.read(HEAD_BYTES)
        if not is_media(name, head):
            listing.ignored += 1
            return None
        refused = budget.admit(size)
        if refused:
            listing.rejected.append((name, refused))
            return None
        digest = hashlib.sha256(head)
        try:
            _copy(src, size - len(head), digest.update)
        except _Oversize:
            listing.rejected.append((name, "holds more data than its header declares"))
            return None
    return size, digest.hexdigest()


def _scan_zip(archive: Path, budget: UnpackBudget, is_media: MediaTest) -> ArchiveListing:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(archive, f"not a readable zip archive ({exc})") from None
    listing, seen = ArchiveListing(), set()
    with zf:
        infos = zf.infolist()
        if len(infos) > budget.limits.max_members:
            raise ArchiveError(archive, f"holds {len(infos)} members, over the limit of "
                                        f"{budget.limits.max_members} (raise it with {_COUNT_OPTION})")
        for index, info in enumerate(infos):
            problem = member_problem(info.filename) or _zip_type_problem(info)
            if problem is None and info.filename in seen:
                problem = "duplicate member name"
            if problem == "":
                continue  # a folder
            if problem:
                listing.rejected.append((info.filename, f"archive member rejected: {problem}"))
                continue
            seen.add(info.filename)
            try:
                found = _take(listing, budget, is_media, info.filename, info.file_size,
                              functools.partial(zf.open, info))
            except (*_READ_ERRORS, NotImplementedError) as exc:
                listing.rejected.append((info.filename, f"cannot be unpacked ({exc})"))
                continue
            if found is not None:
                listing.members.append(Member(archive, info.filename, found[0], found[1], "zip", index))
    return listing


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


def _scan_tar(archive: Path, budget: UnpackBudget, is_media: MediaTest) -> ArchiveListing:
    try:
        tf = tarfile.open(archive, mode="r:*")  # noqa: SIM115 - closed by the with block below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(archive, f"not a readable tar archive ({exc})") from None
    listing, seen = ArchiveListing(), set()
    with tf:
        try:
            for count, member in enumerate(_tar_members(tf), start=1):
                if count > budget.limits.max_members:
                    raise ArchiveError(archive, f"holds more than {budget.limits.max_members} members, over "
                                                f"the limit (raise it with {_COUNT_OPTION})")
                problem = member_problem(member.name) or _tar_type_problem(member)
                if problem is None and member.name in seen:
                    problem = "duplicate member name"
                if problem == "":
                    continue
                if problem:
                    listing.rejected.append((member.name, f"archive member rejected: {problem}"))
                    continue
                seen.add(member.name)
                found = _take(listing, budget, is_media, member.name, member.size,
                              functools.partial(_tar_data, tf, member))
                if found is not None:
                    listing.members.append(Member(archive, member.name, *found, "tar", member.offset_data))
        except _READ_ERRORS as exc:
            raise ArchiveError(archive, f"corrupt or truncated tar archive ({exc})") from None
    return listing


def _tar_data(tf: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    src = tf.extractfile(member)
    if src is None:
        raise ValueError("no data")
    return src


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
    if member.sparse is not None:
        return "sparse file"
    return None


class MemberExtractor:
    """Unpacks archive members one at a time under ``root`` and removes them again (rule 4).

    The archive read last stays open, so the members of a compressed tar, taken in order, are read in one pass.
    """

    def __init__(self, root: Path, limits: ArchiveLimits, checkpoint: Callable[[], None] | None = None) -> None:
        self.root = root
        self.limits = limits
        self.checkpoint = checkpoint
        """Called between chunks while unpacking; it may raise to stop (the partial file is left to the caller's
        clean-up of ``root``)."""
        self._open: tuple[Path, zipfile.ZipFile | tarfile.TarFile] | None = None

    def shortfall(self, member: Member) -> int:
        """Bytes missing on ``root``'s disk to unpack ``member`` and keep ``min_free_bytes`` spare (0: fits)."""
        free = shutil.disk_usage(self.root).free
        return max(0, member.size + self.limits.min_free_bytes - free)

    def extract(self, member: Member, key: str) -> Path:
        """Unpack ``member`` into ``root/key/``; raises :class:`ArchiveError` (nothing is left behind)."""
        if self.shortfall(member):
            free, spare = shutil.disk_usage(self.root).free, self.limits.min_free_bytes
            raise ArchiveError(member.archive, f"unpacks to {_mib(member.size)} MiB, but the disk of the output "
                                               f"folder has {_mib(free)} MiB free and {_mib(spare)} MiB must "
                                               "stay free; free some space and run again")
        self.remove(key)
        folder = self.root / key
        folder.mkdir(mode=0o700)
        target = folder / (PurePosixPath(member.name.replace("\\", "/")).name or "media")
        digest = hashlib.sha256()
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(fd, "wb") as out, self._reader(member) as src:

                def sink(chunk: bytes) -> None:
                    if self.checkpoint is not None:
                        self.checkpoint()
                    digest.update(chunk)
                    out.write(chunk)

                _copy(src, member.size, sink)
        except _Oversize:
            self.remove(key)
            raise ArchiveError(member.archive, "changed since the run started; run again") from None
        except _READ_ERRORS as exc:
            self.remove(key)
            raise ArchiveError(member.archive, f"cannot be unpacked ({exc})") from None
        if digest.hexdigest() != member.digest:
            self.remove(key)
            raise ArchiveError(member.archive, "changed since the run started; run again")
        return target

    def _reader(self, member: Member) -> IO[bytes]:
        handle = self._handle(member)
        if isinstance(handle, zipfile.ZipFile):
            infos = handle.infolist()
            if member.locator >= len(infos) or infos[member.locator].filename != member.name:
                raise ValueError("the member is no longer where it was")
            return handle.open(infos[member.locator])
        info = tarfile.TarInfo(member.name)
        info.size, info.offset_data, info.type = member.size, member.locator, tarfile.REGTYPE
        return _tar_data(handle, info)

    def _handle(self, member: Member) -> zipfile.ZipFile | tarfile.TarFile:
        if self._open is not None and self._open[0] == member.archive:
            return self._open[1]
        self.close()
        if member.kind == "zip":
            handle: zipfile.ZipFile | tarfile.TarFile = zipfile.ZipFile(member.archive)
        else:
            handle = tarfile.open(member.archive, mode="r:*")  # noqa: SIM115 - kept open, closed by close()
        self._open = (member.archive, handle)
        return handle

    def remove(self, key: str) -> None:
        """Delete what :meth:`extract` unpacked for ``key`` (nothing if there is none)."""
        shutil.rmtree(self.root / key, ignore_errors=True)

    def close(self) -> None:
        """Close the archive kept open."""
        if self._open is not None:
            with contextlib.suppress(OSError):
                self._open[1].close()
            self._open = None
