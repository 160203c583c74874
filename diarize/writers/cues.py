"""Subtitle cues shared by the SRT and WebVTT writers.

How cues are cut (limits from :class:`~diarize.writers.options.SubtitleOptions`):

1. Consecutive segments of one speaker form a *group*; a cue never spans two groups, so a one-speaker cue
   never mixes speakers. A segment without word timings is split into words with times spread by length.
2. A group is cut greedily at word boundaries: a cue takes words while its text fits ``max_lines`` lines of
   ``max_line_chars`` (the ``[NAME] `` prefix counts on the first line) and its words span at most
   ``max_duration``; a pause of ``split_pause`` always cuts. When a cue is full it is cut at the last sentence
   end, else the last clause mark (``, ; :``), provided the cue keeps at least 40 % of its text; else just
   before the word that did not fit. A text that fits one line stays on one line; two lines are balanced
   (shortest longest line, then the shorter top line). The speaker mark may stand alone on the top line
   (a long name); a word longer than a line gets a line of its own, the only way a line exceeds the limit.
3. **Two-speaker cues.** Two neighbouring one-line cues of *different*, *named* speakers share one cue,
   one dash-prefixed line per speaker (``- [A] ...`` / ``- [B] ...``), when the second starts at most
   ``dialogue_max_gap`` after the first ends, both lines fit with their dash and prefix, the pair spans at
   most ``max_duration``, and either one of them is shorter than ``min_duration`` or they overlap in time
   (quick exchanges and interjections). Otherwise a cue has exactly one speaker, and speech of two
   speakers that overlaps gives cues that overlap in time.
4. **Timing.** A cue runs from its first word's start to its last word's end (at most ``max_duration``). A cue
   shorter than ``min_duration`` is extended into the silence after it, up to the next cue's start and the end
   of the media, never further.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from diarize.assign import join_words
from diarize.types import Result, Segment, Word
from diarize.writers.options import SubtitleOptions

__all__ = ["Cue", "CuePart", "build_cues", "speaker_prefix"]

_SENTENCE_END = ".?!。？！…"
_CLAUSE_END = ",;:、，；：—–"
_CLOSERS = "\"'”’)]}»」』"
_MIN_KEEP = 0.4  # a preferred cut keeps at least this share of the cue's text before it


@dataclass(frozen=True)
class CuePart:
    """The lines one speaker says in a cue (``speaker`` is None when unknown). The first line is empty when
    the speaker mark stands alone on it."""

    speaker: str | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Cue:
    """One subtitle: a time range and one part (one speaker) or two one-line parts (a two-speaker cue)."""

    start: float
    end: float
    parts: tuple[CuePart, ...]


def speaker_prefix(speaker: str | None, options: SubtitleOptions) -> str:
    """The SRT speaker mark in front of a cue's first line (``"[NAME] "``), or ``""``."""
    return f"[{speaker}] " if options.speaker_labels and speaker is not None else ""


def _clean(text: str) -> str:
    return " ".join(text.split()) if any(c in text for c in "\r\n\t") else text.strip()


def _layout(words: Sequence[Word], prefix: int, options: SubtitleOptions) -> list[str] | None:
    """The cue's lines, or None when the words do not fit ``max_lines`` lines."""
    width = options.max_line_chars
    whole = _clean(join_words(words))
    if prefix + len(whole) <= width:
        return [whole]
    if options.max_lines == 1:
        return None
    if options.max_lines == 2:
        best: tuple[tuple[int, int], list[str]] | None = None
        for k in range(0 if prefix else 1, len(words)):  # k = 0: the speaker mark alone on the top line
            top, bottom = _clean(join_words(words[:k])), _clean(join_words(words[k:]))
            a, b = prefix + len(top), len(bottom)
            if a <= width and b <= width and (best is None or (max(a, b), a) < best[0]):
                best = ((max(a, b), a), [top, bottom])
        return None if best is None else best[1]
    lines = _wrap(words, prefix, width)
    fits = len(lines) <= options.max_lines and all(
        len(line) + (prefix if i == 0 else 0) <= width for i, line in enumerate(lines)
    )
    return lines if fits else None


def _wrap(words: Sequence[Word], prefix: int, width: int) -> list[str]:
    """Greedy wrap; a word longer than a line gets a line of its own, and a first word that does not fit
    after the speaker mark goes to the second line."""
    lines: list[list[Word]] = [[]]
    for word in words:
        trial = _clean(join_words([*lines[-1], word]))
        over = len(trial) + (prefix if len(lines) == 1 else 0) > width
        if over and (lines[-1] or (len(lines) == 1 and prefix)):
            lines.append([])
        lines[-1].append(word)
    return [_clean(join_words(line)) for line in lines]


def _fits(words: Sequence[Word], prefix: int, options: SubtitleOptions) -> bool:
    return (
        words[-1].end - words[0].start <= options.max_duration and _layout(words, prefix, options) is not None
    )


def _cut_rank(word: Word, boundary: bool) -> int:
    token = word.text.strip().rstrip(_CLOSERS)
    if boundary or (token and token[-1] in _SENTENCE_END):
        return 2
    return 1 if token and token[-1] in _CLAUSE_END else 0


