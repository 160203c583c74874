"""Stage 4: give every transcribed word a speaker, then cut the words into single-speaker sentences.

The rules, each tuned through :class:`AssignOptions`:

1. **Speaker of a word.** When the diarization carries its frame-level activity (``Diarization.activity``,
   the frames its turns were made from), a word ``[start, end)`` takes the speaker who holds most of its
   voiced part: over the frames the word covers (each weighted by the seconds of the word in it), a frame
   where one speaker talks alone counts fully for that speaker, a frame where several talk counts
   ``overlap_weight`` (0.5) shared among them in proportion to their activity; frames where nobody talks
   count for nobody. Ties go to the speaker with more time in the exclusive turns, then to the one listed
   first. Every frame a speaker is active in lies in one of their turns, so the word's speaker is always one
   the turns make active during the word. A zero-length word, a word over no active frame and a diarization
   without activity fall back to the turns: a word ``[start, end)`` takes the speaker whose turns in the *exclusive*
   (one-speaker-at-a-time) view of the diarization overlap it most. Ties go to the speaker with more
   overlap in the overlap-aware turns, then to the one listed first in ``Diarization.speakers``. A word that
   overlaps no exclusive turn but does overlap overlap-aware turns takes the speaker it overlaps most there.
   A zero-length word takes the speaker of the turn containing its instant (``start <= t < end``,
   exclusive view first). A word in no turn at all takes the speaker of the nearest turn when the gap is at
   most ``nearest_tolerance`` (on a tie, the turn that ends before the word wins); beyond that it takes the
   diarization's only speaker when there is exactly one (``single_speaker_fallback``), else its speaker is
   ``None``.
2. **Overlap marking.** ``Word.overlap`` is set when at least ``overlap_fraction`` of the word lies where two
   or more speakers talk at once according to the overlap-aware turns (a zero-length word: when its instant
   does).
3. **Sentences.** A sentence ends after a word that ends in ``. ? !`` (or ``。？！…``; a closing quote or
   bracket after the mark is allowed; listed abbreviations such as "Mr." do not count), and before a pause
   of ``sentence_pause`` seconds or more. An ASR segment without word timings is kept whole as its own
   segment.
4. **Smoothing.** Inside one sentence, a maximal run of words of speaker Y (or of no speaker) whose neighbouring
   runs on *both* sides belong to the same other speaker X is given to X when it has at most ``smooth_max_words``
   words and lasts at most ``smooth_max_duration`` seconds (first word start to last word end) — unless the run
   lies in a clearly separate turn: one overlap-aware turn of Y, at least ``smooth_keep_turn`` seconds long, that
   overlaps every word of the run (a real interjection such as "yeah, right"). Runs are smoothed left to right,
   each against the speakers as smoothed so far, so ``X Y X Y X`` becomes all X while ``X Y Z X`` is left alone;
   a run goes to X only where a turn of X meets each of its words (or, for a word in no turn, X's is nearest).
   At a sentence's edges, the first (last) run, when it is as short as above, every word of it is marked
   ``overlap``, the next run's speaker talks (overlap-aware turns) at each of its words' midpoints, and one turn
   of the run's own speaker also meets the last word before (the first word after) the sentence, joins that next
   run: a turn that carries on across the sentence boundary for one or two overlapped words is a flicker of the
   boundary, not a change of speaker.
5. **Segments.** Each sentence is split where the speaker changes after smoothing — a real change: a run
   that survived rule 4 (longer than ``smooth_max_words`` / ``smooth_max_duration``, in a separate turn of
   its own, or between two different speakers); a segment never mixes speakers. Its text
   joins the word texts (:func:`diarize.text.join_words`).

6. **No speaker at all.** When the diarization has no speaker but the transcript has words (the speaker stage
   heard no speech where the ASR did), one speaker, ``SPEAKER_00``, is assumed (``single_speaker_fallback``):
   it gets one turn per run of words without a pause of ``sentence_pause`` or more (first word start to last
   word end; a segment without word timings counts as one word), in both views, and the diarization's
   ``note`` says so. :attr:`Attribution.diarization` is the diarization the words were attributed against,
   these turns included; outputs take their turns and speakers from it.

The inputs are never modified: words and segments are new frozen records (``dataclasses.replace``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from diarize.errors import ConfigError
from diarize.spans import merge_spans
from diarize.text import join_words
from diarize.types import Diarization, Segment, Span, SpeakerActivity, SpeakerTurn, Transcript, Word

__all__ = [
    "ASSUMED_SPEAKER",
    "AssignOptions",
    "Attribution",
    "AttributionStats",
    "attribute",
    "overlap_regions",
]

logger = logging.getLogger(__name__)

_CLOSERS = "\"'”’)]}»」』"
_DEFAULT_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "vs.", "e.g.", "i.e."})

ASSUMED_SPEAKER = "SPEAKER_00"
"""The label of the speaker rule 6 assumes."""


@dataclass(frozen=True)
class AssignOptions:
    """How words get speakers and how they are grouped into sentences (see the module docstring)."""

    nearest_tolerance: float = 0.5
    """A word in no turn takes the nearest turn's speaker when the gap is at most this (s); else none."""

    overlap_fraction: float = 0.5
    """A word is marked ``overlap`` when at least this share of it lies in speech of two or more speakers."""

    sentence_pause: float = 1.0
    """A pause of at least this (s) between two words ends a sentence even without punctuation."""

    sentence_end: str = ".?!。？！…"
    """Characters that end a sentence when a word ends with one (closing quotes/brackets after it allowed)."""

    abbreviations: frozenset[str] = _DEFAULT_ABBREVIATIONS
    """Lower-case words ending in "." that do not end a sentence."""

    smooth_max_words: int = 2
    """Longest run (words) inside a sentence that smoothing may give to the speaker around it; 0: no
    smoothing."""

    smooth_max_duration: float = 1.0
    """Longest run (s, first word start to last word end) that smoothing may reassign."""

    smooth_keep_turn: float = 1.0
    """A run lying in one turn of its own speaker at least this long (s) is a real interjection: never
    smoothed."""

    overlap_weight: float = 0.5
    """Rule 1 with frame activity: a second where several speakers talk counts this much (shared in
    proportion to their activity) against a second where one talks alone."""

    single_speaker_fallback: bool = True
    """With exactly one speaker, a word beyond ``nearest_tolerance`` of every turn still takes it; with none
    and words present, one speaker is assumed with turns covering the words (rule 6). False: such words get
    no speaker."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "abbreviations", frozenset(a.strip().lower() for a in self.abbreviations))
        for name in ("nearest_tolerance", "sentence_pause", "smooth_max_duration", "smooth_keep_turn"):
            if getattr(self, name) < 0:
                raise ConfigError(f"assign option {name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.overlap_fraction <= 1.0:
            raise ConfigError(
                f"assign option overlap_fraction must lie in (0, 1], got {self.overlap_fraction}"
            )
        if not 0.0 <= self.overlap_weight <= 1.0:
            raise ConfigError(f"assign option overlap_weight must lie in [0, 1], got {self.overlap_weight}")
        if self.smooth_max_words < 0:
            raise ConfigError(f"assign option smooth_max_words must be >= 0, got {self.smooth_max_words}")
        if self.sentence_pause == 0:
            raise ConfigError("assign option sentence_pause must be > 0")


@dataclass(frozen=True)
class AttributionStats:
    """How the words were attributed: counts per rule."""

    words: int = 0
    """All words seen."""
    in_turn: int = 0
    """Words that lie (at least partly) in a turn."""
    nearest: int = 0
    """Words in no turn that took the nearest turn within the tolerance."""
    sole: int = 0
    """Words beyond the tolerance that took the diarization's only speaker."""
    unassigned: int = 0
    """Words left without a speaker."""
    overlap: int = 0
    """Words marked as overlapped speech."""
    smoothed: int = 0
    """Words whose speaker the smoothing rule changed."""

    def to_dict(self) -> dict[str, int]:
        return {
            "words": self.words,
            "in_turn": self.in_turn,
            "nearest": self.nearest,
            "sole": self.sole,
            "unassigned": self.unassigned,
            "overlap": self.overlap,
            "smoothed": self.smoothed,
        }


