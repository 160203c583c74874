"""Stage 2: transcription with word timestamps, on the speech that voice activity detection found.

The speech spans are packed, in order, into windows of at most ``window`` seconds (Whisper's 30 s input).
Spans at most ``bridge`` seconds apart share a window together with the real audio between them, so that
Whisper hears natural pauses. Spans further apart share it too while it has room, with the pause between them
kept at its real length but silenced (``silence_pauses``, the default): one encoder pass per 30 s of the
recording, as in plain Whisper, and no words heard where voice activity detection found none. With
``silence_pauses`` off they start a new window, or, with ``join_gap`` set, are joined to the window after that
much silence (Whisper then tends to pull the first word after a join back across it). A window is decoded
by one of two backends (:mod:`diarize.asr.backends`); its output passes the guards of
:mod:`diarize.asr.guards` (silence, repetition, loops); its word times are mapped back to the original
timeline through the window's :class:`~diarize.spans.SpanMap` and clamped inside the speech span that holds
each word. Windows are decoded one at a time, so memory stays bounded however long the audio is.

The language is the forced one, or ``en`` for an English-only model. Otherwise, with ``language_mode``
``segment`` (the default), it is detected per speech region and each region decoded in its own, windows never
mixing two languages (the rules: :mod:`diarize.asr.language`); with ``file`` it is detected once (on the
windows with the most speech among the first few) and then forced for the whole file. Word timestamps are always on.
With ``temperature`` 0 and no fallback temperatures the output is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

import numpy as np

from diarize.asr.backends import Backend, DecodeSettings, make_backend, warm_up_openai
from diarize.asr.concurrency import decode_windows
from diarize.asr.guards import GuardOptions, clean_window, repetitive
from diarize.asr.language import (
    detect,
    dominant_language,
    mean_probabilities,
    region_speakers,
    settle_by_speaker,
    settle_in_time,
    weighted_mean,
)
from diarize.asr.options import AsrOptions
from diarize.cores import available_cores
from diarize.errors import ConfigError
from diarize.hooks import Hook
from diarize.spans import SpanMap, merge_spans
from diarize.types import Audio, LanguageRegion, Segment, Span, Transcript

__all__ = [
    "Window",
    "decode_settings",
    "pack_by_language",
    "pack_spans",
    "settle_speaker_languages",
    "transcribe",
    "warm_up",
]

log = logging.getLogger(__name__)

_DETECTION_CANDIDATES = 10  # the language is detected among the first windows…
_DETECTION_WINDOWS = 3  # …on those with the most speech


def transcribe(
    audio: Audio,
    spans: Sequence[Span],
    model: Any,
    options: AsrOptions | None = None,
    hook: Hook | None = None,
) -> Transcript:
    """Transcribe the speech ``spans`` of ``audio`` with ``model`` (a faster-whisper ``WhisperModel`` for
    backend ``faster``, an openai-whisper ``Whisper`` for ``openai``); times are on the original timeline."""
    options = options or AsrOptions()
    backend = make_backend(options.backend, model, decode_settings(options))
    if options.language not in (None, "en") and not backend.multilingual:
        raise ConfigError(f"the asr model is English-only but language {options.language!r} was asked for")
    clean = _clean_spans(spans, audio.duration)
    regions: tuple[LanguageRegion, ...] = ()
    if options.language is None and backend.multilingual and options.language_mode == "segment":
        regions, language, probability = _region_languages(backend, clean, audio, options, hook)
        windows = pack_by_language(regions, clean, options, audio.sample_rate)
    else:
        windows = pack_spans(clean, options, audio.sample_rate)
        language, probability = _language(backend, options.language, windows, audio)
        detected = options.language is None and backend.multilingual
        windows = [replace(w, language=language if detected else None, decode_as=language) for w in windows]
    fallback = language if regions else None
    segments = _decode(backend, audio, windows, options, hook, fallback)
    return Transcript(
        segments=tuple(segments), language=language, language_probability=probability, regions=regions
    )


def _region_languages(
    backend: Backend, spans: Sequence[Span], audio: Audio, options: AsrOptions, hook: Hook | None
) -> tuple[tuple[LanguageRegion, ...], str, float | None]:
    """Rules 1 to 4 of :mod:`diarize.asr.language`: each region's language, the file's, and its mean
    probability."""
    detections = detect(backend, audio, spans, options.language_min_speech, hook)
    mean = mean_probabilities(detections)
    if not mean:  # nothing long enough to judge: the per-file rule on the windows
        windows = pack_spans(spans, options, audio.sample_rate)
        guess, p = _language(backend, None, windows, audio)
        mean = {guess: p or 0.0}
    prior = max(mean, key=lambda k: mean[k])
    regions = tuple(settle_in_time(detections, options.language_threshold, options.language_pause, prior))
    language = dominant_language(regions) or prior
    counts = {r.language: sum(1 for x in regions if x.language == r.language) for r in regions}
    log.info("asr: languages per region %s; file language %s", counts, language)
    return regions, language, mean.get(language) if regions else None


def _decode(
    backend: Backend,
    audio: Audio,
    windows: Sequence[Window],
    options: AsrOptions,
    hook: Hook | None,
    fallback: str | None = None,
) -> list[Segment]:
    """Every window decoded in its language; the segments carry the window's ``language``.

    A window decoded in another language than ``fallback`` (the file's, when languages are detected per
    region) whose output holds repetitive text (a decoder loop: far-field English heard as Welsh loops on
    ``gweithio'r``) is decoded again in ``fallback``, and the decoding that keeps more words wins.
    Windows are decoded side by side as far as the stage's thread budget allows, ``options.cpu_threads``
    threads each (:mod:`diarize.asr.concurrency`). Progress is reported in milliseconds of window audio, after each
    window: a long window moves it further.
    """
    guards = _guard_options(options)
    sizes = [window.spans.length * 1000 // audio.sample_rate for window in windows]
    if hook is not None:
        hook("asr", 0, sum(sizes))

    def one(window: Window) -> list[Segment]:
        samples = window.audio(audio.samples)  # shape: (window.spans.length,)
        raw = backend.decode(samples, window.decode_as)
        kept = clean_window(raw, window.spans, window.speech, guards)
        language = window.language
        if (
            fallback
            and window.decode_as != fallback
            and any(repetitive(s.text, guards.compression_ratio_threshold) for s in raw)
        ):
            again = clean_window(backend.decode(samples, fallback), window.spans, window.speech, guards)
            if sum(len(s.words) for s in again) > sum(len(s.words) for s in kept):
                log.info("asr: a window looped in %s; decoded in %s instead", window.decode_as, fallback)
                kept, language = again, fallback
        return [replace(s, language=language) for s in kept]

    done = 0

    def report(index: int) -> None:
        nonlocal done
        done += sizes[index]
        if hook is not None:
            hook("asr", done, sum(sizes))

    decoded = decode_windows(one, windows, backend.replicas, options.cpu_threads, report)
    return [s for window in decoded for s in window]


def settle_speaker_languages(
    audio: Audio, transcript: Transcript, attributed: Sequence[Segment], model: Any, options: AsrOptions
) -> Transcript:
    """Rule 5 of :mod:`diarize.asr.language`, after the words got speakers (``attributed``): unconfident
    regions take their speaker's language; the windows that change are decoded again. Returns
    ``transcript`` itself when no region changes (always, unless it was detected per region)."""
    if not transcript.regions:
        return transcript
    regions = settle_by_speaker(transcript.regions, region_speakers(transcript.regions, attributed))
    if list(regions) == list(transcript.regions):
        return transcript
    spans = [Span(r.start, r.end) for r in regions]
    before = pack_by_language(transcript.regions, spans, options, audio.sample_rate)
    after = pack_by_language(regions, spans, options, audio.sample_rate)
    kept = {(w.speech, w.language) for w in before} & {(w.speech, w.language) for w in after}
    stale = [w for w in before if (w.speech, w.language) not in kept]
    fresh = [w for w in after if (w.speech, w.language) not in kept]
    log.info("asr: %d regions take their speaker's language; %d windows decoded again", sum(
        a.language != b.language for a, b in zip(regions, transcript.regions, strict=True)), len(fresh))
    backend = make_backend(options.backend, model, decode_settings(options))
    segments = [s for s in transcript.segments if not any(_holds(w, s) for w in stale)]
    segments += _decode(backend, audio, fresh, options, None)
    return replace(
        transcript,
        segments=tuple(sorted(segments, key=lambda s: s.start)),
        language=dominant_language(regions),
        regions=tuple(regions),
    )


def _holds(window: Window, segment: Segment) -> bool:
    return window.speech[0].start <= segment.start <= window.speech[-1].end


def pack_by_language(
    regions: Sequence[LanguageRegion], spans: Sequence[Span], options: AsrOptions, sample_rate: int
) -> list[Window]:
    """Rule 6: ``spans`` (one per region) packed as :func:`pack_spans` packs them, within each run of
    consecutive regions of one language, so that no window mixes two languages."""
    windows: list[Window] = []
    run: list[Span] = []
    for i, (region, span) in enumerate(zip(regions, spans, strict=True)):
        run.append(span)
        if i + 1 == len(regions) or regions[i + 1].language != region.language:
            packed = pack_spans(run, options, sample_rate)
            windows += [replace(w, language=region.language, decode_as=region.language) for w in packed]
            run = []
    return windows


def _language(
    backend: Backend, forced: str | None, windows: Sequence[Window], audio: Audio
) -> tuple[str, float | None]:
    """The language to decode in and its detected probability (``None`` unless detected; ``""`` when there is
    nothing to detect it on).

    Whisper's language token is judged on the windows with the most speech among the first few, its
    probabilities averaged with weights by seconds of speech: one window of far-field speech can tip towards
    a wrong language (Welsh for an AMI meeting, 0.51 to 0.47) where the file as a whole does not.
    """
    if forced is not None:
        return forced, None
    if not backend.multilingual:
        return "en", None
    if not windows:
        return "", None
    candidates = sorted(windows[:_DETECTION_CANDIDATES], key=lambda w: -sum(s.duration for s in w.speech))
    mean = weighted_mean(
        (sum(s.duration for s in window.speech), backend.language_probabilities(window.audio(audio.samples)))
        for window in candidates[:_DETECTION_WINDOWS]
    )
    language = max(mean, key=lambda k: mean[k])
    probability = mean[language]
    log.info("asr: detected language %s (p=%.2f)", language, probability)
    return language, probability


def warm_up(model: Any, options: AsrOptions | None = None) -> None:
    """Pay the one-time costs of a backend before timing it: numba's compilation of openai-whisper's DTW."""
    options = options or AsrOptions()
    make_backend(options.backend, model, decode_settings(options))
    if options.backend == "openai":
        warm_up_openai()


@dataclass(frozen=True)
class Window:
    """One decoder input: pieces of the original audio joined by a :class:`SpanMap`, and the speech in
    them."""

    spans: SpanMap
    speech: tuple[Span, ...]
    language: str | None = None
    """The language the window's segments record: ``None`` when it was forced or the model is English-only."""
    decode_as: str = ""
    """The language the window is decoded in."""
    silenced: tuple[tuple[int, int], ...] = ()
    """Pauses inside the pieces that the decoder hears as silence: ``[start, end)`` original sample
    indices."""

    def audio(self, samples: np.ndarray) -> np.ndarray:
        """What the decoder hears: the pieces of ``samples`` (the whole recording) joined, pauses silenced."""
        out = self.spans.join(samples)  # shape: (self.spans.length,)
        for start, end in self.silenced:
            at = self.spans.joined_sample(start)
            out[at : at + end - start] = 0
        return out


def pack_spans(spans: Sequence[Span], options: AsrOptions, sample_rate: int) -> list[Window]:
    """Sorted, non-overlapping speech ``spans`` packed in order into windows of at most ``options.window``
    seconds.

    A span joins the window of the span before it when the audio fits: with the real audio between them when
    they are at most ``options.bridge`` seconds apart; else with that pause silenced at its real length
    (``options.silence_pauses``), or as a new piece after ``options.join_gap`` seconds of silence (unless it
    is ``None``). A span longer than a window is cut into equal parts that fit.
    """
    limit = int(options.window * sample_rate)
    max_bridge = round(options.bridge * sample_rate)
    join_gap = None if options.silence_pauses else options.join_gap
    gap = None if join_gap is None else round(join_gap * sample_rate)
    windows: list[Window] = []
    pieces: list[list[int]] = []
    speech: list[Span] = []
    silenced: list[tuple[int, int]] = []
    used = 0

    def close() -> None:
        joined = SpanMap([(a, b) for a, b in pieces], sample_rate, gap or 0)
        windows.append(Window(joined, tuple(speech), silenced=tuple(silenced)))

    for span in spans:
        for start, end in _fit(
            round(span.start * sample_rate), round(span.end * sample_rate), limit, sample_rate
        ):
            pause = start - pieces[-1][1] if pieces else 0
            if pieces and (pause <= max_bridge or options.silence_pauses) and used + end - pieces[-1][1] <= limit:
                if pause > max_bridge:
                    silenced.append((pieces[-1][1], start))
                used += end - pieces[-1][1]
                pieces[-1][1] = end
            elif pieces and gap is not None and used + gap + end - start <= limit:
                used += gap + end - start
                pieces.append([start, end])
            else:
                if pieces:
                    close()
                pieces, speech, silenced, used = [[start, end]], [], [], end - start
            speech.append(Span(start / sample_rate, end / sample_rate))
    if pieces:
        close()
    return windows


def _fit(start: int, end: int, limit: int, sample_rate: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into equal parts of at most ``limit`` samples."""
    parts = -(-(end - start) // limit)
    if parts > 1:
        length = (end - start) / sample_rate
        log.warning("asr: a %.1f s speech span exceeds the window; cut blindly into %d parts", length, parts)
    bounds = [start + (end - start) * i // parts for i in range(parts + 1)]
    return list(pairwise(bounds))


def _clean_spans(spans: Sequence[Span], duration: float) -> list[Span]:
    """``spans`` clipped to the audio, sorted, with overlapping (not merely touching) ones merged, empty ones
    dropped."""
    clipped = [(start, end) for s in spans if (end := min(duration, s.end)) > (start := max(0.0, s.start))]
    # touching spans stay apart: the VAD cuts long speech into pieces that touch, each its own window piece
    return [Span(a, b) for a, b in merge_spans(clipped, touching=False)]


def decode_settings(options: AsrOptions) -> DecodeSettings:
    """The decoder settings ``options`` ask for, as both backends take them."""
    return DecodeSettings(
        beam_size=options.beam_size,
        temperatures=(options.temperature, *options.fallback_temperatures),
        no_speech_threshold=options.no_speech_threshold,
        log_prob_threshold=options.log_prob_threshold,
        compression_ratio_threshold=options.compression_ratio_threshold,
        condition_on_previous_text=options.condition_on_previous_text,
        initial_prompt=options.initial_prompt,
        hotwords=options.hotwords,
        task=options.task,
        threads=options.cpu_threads or available_cores(),
    )


def _guard_options(options: AsrOptions) -> GuardOptions:
    return GuardOptions(
        no_speech_threshold=options.no_speech_threshold,
        log_prob_threshold=options.log_prob_threshold,
        no_speech_drop=options.no_speech_drop,
        compression_ratio_threshold=options.compression_ratio_threshold,
        loop_min_repeats=options.loop_min_repeats,
        loop_min_words=options.loop_min_words,
    )
