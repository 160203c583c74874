"""The two Whisper backends behind one small interface.

A backend decodes one window of audio (at most 30 s, 16 kHz mono float32) into :class:`RawSegment` records
with word times in that window, and detects the spoken language of a window. ``faster`` drives a
faster-whisper ``WhisperModel`` (CTranslate2); ``openai`` drives openai-whisper's ``Whisper`` (PyTorch). Given
the same weights and greedy decoding both give the same words.

Both take the task (``transcribe`` or ``translate`` into English), an initial prompt and hotwords. faster-whisper
puts hotwords before the prompt of every decoding pass; openai-whisper has no such option, so there they are put
in front of the initial prompt and that prompt is carried to every pass (``carry_initial_prompt``).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from diarize.asr.guards import RawSegment, RawWord, repetitive
from diarize.errors import ConfigError
from diarize.types import SAMPLE_RATE

__all__ = [
    "TOKENS_PER_SECOND",
    "TOKEN_MARGIN",
    "Backend",
    "DecodeSettings",
    "FasterBackend",
    "OpenaiBackend",
    "make_backend",
    "token_cap",
    "warm_up_openai",
]

log = logging.getLogger(__name__)

_REGION_FRAMES = 1000  # what a region's language is detected on: its first 10 s, zero-padded to 10 s
_MAX_LENGTH = 448  # Whisper's text context: prompt and generated tokens together
_MAX_PROMPT = _MAX_LENGTH // 2 + 4  # faster-whisper keeps at most 223 prompt tokens, plus the start sequence

TOKENS_PER_SECOND = 12
"""Most tokens a window may generate per second of its audio (plus :data:`TOKEN_MARGIN`). Fast speech is about
6 words, 8 tokens with timestamps, a second; a decoder caught in a loop (``gweithio'r gweithio'r …`` for
far-field English heard as Welsh) otherwise runs on to Whisper's 448-token context, which on a 19 s window
costs twice the time of decoding it properly, for text the loop guards then drop."""

TOKEN_MARGIN = 32
"""Tokens every window may generate besides :data:`TOKENS_PER_SECOND` (the start sequence, a short burst of
speech in a short window)."""


def token_cap(seconds: float, prompted: bool) -> int:
    """New tokens faster-whisper may generate on a window of ``seconds``: :data:`TOKENS_PER_SECOND` per
    second plus :data:`TOKEN_MARGIN`, within what Whisper's context leaves after the longest prompt
    (``prompted``: an initial prompt, hotwords or the previous text) or after the start sequence alone."""
    room = _MAX_LENGTH - (_MAX_PROMPT if prompted else 8)
    return max(1, min(room, round(seconds * TOKENS_PER_SECOND) + TOKEN_MARGIN))


@dataclass(frozen=True)
class DecodeSettings:
    """Decoder settings shared by both backends (their meaning: :class:`diarize.asr.options.AsrOptions`)."""

    beam_size: int
    temperatures: tuple[float, ...]
    no_speech_threshold: float | None
    log_prob_threshold: float | None
    compression_ratio_threshold: float | None
    condition_on_previous_text: bool
    initial_prompt: str | None
    hotwords: str | None = None
    task: str = "transcribe"
    threads: int = 1
    """CPU threads of one model replica. faster-whisper's language detection encodes that many regions per
    encoder pass: on two threads two 10 s inputs together took 0.6 of the time of one after the other, while
    on one thread a batch is slower (73 regions of a 10-minute meeting, AMD EPYC, base int8)."""
    loop_guard: bool = True
    """faster-whisper: cap the tokens of each pass (:func:`token_cap`) and end a window at a run-away loop.
    Off, ``decode`` is the model's own ``transcribe`` as it comes (the benchmark's plain baseline)."""


class Backend(Protocol):
    """What :func:`diarize.asr.transcription.transcribe` needs from a Whisper implementation."""

    @property
    def multilingual(self) -> bool: ...

    @property
    def replicas(self) -> int: ...

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]: ...

    def language_probabilities(self, samples: np.ndarray) -> dict[str, float]: ...

    @property
    def detection_batch(self) -> int: ...

    def region_probabilities(self, regions: Sequence[np.ndarray]) -> list[dict[str, float]]: ...

    def decode(self, samples: np.ndarray, language: str) -> list[RawSegment]: ...


def make_backend(name: str, model: Any, settings: DecodeSettings) -> Backend:
    """The backend ``name`` around ``model``; a model of the other kind, or translation asked of an
    English-only model, is a :class:`ConfigError`."""
    backend: Backend
    if name == "faster":
        if not callable(getattr(model, "transcribe", None)) or not hasattr(model, "model"):
            raise ConfigError(
                f"asr backend 'faster' needs a faster_whisper.WhisperModel, got {type(model).__name__}"
            )
        backend = FasterBackend(model, settings)
    elif name == "openai":
        from whisper.model import Whisper

        if not isinstance(model, Whisper):
            raise ConfigError(
                f"asr backend 'openai' needs an openai-whisper model, got {type(model).__name__}"
            )
        backend = OpenaiBackend(model, settings)
    else:
        raise ConfigError(f"unknown asr backend {name!r}: use 'faster' or 'openai'")
    if settings.task == "translate" and not backend.multilingual:
        raise ConfigError("the asr model is English-only and cannot translate; use --model base")
    return backend


class FasterBackend:
    """faster-whisper (CTranslate2) on the CPU."""

    def __init__(self, model: Any, settings: DecodeSettings) -> None:
        self.model = model
        self.settings = settings

    @property
    def multilingual(self) -> bool:
        return bool(self.model.model.is_multilingual)

    @property
    def replicas(self) -> int:
        """Windows the model can decode at once, from as many threads (its CTranslate2 replicas)."""
        return int(self.model.model.num_workers)

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return _best(self.language_probabilities(samples))

    def language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        _, _, probabilities = self.model.detect_language(audio=samples)
        return {str(language): float(p) for language, p in probabilities}

    @property
    def detection_batch(self) -> int:
        """Regions :meth:`region_probabilities` should be given at once (see ``DecodeSettings.threads``)."""
        return max(1, self.settings.threads)

    def region_probabilities(self, regions: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """Language probabilities of speech regions (each at most 10 s; longer ones are cut), encoded
        together as one batch of 10 s inputs rather than one 30 s input each: the encoder's cost falls with
        its input's length, and on regions of 4 s and more 10 s is as sure or surer of the right language
        as 30 s (measured on the shared recordings and synthesised speech)."""
        if not regions:
            return []
        cut = [self.model.feature_extractor(samples)[:, :_REGION_FRAMES] for samples in regions]
        batch = np.zeros((len(cut), cut[0].shape[0], _REGION_FRAMES), np.float32)  # zeros: faster-whisper's padding
        for row, features in zip(batch, cut, strict=True):  # features shape: (n_mels, frames)
            row[:, : features.shape[-1]] = features
        results = self.model.model.detect_language(self.model.encode(batch))
        return [{str(token)[2:-2]: float(p) for token, p in found} for found in results]  # "<|de|>" -> "de"

    def decode(self, samples: np.ndarray, language: str) -> list[RawSegment]:
        """The window's segments. At most :func:`token_cap` tokens are generated per pass, and a segment of
        repetitive text holding half that many (a run-away loop) ends the window: after one the decoder
        restarts where the loop's words end and, in the wrong language, loops again."""
        s = self.settings
        prompted = bool(s.initial_prompt or s.hotwords or s.condition_on_previous_text)
        cap = token_cap(len(samples) / SAMPLE_RATE, prompted) if s.loop_guard else None
        segments, _ = self.model.transcribe(
            samples,
            language=language,
            task=s.task,
            beam_size=s.beam_size,
            best_of=1,
            temperature=list(s.temperatures),
            compression_ratio_threshold=s.compression_ratio_threshold,
            log_prob_threshold=s.log_prob_threshold,
            no_speech_threshold=s.no_speech_threshold,
            condition_on_previous_text=s.condition_on_previous_text,
            initial_prompt=s.initial_prompt,
            hotwords=s.hotwords,
            word_timestamps=True,
            vad_filter=False,
            max_new_tokens=cap,
        )
        out: list[RawSegment] = []
        for seg in segments:  # a generator: each pass is decoded when the loop asks for it
            out.append(
                RawSegment(
                    start=float(seg.start),
                    end=float(seg.end),
                    text=seg.text,
                    words=tuple(RawWord(w.start, w.end, w.word, w.probability) for w in seg.words or ()),
                    avg_logprob=float(seg.avg_logprob),
                    no_speech_prob=float(seg.no_speech_prob),
                    compression_ratio=float(seg.compression_ratio),
                )
            )
            if cap is not None and len(seg.tokens) >= cap // 2 and repetitive(seg.text, s.compression_ratio_threshold):
                log.debug("asr: %d tokens of repetitive text (a loop); the window ends there", len(seg.tokens))
                break
        return out


