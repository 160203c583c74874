"""What the ASR stage keeps of a decoder's output, and how its times reach the original timeline.

Both Whisper backends decode one window of speech (see :mod:`diarize.asr.transcription`) into
:class:`RawSegment` records
with times in that window. :func:`clean_window` then

1. drops segments without words or without duration (openai-whisper can re-decode an empty, zero-length
   segment at the end of its audio), and words without a letter or digit (" . ." is Whisper's noise);
2. drops segments that look like silence or noise: ``no_speech_prob`` above its threshold while
   ``avg_logprob`` is below its own (Whisper's rule for skipping a window), or ``no_speech_prob`` above
   ``no_speech_drop`` whatever the log probability;
3. drops segments whose own text compresses too well (gzip ratio above ``compression_ratio_threshold``: text
   stuck on repeat). The decoders report the ratio of a whole decoding pass, which would condemn every segment
   of a window that merely holds the same sentence twice; the ratio is therefore recomputed per segment, and
   that is the value the returned segments carry;
4. cuts repeated-phrase loops: the same phrase (1 to ``_MAX_LOOP_WORDS`` words, compared without case and
   punctuation) said ``loop_min_repeats`` or more times in a row, ``loop_min_words`` words at least in all,
   keeps only its first occurrence;
5. maps every word to the original timeline through the window's :class:`~diarize.spans.SpanMap` and clamps
   it inside the speech span that holds its midpoint (or, for a midpoint in a pause, the nearest span), so
   that no word lies where voice activity detection found no speech; words are then made monotonic and
   non-overlapping (a word starts no earlier than the previous one ends).

Word text keeps Whisper's spelling, the leading space included in languages written with spaces, so that
joining words reproduces the text in every language; a segment's text is its kept words joined, stripped.
"""

from __future__ import annotations

import bisect
import logging
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from diarize.spans import SpanMap
from diarize.text import join_words
from diarize.types import Segment, Span, Word

__all__ = ["GuardOptions", "RawSegment", "RawWord", "clean_window", "compression_ratio", "find_loops", "repetitive"]

log = logging.getLogger(__name__)

_MAX_LOOP_WORDS = 12  # longest phrase (in words) searched for repetition loops
_PUNCTUATION = re.compile(r"[^\w']+", re.UNICODE)
_WORDLIKE = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True)
class RawWord:
    """A word as a backend decoded it; times are seconds in the decoded window."""

    start: float
    end: float
    text: str
    probability: float


@dataclass(frozen=True)
class RawSegment:
    """A segment as a backend decoded it; times are seconds in the decoded window."""

    start: float
    end: float
    text: str
    words: tuple[RawWord, ...]
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True)
class GuardOptions:
    """The thresholds of :func:`clean_window`; ``None`` turns a check off."""

    no_speech_threshold: float | None = 0.6
    log_prob_threshold: float | None = -1.0
    no_speech_drop: float | None = 0.8
    compression_ratio_threshold: float | None = 2.4
    loop_min_repeats: int = 3
    loop_min_words: int = 6


def clean_window(
    raw: Sequence[RawSegment], spans: SpanMap, speech: Sequence[Span], options: GuardOptions
) -> list[Segment]:
    """The segments of one window that pass the guards, with their words on the original timeline.

    ``spans`` maps the window to the original timeline; ``speech`` are the (sorted) speech spans the window
    covers, into which every word is clamped.
    """
    kept = [s for s in raw if _passes(s, options)]
    flat = [(i, w) for i, s in enumerate(kept) for w in s.words]
    drop = find_loops([w.text for _, w in flat], options.loop_min_repeats, options.loop_min_words)
    if drop:
        log.info("asr: dropped %d words of repeated-phrase loops", len(drop))
    drop.update(n for n, (_, w) in enumerate(flat) if not _WORDLIKE.search(w.text))
    words: list[list[Word]] = [[] for _ in kept]
    previous_end = 0.0
    for n, (i, raw_word) in enumerate(flat):
        if n in drop:
            continue
        word = _to_original(raw_word, spans, speech, previous_end)
        previous_end = word.end
        words[i].append(word)
    segments = []
    for segment, seg_words in zip(kept, words, strict=True):
        if not seg_words:
            continue
        text = "".join(w.text for w in segment.words) if len(seg_words) == len(segment.words) else None
        segments.append(
            Segment(
                start=seg_words[0].start,
                end=seg_words[-1].end,
                text=(text if text is not None else join_words(seg_words)).strip(),
                words=tuple(seg_words),
                avg_logprob=segment.avg_logprob,
                no_speech_prob=segment.no_speech_prob,
                compression_ratio=compression_ratio(segment.text),
            )
        )
    return segments


