"""SRT and WebVTT subtitles, rendered from the cues of :mod:`diarize.writers.cues`.

Each format lays out its own lines: SRT counts its ``[NAME] `` speaker prefix in the line width, WebVTT (which
marks the speaker with a ``<v NAME>`` voice span) does not. SRT names the speaker only where
:mod:`diarize.writers.cues` labels a cue (a change of speaker, and never in a one-speaker file unless
``speaker_labels: always``); WebVTT keeps a voice span on every cue of a named speaker (unless
``speaker_labels: never``) and, when speakers are named, a ``STYLE`` block giving each voice its colour.
A two-speaker cue has one dash line per speaker: ``- [A] ...`` in SRT, ``<v A>- ...</v>`` in WebVTT.
Text is escaped in WebVTT (``&``, ``<``, ``>``). Times keep milliseconds. With ``highlight_words`` WebVTT
cues carry an inline timestamp tag before each word (:mod:`diarize.writers.karaoke`); SRT has no standard for
word timing and is left as it is. Each writer logs the :class:`~diarize.writers.cues.CueStats` of the cues it
wrote (rules the speech made impossible), and :func:`with_subtitle_stats` records them in the JSON result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable
from typing import Any

from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.compliance import CueStats, cue_stats, shown_lines
from diarize.writers.cues import Cue, build_cues, cue_gap, labels_active
from diarize.writers.karaoke import part_line_words, vtt_timed_lines
from diarize.writers.options import SubtitleOptions, WriterOptions
from diarize.writers.timeline import speaker_color, speaker_labels

__all__ = [
    "SUBTITLE_FORMATS",
    "SrtWriter",
    "VttWriter",
    "format_stats",
    "format_timestamp",
    "subtitle_cues",
    "with_subtitle_stats",
]

logger = logging.getLogger(__name__)


def format_timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``separator="."``, ``HH:MM:SS.mmm`` (WebVTT); rounded to the ms."""
    ms = max(0, int(math.floor(seconds * 1000 + 0.5)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


SUBTITLE_FORMATS = ("srt", "vtt", "ass")
"""The formats whose writers render :func:`subtitle_cues`."""


def subtitle_cues(result: Result, fmt: str, options: SubtitleOptions) -> tuple[Cue, ...]:
    """The cues the ``fmt`` writer shows: SRT lays its lines out with the ``[NAME] `` mark, WebVTT and ASS
    without. The one build behind each writer, its log line and the JSON provenance."""
    return build_cues(result, options, label_width=fmt == "srt")


def format_stats(result: Result, fmt: str, cues: tuple[Cue, ...], options: SubtitleOptions) -> CueStats:
    """The rule counts of ``cues``, the ``fmt`` writer's cues, with its lines as shown."""
    media_end = result.duration if result.duration > 0 else math.inf
    return cue_stats(cues, options, cue_gap(result, options), media_end=media_end, marks=fmt == "srt")


def log_stats(fmt: str, result: Result, cues: tuple[Cue, ...], options: SubtitleOptions) -> None:
    """Log how many cues break a timed-text rule (the speech left no way to keep it)."""
    logger.info("%s %s: %s", result.source.path, fmt, format_stats(result, fmt, cues, options).summary())


def with_subtitle_stats(result: Result, formats: Iterable[str], options: SubtitleOptions) -> Result:
    """``result`` with ``provenance["subtitles"]``: ``rules``, the options the cues were built to, and
    ``formats``, for each subtitle format of ``formats``, the counts of :class:`~diarize.writers.cues.CueStats`
    (cues, cues over ``max_cps``, too short, too long, short gaps, long lines, ...). ``result`` itself when
    ``formats`` has none.

    The JSON writer records them for the subtitle files written beside it, from the same cue build
    (:func:`subtitle_cues`) those writers render, with the result and options they are given. They are not
    computed in the pipeline: naming speakers after the run changes the SRT line layout, and only the writers
    know which formats and rules a file is written with."""
    chosen = [f for f in SUBTITLE_FORMATS if f in formats]
    if not chosen:
        return result
    stats: dict[str, Any] = {
        "rules": dataclasses.asdict(options),
        "formats": {
            fmt: format_stats(result, fmt, subtitle_cues(result, fmt, options), options).to_dict() for fmt in chosen
        },
    }
    extra = {**result.provenance.extra, "subtitles": stats}
    return dataclasses.replace(result, provenance=dataclasses.replace(result.provenance, extra=extra))


def _srt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    return [line.replace("-->", "->") for line in shown_lines(cue, options, marks=True)]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _part_texts(cue: Cue, options: SubtitleOptions) -> list[list[str]]:
    """Each part's lines as WebVTT text: escaped, with word timestamp tags under ``highlight_words``."""
    plain = [[_escape(line) for line in p.lines if line] for p in cue.parts]
    if not options.highlight_words:
        return plain
    groups = [part_line_words(p) for p in cue.parts]
    runs = [[g for g, line in zip(gs, p.lines, strict=True) if line] for gs, p in zip(groups, cue.parts, strict=True)]
    if any(not run for rs in runs for run in rs):
        return plain
    timed = vtt_timed_lines(cue, [run for rs in runs for run in rs], lambda t: format_timestamp(t, "."), _escape)
    out, n = [], 0
    for rs in runs:
        out.append(timed[n : n + len(rs)])
        n += len(rs)
    return out


def _vtt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    def voiced(speaker: str | None, lines: list[str]) -> list[str]:
        if options.speaker_labels == "never" or speaker is None:
            return lines
        tagged = [f"<v {_escape(speaker)}>{lines[0]}", *lines[1:]]
        tagged[-1] += "</v>"
        return tagged

    texts = _part_texts(cue, options)
    if len(cue.parts) == 1:
        return voiced(cue.parts[0].speaker, texts[0])
    return [line for p, t in zip(cue.parts, texts, strict=True) for line in voiced(p.speaker, ["- " + t[0]])]


def _vtt_style(result: Result, cues: tuple[Cue, ...], options: SubtitleOptions) -> list[str]:
    """The ``STYLE`` block colouring each named voice, or nothing when speakers are not named."""
    if not labels_active(result, options) or options.speaker_labels == "never":
        return []
    used = {p.speaker for c in cues for p in c.parts}
    rules = [
        f'::cue(v[voice="{name}"]) {{ color: {speaker_color(i)}; }}'
        for i, name in enumerate(speaker_labels(result))
        if name in used and '"' not in name and "\\" not in name
    ]
    return ["STYLE\n" + "\n".join(rules) + "\n"] if rules else []


@register_writer
class SrtWriter(TextWriter):
    """SubRip subtitles (``<stem>.srt``)."""

    format = "srt"
    order = 30
    suffix = ".srt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        cues = subtitle_cues(result, self.format, options.subtitle)
        log_stats(self.format, result, cues, options.subtitle)
        blocks = [
            f"{i}\n{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n"
            + "\n".join(_srt_text(c, options.subtitle))
            + "\n"
            for i, c in enumerate(cues, start=1)
        ]
        return "\n".join(blocks)


@register_writer
class VttWriter(TextWriter):
    """WebVTT subtitles with voice spans and voice colours (``<stem>.vtt``)."""

    format = "vtt"
    order = 40
    suffix = ".vtt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        cues = subtitle_cues(result, self.format, options.subtitle)
        log_stats(self.format, result, cues, options.subtitle)
        blocks = [
            f"{format_timestamp(c.start, '.')} --> {format_timestamp(c.end, '.')}\n"
            + "\n".join(_vtt_text(c, options.subtitle))
            + "\n"
            for c in cues
        ]
        return "\n".join(["WEBVTT\n", *_vtt_style(result, cues, options.subtitle), *blocks])
