"""Subtitle cues shared by the SRT, WebVTT and ASS writers.

How cues are built (limits from :class:`~diarize.writers.options.SubtitleOptions`):

1. Consecutive segments of one speaker form a *group*; a cue never spans two groups, so a one-speaker cue
   never mixes speakers. A segment without word timings is split into words with times spread by length.
2. A group is cut greedily at word boundaries: a cue takes words while its text fits ``max_lines`` lines of
   ``max_line_chars`` and its words span at most ``max_duration``; a pause of ``split_pause`` always cuts.
   Each format measures its own lines: ``label_width=True`` (SRT) counts the ``[NAME] `` prefix on the
   first line whenever speakers are named. A full cue is cut at the last sentence end, else clause mark, else
   before a conjunction or preposition, never after an article or function word, provided the cue keeps enough
   of its text (a quarter before a sentence end, half before a conjunction; :mod:`diarize.writers.breaks`).
   Lines break the same way and are balanced.
3. **Merging.** Two neighbouring cues of one speaker are merged when one of them is shorter than
   ``min_duration`` or faster than ``max_cps`` over the time it can have, and the merged cue still fits.
4. **Two-speaker cues.** Two neighbouring one-line cues of *different*, *named* speakers share one cue,
   one dash line per speaker, when the second starts at most ``dialogue_max_gap`` after the first ends, both
   lines fit with their dash (and SRT prefix), the pair spans at most ``max_duration``, and one of them is too
   short or too fast or they overlap in time (quick exchanges and interjections).
5. **Timing** (:mod:`diarize.writers.cue_timing`): a cue starts at its first word and is shown until its last
   word or for ``max(min_duration, chars / target_cps)``, into the silence after it (up to ``min_gap`` before
   the next cue's first word and the media end) and, where that is not enough, up to 1 s into the silence
   before it. A cue that needs more time to be read at ``max_cps`` takes it from the cue after it, which then
   starts up to ``max_delay`` late, and so on, as long as every later cue keeps the time it needs. Where the
   speech leaves no way to give every cue that time, one cue of the run, the longest, reads too fast (and is
   counted). Cues never overlap, and keep ``min_gap`` between them.
6. **Labels** (``speaker_labels``): ``auto`` names the speaker only with two or more speakers and only on
   a cue whose speaker differs from the cue before; ``always`` on every cue; ``never`` nowhere.
7. **Frames** (video input): once built, every cue's start and end moves onto a video frame boundary (the
   time of a frame: ``start_time + k / fps`` with the container's exact rational rate, or the frame's pts for
   variable-frame-rate video), one cue after the other. A start goes to the nearest boundary, later where it
   would come less than the least gap (two frames) after the previous end; an end goes to the next boundary at
   or after it where the gap before the next cue allows, else to the nearest, and stays at least one frame
   after its start. Snapping never creates an overlap or a short gap (:mod:`diarize.writers.frame_snap`).

:func:`cue_stats` (:mod:`diarize.writers.compliance`) counts the cues that still break a rule (speech too fast to
read in the time it has). Text is joined by :func:`~diarize.text.join_words`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from diarize.text import join_words
from diarize.types import Result, Segment, Word
from diarize.writers.breaks import cut_rank, layout, wrap
from diarize.writers.compliance import CueStats, cue_stats
from diarize.writers.cue_timing import Slot, Timing, plan_times
from diarize.writers.frame_snap import snap_to_frames
from diarize.writers.labels import speaker_prefix
from diarize.writers.options import SubtitleOptions

__all__ = [
    "Cue",
    "CuePart",
    "CueStats",
    "build_cues",
    "cue_gap",
    "cue_stats",
    "labels_active",
    "speaker_prefix",
]

_MIN_KEEP = {3: 0.25, 2: 0.35, 1: 0.5, 0: 0.3, -1: 0.9}  # share of a full cue's text a cut keeps, by rank
_LEAD_IN = 1.0  # most time (s) a too-fast cue may start before its first word
_AUDIO_GAP = 0.08


@dataclass(frozen=True)
class CuePart:
    """The lines one speaker says in a cue (``speaker`` is None when unknown); ``label``: whether this cue
    names the speaker; ``words``: the words shown. The first line is empty when the SRT speaker mark stands
    alone on it."""

    speaker: str | None
    lines: tuple[str, ...]
    label: bool = True
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Cue:
    """One subtitle: a time range and one part (one speaker) or two one-line parts (a two-speaker cue)."""

    start: float
    end: float
    parts: tuple[CuePart, ...]

    @property
    def text(self) -> str:
        """The words shown, on one line, without speaker marks."""
        return " ".join(line for p in self.parts for line in p.lines if line)


def labels_active(result: Result, options: SubtitleOptions) -> bool:
    """Whether the subtitles of ``result`` name speakers at all."""
    if options.speaker_labels == "always":
        return True
    speakers = {s.speaker for s in result.segments if s.speaker is not None}
    return options.speaker_labels == "auto" and len(speakers) > 1


def cue_gap(result: Result, options: SubtitleOptions) -> float:
    """The least gap (s) between cues: ``min_gap``, else two frames of the source video, else 0.08 s."""
    if options.min_gap is not None:
        return options.min_gap
    video = result.source.video
    return float(2 / video.fps) if video is not None and video.fps > 0 else _AUDIO_GAP


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


def _groups(segments: Sequence[Segment]) -> list[tuple[str | None, list[Word]]]:
    """Runs of consecutive segments of one speaker: (speaker, words)."""
    groups: list[tuple[str | None, list[Word]]] = []
    for segment in segments:
        words = _segment_words(segment)
        if not words:
            continue
        if not groups or groups[-1][0] != segment.speaker:
            groups.append((segment.speaker, []))
        groups[-1][1].extend(words)
    return groups


def _fits(words: Sequence[Word], prefix: int, options: SubtitleOptions) -> bool:
    span = words[-1].end - words[0].start
    return span <= options.max_duration and layout(words, prefix, options.max_line_chars, options.max_lines) is not None


def _best_cut(words: Sequence[Word], a: int, i: int, prefix: int, options: SubtitleOptions) -> int:
    """Where to end the full cue ``words[a:i]`` (the cut lies in ``(a, i]``): the best-ranked break
    (:func:`~diarize.writers.breaks.cut_rank`) that keeps enough of the cue's text before it, the latest of
    equals (a sentence end may come earlier than a plain break), preferring cues whose two lines break cleanly."""
    total = len(join_words(words[a:i]))

    def clean_lines(j: int) -> bool:
        chunk = words[a:j]
        return len(chunk) <= 2 or bool(layout(chunk, prefix, options.max_line_chars, options.max_lines, strict=True))

    best: tuple[int, int, int] | None = None  # (clean lines, rank, j)
    for j in range(a + 1, i + 1):
        rank = cut_rank(words[j - 1], words[j] if j < len(words) else None)
        if j < i and len(join_words(words[a:j])) < _MIN_KEEP[rank] * total:
            continue
        key = (int(_clean_lines(words[a:j], prefix, options)), rank, j)
        if best is None or key[:2] >= best[:2]:
            best = key
    return i if best is None else best[2]


def _chunk(words: Sequence[Word], prefix: int, options: SubtitleOptions) -> list[list[Word]]:
    """Cut one speaker's words into cue-sized runs."""
    chunks: list[list[Word]] = []
    a = 0
    for i in range(1, len(words)):
        if words[i].start - words[i - 1].end >= options.split_pause:
            chunks.append(list(words[a:i]))
            a = i
            continue
        while a < i and not _fits(words[a : i + 1], prefix, options):
            cut = _best_cut(words, a, i, prefix, options)
            chunks.append(list(words[a:cut]))
            a = cut
    if words:
        chunks.append(list(words[a:]))
    return [part for chunk in chunks for part in _tidy(chunk, prefix, options)]


