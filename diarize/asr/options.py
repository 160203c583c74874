"""Options of the transcription stage (:func:`diarize.asr.transcription.transcribe`): plain data.

Everything a pipeline file's ``asr:`` section can set. Importing this module imports no decoder: the language
codes are read from faster-whisper's tokenizer only when a language is forced.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from diarize.errors import ConfigError
from diarize.strict import check_choice

__all__ = ["SHIPPED_MODELS", "AsrOptions", "BackendName", "ComputeType", "LanguageMode", "ModelSize", "Task"]

BackendName = Literal["faster", "openai"]
"""``faster`` (faster-whisper, CTranslate2) or ``openai`` (openai-whisper, PyTorch)."""

ModelSize = Literal["tiny.en", "base"]
"""The Whisper models that ship with diarize's model packages."""

SHIPPED_MODELS: tuple[str, ...] = get_args(ModelSize)
"""The values of :data:`ModelSize`: ``asr.model_size`` takes these or a user's own model."""

Task = Literal["transcribe", "translate"]
"""Whisper's two tasks: transcribe in the spoken language, or translate the speech into English."""

ComputeType = Literal["int8", "float32"]
"""faster-whisper's weight types on a CPU."""

LanguageMode = Literal["segment", "file"]
"""How a language that is not forced is detected: per speech region, or once per file."""


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

    model_size: str = "base"
    """The Whisper model: ``tiny.en`` (English only, fastest) or ``base`` (multilingual), which ship with diarize;
    or a model of your own: a CTranslate2 directory, an openai-whisper ``.pt`` checkpoint, or a name already in
    the local Hugging Face cache (``small``, ``Systran/faster-whisper-small``; never downloaded). See
    :mod:`diarize.models.sources`."""

    task: Task = "transcribe"
    """``transcribe`` in the spoken language, or ``translate`` into English (multilingual models only). Results
    keep the spoken language as their ``language``."""

    compute_type: ComputeType = "int8"
    """faster-whisper weights: ``int8`` (fastest on a CPU) or ``float32`` (the same numbers as
    openai-whisper)."""

    cpu_threads: int = 0
    """Threads the decoder may use; ``0`` sizes them from the cores available (:mod:`diarize.cores`)."""

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

    hotwords: str | None = None
    """Words to favour, e.g. ``"Claflin, Abbie"``: faster-whisper puts them before every decoding pass's
    prompt; openai-whisper, which has no such option, gets them in front of ``initial_prompt``, carried to
    every pass."""

    window: float = 30.0
    """Longest window of audio decoded at once, seconds (at most Whisper's 30)."""

    bridge: float = 2.0
    """Speech spans at most this far apart (seconds) share a window with the real audio between them."""

    silence_pauses: bool = True
    """Spans further apart than ``bridge`` still share a window while it has room, with the pause between them
    kept at its real length but silenced: the encoder runs once per 30 s of recording, as in plain Whisper,
    the word times need no mapping across joins, and Whisper hears nothing that voice activity detection
    judged not to be speech (where it hallucinates)."""

    join_gap: float | None = None
    """With ``silence_pauses`` off, spans further apart than ``bridge`` share a window too, joined with this
    many seconds of silence between them, or, when ``None``, each starts a new window (Whisper tends to pull
    the first word after such a join back across it)."""

    language_mode: LanguageMode = "segment"
    """With a multilingual model and no forced ``language``: ``segment`` detects the language of every speech
    region and decodes each in its own (meetings that switch language; one encoder pass per region, see
    :mod:`diarize.asr.language`), ``file`` detects it once and forces it on the whole file (faster)."""

    language_threshold: float = 0.6
    """``segment`` mode: a region whose most probable language is less likely than this takes the language
    of its neighbours or its speaker."""

    language_pause: float = 1.0
    """``segment`` mode: regions at most this many seconds apart count as one stretch of talk."""

    language_min_speech: float = 1.0
    """``segment`` mode: regions shorter than this (seconds) are not judged and take their neighbours'
    language."""

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()

    def _check_choices(self) -> None:
        check_choice("asr.backend", self.backend, BackendName)
        if not isinstance(self.model_size, str) or not self.model_size.strip():
            raise ConfigError(
                f"asr.model_size must be {' or '.join(SHIPPED_MODELS)}, a model directory, a .pt file or a"
                f" cached model name, got {self.model_size!r}"
            )
        check_choice("asr.task", self.task, Task)
        if self.model_size.endswith(".en") and self.task == "translate":
            raise ConfigError(
                f"asr model {self.model_size} is English-only and cannot translate; use model_size='base'"
            )
        check_choice("asr.compute_type", self.compute_type, ComputeType)
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
        if not 0 <= self.cpu_threads <= 256:
            raise ConfigError(f"asr cpu_threads must lie in [0, 256] (0: automatic), got {self.cpu_threads!r}")
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
        check_choice("asr.language_mode", self.language_mode, LanguageMode)
        if not 0.0 <= self.language_threshold <= 1.0:
            raise ConfigError(f"asr language_threshold must lie in [0, 1], got {self.language_threshold!r}")
        for name in ("language_pause", "language_min_speech"):
            if not 0.0 <= getattr(self, name) <= 30.0:
                raise ConfigError(f"asr {name} must lie in [0, 30] seconds, got {getattr(self, name)!r}")
