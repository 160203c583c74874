"""The language of each speech region, for meetings that switch language.

With a multilingual model, no forced language and ``AsrOptions.language_mode == "segment"``, the language is
decided per speech region (one span of voice activity detection, at most 30 s), by these rules:

1. **Detection.** Every region of at least ``language_min_speech`` seconds has Whisper's language-token
   probabilities measured on its own audio (its first 10 s; with faster-whisper as many regions share one
   encoder pass as the model has threads, see
   :meth:`~diarize.asr.backends.FasterBackend.region_probabilities`), never on a window that joins it to
   other regions. Shorter regions are not judged: a second of speech is too little
   to tell languages apart.
2. **Confidence.** A judged region whose most probable language reaches ``language_threshold`` is confident
   and keeps that language.
3. **Context.** Regions separated by pauses of at most ``language_pause`` seconds form a run (one stretch of
   talk). An unconfident region's context is the languages of the confident regions of its run and the
   file's language: the most probable language of all judged regions' probabilities averaged with weights
   by seconds of speech (the per-file rule).
4. **Choice.** An unconfident judged region takes the language with the highest score, where its own most
   probable language scores its probability and each context language ``CONTEXT_WEIGHT`` (5) times its
   probability: far-field English that scores Welsh 0.48 and English 0.47 on a 2 s region, or Russian
   0.32 and English 0.10, stays English, while a weak French 0.6 next to Italian (0.01) stays French. A
   region too short to judge takes the language of the nearest confident region of its run (the earlier
   on a tie), else the file's.
5. **Speakers.** Once words have speakers (the speaker stage runs beside transcription, so this comes
   after decoding), a region belongs to the speaker of most of its words' time, and a speaker's language is
   the language with the most seconds among the speaker's confident regions. Unconfident regions choose
   again by rule 4 with their speaker's language added to the context (a region too short to judge simply
   takes it); a region whose language changed so is decoded again (see
   :func:`diarize.asr.transcription.settle_speaker_languages`). Confident regions never change: a speaker
   may switch language on purpose.
6. **Decoding.** Regions are packed into decoder windows exactly as in the per-file mode, except that a
   window never joins regions of two languages; when every region has one language the windows, and so
   the words, are those of the per-file mode.

The transcript's language is the one with the most seconds of speech; each segment carries its own, and each
sentence that word attribution builds takes the language of most of its words' time (:func:`label_languages`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from diarize.hooks import Hook
from diarize.types import Audio, LanguageRegion, Segment, Span

if TYPE_CHECKING:
    from diarize.asr.backends import Backend

__all__ = [
    "CONTEXT_WEIGHT",
    "Detection",
    "choose",
    "detect",
    "detection_span",
    "dominant_language",
    "label_languages",
    "mean_probabilities",
    "region_speakers",
    "settle_by_speaker",
    "settle_in_time",
    "weighted_mean",
]

_MAX_DETECTION = 10.0  # seconds of a region that language detection hears

CONTEXT_WEIGHT = 5.0
"""Rule 4: how many times its probability a language of a region's context counts against the region's own
most probable language."""


@dataclass(frozen=True)
class Detection:
    """One speech region and Whisper's language probabilities on it (empty when it was too short to
    judge)."""

    span: Span
    probabilities: Mapping[str, float]

    @property
    def best(self) -> tuple[str, float]:
        language = max(self.probabilities, key=lambda k: self.probabilities[k])
        return language, self.probabilities[language]


def detection_span(span: Span) -> Span:
    """The part of ``span`` that language detection hears: its first 10 s."""
    return Span(span.start, min(span.end, span.start + _MAX_DETECTION))


def detect(
    backend: Backend, audio: Audio, spans: Sequence[Span], min_speech: float, hook: Hook | None = None
) -> list[Detection]:
    """Rule 1: the language probabilities of every region of at least ``min_speech`` seconds, on its own
    first 10 s, ``backend.detection_batch`` regions at a time (progress: stage ``language``, in regions)."""
    judged = [i for i, span in enumerate(spans) if span.duration >= min_speech]
    found: dict[int, Mapping[str, float]] = {}
    if hook is not None:
        hook("language", 0, len(spans))
    size = backend.detection_batch
    done = 0
    for at in range(0, len(judged), size):
        batch = judged[at : at + size]
        heard = [detection_span(spans[i]) for i in batch]
        found.update(zip(batch, backend.region_probabilities([audio.slice(h.start, h.end) for h in heard]),
                         strict=True))
        done = batch[-1] + 1
        if hook is not None:
            hook("language", done, len(spans))
    if hook is not None and done < len(spans):
        hook("language", len(spans), len(spans))
    return [Detection(span, found.get(i, {})) for i, span in enumerate(spans)]


def mean_probabilities(detections: Sequence[Detection]) -> dict[str, float]:
    """The judged detections' probabilities averaged with weights by seconds of speech (empty if none)."""
    return weighted_mean((d.span.duration, d.probabilities) for d in detections if d.probabilities)


def weighted_mean(items: Iterable[tuple[float, Mapping[str, float]]]) -> dict[str, float]:
    """Language probabilities ``(weight, probabilities)`` averaged with those weights (empty if none)."""
    total: dict[str, float] = {}
    weights = 0.0
    for weight, probabilities in items:
        for language, p in probabilities.items():
            total[language] = total.get(language, 0.0) + weight * p
        weights += weight
    return {k: v / weights for k, v in total.items()} if weights > 0 else {}