@dataclass(frozen=True)
class Attribution:
    """The result of :func:`attribute`: single-speaker sentence segments, in transcript order, the diarization
    they were attributed against (the input's, or the assumed speaker's of rule 6), and counts."""

    segments: tuple[Segment, ...]
    diarization: Diarization
    stats: AttributionStats = field(default_factory=AttributionStats)

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)


def overlap_regions(turns: Iterable[SpeakerTurn]) -> tuple[Span, ...]:
    """The sorted, disjoint spans where two or more distinct speakers talk at once."""
    per_speaker: dict[str, list[tuple[float, float]]] = {}
    for t in turns:
        if t.end > t.start:
            per_speaker.setdefault(t.speaker, []).append((t.start, t.end))
    events: list[tuple[float, int]] = []
    for spans in per_speaker.values():
        for start, end in merge_spans(spans):
            events += [(start, 1), (end, -1)]
    events.sort()  # at equal times the -1 (an end) sorts before the +1 (a start): touching is not overlap
    regions: list[Span] = []
    active, opened = 0, 0.0
    for time, step in events:
        if active < 2 <= active + step:
            opened = time
        elif active + step < 2 <= active and time > opened:
            regions.append(Span(opened, time))
        active += step
    return tuple(regions)


class _Intervals:
    """Labelled intervals as sorted arrays, for overlap and distance queries in O(log n + k)."""

    def __init__(self, spans: Sequence[tuple[float, float, int]], n_labels: int) -> None:
        ordered = sorted(spans)
        self.starts = np.array([s[0] for s in ordered], dtype=np.float64)  # shape: (num_intervals,)
        self.ends = np.array([s[1] for s in ordered], dtype=np.float64)  # shape: (num_intervals,)
        self.labels = np.array([s[2] for s in ordered], dtype=np.int64)  # shape: (num_intervals,)
        self.n_labels = n_labels
        self.max_duration = float(np.max(self.ends - self.starts)) if ordered else 0.0

    def _window(self, lo: float, hi: float) -> slice:
        a = int(np.searchsorted(self.starts, lo - self.max_duration, side="left"))
        b = int(np.searchsorted(self.starts, hi, side="right"))
        return slice(a, b)

    def overlap(self, start: float, end: float) -> np.ndarray:
        """Seconds of ``[start, end)`` covered, per label; shape: (n_labels,)."""
        w = self._window(start, end)
        seconds = np.minimum(self.ends[w], end) - np.maximum(self.starts[w], start)
        return np.bincount(self.labels[w], weights=np.clip(seconds, 0.0, None), minlength=self.n_labels)

    def containing(self, time: float) -> int | None:
        """The label of an interval with ``start <= time < end`` (the latest-starting one), or None."""
        w = self._window(time, time)
        hits = np.flatnonzero((self.starts[w] <= time) & (self.ends[w] > time))
        return None if len(hits) == 0 else int(self.labels[w][hits[-1]])

    def nearest(self, start: float, end: float, tolerance: float) -> tuple[float, int] | None:
        """``(gap, label)`` of the interval nearest to ``[start, end]`` within ``tolerance``; ties: the
        earlier one."""
        w = self._window(start - tolerance, end + tolerance)
        best: tuple[float, int, float, int] | None = None
        for lo, hi, label in zip(self.starts[w], self.ends[w], self.labels[w], strict=True):
            gap = max(0.0, float(lo) - end, start - float(hi))
            if gap > tolerance:
                continue
            key = (gap, 0 if hi <= start else 1, float(lo), int(label))
            if best is None or key < best:
                best = key
        return None if best is None else (best[0], best[3])