def _clean_lines(words: Sequence[Word], prefix: int, options: SubtitleOptions) -> bool:
    """Whether ``words`` lay out without a stranded function word or a lone word (two words always do)."""
    return len(words) <= 2 or bool(layout(words, prefix, options.max_line_chars, options.max_lines, strict=True))


def _tidy(chunk: list[Word], prefix: int, options: SubtitleOptions) -> list[list[Word]]:
    """``chunk``, or two cues cut at its best break when it only fits its lines with a dangling word."""
    if _clean_lines(chunk, prefix, options):
        return [chunk]
    best: tuple[int, int] | None = None  # (rank, j)
    for j in range(2, len(chunk) - 1):
        head, tail = chunk[:j], chunk[j:]
        if _clean_lines(head, prefix, options) and _clean_lines(tail, prefix, options):
            rank = cut_rank(chunk[j - 1], chunk[j])
            if (
                best is None
                or rank > best[0]
                or (rank == best[0] and abs(2 * j - len(chunk)) < abs(2 * best[1] - len(chunk)))
            ):
                best = (rank, j)
    return [chunk] if best is None or best[0] < 1 else [chunk[: best[1]], chunk[best[1] :]]


def _chars(words: Sequence[Word]) -> int:
    return len(join_words(words))


def _needs_company(words: Sequence[Word], room: float, options: SubtitleOptions) -> bool:
    """Whether a cue of ``words`` with ``room`` seconds to be shown is too short or too fast alone."""
    span = words[-1].end - words[0].start
    return span < options.min_duration or _chars(words) > options.max_cps * room


