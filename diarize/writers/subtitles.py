"""SRT and WebVTT subtitles, rendered from the cues of :mod:`diarize.writers.cues` (same cues in both).

SRT marks the speaker with an ``[NAME] `` prefix on the first line; WebVTT with a ``<v NAME>`` voice span
(text escaped: ``&``, ``<``, ``>``). A two-speaker cue has one dash line per speaker: ``- [A] ...`` in SRT,
``<v A>- ...</v>`` in WebVTT. Times keep milliseconds.
"""

from __future__ import annotations

import math

from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.cues import Cue, build_cues, speaker_prefix
from diarize.writers.options import SubtitleOptions, WriterOptions

__all__ = ["SrtWriter", "VttWriter", "format_timestamp"]


def format_timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or, with ``separator="."``, ``HH:MM:SS.mmm`` (WebVTT); rounded to the ms."""
    ms = max(0, int(math.floor(seconds * 1000 + 0.5)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def _srt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    def plain(line: str) -> str:
        return line.replace("-->", "->")

    if len(cue.parts) == 1:
        part = cue.parts[0]
        lines = [plain(line) for line in part.lines]
        return [(speaker_prefix(part.speaker, options) + lines[0]).rstrip(), *lines[1:]]
    return [f"- {speaker_prefix(p.speaker, options)}{plain(p.lines[0])}" for p in cue.parts]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _vtt_text(cue: Cue, options: SubtitleOptions) -> list[str]:
    def voiced(speaker: str | None, lines: list[str]) -> list[str]:
        if not options.speaker_labels or speaker is None:
            return lines
        tagged = [f"<v {_escape(speaker)}>{lines[0]}", *lines[1:]]
        tagged[-1] += "</v>"
        return tagged

    if len(cue.parts) == 1:
        part = cue.parts[0]
        return voiced(part.speaker, [_escape(line) for line in part.lines if line])
    return [line for p in cue.parts for line in voiced(p.speaker, ["- " + _escape(p.lines[0])])]


@register_writer
class SrtWriter(TextWriter):
    """SubRip subtitles (``<stem>.srt``)."""

    format = "srt"
    order = 30
    suffix = ".srt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        blocks = [
            f"{i}\n{format_timestamp(c.start)} --> {format_timestamp(c.end)}\n"
            + "\n".join(_srt_text(c, options.subtitle))
            + "\n"
            for i, c in enumerate(build_cues(result, options.subtitle), start=1)
        ]
        return "\n".join(blocks)


@register_writer
class VttWriter(TextWriter):
    """WebVTT subtitles with voice spans (``<stem>.vtt``)."""

    format = "vtt"
    order = 40
    suffix = ".vtt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        blocks = [
            f"{format_timestamp(c.start, '.')} --> {format_timestamp(c.end, '.')}\n"
            + "\n".join(_vtt_text(c, options.subtitle))
            + "\n"
            for c in build_cues(result, options.subtitle)
        ]
        return "\n".join(["WEBVTT\n", *blocks])