@dataclass(frozen=True)
class _Context:
    labels: tuple[str, ...]
    primary: _Intervals
    secondary: _Intervals
    regions: _Intervals
    turns_by_speaker: Mapping[str, tuple[SpeakerTurn, ...]]
    options: AssignOptions
    activity: SpeakerActivity | None = None
    columns: tuple[int, ...] = ()  # label index of each activity column


def _context(diarization: Diarization, options: AssignOptions) -> _Context:
    labels = list(diarization.speakers)
    for t in (*diarization.turns, *diarization.exclusive):
        if t.speaker not in labels:
            labels.append(t.speaker)
    activity = diarization.activity
    if activity is not None and (activity.active.shape[1] == 0 or not set(activity.speakers) <= set(labels)):
        activity = None
    index = {label: i for i, label in enumerate(labels)}

    def intervals(turns: Iterable[SpeakerTurn]) -> _Intervals:
        return _Intervals([(t.start, t.end, index[t.speaker]) for t in turns], len(labels))

    by_speaker: dict[str, list[SpeakerTurn]] = {}
    for t in diarization.turns:
        by_speaker.setdefault(t.speaker, []).append(t)
    return _Context(
        labels=tuple(labels),
        primary=intervals(diarization.exclusive or diarization.turns),
        secondary=intervals(diarization.turns),
        regions=_Intervals([(r.start, r.end, 0) for r in overlap_regions(diarization.turns)], 1),
        turns_by_speaker={k: tuple(v) for k, v in by_speaker.items()},
        options=options,
        activity=activity,
        columns=tuple(index[name] for name in activity.speakers) if activity is not None else (),
    )


