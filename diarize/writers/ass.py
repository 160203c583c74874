"""Advanced SubStation Alpha subtitles (``<stem>.ass``), from the cues of :mod:`diarize.writers.cues`.

One style per speaker, each in the speaker's colour (the palette of :mod:`diarize.writers.timeline`), plus a
``Default`` style for words of no known speaker (and for every cue with ``speaker_labels: never``); every
event names its speaker in the ``Name`` field. Lines are measured without a speaker prefix (the colour marks
the speaker) and joined with ``\\N``. A two-speaker cue is one event with a dash line per speaker, the second
line in its speaker's colour. Braces and backslashes in the text, which ASS reads as override codes, are
shown as look-alike characters. With ``highlight_words`` each word gets a ``{\\kNN}`` karaoke duration
(:mod:`diarize.writers.karaoke`) and the words not spoken yet are grey (the styles' secondary colour).
"""

from __future__ import annotations

import math
import re

from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.cues import Cue
from diarize.writers.karaoke import ass_karaoke, part_line_words
from diarize.writers.options import WriterOptions
from diarize.writers.subtitles import log_stats, subtitle_cues
from diarize.writers.timeline import UNKNOWN_COLOR, speaker_color, speaker_labels

__all__ = ["AssWriter", "ass_timestamp"]

_DEFAULT = "Default"
_SECONDARY = "&H000000FF"
_NOT_YET_SPOKEN = "&H00A0A0A0"
"""With ``highlight_words``: the colour (grey) of the words not spoken yet; a spoken word takes its speaker's."""
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


def _styles(result: Result, secondary: str) -> tuple[dict[str, str], list[str]]:
    """Style name per speaker, and the ``Style:`` lines (``Default`` first)."""
    names: dict[str, str] = {}
    lines = [_style_line(_DEFAULT, UNKNOWN_COLOR, secondary)]
    for i, speaker in enumerate(speaker_labels(result)):
        name = _field(speaker)
        while name in names.values() or name == _DEFAULT:
            name += "_"
        names[speaker] = name
        lines.append(_style_line(name, speaker_color(i), secondary))
    return names, lines


def _style_line(name: str, colour: str, secondary: str) -> str:
    return (
        f"Style: {name},Arial,20,{_colour(colour)},{secondary},&H00000000,&H80000000,"
        "0,0,0,0,100,100,0,0,1,2,1,2,10,10,12,1"
    )


def _part_texts(cue: Cue, karaoke: bool) -> list[list[str]]:
    """Each part's lines as ASS text; with ``karaoke``, a ``{\\kNN}`` before each word."""
    plain = [[_text(line) for line in p.lines if line] for p in cue.parts]
    if not karaoke:
        return plain
    runs = [[g for g, line in zip(part_line_words(p), p.lines, strict=True) if line] for p in cue.parts]
    if any(not run for rs in runs for run in rs):
        return plain
    timed = ass_karaoke(cue, [run for rs in runs for run in rs], _text)
    out, n = [], 0
    for rs in runs:
        out.append(timed[n : n + len(rs)])
        n += len(rs)
    return out


def _event(cue: Cue, styles: dict[str, str], colours: dict[str, str], karaoke: bool) -> str:
    first = cue.parts[0]
    style = styles.get(first.speaker, _DEFAULT) if first.speaker is not None else _DEFAULT
    name = _field(first.speaker) if first.speaker is not None else ""
    texts = _part_texts(cue, karaoke)
    if len(cue.parts) == 1:
        text = "\\N".join(texts[0])
    else:
        second = cue.parts[1]
        colour = colours.get(second.speaker or "", UNKNOWN_COLOR)
        override = "{\\c&H" + _colour(colour)[4:] + "&}"  # \c takes BBGGRR, without alpha
        text = f"- {texts[0][0]}\\N{override}- {texts[1][0]}"
    return f"Dialogue: 0,{ass_timestamp(cue.start)},{ass_timestamp(cue.end)},{style},{name},0,0,0,,{text}"


@register_writer
class AssWriter(TextWriter):
    """ASS subtitles, one coloured style per speaker (``<stem>.ass``)."""

    format = "ass"
    order = 45
    suffix = ".ass"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        cues = subtitle_cues(result, self.format, options.subtitle)
        log_stats(self.format, result, cues, options.subtitle)
        karaoke = options.subtitle.highlight_words
        styles, style_lines = _styles(result, _NOT_YET_SPOKEN if karaoke else _SECONDARY)
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
        return "\n".join([*header, *(_event(c, styles, colours, karaoke) for c in cues)]) + "\n"
