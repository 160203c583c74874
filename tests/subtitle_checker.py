"""A subtitle checker independent of the writers: parses SRT with ``srt``, WebVTT with ``webvtt-py`` and ASS
with ``pysubs2``, and measures each timed-text rule.

Characters per second count the cue's shown text without speaker marks (``[NAME] ``, ``- ``), blanks
included; a one-word line is a line of one word in a cue of two or more lines that is not a ``- `` dialogue
line.

Word timing (``highlight_words``) is checked too: every WebVTT inline timestamp tag must lie strictly inside its
cue and after the tag before it, and the ``{\\kNN}`` durations of an ASS event must add up to its length.
:func:`unavoidable_over_cps` proves, from the words alone, when no timing at all could keep every cue at
``max_cps``.
"""

from __future__ import annotations

import html
import math
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
_STAMP = re.compile(r"<(\d{2}):(\d{2}):(\d{2})\.(\d{3})>")
_KARAOKE = re.compile(r"\\k[fo]?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    lines: tuple[str, ...]  # as displayed (SRT marks kept)
    raw: str = ""  # the cue text as written (WebVTT tags, ASS override codes)

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
    word_stamps: int = 0
    bad_word_stamps: int = 0
    karaoke_events: int = 0
    bad_karaoke: int = 0

    def share(self, count: int) -> float:
        return count / self.cues if self.cues else 0.0


def parse(path: Path) -> list[ParsedCue]:
    """The cues of an SRT, WebVTT or ASS file, by its suffix."""
    if path.suffix == ".srt":
        return [
            ParsedCue(s.start.total_seconds(), s.end.total_seconds(), tuple(s.content.split("\n")), s.content)
            for s in srt.parse(path.read_text(encoding="utf-8"))
        ]
    if path.suffix == ".vtt":
        return [
            ParsedCue(
                c.start_in_seconds + _ms(c.start),
                c.end_in_seconds + _ms(c.end),
                tuple(html.unescape(c.text).split("\n")),
                c.raw_text,
            )
            for c in webvtt.read(str(path)).captions
        ]
    subs = pysubs2.load(str(path))
    return [ParsedCue(e.start / 1000, e.end / 1000, tuple(e.plaintext.split("\n")), e.text) for e in subs.events]


def _ms(stamp: str) -> float:
    return int(stamp.rsplit(".", 1)[1]) / 1000


def _words(text: str) -> list[str]:
    return [w.strip(_PUNCT).lower() for w in text.split() if w.strip(_PUNCT)]


def _bad_stamps(cue: ParsedCue) -> tuple[int, bool]:
    """(number of WebVTT timestamp tags, whether one lies outside the cue or not after the one before)."""
    stamps = [int(h) * 3600 + int(m) * 60 + int(sec) + int(ms) / 1000 for h, m, sec, ms in _STAMP.findall(cue.raw)]
    bounds = [cue.start, *stamps, cue.end]
    return len(stamps), any(b <= a + 1e-9 for a, b in zip(bounds, bounds[1:], strict=False))


def _bad_karaoke(cue: ParsedCue) -> tuple[bool, bool]:
    """(whether the ASS event has ``{\\k}`` durations, whether they miss its length in centiseconds)."""
    parts = [int(k) for k in _KARAOKE.findall(cue.raw)]
    return bool(parts), bool(parts) and sum(parts) != round(cue.end * 100) - round(cue.start * 100)


def unavoidable_over_cps(result: Result, options: SubtitleOptions, gap: float = 0.08) -> int:
    """1 when no subtitles of the result's words, in cues of at most ``max_lines`` lines of ``max_line_chars``,
    ``gap`` apart inside the media, could all keep ``max_cps``, else 0 (speaker changes, which only make it
    harder, are left out, so the bound is never too high). ``n`` cues show all characters but the ``n - 1``
    blanks between cues, in at most the media's length less ``n - 1`` gaps."""
    said = " ".join(w.text.strip() for w in result.words if w.text.strip())
    per_cue = options.max_lines * (options.max_line_chars + 1)  # a cue's text and the blank after it
    least = max(1, math.ceil((len(said) + 1) / per_cue))
    for n in range(least, least + 1000):
        if len(said) - (n - 1) <= options.max_cps * (result.duration - (n - 1) * gap):
            return 0
    return 1


def check(cues: list[ParsedCue], result: Result, options: SubtitleOptions, gap: float = 0.08) -> Report:
    """Measure every rule of ``options`` on ``cues`` rendered from ``result``."""
    tol = 0.011  # ASS keeps centiseconds
    media_end = result.duration
    lines = [line for c in cues for line in c.lines]
    durations = [c.end - c.start for c in cues]
    pairs = list(zip(cues, cues[1:], strict=False))
    pinned = {i for i, (a, b) in enumerate(pairs) if b.start - a.end <= gap + tol}
    shown = [w for c in cues for w in _words(c.text)]
    said = [w for s in result.segments for t in ([x.text for x in s.words] or [s.text]) for w in _words(t)]
    missing, extra = Counter(said) - Counter(shown), Counter(shown) - Counter(said)
    stamps = [_bad_stamps(c) for c in cues]
    karaoke = [_bad_karaoke(c) for c in cues]
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
        word_stamps=sum(n for n, _ in stamps),
        bad_word_stamps=sum(bad for _, bad in stamps),
        karaoke_events=sum(has for has, _ in karaoke),
        bad_karaoke=sum(bad for _, bad in karaoke),
    )


def assert_compliant(report: Report, unavoidable: int = 0) -> None:
    """The rules a shipped subtitle file keeps: line shape, timing, reading speed on 95 % of cues (or, where
    :func:`unavoidable_over_cps` proves the speech too fast for any timing, no more than that many cues too
    fast), words, word timing."""
    assert report.cues > 0
    assert report.long_lines == 0 and report.extra_lines == 0, report
    assert report.over_max_cps <= max(math.floor(0.05 * report.cues), unavoidable), report
    assert report.share(report.too_short) <= 0.05 and report.too_long == 0, report
    assert report.short_gaps == 0 and report.overlaps == 0, report
    assert report.one_word_lines == 0, report
    assert report.words_missing == 0 and report.words_extra == 0, report
    assert report.order_ratio >= 0.95, report
    assert report.bad_word_stamps == 0 and report.bad_karaoke == 0, report