def _voiced(start: float, end: float, ctx: _Context) -> np.ndarray | None:
    """Rule 1's frame score of ``[start, end)`` per label, or None without activity or voiced frames there."""
    activity = ctx.activity
    if activity is None or end <= start:
        return None
    first, stop, seconds = activity.frame_range(start, end)
    if stop <= first:
        return None
    active = activity.active[first:stop]  # shape: (frames, activity speakers)
    strength = np.where(active, activity.strength[first:stop], 0.0)
    total = strength.sum(axis=1, keepdims=True)
    share = np.divide(strength, total, out=np.zeros_like(strength), where=total > 0)
    alone = active & (active.sum(axis=1, keepdims=True) == 1)
    weight = np.where(alone, 1.0, ctx.options.overlap_weight * share)
    per_column = seconds @ weight  # shape: (activity speakers,)
    if per_column.max() <= 0:
        return None
    score = np.zeros(len(ctx.labels))
    score[list(ctx.columns)] = per_column
    return score


def _choose_speaker(start: float, end: float, ctx: _Context) -> tuple[str | None, str]:
    """The speaker of ``[start, end)`` and the rule that chose it: ``turn``, ``nearest``, ``sole`` or ``none``."""
    if not ctx.labels:
        return None, "none"
    voiced = _voiced(start, end, ctx)
    if voiced is not None:
        primary = ctx.primary.overlap(start, end)
        best = int(np.lexsort((np.arange(len(voiced)), -primary, -voiced))[0])
        return ctx.labels[best], "turn"
    primary = ctx.primary.overlap(start, end)
    secondary = ctx.secondary.overlap(start, end)
    for main in (primary, secondary):
        if main.max() > 0:
            # the last key sorts first: most overlap, then most overlap in the other view, then label order
            best = int(np.lexsort((np.arange(len(main)), -secondary, -main))[0])
            return ctx.labels[best], "turn"
    # a zero-length word: the turn containing its instant
    if end <= start:
        for view in (ctx.primary, ctx.secondary):
            label = view.containing(start)
            if label is not None:
                return ctx.labels[label], "turn"
    found = ctx.secondary.nearest(start, end, ctx.options.nearest_tolerance)
    if found is not None:
        return ctx.labels[found[1]], "nearest"
    if ctx.options.single_speaker_fallback and len(ctx.labels) == 1:
        return ctx.labels[0], "sole"
    return None, "none"


def _is_overlapped(word: Word, ctx: _Context) -> bool:
    if word.end <= word.start:
        return ctx.regions.containing(word.start) is not None
    covered = float(ctx.regions.overlap(word.start, word.end)[0])
    return covered >= ctx.options.overlap_fraction * (word.end - word.start) - 1e-9


def _is_sentence_end(text: str, options: AssignOptions) -> bool:
    token = text.strip()
    if token.lower() in options.abbreviations:
        return False
    token = token.rstrip(_CLOSERS)
    return bool(token) and token[-1] in options.sentence_end


def _split_sentences(words: Sequence[Word], options: AssignOptions) -> list[list[Word]]:
    sentences: list[list[Word]] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (
            nxt is None
            or _is_sentence_end(word.text, options)
            or nxt.start - word.end >= options.sentence_pause
        ):
            sentences.append(current)
            current = []
    return sentences


