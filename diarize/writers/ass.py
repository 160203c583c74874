"""Advanced SubStation Alpha subtitles (``<stem>.ass``), from the cues of :mod:`diarize.writers.cues`.

One style per speaker, each in the speaker's colour (the palette of :mod:`diarize.writers.timeline`), plus a
``Default`` style for words of no known speaker (and for every cue with ``speaker_labels: never``); every
event names its speaker in the ``Name`` field. Lines are measured without a speaker prefix (the colour marks
the speaker) and joined with ``\\N``. A two-speaker cue is one event with a dash line per speaker, the second
line in its speaker's colour. Braces and backslashes in the text, which ASS reads as override codes, are
shown as look-alike characters.
"""

from __future__ import annotations

import math
import re

from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.cues import Cue, build_cues
from diarize.writers.options import WriterOptions
from diarize.writers.subtitles import log_stats
from diarize.writers.timeline import UNKNOWN_COLOR, speaker_color, speaker_labels

__all__ = ["AssWriter", "ass_timestamp"]

_DEFAULT = "Default"
_STYLE_FORMAT = (
    "Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    "MarginL, MarginR, MarginV, Encoding"
)
_EVENT_FORMAT = "Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text"


def ass_timestamp(seconds: float) -> str:
    """``H:MM:SS.cc``, rounded to the centisecond."""
    cs = max(0, int(math.floor(seconds * 100 + 0.5)))
    hours, cs = divmod(cs, 360_000)
    minutes, cs = divmod(cs, 6000)
    secs, cs = divmod(cs, 100)
    return f"{hours}:{minutes:02d}:{secs:02d}.{cs:02d}"


def _colour(hex_rgb: str) -> str:
    """``#RRGGBB`` as ASS ``&H00BBGGRR`` (opaque)."""
    r, g, b = hex_rgb[1:3], hex_rgb[3:5], hex_rgb[5:7]
    return f"&H00{b}{g}{r}".upper()


def _field(name: str) -> str:
    """A name usable as a style name or ``Name`` field (no commas, no line breaks)."""
    return re.sub(r"[,\r\n]", " ", name).strip() or "speaker"


def _text(line: str) -> str:
    return line.replace("\\", "＼").replace("{", "｛").replace("}", "｝")


def _styles(result: Result) -> tuple[dict[str, str], list[str]]:
    """Style name per speaker, and the ``Style:`` lines (``Default`` first)."""
    names: dict[str, str] = {}
    lines = [_style_line(_DEFAULT, UNKNOWN_COLOR)]
    for i, speaker in enumerate(speaker_labels(result)):
        name = _field(speaker)
        while name in names.values() or name == _DEFAULT:
            name += "_"
        names[speaker] = name
        lines.append(_style_line(name, speaker_color(i)))
    return names, lines


def _style_line(name: str, colour: str) -> str:
    return (
        f"Style: {name},Arial,20,{_colour(colour)},&H000000FF,&H00000000,&H80000000,"
        "0,0,0,0,100,100,0,0,1,2,1,2,10,10,12,1"
    )


def _event(cue: Cue, styles: dict[str, str], colours: dict[str, str]) -> str:
    first = cue.parts[0]
    style = styles.get(first.speaker, _DEFAULT) if first.speaker is not None else _DEFAULT
    name = _field(first.speaker) if first.speaker is not None else ""
    if len(cue.parts) == 1:
        text = "\\N".join(_text(line) for line in first.lines if line)
    else:
        second = cue.parts[1]
        colour = colours.get(second.speaker or "", UNKNOWN_COLOR)
        override = "{\\c&H" + _colour(colour)[4:] + "&}"  # \c takes BBGGRR, without alpha
        text = f"- {_text(first.lines[0])}\\N{override}- {_text(second.lines[0])}"
    return f"Dialogue: 0,{ass_timestamp(cue.start)},{ass_timestamp(cue.end)},{style},{name},0,0,0,,{text}"


@register_writer
class AssWriter(TextWriter):
    """ASS subtitles, one coloured style per speaker (``<stem>.ass``)."""

    format = "ass"
    order = 45
    suffix = ".ass"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        cues = build_cues(result, options.subtitle)
        log_stats(self.format, result, cues, options.subtitle)
        styles, style_lines = _styles(result)
        if options.subtitle.speaker_labels == "never":
            styles = {}
        colours = {s: speaker_color(i) for i, s in enumerate(speaker_labels(result))}
        header = [
            "[Script Info]",
            f"Title: {_field(stem)}",
            "ScriptType: v4.00+",
            "WrapStyle: 2",
            "ScaledBorderAndShadow: yes",
            "PlayResX: 384",
            "PlayResY: 288",
            "",
            "[V4+ Styles]",
            f"Format: {_STYLE_FORMAT}",
            *style_lines,
            "",
            "[Events]",
            f"Format: {_EVENT_FORMAT}",
        ]
        return "\n".join([*header, *(_event(c, styles, colours) for c in cues)]) + "\n"