def settle_in_time(
    detections: Sequence[Detection], threshold: float, pause: float, file_language: str
) -> list[LanguageRegion]:
    """Rules 2 to 4: each region's language from its own detection and its run's confident regions."""
    regions: list[LanguageRegion] = []
    for run in _runs(detections, pause):
        confident = [i for i in run if _confident(detections[i], threshold)]
        context = tuple(dict.fromkeys([*(detections[i].best[0] for i in confident), file_language]))
        for i in run:
            d = detections[i]
            if i in confident:
                language = d.best[0]
            elif d.probabilities:
                language = choose(d.probabilities, context)
            else:
                language = _nearest(i, confident, detections) if confident else file_language
            regions.append(LanguageRegion(d.span.start, d.span.end, language, d.probabilities, i in confident,
                                          context))
    return regions


def choose(probabilities: Mapping[str, float], context: Sequence[str]) -> str:
    """Rule 4: the region's most probable language against the ``context`` languages, which count
    :data:`CONTEXT_WEIGHT` times their probability (ties: the context's order, own language last)."""
    own = max(probabilities, key=lambda k: probabilities[k])
    scores = {language: CONTEXT_WEIGHT * probabilities.get(language, 0.0) for language in context}
    scores.setdefault(own, probabilities[own])
    return max(scores, key=lambda k: scores[k])


def _confident(detection: Detection, threshold: float) -> bool:
    return bool(detection.probabilities) and detection.best[1] >= threshold


def _runs(detections: Sequence[Detection], pause: float) -> list[list[int]]:
    """Indices of the detections grouped into runs whose pauses are at most ``pause`` seconds."""
    runs: list[list[int]] = []
    for i, d in enumerate(detections):
        if runs and d.span.start - detections[runs[-1][-1]].span.end <= pause:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _nearest(i: int, confident: Sequence[int], detections: Sequence[Detection]) -> str:
    """Rule 4: the language of the confident region nearest to region ``i`` (the earlier on a tie)."""
    span = detections[i].span

    def distance(j: int) -> tuple[float, int]:
        other = detections[j].span
        return max(other.start - span.end, span.start - other.end, 0.0), j

    return detections[min(confident, key=distance)].best[0]


def dominant_language(regions: Sequence[LanguageRegion]) -> str:
    """The language with the most seconds of speech among ``regions`` (``""`` for none; ties: first
    heard)."""
    seconds: dict[str, float] = {}
    for r in regions:
        seconds[r.language] = seconds.get(r.language, 0.0) + (r.end - r.start)
    return max(seconds, key=lambda k: seconds[k]) if seconds else ""


def region_speakers(regions: Sequence[LanguageRegion], segments: Sequence[Segment]) -> list[str | None]:
    """Rule 5: the speaker of most word time in each region (``None`` for a region without words)."""
    out: list[str | None] = []
    words = sorted((w for s in segments for w in s.words), key=lambda w: w.start)
    for region in regions:
        seconds: dict[str, float] = {}
        for w in words:
            middle = 0.5 * (w.start + w.end)
            if w.speaker is not None and region.start <= middle <= region.end:
                seconds[w.speaker] = seconds.get(w.speaker, 0.0) + max(w.end - w.start, 1e-3)
        out.append(max(sorted(seconds), key=lambda k: seconds[k]) if seconds else None)
    return out


def settle_by_speaker(
    regions: Sequence[LanguageRegion], speakers: Sequence[str | None]
) -> list[LanguageRegion]:
    """Rule 5: unconfident regions choose again with their speaker's language (the most seconds among the
    speaker's confident regions) in the context; ``speakers`` holds each region's speaker."""
    seconds: dict[str, dict[str, float]] = {}
    for region, speaker in zip(regions, speakers, strict=True):
        if region.confident and speaker is not None:
            per = seconds.setdefault(speaker, {})
            per[region.language] = per.get(region.language, 0.0) + (region.end - region.start)
    spoken = {s: max(per, key=lambda k: per[k]) for s, per in seconds.items()}
    out = []
    for region, speaker in zip(regions, speakers, strict=True):
        if region.confident or speaker not in spoken:
            out.append(region)
            continue
        language = spoken[speaker]
        if region.probabilities:
            language = choose(region.probabilities, (language, *region.context))
        out.append(replace(region, language=language))
    return out


def label_languages(segments: Sequence[Segment], decoded: Sequence[Segment]) -> tuple[Segment, ...]:
    """``segments`` (sentences built from the words of ``decoded``) each labelled with the language that
    decoded most of its word time; unchanged when no decoded segment has a language."""
    spans = sorted((s.start, s.end, s.language) for s in decoded if s.language is not None)
    if not spans:
        return tuple(segments)
    starts = [a for a, _, _ in spans]
    out = []
    for segment in segments:
        seconds: dict[str, float] = {}
        for w in segment.words or (segment,):
            middle = 0.5 * (w.start + w.end)
            i = max(0, bisect.bisect_right(starts, middle) - 1)
            language = spans[i][2]
            if language is not None:
                seconds[language] = seconds.get(language, 0.0) + max(w.end - w.start, 1e-3)
        best = max(seconds, key=lambda k: seconds[k]) if seconds else None
        out.append(replace(segment, language=best))
    return tuple(out)