class OpenaiBackend:
    """openai-whisper (PyTorch, float32) on the CPU. It samples at most 224 tokens per pass on its own.

    Its OpenMP threads spin while waiting unless ``OMP_WAIT_POLICY=PASSIVE`` is set before torch starts; on a
    busy machine that slows decoding several-fold, so the variable is checked (not set) and a warning logged
    once.
    """

    _warned = False

    def __init__(self, model: Any, settings: DecodeSettings) -> None:
        self.model = model
        self.settings = settings
        if os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE" and not OpenaiBackend._warned:
            OpenaiBackend._warned = True
            log.warning(
                "openai-whisper runs several times slower on a busy CPU unless OMP_WAIT_POLICY=PASSIVE"
            )

    @property
    def multilingual(self) -> bool:
        return bool(self.model.is_multilingual)

    @property
    def replicas(self) -> int:
        """One: PyTorch's thread count is process-wide, so openai-whisper never runs beside itself."""
        return 1

    def detect_language(self, samples: np.ndarray) -> tuple[str, float]:
        return _best(self.language_probabilities(samples))

    def language_probabilities(self, samples: np.ndarray) -> dict[str, float]:
        import torch
        from whisper.audio import log_mel_spectrogram, pad_or_trim

        mel = log_mel_spectrogram(pad_or_trim(samples), self.model.dims.n_mels)  # shape: (n_mels, 3000)
        with torch.inference_mode():
            _, probabilities = self.model.detect_language(mel.to(self.model.device))
        return {str(language): float(p) for language, p in probabilities.items()}

    @property
    def detection_batch(self) -> int:
        return 1

    def region_probabilities(self, regions: Sequence[np.ndarray]) -> list[dict[str, float]]:
        return [self.language_probabilities(samples) for samples in regions]  # its encoder takes only 30 s

    def decode(self, samples: np.ndarray, language: str) -> list[RawSegment]:
        import whisper

        s = self.settings
        prompt = " ".join(p.strip() for p in (s.hotwords, s.initial_prompt) if p and p.strip()) or None
        with warnings.catch_warnings():  # translations: word times are aligned to the English text, as asked
            warnings.filterwarnings("ignore", message="Word-level timestamps on translations")
            result = whisper.transcribe(
                self.model,
                samples,
                verbose=None,
                temperature=s.temperatures,
                compression_ratio_threshold=s.compression_ratio_threshold,
                logprob_threshold=s.log_prob_threshold,
                no_speech_threshold=s.no_speech_threshold,
                condition_on_previous_text=s.condition_on_previous_text,
                initial_prompt=prompt,
                carry_initial_prompt=bool(s.hotwords),  # hotwords reach every pass, as with faster-whisper
                word_timestamps=True,
                language=language,
                task=s.task,
                beam_size=s.beam_size if s.beam_size > 1 else None,
                fp16=False,
            )
        return [
            RawSegment(
                start=float(seg["start"]),
                end=float(seg["end"]),
                text=seg["text"],
                words=tuple(
                    RawWord(w["start"], w["end"], w["word"], w["probability"]) for w in seg.get("words", ())
                ),
                avg_logprob=float(seg["avg_logprob"]),
                no_speech_prob=float(seg["no_speech_prob"]),
                compression_ratio=float(seg["compression_ratio"]),
            )
            for seg in result["segments"]
        ]


def _best(probabilities: dict[str, float]) -> tuple[str, float]:
    language = max(probabilities, key=lambda k: probabilities[k])
    return language, probabilities[language]


def warm_up_openai() -> None:
    """Compile openai-whisper's numba DTW (about 2 s, once per process) outside of any timing."""
    import torch
    from whisper.timing import dtw

    dtw(torch.rand(4, 6, dtype=torch.float64))