def _runs(words: Sequence[Word]) -> list[tuple[int, int, str | None]]:
    """Maximal runs ``(first, stop, speaker)`` of consecutive words with the same speaker."""
    runs: list[tuple[int, int, str | None]] = []
    for i, word in enumerate(words):
        if runs and runs[-1][2] == word.speaker:
            runs[-1] = (runs[-1][0], i + 1, word.speaker)
        else:
            runs.append((i, i + 1, word.speaker))
    return runs


def _in_separate_turn(words: Sequence[Word], speaker: str, ctx: _Context) -> bool:
    """Whether one turn of ``speaker`` at least ``smooth_keep_turn`` long overlaps every word."""
    for turn in ctx.turns_by_speaker.get(speaker, ()):
        if turn.duration < ctx.options.smooth_keep_turn:
            continue
        if all(
            (turn.start <= w.start <= turn.end)
            if w.end <= w.start
            else (w.start < turn.end and turn.start < w.end)
            for w in words
        ):
            return True
    return False


def _may_take(speaker: str, word: Word, ctx: _Context) -> bool:
    """Whether a turn of ``speaker`` meets ``word``, or the word lies in no turn at all and ``speaker``'s is
    the nearest (smoothing never gives a word to a speaker the turns do not show there)."""
    if any(t.start <= word.end and word.start <= t.end for t in ctx.turns_by_speaker.get(speaker, ())):
        return True
    if ctx.secondary.overlap(word.start, word.end).max() > 0:
        return False
    found = ctx.secondary.nearest(word.start, word.end, float("inf"))
    return found is not None and ctx.labels[found[1]] == speaker


def _speaks_at(speaker: str, time: float, ctx: _Context) -> bool:
    return any(t.start <= time < t.end for t in ctx.turns_by_speaker.get(speaker, ()))


def _spills(speaker: str | None, run: Sequence[Word], other: Word | None, ctx: _Context) -> bool:
    """Whether one turn of ``speaker`` meets every word of ``run`` and the word ``other`` too."""
    if speaker is None or other is None:
        return False
    span = [*run, other]
    turns = ctx.turns_by_speaker.get(speaker, ())
    return any(all(w.start <= t.end and t.start <= w.end for w in span) for t in turns)


def _join_edges(
    words: list[Word], ctx: _Context, before: Word | None, after: Word | None
) -> tuple[list[Word], int]:
    """Rule 4 at a sentence's edges: a short overlapped first (last) run whose speaker's turn runs on into the
    word ``before`` (``after``) the sentence joins its neighbour when that neighbour's speaker talks at every
    word's midpoint too."""
    runs = _runs(words)
    if len(runs) < 2:
        return words, 0
    out, changed = list(words), 0
    for (first, stop, speaker), neighbour, other in ((runs[0], runs[1][2], before), (runs[-1], runs[-2][2], after)):
        run = out[first:stop]
        if (
            neighbour is not None
            and len(run) <= ctx.options.smooth_max_words
            and run[-1].end - run[0].start <= ctx.options.smooth_max_duration
            and all(w.overlap and _speaks_at(neighbour, 0.5 * (w.start + w.end), ctx) for w in run)
            and _spills(speaker, run, other, ctx)
        ):
            out[first:stop] = [replace(w, speaker=neighbour) for w in run]
            changed += len(run)
    return out, changed


def _smooth(
    words: list[Word], ctx: _Context, before: Word | None = None, after: Word | None = None
) -> tuple[list[Word], int]:
    """Apply the smoothing rule to one sentence, left to right, then at its edges (``before`` and ``after``:
    the words around the sentence); returns the new words and how many changed."""
    opts = ctx.options
    out = list(words)
    changed = 0
    k = 1
    while True:
        runs = _runs(out)
        if k + 1 >= len(runs):
            if opts.smooth_max_words == 0:
                return out, changed
            out, edges = _join_edges(out, ctx, before, after)
            return out, changed + edges
        left, (first, stop, speaker), right = runs[k - 1][2], runs[k], runs[k + 1][2]
        run = out[first:stop]
        if (
            left is not None
            and left == right
            and len(run) <= opts.smooth_max_words
            and run[-1].end - run[0].start <= opts.smooth_max_duration
            and (speaker is None or not _in_separate_turn(run, speaker, ctx))
            and all(_may_take(left, w, ctx) for w in run)
        ):
            out[first:stop] = [replace(w, speaker=left) for w in run]
            changed += len(run)  # the three runs merge: the next candidate is now at index k
        else:
            k += 1


