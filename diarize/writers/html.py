"""The transcript viewer (``-f html`` → ``<stem>.html``): one self-contained page, no network access.

The page holds a media player, a speaker timeline (one lane per speaker, overlaps marked), the talk-time
summary, and the transcript as speaker-coloured turns (runs of consecutive segments of one speaker). Clicking
a word, a turn or the timeline seeks the player; the word being spoken is highlighted; a search box filters
the turns and highlights matches; speakers can be renamed in the page (kept in the browser's localStorage,
per media file); the other outputs of the same run are linked.

The CSS and JavaScript (``viewer.css``, ``viewer.js``, package data beside this module) are inlined, and the
transcript travels as one JSON blob (:func:`viewer_data`) in a ``<script type="application/json">`` with
``<``, ``>`` and ``&`` escaped; the page builds its DOM with ``textContent`` only, and a
Content-Security-Policy allows no connections and no script but the viewer's own (by hash), so transcript
text never runs.

The player finds the media by its path relative to the output folder (the page and the media can move
together), by ``HtmlOptions.media_href`` when given, or inside the page as a ``data:`` URI with
``HtmlOptions.embed_media``. When the writer has no output folder (rendering without writing) or no relative
path exists (another drive), it uses the media's absolute ``file:`` URL.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from diarize import __version__
from diarize.types import Result, Segment, Word
from diarize.writers.base import OutputContext, TextWriter, register_writer
from diarize.writers.labels import UNKNOWN_SPEAKER
from diarize.writers.options import HtmlOptions, WriterOptions
from diarize.writers.text import talk_times
from diarize.writers.timeline import UNKNOWN_COLOR, overlap_spans, speaker_color, speaker_labels

__all__ = ["VIEWER_SCHEMA", "HtmlWriter", "media_href", "render_html", "viewer_data"]

logger = logging.getLogger(__name__)

VIEWER_SCHEMA = 1
"""Version of the JSON blob the page's script reads."""

_MIME = {
    ".wav": "audio/wav", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".ogg": "audio/ogg",
    ".oga": "audio/ogg", ".opus": "audio/ogg", ".m4a": "audio/mp4", ".aac": "audio/aac",
    ".webm": "video/webm", ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
}
_LOW_PROBABILITY = 0.5
_SLOT = re.compile(r"\{\{(\w+)\}\}")


@cache
def _asset(name: str) -> str:
    return resources.files("diarize.writers").joinpath(name).read_text(encoding="utf-8")


def _t(seconds: float) -> float:
    return round(float(seconds), 3)


def media_href(source_path: str, out_dir: str | Path | None) -> str | None:
    """The URL the page (in ``out_dir``) uses for the media at ``source_path``: the relative path,
    percent-encoded; the absolute ``file:`` URL when ``out_dir`` is ``None`` or no relative path exists;
    ``None`` for a result without a source path."""
    if not source_path:
        return None
    absolute = Path(os.path.abspath(source_path))
    if out_dir is not None:
        try:
            relative = os.path.relpath(absolute, os.path.abspath(out_dir))
        except ValueError:  # another drive (Windows): no relative path
            return absolute.as_uri()
        return quote(PurePath(relative).as_posix(), safe="/")
    return absolute.as_uri()