def _best_cut(words: Sequence[Word], a: int, i: int, boundaries: set[int]) -> int:
    """Where to end the full cue ``words[a:i]`` (the cut lies in ``(a, i]``)."""
    total = len(_clean(join_words(words[a:i])))
    best, best_rank = i, 0
    for j in range(a + 1, i):
        rank = _cut_rank(words[j - 1], j in boundaries)
        if rank >= best_rank and rank > 0 and len(_clean(join_words(words[a:j]))) >= _MIN_KEEP * total:
            best, best_rank = j, rank
    return best


def _chunk(words: Sequence[Word], boundaries: set[int], prefix: int, options: SubtitleOptions) -> list[range]:
    """Cut one speaker's words into cue-sized ranges."""
    chunks: list[range] = []
    a = 0
    for i in range(1, len(words)):
        if words[i].start - words[i - 1].end >= options.split_pause:
            chunks.append(range(a, i))
            a = i
            continue
        while a < i and not _fits(words[a : i + 1], prefix, options):
            cut = _best_cut(words, a, i, boundaries)
            chunks.append(range(a, cut))
            a = cut
    if words:
        chunks.append(range(a, len(words)))
    return chunks


def _segment_words(segment: Segment) -> list[Word]:
    """The segment's words; without word timings, its text split at blanks with times spread by length."""
    if segment.words:
        return [w for w in segment.words if w.text.strip()]
    tokens = segment.text.split()
    total = sum(len(t) for t in tokens) or 1
    words, done = [], 0
    span = segment.end - segment.start
    for token in tokens:
        start = segment.start + span * done / total
        done += len(token)
        words.append(Word(start, segment.start + span * done / total, " " + token, 1.0, segment.speaker))
    return words


def _groups(segments: Sequence[Segment]) -> list[tuple[str | None, list[Word], set[int]]]:
    """Runs of consecutive segments of one speaker: (speaker, words, indices where a segment starts)."""
    groups: list[tuple[str | None, list[Word], set[int]]] = []
    for segment in segments:
        words = _segment_words(segment)
        if not words:
            continue
        if not groups or groups[-1][0] != segment.speaker:
            groups.append((segment.speaker, [], set()))
        groups[-1][2].add(len(groups[-1][1]))
        groups[-1][1].extend(words)
    return groups


def _dialogue(c1: Cue, c2: Cue, options: SubtitleOptions) -> Cue | None:
    """The two-speaker cue joining ``c1`` and ``c2``, when the rule in the module docstring allows it."""
    (p1,), (p2,) = c1.parts, c2.parts
    if not (options.dialogue and options.speaker_labels and options.max_lines >= 2):
        return None
    if p1.speaker is None or p2.speaker is None or p1.speaker == p2.speaker:
        return None
    if len(p1.lines) != 1 or len(p2.lines) != 1:
        return None
    if any(
        len(f"- {speaker_prefix(p.speaker, options)}{p.lines[0]}") > options.max_line_chars for p in (p1, p2)
    ):
        return None
    gap = c2.start - c1.end
    end = max(c1.end, c2.end)
    if gap > options.dialogue_max_gap or end - c1.start > options.max_duration:
        return None
    short = min(c1.end - c1.start, c2.end - c2.start) < options.min_duration
    return Cue(c1.start, end, (p1, p2)) if short or gap < 0 else None


def _merge_dialogues(cues: list[Cue], options: SubtitleOptions) -> list[Cue]:
    merged: list[Cue] = []
    i = 0
    while i < len(cues):
        pair = _dialogue(cues[i], cues[i + 1], options) if i + 1 < len(cues) else None
        merged.append(pair or cues[i])
        i += 2 if pair else 1
    return merged


def _retime(cues: list[Cue], media_end: float, options: SubtitleOptions) -> list[Cue]:
    timed: list[Cue] = []
    for i, cue in enumerate(cues):
        next_start = cues[i + 1].start if i + 1 < len(cues) else math.inf
        end = min(cue.end, cue.start + options.max_duration)
        target = cue.start + options.min_duration
        if end < target:
            end = max(end, min(target, next_start, media_end))
        timed.append(Cue(cue.start, max(end, cue.start + 0.001), cue.parts))
    return timed


def build_cues(result: Result, options: SubtitleOptions | None = None) -> tuple[Cue, ...]:
    """The subtitle cues of ``result``, sorted by start (rules in the module docstring)."""
    options = options or SubtitleOptions()
    cues: list[Cue] = []
    for speaker, words, boundaries in _groups(result.segments):
        prefix = len(speaker_prefix(speaker, options))
        for r in _chunk(words, boundaries, prefix, options):
            chunk = words[r.start : r.stop]
            lines = _layout(chunk, prefix, options) or _wrap(chunk, prefix, options.max_line_chars)
            cues.append(Cue(chunk[0].start, chunk[-1].end, (CuePart(speaker, tuple(lines)),)))
    cues.sort(key=lambda c: c.start)
    media_end = result.duration if result.duration > 0 else math.inf
    return tuple(_retime(_merge_dialogues(cues, options), media_end, options))