def _merge_chunks(chunks: list[list[Word]], prefix: int, options: SubtitleOptions) -> list[list[Word]]:
    """Merge neighbouring runs of one speaker where one is too short or too fast and the union fits."""
    merged: list[list[Word]] = []
    for chunk in chunks:
        if merged:
            prev = merged[-1]
            pause = chunk[0].start - prev[-1].end
            room_prev = prev[-1].end - prev[0].start + pause
            lonely = _needs_company(prev, room_prev, options) or _needs_company(
                chunk, chunk[-1].end - chunk[0].start + pause, options
            )
            union = [*prev, *chunk]
            if (
                lonely
                and pause < options.split_pause
                and _fits(union, prefix, options)
                and _clean_lines(union, prefix, options)
            ):
                merged[-1] = union
                continue
        merged.append(chunk)
    return merged


def _dialogue(c1: Cue, c2: Cue, prefix: bool, options: SubtitleOptions) -> Cue | None:
    """The two-speaker cue joining ``c1`` and ``c2``, when the rule in the module docstring allows it."""
    (p1,), (p2,) = c1.parts, c2.parts
    if not options.dialogue or options.max_lines < 2:
        return None
    if p1.speaker is None or p2.speaker is None or p1.speaker == p2.speaker:
        return None
    if len(p1.lines) != 1 or len(p2.lines) != 1:
        return None
    width = options.max_line_chars
    if any(len(f"- {speaker_prefix(p.speaker, options) if prefix else ''}{p.lines[0]}") > width for p in (p1, p2)):
        return None
    gap = c2.start - c1.end
    end = max(c1.end, c2.end)
    if gap > options.dialogue_max_gap or end - c1.start > options.max_duration:
        return None
    short = min(c1.end - c1.start, c2.end - c2.start) < options.min_duration
    fast = any(len(c.text) > options.max_cps * (c.end - c.start) for c in (c1, c2))
    return Cue(c1.start, end, (p1, p2)) if short or fast or gap < 0 else None


def _merge_dialogues(cues: list[Cue], prefix: bool, options: SubtitleOptions) -> list[Cue]:
    merged: list[Cue] = []
    i = 0
    while i < len(cues):
        pair = _dialogue(cues[i], cues[i + 1], prefix, options) if i + 1 < len(cues) else None
        merged.append(pair or cues[i])
        i += 2 if pair else 1
    return merged


