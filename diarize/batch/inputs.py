"""Finding a batch's inputs: files, folders (recursive), archives and input lists (CSV/JSONL with hints).

Which files count as media:

* a file named on the command line (or in an input list) always does; decoding decides whether it is usable;
* inside a folder or an archive, a file whose name ends like media (``.wav``, ``.mp4``…) does, and so does any
  other file whose first bytes carry a media container's signature (RIFF/WAVE, FLAC, MP3, Ogg, MP4/MOV,
  Matroska, AIFF, ASF, AMR, MPEG-TS/PS…), so a recording with a wrong or missing extension is found. Other
  files (notes, RTTM, JSON) are ignored and counted. Hidden files (``.name``) are ignored.

A file that looks like media but cannot be decoded (a text file named ``.wav``, an empty or corrupt file) is
recorded as failed with the decoder's reason when the batch probes it.

Each input's id is ``sha256(relative path, sha256(content))`` cut to 16 hex digits: the same recording at the
same place under the input root gets the same id on every run and machine, wherever the root lies. The
relative path is the file's name for a file argument, ``<folder name>/<path inside>`` for a folder,
``<archive's relative path>/<member>`` for an archive member and the path as written for an input list entry.
An archive member's content hash is that of its unpacked bytes, computed while streaming it out of the archive:
finding the inputs writes nothing (members are unpacked one at a time while they are processed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from diarize.batch.archives import ArchiveError, Member, UnpackBudget, is_archive, scan_archive
from diarize.batch.options import ArchiveLimits
from diarize.errors import ConfigError

__all__ = [
    "MEDIA_SUFFIXES",
    "BatchInput",
    "Discovery",
    "InputEntry",
    "discover",
    "file_digest",
    "input_id",
    "looks_like_media",
    "read_input_list",
    "sniff_media",
]

logger = logging.getLogger(__name__)

MEDIA_SUFFIXES = frozenset({
    ".wav", ".wave", ".flac", ".mp3", ".mp2", ".m4a", ".m4b", ".mp4", ".m4v", ".mov", ".mkv", ".mka", ".webm",
    ".ogg", ".oga", ".opus", ".aac", ".ac3", ".wma", ".wmv", ".asf", ".avi", ".aif", ".aiff", ".aifc", ".amr",
    ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".caf", ".au", ".snd", ".flv", ".sph", ".wv",
    ".ape",
})
"""Name endings that make a file inside a folder or archive a media input without sniffing."""

HINT_KEYS = ("num_speakers", "min_speakers", "max_speakers", "language")
"""Per-file hints an input list may give (``PipelineConfig.with_hints`` arguments)."""

_SNIFF_BYTES = 192 + 4
_ID_VERSION = b"diarize-batch-id/1"


@dataclass(frozen=True)
class BatchInput:
    """One input of a batch: where it is, what it is called, and its stable id."""

    id: str
    """16 hex digits of ``sha256(relative path, content hash)``; names the output folder ``OUT/<id>``."""

    path: str
    """The input as the run manifest names it: the file as found, or ``<archive>/<member>``."""

    file: str
    """The file to decode; empty for an archive member (unpacked only while it is processed, see
    :attr:`Discovery.members`) and when ``problem`` is set."""

    source: str
    """The source path written into the outputs: ``path``, or the member's name inside its archive."""

    stem: str
    """Output file stem: ``OUT/<id>/<stem>.<ext>``."""

    hints: dict[str, Any] = field(default_factory=dict)
    """Per-file hints from an input list (see :data:`HINT_KEYS`)."""

    problem: str | None = None
    """Why the input cannot be processed, found before decoding (a rejected archive member…)."""

    archive: str = ""
    """The archive holding this input, as found (empty for a plain file)."""


@dataclass
class Discovery:
    """What :func:`discover` found."""

    inputs: list[BatchInput] = field(default_factory=list)
    """Inputs in discovery order, one per id (problem ones included)."""

    ignored: int = 0
    """Files inside folders and archives that are not media."""

    duplicates: int = 0
    """Inputs dropped because another input had the same id (same content at the same relative path)."""

    members: dict[str, Member] = field(default_factory=dict)
    """Where each archive member input lies, by input id (see :class:`~diarize.batch.archives.Member`)."""