def _embedded(result: Result, options: HtmlOptions) -> str | None:
    path = Path(result.source.path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        logger.warning("%s: cannot embed the media (%s); the page links it instead", path, exc.strerror)
        return None
    if size > options.embed_max_bytes:
        logger.warning("%s: %.1f MiB is over the html embed limit (%.1f MiB); the page links it instead",
                       path, size / 2**20, options.embed_max_bytes / 2**20)
        return None
    default = "video/mp4" if result.source.video is not None else "audio/wav"
    mime = _MIME.get(path.suffix.lower(), default)
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _media_element(result: Result, options: HtmlOptions, out_dir: Path | None) -> str:
    src = options.embed_media and result.source.path and _embedded(result, options)
    src = src or options.media_href or media_href(result.source.path, out_dir)
    if not src:
        return '<p class="no-media">No media file is linked to this transcript.</p>'
    tag = "video" if result.source.video is not None else "audio"
    return f'<{tag} id="player" controls preload="metadata" src="{html.escape(src, quote=True)}"></{tag}>'


def _turns_of_text(
    result: Result, index: dict[str | None, int]
) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    """Transcript turns ``[speaker, start, end, first_word, end_word]`` and the word columns."""
    words: dict[str, list[Any]] = {"s": [], "e": [], "t": [], "k": [], "ov": [], "low": []}
    turns: list[list[Any]] = []
    previous: str | None = None
    for segment in result.segments:
        items = segment.words or _whole(segment)
        if not items:
            continue
        first = len(words["t"])
        for w in items:
            if w.overlap:
                words["ov"].append(len(words["t"]))
            if w.probability < _LOW_PROBABILITY:
                words["low"].append(len(words["t"]))
            words["s"].append(_t(w.start))
            words["e"].append(_t(w.end))
            words["t"].append(w.text.strip())
            words["k"].append(index[w.speaker])
        if turns and segment.speaker == previous:  # a run of one speaker's segments is one turn
            turns[-1][2] = max(turns[-1][2], _t(segment.end))
            turns[-1][4] = len(words["t"])
        else:
            turns.append([index[segment.speaker], _t(segment.start), _t(segment.end), first, len(words["t"])])
        previous = segment.speaker
    return turns, words


def _whole(segment: Segment) -> tuple[Word, ...]:
    """A segment without word times shows as one word spanning it."""
    text = segment.text.strip()
    return (Word(segment.start, segment.end, text, 1.0, segment.speaker),) if text else ()


def viewer_data(result: Result, outputs: dict[str, str] | None = None) -> dict[str, Any]:
    """The page's JSON blob: speakers (label, colour, talk time), timeline turns and overlaps, transcript
    turns and words in columns (``s``/``e`` times, ``t`` text, ``k`` speaker index, ``ov``/``low`` indices of
    overlapped and low-probability words), the linked ``outputs`` (format → href) and provenance."""
    labels = speaker_labels(result)
    index: dict[str | None, int] = {label: i for i, label in enumerate(labels)}
    talk = talk_times(result)
    speakers = [
        {"label": label, "color": speaker_color(i), "talk": _t(talk.get(label, 0.0))}
        for i, label in enumerate(labels)
    ]
    if any(s.speaker is None or any(w.speaker is None for w in s.words) for s in result.segments):
        index[None] = len(speakers)
        speakers.append({"label": UNKNOWN_SPEAKER, "color": UNKNOWN_COLOR, "talk": 0.0, "unknown": True})
    text_turns, words = _turns_of_text(result, index)
    duration = max([result.duration, *(t.end for t in result.turns), *words["e"]])
    key = hashlib.sha256(f"{result.source.path}|{result.duration:.3f}".encode()).hexdigest()[:16]
    return {
        "schema": VIEWER_SCHEMA,
        "title": PurePath(result.source.path).name or "transcript",
        "duration": _t(duration),
        "language": result.language,
        "storage_key": f"diarize:names:{key}",
        "speakers": speakers,
        "timeline": [[_t(t.start), _t(t.end), index[t.speaker]] for t in result.turns],
        "overlaps": [[_t(a), _t(b)] for a, b in overlap_spans(result.turns)],
        "turns": text_turns,
        "words": words,
        "outputs": [{"format": fmt, "href": quote(name)} for fmt, name in (outputs or {}).items()],
        "provenance": {
            "diarize": result.provenance.versions.get("diarize", __version__),
            "models": dict(result.provenance.models),
            "timings": {k: round(v, 2) for k, v in result.provenance.timings.items()},
        },
    }


def _script_json(data: dict[str, Any]) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` and the JavaScript line separators escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                          ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)
    return text


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; "
            f"script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "media-src 'self' file: data: blob: http: https:; base-uri 'none'; form-action 'none'")


def render_html(
    result: Result, options: HtmlOptions | None = None, context: OutputContext | None = None
) -> str:
    """The viewer page for ``result``; ``context`` gives the output folder (for the relative media path) and
    the run's other files (linked from the page)."""
    options = options or HtmlOptions()
    context = context or OutputContext()
    outputs = {fmt: name for fmt, name in context.files.items() if fmt != HtmlWriter.format}
    data = viewer_data(result, outputs)
    script = _asset("viewer.js")
    slots = {
        "title": html.escape(data["title"]),
        "lang": html.escape(result.language or "und", quote=True),
        "csp": html.escape(_csp(script), quote=False),  # single quotes only: safe in a "..." attribute
        "css": _asset("viewer.css"),
        "media": _media_element(result, options, context.out_dir),
        "media_kind": "video" if result.source.video is not None else "audio",
        "data": _script_json(data),
        "script": script,
    }
    # one pass over the template: inserted text is never scanned for slots again
    return _SLOT.sub(lambda m: slots[m.group(1)], _asset("viewer.html"))


@register_writer
class HtmlWriter(TextWriter):
    """The self-contained transcript viewer page (``<stem>.html``)."""

    format = "html"
    order = 90
    suffix = ".html"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return render_html(result, options.html, self.context)