def _timing(result: Result, gap: float, options: SubtitleOptions) -> Timing:
    video = result.source.video
    frames = video is not None and video.fps > 0 and not video.variable_frame_rate
    return Timing(
        max_cps=options.max_cps,
        target_cps=options.target_cps,
        min_duration=options.min_duration,
        max_duration=options.max_duration,
        max_delay=options.max_delay,
        lead_in=_LEAD_IN,
        gap=gap,
        media_end=result.duration if result.duration > 0 else math.inf,
        step=float(1 / Fraction(video.fps)) if frames and video is not None else 0.0,
        origin=video.start_time if frames and video is not None else 0.0,
    )


def _retime(cues: list[Cue], timing: Timing) -> list[Cue]:
    """Show each cue long enough to read, without overlaps (rule 5; :mod:`diarize.writers.cue_timing`)."""
    slots = [Slot(c.start, c.end, len(c.text)) for c in cues]
    return [replace(c, start=s, end=e) for c, (s, e) in zip(cues, plan_times(slots, timing), strict=True)]


def _label(cues: list[Cue], active: bool, options: SubtitleOptions) -> list[Cue]:
    """Mark which parts name their speaker (rule 6 of the module docstring)."""
    labelled: list[Cue] = []
    previous: str | None = None
    for cue in cues:
        parts = []
        for n, part in enumerate(cue.parts):
            show = active and part.speaker is not None
            if show and options.speaker_labels == "auto" and len(cue.parts) == 1 and n == 0:
                show = part.speaker != previous
            parts.append(replace(part, label=show))
        labelled.append(replace(cue, parts=tuple(parts)))
        previous = cue.parts[-1].speaker
    return labelled


def _relayout(cue: Cue, label_width: bool, options: SubtitleOptions) -> Cue:
    """Lay a one-speaker cue out again once it is known whether it shows the ``[NAME] `` mark."""
    part = cue.parts[0]
    if len(cue.parts) != 1 or not part.words:
        return cue
    prefix = len(speaker_prefix(part.speaker, options)) if label_width and part.label else 0
    lines = layout(part.words, prefix, options.max_line_chars, options.max_lines)
    return replace(cue, parts=(replace(part, lines=tuple(lines)),)) if lines else cue


def build_cues(result: Result, options: SubtitleOptions | None = None, *, label_width: bool = False) -> tuple[Cue, ...]:
    """The subtitle cues of ``result``, sorted by start (rules in the module docstring). ``label_width``:
    the first line of a cue that names its speaker also holds the ``[NAME] `` mark (SRT)."""
    options = options or SubtitleOptions()
    active = labels_active(result, options)
    reserve = label_width and active
    cues: list[Cue] = []
    for speaker, words in _groups(result.segments):
        first = len(speaker_prefix(speaker, options)) if reserve else 0  # the cue that names the speaker
        rest = first if options.speaker_labels == "always" else 0  # the cues after it, in auto
        chunks = _chunk(words, first, options)
        tail = [w for chunk in chunks[1:] for w in chunk]
        runs = [chunks[0], *(_chunk(tail, rest, options) if tail else [])]
        for n, chunk in enumerate(_merge_chunks(runs, first, options)):
            prefix = first if n == 0 else rest
            lines = layout(chunk, prefix, options.max_line_chars, options.max_lines) or wrap(
                chunk, prefix, options.max_line_chars
            )
            part = CuePart(speaker, tuple(lines), words=tuple(chunk))
            cues.append(Cue(chunk[0].start, chunk[-1].end, (part,)))
    cues.sort(key=lambda c: c.start)
    gap = cue_gap(result, options)
    timed = _retime(_merge_dialogues(cues, reserve, options), _timing(result, gap, options))
    built = tuple(_relayout(c, label_width, options) for c in _label(timed, active, options))
    video = result.source.video
    return built if video is None or video.fps <= 0 else snap_to_frames(built, video, gap)
