"""diarize: who spoke when, and what they said — offline speaker diarization and transcription.

The library in a few names::

    import diarize

    result = diarize.transcribe("meeting.wav", num_speakers=2)   # a diarize.Result
    for segment in result.segments:
        print(f"{segment.speaker}: {segment.text.strip()}")
    result.write("out", formats=("json", "srt"))

``import diarize`` is cheap: the names below that need the model stack (PyTorch, Whisper) are imported on first
use. Errors the library raises on purpose derive from :class:`DiarizeError` (see :mod:`diarize.errors`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diarize.errors import (
    ConfigError,
    DiarizeError,
    InputError,
    MediaError,
    MissingPackageError,
    ModelError,
    NoAudioError,
    OutputError,
)

if TYPE_CHECKING:
    from diarize.audio import load_audio
    from diarize.config import PipelineConfig, available_pipelines, load_pipeline
    from diarize.models.registry import sample_path
    from diarize.pipeline import Hook, Models
    from diarize.types import Audio, MediaInfo, Result, Segment, SpeakerTurn, Word

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "ConfigError",
    "DiarizeError",
    "InputError",
    "MediaError",
    "MediaInfo",
    "MissingPackageError",
    "ModelError",
    "Models",
    "NoAudioError",
    "OutputError",
    "PipelineConfig",
    "Result",
    "Segment",
    "SpeakerTurn",
    "Word",
    "__version__",
    "available_pipelines",
    "load_audio",
    "load_pipeline",
    "sample_path",
    "transcribe",
]

_LAZY = {
    "Audio": "diarize.types",
    "MediaInfo": "diarize.types",
    "Result": "diarize.types",
    "Segment": "diarize.types",
    "SpeakerTurn": "diarize.types",
    "Word": "diarize.types",
    "load_audio": "diarize.audio",
    "PipelineConfig": "diarize.config",
    "available_pipelines": "diarize.config",
    "load_pipeline": "diarize.config",
    "Models": "diarize.pipeline",
    "sample_path": "diarize.models.registry",
}
"""Public names imported on first use, and the module each one comes from."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'diarize' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def transcribe(  # noqa: PLR0913 - the root API: past the media and pipeline, only keyword-only hints
    path_or_audio: str | Path | Audio,
    pipeline: str | Path | PipelineConfig = "meeting",
    *,
    num_speakers: int | None = None,
    min_speakers: int | None = None,
    max_speakers: int | None = None,
    language: str | None = None,
    hook: Hook | None = None,
    models: Models | None = None,
) -> Result:
    """Transcribe a media file (or decoded :class:`Audio`) and attribute every word to a speaker.

    ``pipeline`` is a bundled pipeline's name (``meeting``, ``subtitles``, ``archive``), a YAML file, or a
    :class:`PipelineConfig`. The hints override it as ``diarize run``'s options do
    (:meth:`PipelineConfig.with_hints`): ``num_speakers`` fixes the number of speakers, ``min_speakers`` /
    ``max_speakers`` bound it, ``language`` forces the language (``None``: detect). ``hook(stage, completed,
    total)`` receives progress; ``models`` reuses loaded models across calls (they are loaded once per process
    either way). Raises :class:`MediaError` for unusable input and :class:`ConfigError` for invalid or
    contradicting options.
    """
    from diarize.config import PipelineConfig, load_pipeline
    from diarize.pipeline import run

    config = pipeline if isinstance(pipeline, PipelineConfig) else load_pipeline(pipeline)
    config = config.with_hints(
        num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers, language=language
    )
    return run(path_or_audio, config, models=models, hook=hook)