@dataclass(frozen=True)
class InputEntry:
    """One line of an input list."""

    path: Path
    rel: str
    hints: dict[str, Any]


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def input_id(rel: str, digest: str | None) -> str:
    """The stable id of the input at relative path ``rel`` with content hash ``digest`` (``None``: unread)."""
    blob = b"\0".join((_ID_VERSION, rel.encode("utf-8", "surrogateescape"), (digest or "-").encode()))
    return hashlib.sha256(blob).hexdigest()[:16]


def sniff_media(head: bytes) -> bool:
    """Whether a file's first bytes carry the signature of a media container FFmpeg decodes."""
    if head[:4] in (b"RIFF", b"RIFX", b"RF64", b"BW64"):
        return head[8:12] in (b"WAVE", b"AVI ")
    if head[:4] == b"FORM":
        return head[8:12] in (b"AIFF", b"AIFC")
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return True
    prefixes = (b"fLaC", b"ID3", b"OggS", b"\x1aE\xdf\xa3", b"#!AMR", b"FLV", b".snd", b"caff", b"wvpk",
                b"MAC ", b"NIST_1A", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",
                b"\x30\x26\xb2\x75\x8e\x66\xcf\x11")
    if head.startswith(prefixes):
        return True
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:  # MPEG transport stream
        return True
    # MPEG audio or ADTS frame sync: 11 set bits, then a layer other than "reserved"
    return len(head) > 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0


def looks_like_media(path: Path) -> bool:
    """Media by name ending, else by signature (reads a few bytes)."""
    if path.suffix.lower() in MEDIA_SUFFIXES:
        return True
    try:
        with path.open("rb") as fh:
            return sniff_media(fh.read(_SNIFF_BYTES))
    except OSError:
        return False


def _member_is_media(name: str, head: bytes) -> bool:
    """An archive member is media by name ending, else by its first bytes."""
    return PurePosixPath(name).suffix.lower() in MEDIA_SUFFIXES or sniff_media(head)


def read_input_list(path: Path) -> list[InputEntry]:
    """Read a CSV (header with a ``path`` column) or JSONL (objects with ``path``) input list.

    Optional columns/keys are :data:`HINT_KEYS`; empty CSV cells mean "no hint". Relative paths are taken
    relative to the list's folder. Raises :class:`ConfigError` naming the line for anything else.
    """
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the input list ({exc.strerror})") from None
    if suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path, text)
    elif suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="\t" if suffix == ".tsv" else ",")
        rows = [(n, {k: v for k, v in row.items() if v not in (None, "")}) for n, row in enumerate(reader, 2)]
    else:
        raise ConfigError(f"{path}: an input list must be .csv, .tsv or .jsonl")
    return [_entry(path, line, row) for line, row in rows]


def _jsonl_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{line}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{line}: each line must be a JSON object with a \"path\"")
        rows.append((line, {k: v for k, v in row.items() if v is not None}))
    return rows


def _entry(list_path: Path, line: int, row: dict[str, Any]) -> InputEntry:
    where = f"{list_path}:{line}"
    unknown = sorted(set(row) - {"path", *HINT_KEYS})
    if unknown:
        valid = ", ".join(("path", *HINT_KEYS))
        raise ConfigError(f"{where}: unknown column(s) {', '.join(unknown)}; valid: {valid}")
    if not isinstance(row.get("path"), str) or not row["path"].strip():
        raise ConfigError(f"{where}: missing \"path\"")
    written = row["path"].strip()
    hints: dict[str, Any] = {}
    for key in HINT_KEYS[:3]:
        if key in row:
            hints[key] = _positive_int(row[key], f"{where}: {key}")
    if "language" in row:
        hints["language"] = str(row["language"]).strip()
    if "num_speakers" in hints and ("min_speakers" in hints or "max_speakers" in hints):
        raise ConfigError(f"{where}: give num_speakers or min_speakers/max_speakers, not both")
    if hints.get("min_speakers", 0) > hints.get("max_speakers", 1 << 30):
        raise ConfigError(f"{where}: min_speakers is larger than max_speakers")
    file = Path(written) if os.path.isabs(written) else list_path.parent / written
    rel = PurePosixPath(written.replace("\\", "/")).as_posix()
    return InputEntry(path=file, rel=rel, hints=hints)


def _positive_int(value: Any, where: str) -> int:
    whole = isinstance(value, int) or (isinstance(value, str) and value.isdigit())
    if isinstance(value, bool) or not whole:
        raise ConfigError(f"{where} must be a whole number, got {value!r}")
    if int(value) < 1:
        raise ConfigError(f"{where} must be at least 1, got {value!r}")
    return int(value)


