"""Karaoke-style word timing in subtitles (``highlight_words``): each word of a cue marked with the time it is
spoken.

* **WebVTT**: an inline timestamp tag (``<00:00:01.250>``) before each word. WebVTT wants every tag after the
  cue's start, after the tag before it and before the cue's end, so a word spoken at (or before) the cue's
  start, or too close to the word before it, gets no tag and is highlighted with the word before it, and a word
  spoken after the cue's end (a cue cut short by the next one) is not tagged either.
* **ASS**: a ``{\\kNN}`` before each word: how long (centiseconds) the word is highlighted before the next one,
  the pause after it included, so that the durations add up to the event's length; an untexted ``{\\kNN}``
  first holds the highlight until the first word when the cue starts before it.
* **SRT** has no standard for word timing and is left as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from diarize.text import attached, join_words
from diarize.types import Word
from diarize.writers.cues import Cue, CuePart

__all__ = ["ass_karaoke", "part_line_words", "vtt_timed_lines"]


def part_line_words(part: CuePart) -> list[list[Word]]:
    """The words on each of ``part``'s lines (lines are consecutive runs of its words); ``[]`` per line when
    the words do not match the lines."""
    groups: list[list[Word]] = []
    rest = list(part.words)
    for line in part.lines:
        taken = 0
        while taken < len(rest) and len(join_words(rest[:taken])) < len(line):
            taken += 1
        if join_words(rest[:taken]) != line:
            return [[] for _ in part.lines]
        groups.append(rest[:taken])
        rest = rest[taken:]
    return groups if not rest else [[] for _ in part.lines]


def _tokens(words: Sequence[Word]) -> list[tuple[str, str, Word]]:
    """``(separator, token, word)`` for each word of a line, separators as :func:`join_words` puts them."""
    out: list[tuple[str, str, Word]] = []
    for word in words:
        token = " ".join(word.text.split())
        if token:
            out.append(("" if not out or attached(token) else " ", token, word))
    return out


def vtt_timed_lines(
    cue: Cue, lines: Sequence[Sequence[Word]], stamp: Callable[[float], str], escape: Callable[[str], str]
) -> list[str]:
    """The text of ``lines`` (each a run of the cue's words) with a timestamp tag before each word that
    WebVTT allows one (module docstring); ``stamp`` formats a time, ``escape`` escapes text."""
    last, end = _units(cue.start, 1000), _units(cue.end, 1000)
    out = []
    for words in lines:
        text = ""
        for sep, token, word in _tokens(words):
            t = _units(word.start, 1000)
            tag = ""
            if last < t < end:
                tag, last = f"<{stamp(t / 1000)}>", t
            text += sep + tag + escape(token)
        out.append(text)
    return out


def ass_karaoke(cue: Cue, lines: Sequence[Sequence[Word]], text: Callable[[str], str]) -> list[str]:
    """The text of ``lines`` with a ``{\\kNN}`` before each word; the durations add up to the event's length
    in whole centiseconds (as the event's start and end are written)."""
    start, end = _units(cue.start, 100), _units(cue.end, 100)
    marks = [min(end, _units(w.start, 100)) for words in lines for _, _, w in _tokens(words)]
    for i in range(len(marks)):
        marks[i] = max(marks[i], marks[i - 1] if i else start)
    bounds = [*marks, end]
    out, n = [], 0
    for words in lines:
        line = ""
        for sep, token, _ in _tokens(words):
            line += f"{sep}{{\\k{bounds[n + 1] - bounds[n]}}}{text(token)}"
            n += 1
        out.append(line)
    lead = (bounds[0] if marks else end) - start
    if lead > 0 and out:
        out[0] = f"{{\\k{lead}}}" + out[0]
    return out


def _units(seconds: float, per_second: int) -> int:
    """``seconds`` in whole milliseconds (1000) or centiseconds (100), rounded half up as timestamps are."""
    return max(0, int(math.floor(seconds * per_second + 0.5)))
