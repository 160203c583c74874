"""Human-readable transcripts: plain text (``<stem>.txt``) and a Markdown meeting transcript (``<stem>.md``).

Both print paragraphs of consecutive segments of one speaker, split at long pauses and after about a minute,
headed by the speaker and the time the paragraph starts (or, with ``timestamps: sentence``, each sentence
opening with its own time), with the granularity of :class:`~diarize.writers.options.TextOptions` (times
rounded down). Talk times follow :func:`diarize.talk.talk_seconds`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import PurePath

from diarize.talk import talk_seconds
from diarize.talk import talk_times as speaker_talk_times
from diarize.text import join_words
from diarize.types import Result, Segment
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.labels import display_name
from diarize.writers.options import TextOptions, WriterOptions

__all__ = ["MarkdownWriter", "TxtWriter", "format_clock", "language_paragraphs", "paragraphs", "talk_times"]


def format_clock(seconds: float, step: float = 1.0, *, round_down: bool = True) -> str:
    """``HH:MM:SS`` plus the decimals ``step`` needs (``00:01:02.5`` at 0.5 s, ``00:01:02.35`` at 0.01 s).

    The time is rounded down to a multiple of ``step`` (a timestamp never lies after the speech it marks), or
    to the nearest multiple with ``round_down=False`` (durations).
    """
    unit = max(1, round(step * 100))  # hundredths of a second per step
    scaled = max(0.0, seconds) * 100 / unit
    units = math.floor(scaled + 1e-6) if round_down else math.floor(scaled + 0.5)
    hundredths = units * unit
    whole, frac = divmod(hundredths, 100)
    hours, rest = divmod(whole, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    if unit == 1:
        return f"{clock}.{frac:02d}"
    if unit < 100:
        return f"{clock}.{frac // 10}"
    return clock


def _text(segments: Sequence[Segment], stamp: float | None = None) -> str:
    """The segments' text; with ``stamp`` (a timestamp step) each sentence opens with its time."""
    texts = []
    for s in segments:
        text = join_words(s.words) if s.words else s.text
        text = " ".join(text.split())
        if text:
            texts.append(f"[{format_clock(s.start, stamp)}] {text}" if stamp is not None else text)
    return " ".join(texts)


def _split(segment: Segment, run: Sequence[Segment], options: TextOptions) -> bool:
    """Whether ``segment`` starts a new paragraph after ``run``: another speaker or language, a pause of
    ``options.paragraph_pause`` or more, or a paragraph already ``options.paragraph_seconds`` long."""
    last = run[-1]
    return (
        (last.speaker, last.language) != (segment.speaker, segment.language)
        or segment.start - last.end >= options.paragraph_pause
        or segment.end - run[0].start > options.paragraph_seconds
    )


def paragraphs(result: Result, options: TextOptions | None = None) -> list[tuple[str | None, float, str]]:
    """``(speaker, start, text)`` per paragraph (see :func:`language_paragraphs`)."""
    return [(speaker, start, text) for speaker, start, text, _ in language_paragraphs(result, options)]


def language_paragraphs(
    result: Result, options: TextOptions | None = None
) -> list[tuple[str | None, float, str, str | None]]:
    """``(speaker, start, text, language)`` per paragraph: consecutive segments of one speaker in one language
    (``Segment.language``), split at long pauses and after about a minute (:class:`TextOptions`); empty
    paragraphs are dropped. With ``options.timestamps == "sentence"`` each sentence opens with its time."""
    options = options or TextOptions()
    runs: list[list[Segment]] = []
    for segment in result.segments:
        if runs and not _split(segment, runs[-1], options):
            runs[-1].append(segment)
        else:
            runs.append([segment])
    stamp = options.timestamp_step if options.timestamps == "sentence" else None
    out = [(run[0].speaker, run[0].start, _text(run, stamp), run[0].language) for run in runs]
    return [p for p in out if p[2]]


def talk_times(result: Result) -> dict[str, float]:
    """Seconds each speaker talks (:func:`diarize.talk.talk_times`); every listed speaker appears."""
    return speaker_talk_times(result.turns, result.speakers)


def _stamp(start: float, options: TextOptions) -> str:
    """A paragraph's timestamp; none in sentence mode, where every sentence has its own."""
    return "" if options.timestamps == "sentence" else f" [{format_clock(start, options.timestamp_step)}]"


@register_writer
class TxtWriter(TextWriter):
    """Plain text: ``SPEAKER_00 [00:01:02]: text`` paragraphs separated by blank lines."""

    format = "txt"
    order = 50
    suffix = ".txt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        paras = [
            f"{display_name(speaker)}{_stamp(start, options.text)}: {text}"
            for speaker, start, text in paragraphs(result, options.text)
        ]
        return "\n\n".join(paras) + "\n" if paras else ""


# "_" stays: inside a word (SPEAKER_00) CommonMark never reads it as emphasis
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


@register_writer
class MarkdownWriter(TextWriter):
    """A meeting transcript: file, duration, speakers with talk time and share, then the timed paragraphs.

    A speaker's share is its talk time over the sum of all talk times, so shares add up to 100 % even when
    speakers overlap. Where the language changes (from the file's, at first) a paragraph names it after the
    speaker: ``**SPEAKER_01** [de] [00:01:02]: …``.
    """

    format = "md"
    order = 60
    suffix = ".md"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        step = options.text.timestamp_step
        name = PurePath(result.source.path).name or stem
        times = talk_times(result)
        total = sum(times.values())
        lines = [
            f"# {_md(name)}",
            "",
            f"- **File:** {_md(result.source.path)}",
            f"- **Duration:** {format_clock(result.duration, step, round_down=False)}",
            f"- **Language:** {_md(result.language) or 'unknown'}",
            f"- **Speakers:** {len(times)}",
            "",
            "## Speakers",
            "",
            "| Speaker | Talk time | Share |",
            "| --- | ---: | ---: |",
        ]
        for speaker, seconds in times.items():
            share = 100 * seconds / total if total > 0 else 0.0
            lines.append(f"| {_md(speaker)} | {format_clock(talk_seconds(seconds))} | {share:.1f} % |")
        lines += ["", "## Transcript", ""]
        shown = result.language or None  # a paragraph names its language where it changes
        for who, start, text, language in language_paragraphs(result, options.text):
            tag = f" [{_md(language)}]" if language is not None and language != shown else ""
            shown = language or shown
            lines += [f"**{_md(display_name(who))}**{tag}{_stamp(start, options.text)}: {_md(text)}", ""]
        return "\n".join(lines).rstrip("\n") + "\n"
