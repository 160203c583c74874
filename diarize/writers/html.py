"""The transcript viewer (``-f html`` → ``<stem>.html``): one self-contained page, no network access.

The page holds a media player (video at its own aspect ratio, with the transcript as a switchable captions
track), a speaker timeline (one lane per speaker, overlaps marked), the talk-time summary, and the transcript
as speaker-coloured turns (runs of consecutive segments of one speaker, a language tag where the language
changes). Clicking a word, a turn or the timeline seeks the player; the word being spoken is highlighted; a
search box filters the turns and highlights matches; speakers can be renamed in the page (kept in the
browser's localStorage, per media file) and the transcript downloaded with those names (JSON, SRT, WebVTT,
Markdown) or the names alone as a CSV that ``diarize run --speaker-names @FILE`` reads; the other outputs of
the same run are linked.

The page's CSS, scripts and template are package data of :mod:`diarize.writers.viewer`; they are inlined,
and the transcript travels as one JSON blob (:func:`viewer_data`) in a ``<script type="application/json">``
with ``<``, ``>`` and ``&`` escaped, the downloadable texts as a base64 block
(:mod:`diarize.writers.viewer.exports`). The page builds its DOM with ``textContent`` only, and a
Content-Security-Policy allows no connections and no script but the viewer's own (by hash), so transcript
text never runs.

Where the player looks for the media, and how the page tells that the browser cannot decode it, is
:mod:`diarize.writers.viewer.media`.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from diarize import __version__
from diarize.talk import talk_clock
from diarize.types import Result, Segment, Word
from diarize.writers.base import OutputContext, TextWriter, register_writer
from diarize.writers.labels import UNKNOWN_SPEAKER
from diarize.writers.options import HtmlOptions, WriterOptions
from diarize.writers.text import talk_times
from diarize.writers.timeline import UNKNOWN_COLOR, overlap_spans, speaker_color, speaker_labels
from diarize.writers.viewer import asset, script
from diarize.writers.viewer.exports import MARKER_BASE, export_payload
from diarize.writers.viewer.media import media_href, player

__all__ = ["VIEWER_SCHEMA", "HtmlWriter", "media_href", "render_html", "viewer_data"]

logger = logging.getLogger(__name__)

VIEWER_SCHEMA = 2
"""Version of the JSON blob the page's script reads."""

_LOW_PROBABILITY = 0.5
_SLOT = re.compile(r"\{\{(\w+)\}\}")


def _t(seconds: float) -> float:
    return round(float(seconds), 3)


def _turns_of_text(
    result: Result, index: dict[str | None, int]
) -> tuple[list[list[Any]], dict[str, list[Any]]]:
    """Transcript turns ``[speaker, start, end, first_word, end_word]`` and the word columns, with ``lang``:
    ``[word, language]`` where a segment's language differs from the one before (the file's, at first)."""
    words: dict[str, list[Any]] = {"s": [], "e": [], "t": [], "k": [], "ov": [], "low": [], "lang": []}
    turns: list[list[Any]] = []
    previous: str | None = None
    language = result.language
    for segment in result.segments:
        items = segment.words or _whole(segment)
        if not items:
            continue
        first = len(words["t"])
        spoken = getattr(segment, "language", None)
        if isinstance(spoken, str) and spoken and spoken != language:
            words["lang"].append([first, spoken])
            language = spoken
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


def viewer_data(
    result: Result, outputs: dict[str, str] | None = None, media: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The page's JSON blob: speakers (label, colour, talk time), timeline turns and overlaps, transcript
    turns and words in columns (``s``/``e`` times, ``t`` text, ``k`` speaker index, ``ov``/``low`` indices of
    overlapped and low-probability words, ``lang`` language changes), the linked ``outputs`` (format → href),
    the ``media`` entry (:func:`diarize.writers.viewer.media.player`) and provenance."""
    labels = speaker_labels(result)
    index: dict[str | None, int] = {label: i for i, label in enumerate(labels)}
    talk = talk_times(result)
    speakers = [
        {"label": label, "color": speaker_color(i), "talk": _t(talk.get(label, 0.0)),
         "talk_clock": talk_clock(talk.get(label, 0.0), result.duration >= 3600)}
        for i, label in enumerate(labels)
    ]
    if any(s.speaker is None or any(w.speaker is None for w in s.words) for s in result.segments):
        index[None] = len(speakers)
        speakers.append({"label": UNKNOWN_SPEAKER, "color": UNKNOWN_COLOR, "talk": 0.0, "unknown": True})
    text_turns, words = _turns_of_text(result, index)
    duration = max([result.duration, *(t.end for t in result.turns), *words["e"]])
    key = hashlib.sha256(f"{result.source.path}|{result.duration:.3f}".encode()).hexdigest()[:16]
    title = PurePath(result.source.path).name or "transcript"
    return {
        "schema": VIEWER_SCHEMA,
        "title": title,
        "stem": PurePath(result.source.path).stem or "transcript",
        "duration": _t(duration),
        "language": result.language,
        "storage_key": f"diarize:names:{key}",
        "marker_base": MARKER_BASE,
        "speakers": speakers,
        "timeline": [[_t(t.start), _t(t.end), index[t.speaker]] for t in result.turns],
        "overlaps": [[_t(a), _t(b)] for a, b in overlap_spans(result.turns)],
        "turns": text_turns,
        "words": words,
        "outputs": [{"format": fmt, "href": quote(name)} for fmt, name in (outputs or {}).items()],
        "media": media or {},
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


def _csp(code: str) -> str:
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    return ("default-src 'none'; "
            f"script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src data:; "
            "media-src 'self' file: data: blob: http: https:; base-uri 'none'; form-action 'none'")


def render_html(
    result: Result,
    options: HtmlOptions | None = None,
    context: OutputContext | None = None,
    *,
    writers: WriterOptions | None = None,
    stem: str | None = None,
) -> str:
    """The viewer page for ``result``; ``context`` gives the output folder (for the media's relative path)
    and the run's other files (linked from the page); ``writers`` the options of the formats the page
    downloads (SRT, WebVTT, Markdown) and ``stem`` their file names."""
    options = options or HtmlOptions()
    context = context or OutputContext()
    writers = writers or WriterOptions()
    outputs = {fmt: name for fmt, name in context.files.items() if fmt != HtmlWriter.format}
    element, media = player(result, options, context.out_dir)
    data = viewer_data(result, outputs, media)
    stem = stem or data["stem"]
    data["stem"] = stem
    code = script()
    slots = {
        "title": html.escape(data["title"]),
        "lang": html.escape(result.language or "und", quote=True),
        "csp": html.escape(_csp(code), quote=False),  # single quotes only: safe in a "..." attribute
        "css": asset("viewer.css"),
        "media": element,
        "media_kind": media["kind"],
        "data": _script_json(data),
        "exports": export_payload(result, speaker_labels(result), writers, stem, context),
        "script": code,
    }
    # one pass over the template: inserted text is never scanned for slots again
    return _SLOT.sub(lambda m: slots[m.group(1)], asset("page.html"))


@register_writer
class HtmlWriter(TextWriter):
    """The self-contained transcript viewer page (``<stem>.html``)."""

    format = "html"
    order = 90
    suffix = ".html"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return render_html(result, options.html, self.context, writers=options, stem=stem)
