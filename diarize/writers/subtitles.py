"""SRT and WebVTT subtitles, rendered from the cues of :mod:`diarize.writers.cues`.

Each format lays out its own lines: SRT counts its ``[NAME] `` speaker prefix in the line width, WebVTT (which
marks the speaker with a ``<v NAME>`` voice span) does not. SRT names the speaker only where
:mod:`diarize.writers.cues` labels a cue (a change of speaker, and never in a one-speaker file unless
``speaker_labels: always``); WebVTT keeps a voice span on every cue of a named speaker (unless
``speaker_labels: never``) and, when speakers are named, a ``STYLE`` block giving each voice its colour.
A two-speaker cue has one dash line per speaker: ``- [A] ...`` in SRT, ``<v A>- ...</v>`` in WebVTT.
Text is escaped in WebVTT (``&``, ``<``, ``>``). Times keep milliseconds. Each writer logs the
:class:`~diarize.writers.cues.CueStats` of the cues it wrote (rules the speech made impossible).
"""

from __future__ import annotations

import logging
import math

from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.cues import Cue, build_cues, cue_gap, cue_stats, labels_active, speaker_prefix
from diarize.writers.options import SubtitleOptions, WriterOptions
from diarize.writers.timeline import speaker_color, speaker_labels

__all__ = ["SrtWriter", "VttWriter", "format_timestamp"]

logger = logging.getLogger(__name__)


def format_timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``separator="."``, ``HH:MM:SS.mmm`` (WebVTT); rounded to the ms."""
    ms = max(0, int(math.floor(seconds * 1000 + 0.5)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def log_stats(fmt: str, result: Result, cues: tuple[Cue, ...], options: SubtitleOptions) -> None:
    """Log how many cues break a timed-text rule (the speech left no way to keep it)."""
    stats = cue_stats(cues, options, cue_gap(result, options))
    logger.info("%s %s: %s", result.source.path, fmt, stats.summary())


def _srt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    def plain(line: str) -> str:
        return line.replace("-->", "->")

    def mark(speaker: str | None, label: bool) -> str:
        return speaker_prefix(speaker, options) if label else ""

    if len(cue.parts) == 1:
        part = cue.parts[0]
        lines = [plain(line) for line in part.lines]
        if not part.label and not lines[0]:
            lines = lines[1:]
        return [(mark(part.speaker, part.label) + lines[0]).rstrip(), *lines[1:]]
    return [f"- {mark(p.speaker, p.label)}{plain(p.lines[0])}" for p in cue.parts]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    def voiced(speaker: str | None, lines: list[str]) -> list[str]:
        if options.speaker_labels == "never" or speaker is None:
            return lines
        tagged = [f"<v {_escape(speaker)}>{lines[0]}", *lines[1:]]
        tagged[-1] += "</v>"
        return tagged

    if len(cue.parts) == 1:
        part = cue.parts[0]
        return voiced(part.speaker, [_escape(line) for line in part.lines if line])
    return [line for p in cue.parts for line in voiced(p.speaker, ["- " + _escape(p.lines[0])])]


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
        cues = build_cues(result, options.subtitle, label_width=True)
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
        cues = build_cues(result, options.subtitle)
        log_stats(self.format, result, cues, options.subtitle)
        blocks = [
            f"{format_timestamp(c.start, '.')} --> {format_timestamp(c.end, '.')}\n"
            + "\n".join(_vtt_text(c, options.subtitle))
            + "\n"
            for c in cues
        ]
        return "\n".join(["WEBVTT\n", *_vtt_style(result, cues, options.subtitle), *blocks])