class _Finder:
    """Walks arguments into :class:`BatchInput` records; archive members are hashed in place."""

    def __init__(self, limits: ArchiveLimits, exclude: Path | None) -> None:
        self.budget = UnpackBudget(limits)
        self.exclude = exclude.resolve() if exclude is not None else None
        self.found = Discovery()
        self._ids: dict[str, str] = {}

    def add_argument(self, path: Path, rel: str, hints: dict[str, Any]) -> None:
        """A path named by the user: a file (always an input), a folder or an archive."""
        if path.is_dir():
            self._walk(path, rel, hints)
        elif is_archive(path) and path.is_file():
            self._archive(path, str(path), rel, hints)
        elif path.exists():
            self._file(path, str(path), str(path), rel, hints)
        else:
            self._fail(str(path), rel, hints, "no such file or folder")

    def _walk(self, root: Path, rel: str, hints: dict[str, Any]) -> None:
        for folder, dirs, files in os.walk(root):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not self._excluded(here / d))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = here / name
                member_rel = f"{rel}/{path.relative_to(root).as_posix()}"
                if is_archive(path):
                    self._archive(path, str(path), member_rel, hints)
                elif looks_like_media(path):
                    self._file(path, str(path), str(path), member_rel, hints)
                else:
                    self.found.ignored += 1
                    logger.info("%s: not media, ignored", path)

    def _excluded(self, path: Path) -> bool:
        return self.exclude is not None and path.resolve() == self.exclude

    def _archive(self, archive: Path, shown: str, rel: str, hints: dict[str, Any]) -> None:
        try:
            listing = scan_archive(archive, self.budget, _member_is_media)
        except ArchiveError as exc:
            self._fail(shown, rel, hints, exc.problem)
            return
        except OSError as exc:
            self._fail(shown, rel, hints, f"cannot read ({exc.strerror})")
            return
        self.found.ignored += listing.ignored
        for name, reason in listing.rejected:
            self._fail(f"{shown}/{name}", f"{rel}/{name}", hints, reason)
        for member in listing.members:
            base = PurePosixPath(member.name).name
            stem = PurePosixPath(base).stem if PurePosixPath(base).suffix.lower() in MEDIA_SUFFIXES else base
            item = BatchInput(input_id(f"{rel}/{member.name}", member.digest), f"{shown}/{member.name}", "",
                              member.name, stem or "media", dict(hints), archive=shown)
            if self._add(item):
                self.found.members[item.id] = member

    def _file(self, file: Path, shown: str, source: str, rel: str, hints: dict[str, Any]) -> None:
        try:
            digest = file_digest(file)
        except OSError as exc:
            self._fail(shown, rel, hints, f"cannot read ({exc.strerror})")
            return
        stem = file.stem if file.suffix.lower() in MEDIA_SUFFIXES else file.name
        self._add(BatchInput(input_id(rel, digest), shown, str(file), source, stem or "media", dict(hints)))

    def _fail(self, shown: str, rel: str, hints: dict[str, Any], problem: str) -> None:
        stem = PurePosixPath(rel).stem or "input"
        self._add(BatchInput(input_id(rel, None), shown, "", shown, stem, dict(hints), problem=problem))

    def _add(self, item: BatchInput) -> bool:
        first = self._ids.get(item.id)
        if first is not None:
            self.found.duplicates += 1
            logger.warning("%s: same content at the same relative path as %s; processed once",
                           item.path, first)
            return False
        self._ids[item.id] = item.path
        self.found.inputs.append(item)
        return True


def discover(
    paths: list[Path],
    *,
    limits: ArchiveLimits | None = None,
    input_list: Path | None = None,
    exclude: Path | None = None,
) -> Discovery:
    """Find every input under ``paths`` and in ``input_list``; nothing is unpacked or written.

    Archive members are hashed in place, within ``limits`` (for all archives together). ``exclude`` (the
    output folder) is never walked into. Raises :class:`ConfigError` for an invalid input list; every other
    problem becomes an input with ``problem`` set.
    """
    finder = _Finder(limits or ArchiveLimits(), exclude)
    for path in paths:
        finder.add_argument(path, _argument_rel(path), {})
    if input_list is not None:
        for entry in read_input_list(input_list):
            finder.add_argument(entry.path, entry.rel, entry.hints)
    return finder.found


def _argument_rel(path: Path) -> str:
    """A command-line argument's relative path: its name (a folder's or file's), independent of the cwd."""
    return path.name or path.resolve().name or "input"