def _passes(segment: RawSegment, options: GuardOptions) -> bool:
    if not segment.words or not segment.text.strip() or segment.end <= segment.start:
        return False
    silent = options.no_speech_threshold is not None and segment.no_speech_prob > options.no_speech_threshold
    if silent and (options.log_prob_threshold is None or segment.avg_logprob < options.log_prob_threshold):
        log.debug("asr: dropped as silence (no_speech %.2f): %r", segment.no_speech_prob, segment.text)
        return False
    if options.no_speech_drop is not None and segment.no_speech_prob > options.no_speech_drop:
        log.debug("asr: dropped as silence (no_speech %.2f): %r", segment.no_speech_prob, segment.text)
        return False
    if repetitive(segment.text, options.compression_ratio_threshold):
        log.info(
            "asr: dropped a repetitive segment (compression %.2f): %r",
            compression_ratio(segment.text),
            segment.text,
        )
        return False
    return True


def repetitive(text: str, threshold: float | None) -> bool:
    """Whether ``text`` compresses better than ``threshold`` allows (rule 3; never with no threshold)."""
    return threshold is not None and compression_ratio(text) > threshold


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` (UTF-8) per byte of its zlib compression, as Whisper measures repetition."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _to_original(word: RawWord, spans: SpanMap, speech: Sequence[Span], previous_end: float) -> Word:
    """``word`` on the original timeline, inside the speech span nearest its midpoint, not before
    ``previous_end``."""
    piece = spans.piece_index((word.start + word.end) / 2)
    start = spans.to_original(word.start, piece=piece)
    end = spans.to_original(word.end, piece=piece, is_end=True)
    if speech:
        home = _nearest(speech, (start + end) / 2)
        start = min(max(start, home.start), home.end)
        end = min(max(end, home.start), home.end)
    start = max(start, previous_end)
    # Whisper's spelling is kept: a word carries its leading space in languages written with spaces.
    return Word(start=start, end=max(end, start), text=word.text, probability=float(word.probability))


def _nearest(speech: Sequence[Span], time: float) -> Span:
    """The span holding ``time``, else the one closest to it (the later one on a tie)."""
    index = bisect.bisect_right([s.start for s in speech], time)
    candidates = speech[max(0, index - 1) : index + 1]
    return min(candidates, key=lambda s: (max(s.start - time, time - s.end, 0.0), -s.start))


def find_loops(texts: Sequence[str], min_repeats: int, min_words: int) -> set[int]:
    """Indices of the words repeating a phrase said ``min_repeats``+ times in a row (the first one is kept).

    A run counts as a loop only if it spans at least ``min_words`` words in all, so that "no, no, no" survives
    while a sentence or a filler word stuck on repeat does not.
    """
    keys = [_PUNCTUATION.sub("", t).lower() for t in texts]
    drop: set[int] = set()
    i = 0
    while i < len(keys):
        best_end = 0
        for size in range(1, _MAX_LOOP_WORDS + 1):
            if i + size * min_repeats > len(keys):
                break
            phrase = keys[i : i + size]
            if not any(phrase):
                continue
            repeats = 1
            while keys[i + repeats * size : i + (repeats + 1) * size] == phrase:
                repeats += 1
            if repeats >= min_repeats and repeats * size >= min_words:
                best_end = max(best_end, i + repeats * size)
                drop.update(range(i + size, i + repeats * size))
        i = max(best_end, i + 1)
    return drop