def _speaker_segments(sentence: Sequence[Word]) -> list[Segment]:
    return [
        Segment(
            start=sentence[first].start,
            end=sentence[stop - 1].end,
            text=join_words(sentence[first:stop]),
            words=tuple(sentence[first:stop]),
            speaker=speaker,
        )
        for first, stop, speaker in _runs(sentence)
    ]


def _label_words(words: Iterable[Word], ctx: _Context, counts: dict[str, int]) -> list[Word]:
    labelled: list[Word] = []
    for word in words:
        speaker, rule = _choose_speaker(word.start, word.end, ctx)
        overlap = _is_overlapped(word, ctx)
        counts[rule] += 1
        counts["overlap"] += overlap
        labelled.append(replace(word, speaker=speaker, overlap=overlap))
    return labelled


def _flush(words: list[Word], ctx: _Context, counts: dict[str, int]) -> list[Segment]:
    segments: list[Segment] = []
    sentences = _split_sentences(words, ctx.options)
    for i, sentence in enumerate(sentences):
        before = sentences[i - 1][-1] if i > 0 else None
        after = sentences[i + 1][0] if i + 1 < len(sentences) else None
        smoothed, changed = _smooth(sentence, ctx, before, after)
        counts["smoothed"] += changed
        segments += _speaker_segments(smoothed)
    return segments


def attribute(
    transcript: Transcript, diarization: Diarization, options: AssignOptions | None = None
) -> Attribution:
    """Give every word of ``transcript`` a speaker from ``diarization`` and group the words into
    single-speaker sentence segments (rules in the module docstring). Neither input is modified."""
    options = options or AssignOptions()
    if options.single_speaker_fallback and not (diarization.speakers or diarization.turns):
        diarization = _assume_speaker(transcript, diarization, options)
    ctx = _context(diarization, options)
    counts = dict.fromkeys(("turn", "nearest", "sole", "none", "overlap", "smoothed"), 0)
    segments: list[Segment] = []
    pending: list[Word] = []
    for seg in transcript.segments:
        if seg.words:
            pending += _label_words(seg.words, ctx, counts)
            continue
        segments += _flush(pending, ctx, counts)
        pending = []
        speaker, _ = _choose_speaker(seg.start, seg.end, ctx)
        segments.append(replace(seg, speaker=speaker))
    segments += _flush(pending, ctx, counts)
    stats = AttributionStats(
        words=counts["turn"] + counts["nearest"] + counts["sole"] + counts["none"],
        in_turn=counts["turn"],
        nearest=counts["nearest"],
        sole=counts["sole"],
        unassigned=counts["none"],
        overlap=counts["overlap"],
        smoothed=counts["smoothed"],
    )
    logger.debug("attributed words: %s", stats.to_dict())
    return Attribution(segments=tuple(segments), diarization=diarization, stats=stats)


def _assume_speaker(transcript: Transcript, diarization: Diarization, options: AssignOptions) -> Diarization:
    """Rule 6: ``diarization`` (which has no speaker) with one speaker whose turns cover the transcript."""
    spans = sorted(
        [(w.start, w.end) for w in transcript.words]
        + [(s.start, s.end) for s in transcript.segments if not s.words]
    )
    if not spans:
        return diarization
    runs: list[tuple[float, float]] = []
    for start, end in spans:
        if runs and start - runs[-1][1] < options.sentence_pause:
            runs[-1] = (runs[-1][0], max(runs[-1][1], end))
        else:
            runs.append((start, end))
    turns = tuple(SpeakerTurn(start, end, ASSUMED_SPEAKER) for start, end in runs if end > start)
    words = len(transcript.words)
    note = f"the speaker stage heard no speech; one speaker assumed for {words} word{'' if words == 1 else 's'}"
    logger.info("%s", note)
    return replace(
        diarization,
        turns=turns,
        exclusive=turns,
        speakers=(ASSUMED_SPEAKER,),
        centroids={},
        activity=None,
        note="; ".join(n for n in (diarization.note, note) if n),
    )
