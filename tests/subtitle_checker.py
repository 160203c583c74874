"""A subtitle checker independent of the writers: parses SRT with ``srt``, WebVTT with ``webvtt-py`` and ASS
with ``pysubs2``, and measures each timed-text rule.

Characters per second count the cue's shown text without speaker marks (``[NAME] ``, ``- ``), blanks
included; a one-word line is a line of one word in a cue of two or more lines that is not a ``- `` dialogue
line.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import pysubs2
import srt
import webvtt

from diarize.types import Result
from diarize.writers import SubtitleOptions

_MARK = re.compile(r"^(- )?\[[^\]]+\] ?")
_PUNCT = ".,;:!?…\"'”’«»()[]"


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    lines: tuple[str, ...]  # as displayed (SRT marks kept)

    @property
    def text(self) -> str:
        return " ".join(_MARK.sub(r"\1", line).removeprefix("- ") for line in self.lines).strip()


@dataclass(frozen=True)
class Report:
    """Counts of cues (or lines, or words) that break each rule."""

    cues: int
    lines: int
    long_lines: int
    extra_lines: int
    over_max_cps: int
    over_target_cps: int
    too_short: int
    too_long: int
    short_gaps: int
    overlaps: int
    one_word_lines: int
    words_missing: int
    words_extra: int
    order_ratio: float

    def share(self, count: int) -> float:
        return count / self.cues if self.cues else 0.0


def parse(path: Path) -> list[ParsedCue]:
    """The cues of an SRT, WebVTT or ASS file, by its suffix."""
    if path.suffix == ".srt":
        return [
            ParsedCue(s.start.total_seconds(), s.end.total_seconds(), tuple(s.content.split("\n")))
            for s in srt.parse(path.read_text(encoding="utf-8"))
        ]
    if path.suffix == ".vtt":
        return [
            ParsedCue(
                c.start_in_seconds + _ms(c.start),
                c.end_in_seconds + _ms(c.end),
                tuple(html.unescape(c.text).split("\n")),
            )
            for c in webvtt.read(str(path)).captions
        ]
    subs = pysubs2.load(str(path))
    return [ParsedCue(e.start / 1000, e.end / 1000, tuple(e.plaintext.split("\n"))) for e in subs.events]


def _ms(stamp: str) -> float:
    return int(stamp.rsplit(".", 1)[1]) / 1000


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT).lower() for w in text.split() if w.strip(_PUNCT)]


def check(cues: list[ParsedCue], result: Result, options: SubtitleOptions, gap: float = 0.08) -> Report:
    """Measure every rule of ``options`` on ``cues`` rendered from ``result``."""
    tol = 0.011  # ASS keeps centiseconds
    media_end = result.duration
    lines = [line for c in cues for line in c.lines]
    durations = [c.end - c.start for c in cues]
    pairs = list(zip(cues, cues[1:], strict=False))
    pinned = {i for i, (a, b) in enumerate(pairs) if b.start - a.end <= gap + tol}
    shown = [w for c in cues for w in _words(c.text)]
    said = [w for s in result.segments for w in _words(s.text)]
    missing, extra = Counter(said) - Counter(shown), Counter(shown) - Counter(said)
    return Report(
        cues=len(cues),
        lines=len(lines),
        long_lines=sum(len(line) > options.max_line_chars for line in lines),
        extra_lines=sum(len(c.lines) > options.max_lines for c in cues),
        over_max_cps=sum(len(c.text) > options.max_cps * (d + tol) for c, d in zip(cues, durations, strict=True)),
        over_target_cps=sum(len(c.text) > options.target_cps * (d + tol) for c, d in zip(cues, durations, strict=True)),
        too_short=sum(
            d < options.min_duration - tol and i not in pinned and c.end < media_end - tol
            for i, (c, d) in enumerate(zip(cues, durations, strict=True))
        ),
        too_long=sum(d > options.max_duration + tol for d in durations),
        short_gaps=sum(0 <= b.start - a.end < gap - tol for a, b in pairs),
        overlaps=sum(b.start < a.end - 1e-6 for a, b in pairs),
        one_word_lines=sum(
            len(c.lines) > 1 and len(line.split()) == 1 and not line.startswith("- ") for c in cues for line in c.lines
        ),
        words_missing=sum(missing.values()),
        words_extra=sum(extra.values()),
        order_ratio=SequenceMatcher(None, said, shown, autojunk=False).ratio() if said else 1.0,
    )


def assert_compliant(report: Report) -> None:
    """The rules a shipped subtitle file keeps: line shape, timing, reading speed on 95 % of cues, words."""
    assert report.cues > 0
    assert report.long_lines == 0 and report.extra_lines == 0, report
    assert report.share(report.over_max_cps) <= 0.05, report
    assert report.share(report.too_short) <= 0.05 and report.too_long == 0, report
    assert report.short_gaps == 0 and report.overlaps == 0, report
    assert report.one_word_lines == 0, report
    assert report.words_missing == 0 and report.words_extra == 0, report
    assert report.order_ratio >= 0.95, report
