"""The transcripts the viewer downloads with the speaker names given in the page.

The page holds this run's JSON, SRT, WebVTT and Markdown of the result with every speaker label replaced by
a marker: a private-use character naming the speaker's index (``U+E100 + i``) padded with ``U+E000`` to the
label's length, so that line breaks come out as with the labels. The page puts each speaker's current name in
place of its marker, escaped as each format escapes names, and the names it changed in place of the JSON's
``provenance.speaker_names`` (:data:`NAMES_MARKER`), as ``--speaker-names`` records them. Its captions
track is the WebVTT made the same way. The texts travel gzip-compressed and base64-encoded (the browser's
``DecompressionStream`` unpacks them). A result whose text already holds private-use characters gets none.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import replace

from diarize.types import Result
from diarize.writers.base import OutputContext, get_writer
from diarize.writers.labels import rename_speakers
from diarize.writers.options import WriterOptions

__all__ = ["FORMATS", "MARKER_BASE", "NAMES_MARKER", "export_payload", "marker", "templates", "unpack"]

FORMATS = ("json", "srt", "vtt", "md")
"""The formats the page downloads with its names."""

MARKER_BASE = 0xE100
"""The code point of speaker 0's marker; speaker ``i`` is ``MARKER_BASE + i``."""

NAMES_MARKER = "\ue0ff"
"""Stands for the JSON's ``provenance.speaker_names`` mapping."""

_PAD = "\ue000"
_PRIVATE = re.compile("[\ue000-\uf8ff]")


def marker(index: int, label: str) -> str:
    """Speaker ``index``'s marker, as long as its ``label``."""
    return chr(MARKER_BASE + index) + _PAD * max(0, len(label) - 1)


def _has_private_text(result: Result) -> bool:
    texts = [result.source.path, result.language or "", *result.speakers, repr(result.provenance)]
    texts += [s.text for s in result.segments] + [w.text for w in result.words]
    return any(_PRIVATE.search(text) for text in texts)


def templates(
    result: Result, labels: Sequence[str], options: WriterOptions, stem: str, context: OutputContext | None = None
) -> dict[str, str]:
    """Format → text with speaker markers, for speakers ``labels`` (the page's order), rendered as the run
    that ``context`` describes renders them; empty when the result's own text holds private-use characters."""
    if _has_private_text(result) or len(labels) > 0xF8FF - MARKER_BASE:
        return {}
    marked = rename_speakers(result, {label: marker(i, label) for i, label in enumerate(labels)})
    extra = {**marked.provenance.extra, "speaker_names": NAMES_MARKER}
    marked = replace(marked, provenance=replace(marked.provenance, extra=extra))
    out = {}
    for fmt in FORMATS:
        writer = get_writer(fmt, context)
        files = dict(writer.outputs(marked, stem, options))
        out[fmt] = files[writer.suffix].decode("utf-8")
    return out


def export_payload(
    result: Result, labels: Sequence[str], options: WriterOptions, stem: str, context: OutputContext | None = None
) -> str:
    """:func:`templates` as JSON, gzip-compressed (no time stamp: the same result gives the same page) and
    base64-encoded: what the page's ``diarize-exports`` block holds."""
    text = json.dumps(templates(result, labels, options, stem, context), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def unpack(payload: str) -> dict[str, str]:
    """The texts of an :func:`export_payload`."""
    data: dict[str, str] = json.loads(gzip.decompress(base64.b64decode(payload)))
    return data
