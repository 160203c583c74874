"""Human-readable transcripts: plain text (``<stem>.txt``) and a Markdown meeting transcript (``<stem>.md``).

Both print one paragraph per run of consecutive segments of one speaker, headed by the speaker and the time
the run starts, with the granularity of :class:`~diarize.writers.options.TextOptions` (times rounded down).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import PurePath

from diarize.assign import join_words
from diarize.types import Result, Segment
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.labels import display_name
from diarize.writers.options import WriterOptions

__all__ = ["MarkdownWriter", "TxtWriter", "format_clock", "paragraphs", "talk_times"]


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


def _text(segments: Sequence[Segment]) -> str:
    if all(s.words for s in segments):
        return join_words(w for s in segments for w in s.words)
    return " ".join(s.text.strip() for s in segments if s.text.strip())


def paragraphs(result: Result) -> list[tuple[str | None, float, str]]:
    """``(speaker, start, text)`` per run of consecutive segments of one speaker; empty runs are dropped."""
    runs: list[list[Segment]] = []
    for segment in result.segments:
        if runs and runs[-1][0].speaker == segment.speaker:
            runs[-1].append(segment)
        else:
            runs.append([segment])
    out = [(run[0].speaker, run[0].start, " ".join(_text(run).split())) for run in runs]
    return [p for p in out if p[2]]


def talk_times(result: Result) -> dict[str, float]:
    """Seconds each speaker talks: the union of its (overlap-aware) turns; every listed speaker appears."""
    spans: dict[str, list[tuple[float, float]]] = {s: [] for s in result.speakers}
    for turn in result.turns:
        spans.setdefault(turn.speaker, []).append((turn.start, turn.end))
    totals: dict[str, float] = {}
    for speaker, items in spans.items():
        total, reach = 0.0, -math.inf
        for start, end in sorted(items):
            start = max(start, reach)
            if end > start:
                total += end - start
                reach = end
        totals[speaker] = total
    return totals


@register_writer
class TxtWriter(TextWriter):
    """Plain text: ``SPEAKER_00 [00:01:02]: text`` paragraphs separated by blank lines."""

    format = "txt"
    order = 50
    suffix = ".txt"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        step = options.text.timestamp_step
        paras = [
            f"{display_name(speaker)} [{format_clock(start, step)}]: {text}"
            for speaker, start, text in paragraphs(result)
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
    speakers overlap.
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
            lines.append(
                f"| {_md(speaker)} | {format_clock(seconds, step, round_down=False)} | {share:.1f} % |"
            )
        lines += ["", "## Transcript", ""]
        for who, start, text in paragraphs(result):
            lines += [f"**{_md(display_name(who))}** [{format_clock(start, step)}]: {_md(text)}", ""]
        return "\n".join(lines).rstrip("\n") + "\n"
