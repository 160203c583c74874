"""The header of a RIFF/WAVE file, read as claims to be checked rather than facts.

FFmpeg believes a WAV header: a sample rate, channel count or chunk length that lies is decoded as if true (a
1.9 MB file claiming 1 Hz becomes days of audio) or refused with a generic error. This module only reads what the
header claims and how it fits the file's real size; :mod:`diarize.audio` judges the claims.

Rules:

1. Only little-endian ``RIFF``/``WAVE`` files are read; anything else (RF64, W64, AIFF, ...) gives ``None``.
2. Chunks are walked by seeking, at most :data:`MAX_CHUNKS` of them, so the walk costs bounded time and memory
   whatever the chunk lengths claim.
3. ``WAVE_FORMAT_EXTENSIBLE`` reports the format tag of its sub-format (PCM, IEEE float, ...).
4. A data chunk of length 0 or 0xFFFFFFFF is a stream written without a final length; its length is unknown.
5. Bytes after the data chunk that do not parse as chunks are *stray*: audio the data length does not cover.
   An ID3 tag appended to the file is not stray.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["MAX_CHUNKS", "PCM_FORMAT_TAGS", "WavHeader", "read_wav_header"]

MAX_CHUNKS = 10_000
"""Chunks walked at most; a longer list stops the walk (the rest of the file is then not judged)."""

PCM_FORMAT_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007})
"""Format tags whose frames are ``channels * ceil(bits / 8)`` bytes: integer PCM, IEEE float, A-law, mu-law."""

_EXTENSIBLE = 0xFFFE
_UNKNOWN_LENGTHS = (0, 0xFFFFFFFF)
_TAG_MAGIC = (b"ID3", b"TAG")


@dataclass(frozen=True)
class WavHeader:
    """What a WAV file's ``fmt `` and ``data`` chunks claim, beside what the file holds."""

    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits_per_sample: int
    data_size: int | None
    """Bytes the data chunk declares; ``None`` when unknown (rule 4) or when no data chunk was found."""
    data_available: int
    """Bytes the file holds after the data chunk's header."""
    stray_bytes: int
    """Bytes after the data chunk that belong to no chunk (rule 5)."""


def read_wav_header(path: Path) -> WavHeader | None:
    """The claims of ``path``'s WAV header, or ``None`` when it is not a RIFF/WAVE file or has no ``fmt `` chunk."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        fmt: tuple[int, int, int, int, int] | None = None
        for chunk, pos, length in _chunks(fh, 12, size):
            if chunk == b"fmt ":
                fmt = _read_fmt(fh, pos, length)
            elif chunk == b"data" and fmt is not None:
                declared = None if length in _UNKNOWN_LENGTHS else length
                stray = 0 if declared is None else _stray_bytes(fh, pos + 8 + declared + (declared & 1), size)
                return WavHeader(*fmt, data_size=declared, data_available=size - pos - 8, stray_bytes=stray)
    if fmt is None:
        return None
    return WavHeader(*fmt, data_size=None, data_available=0, stray_bytes=0)


def _chunks(fh: BinaryIO, start: int, size: int) -> list[tuple[bytes, int, int]]:
    """``(id, offset, declared length)`` of the chunks from ``start``; the last may extend past the file."""
    found: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= size and len(found) < MAX_CHUNKS:
        fh.seek(pos)
        chunk, length = struct.unpack("<4sI", fh.read(8))
        found.append((chunk, pos, length))
        if chunk == b"data" or pos + 8 + length > size:
            break
        pos += 8 + length + (length & 1)
    return found


def _read_fmt(fh: BinaryIO, pos: int, length: int) -> tuple[int, int, int, int, int] | None:
    fh.seek(pos + 8)
    body = fh.read(min(length, 40))
    if len(body) < 16:
        return None
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
    if tag == _EXTENSIBLE and len(body) >= 26:
        (tag,) = struct.unpack("<H", body[24:26])
    return tag, channels, rate, block_align, bits


def _stray_bytes(fh: BinaryIO, pos: int, size: int) -> int:
    """Bytes from ``pos`` to the end of the file that do not parse as chunks (rule 5)."""
    for _ in range(MAX_CHUNKS):
        if pos >= size:
            return 0
        fh.seek(pos)
        head = fh.read(8)
        if head[:3] in _TAG_MAGIC:
            return 0
        if len(head) < 8 or not _is_chunk_id(head[:4]):
            return size - pos
        (length,) = struct.unpack("<I", head[4:])
        if pos + 8 + length > size:
            return size - pos
        pos += 8 + length + (length & 1)
    return 0


def _is_chunk_id(chunk: bytes) -> bool:
    return all(0x20 <= c <= 0x7E for c in chunk) and chunk[:1] != b" "
