"""Stage 2: transcription with word timestamps, on the speech that voice activity detection found.

The speech spans are packed, in order, into windows of at most ``window`` seconds (Whisper's 30 s input).
Spans at most ``bridge`` seconds apart share a window together with the real audio between them, so that
Whisper hears natural pauses; spans further apart start a new window, or, with ``join_gap`` set, are joined to
the window after that much silence (fewer windows, but Whisper then tends to pull the first word after a join
back across it). A window is decoded by one of two backends (:mod:`diarize.asr.backends`); its output passes
the guards of :mod:`diarize.asr.guards` (silence, repetition, loops); its word times are mapped back to the
original timeline through the window's :class:`~diarize.spans.SpanMap` and clamped inside the speech span
that holds each word. Windows are decoded one at a time, so memory stays bounded however long the audio is.

The language is the forced one, or ``en`` for an English-only model, or else detected once (on the windows
with the most speech among the first few) and then forced for the whole file. Word timestamps are always on.
With ``temperature`` 0 and no fallback temperatures the output is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, get_args

from diarize.asr.backends import Backend, DecodeSettings, make_backend, warm_up_openai
from diarize.asr.guards import GuardOptions, clean_window
from diarize.errors import ConfigError
from diarize.spans import SpanMap
from diarize.types import Audio, Segment, Span, Transcript

__all__ = ["AsrOptions", "ProgressHook", "Window", "decode_settings", "pack_spans", "transcribe", "warm_up"]

log = logging.getLogger(__name__)

ProgressHook = Callable[[str, int, int], None]
"""``hook(stage, completed, total)``: called with ``"asr"`` and the number of windows decoded so far."""

BackendName = Literal["faster", "openai"]
ModelSize = Literal["tiny.en", "base"]
ComputeType = Literal["int8", "float32"]
_BACKENDS: tuple[str, ...] = get_args(BackendName)
_MODEL_SIZES: tuple[str, ...] = get_args(ModelSize)
_COMPUTE_TYPES: tuple[str, ...] = get_args(ComputeType)
_DETECTION_CANDIDATES = 10  # the language is detected among the first windows…
_DETECTION_WINDOWS = 3  # …on those with the most speech


def _language_codes() -> frozenset[str]:
    # faster-whisper's list is the same as openai-whisper's but importing it does not start torch.
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


@dataclass(frozen=True)
class AsrOptions:
    """How speech is transcribed. ``model_size``, ``compute_type`` and ``cpu_threads`` choose the model that
    the pipeline loads and passes in; the others steer decoding."""

    backend: BackendName = "faster"
    """``faster`` (faster-whisper, CTranslate2) or ``openai`` (openai-whisper, PyTorch float32)."""

    model_size: ModelSize = "base"
    """``tiny.en`` (English only, fastest) or ``base`` (multilingual)."""

    compute_type: ComputeType = "int8"
    """faster-whisper weights: ``int8`` (fastest on a CPU) or ``float32`` (the same numbers as
    openai-whisper)."""

    cpu_threads: int = 2
    """Threads the decoder may use."""

    language: str | None = None
    """ISO 639-1 code (``en``, ``de``…) to force, or ``None`` to detect it once per file (always ``en`` for
    tiny.en)."""

    beam_size: int = 1
    """1 decodes greedily; larger values search that many beams (several times slower with ``openai``)."""

    temperature: float = 0.0
    """Sampling temperature of the first decoding attempt; 0 is greedy and deterministic."""

    fallback_temperatures: tuple[float, ...] = ()
    """Temperatures retried when a window fails the log-probability or compression checks; non-empty makes
    the output random."""

    no_speech_threshold: float | None = 0.6
    """A segment whose no-speech probability exceeds this while its average log probability is below
    ``log_prob_threshold`` is dropped as silence."""

    log_prob_threshold: float | None = -1.0
    """Average token log probability under which a segment counts as failed (see ``no_speech_threshold``)."""

    no_speech_drop: float | None = 0.8
    """A segment whose no-speech probability exceeds this is dropped whatever its log probability (Whisper's
    confident hallucinations on silence and noise, such as "you", score 0.9 and more; speech scored 0.45 at
    most in our recordings)."""

    compression_ratio_threshold: float | None = 2.4
    """A segment whose own text's gzip compression ratio exceeds this is stuck on repeat and dropped; the
    decoder also retries a pass above it at the fallback temperatures, if any."""

    loop_min_repeats: int = 3
    """A phrase said this many times in a row or more is a decoding loop if it also covers
    ``loop_min_words``."""

    loop_min_words: int = 6
    """Fewest words a run of repeats must cover to count as a loop; its first occurrence is kept."""

    condition_on_previous_text: bool = False
    """Prompt each decoding pass inside a window with the text before it (prone to loops when on)."""

    initial_prompt: str | None = None
    """Text (names, jargon) given to the decoder as context before each window."""

    window: float = 30.0
    """Longest window of audio decoded at once, seconds (at most Whisper's 30)."""

    bridge: float = 2.0
    """Speech spans at most this far apart (seconds) share a window with the real audio between them."""

    join_gap: float | None = None
    """Spans further apart share a window too, joined with this many seconds of silence between them, or, when
    ``None``, each starts a new window (Whisper tends to pull the first word after such a join back across
    it)."""

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()

    def _check_choices(self) -> None:
        if self.backend not in _BACKENDS:
            raise ConfigError(f"asr backend must be one of {_BACKENDS}, got {self.backend!r}")
        if self.model_size not in _MODEL_SIZES:
            raise ConfigError(f"asr model_size must be one of {_MODEL_SIZES}, got {self.model_size!r}")
        if self.compute_type not in _COMPUTE_TYPES:
            raise ConfigError(f"asr compute_type must be one of {_COMPUTE_TYPES}, got {self.compute_type!r}")
        if self.language is not None:
            if self.language not in _language_codes():
                raise ConfigError(
                    f"asr language {self.language!r} is not a Whisper language code (en, de, …)"
                )
            if self.model_size.endswith(".en") and self.language != "en":
                raise ConfigError(
                    f"asr model {self.model_size} is English-only but language {self.language!r} was"
                    " asked for; use model_size='base'"
                )

    def _check_numbers(self) -> None:
        if not 1 <= self.cpu_threads <= 256:
            raise ConfigError(f"asr cpu_threads must lie in [1, 256], got {self.cpu_threads!r}")
        if not 1 <= self.beam_size <= 16:
            raise ConfigError(f"asr beam_size must lie in [1, 16], got {self.beam_size!r}")
        if not all(0.0 <= t <= 1.0 for t in (self.temperature, *self.fallback_temperatures)):
            raise ConfigError("asr temperatures must lie in [0, 1]")
        for name in ("no_speech_threshold", "no_speech_drop"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ConfigError(f"asr {name} must lie in [0, 1] or be None, got {value!r}")
        if self.log_prob_threshold is not None and self.log_prob_threshold > 0:
            raise ConfigError(f"asr log_prob_threshold must be <= 0, got {self.log_prob_threshold!r}")
        if self.compression_ratio_threshold is not None and self.compression_ratio_threshold <= 1.0:
            raise ConfigError("asr compression_ratio_threshold must exceed 1")
        if self.loop_min_repeats < 2 or self.loop_min_words < 2:
            raise ConfigError("asr loop_min_repeats and loop_min_words must be at least 2")
        if not 1.0 <= self.window <= 30.0:
            raise ConfigError(f"asr window must lie in [1, 30] seconds, got {self.window!r}")
        if not 0.0 <= self.bridge <= self.window:
            raise ConfigError(f"asr bridge must lie in [0, window] seconds, got {self.bridge!r}")
        if self.join_gap is not None and not 0.0 <= self.join_gap <= 2.0:
            raise ConfigError(f"asr join_gap must lie in [0, 2] seconds or be None, got {self.join_gap!r}")


def transcribe(
    audio: Audio,
    spans: Sequence[Span],
    model: Any,
    options: AsrOptions | None = None,
    hook: ProgressHook | None = None,
) -> Transcript:
    """Transcribe the speech ``spans`` of ``audio`` with ``model`` (a faster-whisper ``WhisperModel`` for
    backend ``faster``, an openai-whisper ``Whisper`` for ``openai``); times are on the original timeline."""
    options = options or AsrOptions()
    backend = make_backend(options.backend, model, decode_settings(options))
    if options.language not in (None, "en") and not backend.multilingual:
        raise ConfigError(f"the asr model is English-only but language {options.language!r} was asked for")
    windows = pack_spans(
        _clean_spans(spans, audio.duration),
        options.window,
        options.bridge,
        options.join_gap,
        audio.sample_rate,
    )
    language, probability = _language(backend, options.language, windows, audio)
    guards = _guard_options(options)
    segments: list[Segment] = []
    if hook is not None:
        hook("asr", 0, len(windows))
    for done, window in enumerate(windows, start=1):
        samples = window.spans.join(audio.samples)  # shape: (window.spans.length,)
        segments.extend(clean_window(backend.decode(samples, language), window.spans, window.speech, guards))
        if hook is not None:
            hook("asr", done, len(windows))
    return Transcript(segments=tuple(segments), language=language, language_probability=probability)


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
    total: dict[str, float] = {}
    weights = 0.0
    for window in candidates[:_DETECTION_WINDOWS]:
        weight = sum(s.duration for s in window.speech)
        for language, p in backend.language_probabilities(window.spans.join(audio.samples)).items():
            total[language] = total.get(language, 0.0) + weight * p
        weights += weight
    language = max(total, key=lambda k: total[k])
    probability = total[language] / weights
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


def pack_spans(
    spans: Sequence[Span], window: float, bridge: float, join_gap: float | None, sample_rate: int
) -> list[Window]:
    """Sorted, non-overlapping speech ``spans`` packed in order into windows of at most ``window`` seconds.

    A span joins the window of the span before it when the audio fits: with the real audio between them when
    they are at most ``bridge`` seconds apart, else (unless ``join_gap`` is ``None``) as a new piece after
    ``join_gap`` seconds of silence. A span longer than a window is cut into equal parts that fit.
    """
    limit = int(window * sample_rate)
    max_bridge = round(bridge * sample_rate)
    gap = None if join_gap is None else round(join_gap * sample_rate)
    windows: list[Window] = []
    pieces: list[list[int]] = []
    speech: list[Span] = []
    used = 0

    def close() -> None:
        windows.append(Window(SpanMap([(a, b) for a, b in pieces], sample_rate, gap or 0), tuple(speech)))

    for span in spans:
        for start, end in _fit(
            round(span.start * sample_rate), round(span.end * sample_rate), limit, sample_rate
        ):
            if pieces and start - pieces[-1][1] <= max_bridge and used + end - pieces[-1][1] <= limit:
                used += end - pieces[-1][1]
                pieces[-1][1] = end
            elif pieces and gap is not None and used + gap + end - start <= limit:
                used += gap + end - start
                pieces.append([start, end])
            else:
                if pieces:
                    close()
                pieces, speech, used = [[start, end]], [], end - start
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
    clipped = sorted((max(0.0, s.start), min(duration, s.end)) for s in spans)
    merged: list[list[float]] = []
    for start, end in clipped:
        if end <= start:
            continue
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Span(a, b) for a, b in merged]


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
