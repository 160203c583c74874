"""Pipeline configurations: one options dataclass per stage, composed, loaded from named YAML files.

A pipeline file (``pipelines/<name>.yaml``) is a mapping whose sections are the stages' options::

    description: meeting transcript with speakers
    vad:      {aggressiveness: 3}          # diarize.vad.VadOptions
    asr:      {model_size: base}           # diarize.asr.options.AsrOptions
    speakers: {step: 1.0}                  # diarize.speakers.options.SpeakerOptions
    assign:   {nearest_tolerance: 0.5}     # diarize.assign.AssignOptions
    frames:   {left: 2, right: 2}          # diarize.frames.FrameOptions (video only)
    channels: {use: mix}                   # diarize.channels.ChannelOptions (mix, split or a channel)
    output:   {formats: [json, srt], writers: {subtitle: {max_line_chars: 42}}}
    parallel: true                         # run transcription and speaker stages side by side

Missing keys keep their defaults; unknown keys and wrong types are errors that name the file and the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from diarize import __version__
from diarize.asr.options import AsrOptions
from diarize.assign import AssignOptions
from diarize.channels.options import ChannelOptions
from diarize.errors import ConfigError
from diarize.frames import FrameOptions
from diarize.speakers.options import SpeakerOptions
from diarize.strict import options_from_dict, options_to_dict
from diarize.vad import VadOptions
from diarize.writers import WriterOptions, resolve_formats

__all__ = [
    "DEFAULT_PIPELINE",
    "OutputOptions",
    "PipelineConfig",
    "available_pipelines",
    "config_hash",
    "load_pipeline",
]

DEFAULT_PIPELINE = "meeting"


@dataclass(frozen=True)
class OutputOptions:
    """What is written for each input."""

    formats: tuple[str, ...] = ("json",)
    """Formats written when the command line names none (``all`` for every one)."""

    writers: WriterOptions = field(default_factory=WriterOptions)
    """Subtitle line rules and text layout."""

    def __post_init__(self) -> None:
        resolve_formats(self.formats)


@dataclass(frozen=True)
class PipelineConfig:
    """A complete pipeline: every stage's options."""

    name: str = "custom"
    """The pipeline's name (its file's stem)."""

    description: str = ""
    """One line on what the pipeline is for."""

    vad: VadOptions = field(default_factory=VadOptions)
    asr: AsrOptions = field(default_factory=AsrOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    assign: AssignOptions = field(default_factory=AssignOptions)
    frames: FrameOptions = field(default_factory=FrameOptions)
    channels: ChannelOptions = field(default_factory=ChannelOptions)
    output: OutputOptions = field(default_factory=OutputOptions)

    parallel: bool = True
    """Run transcription and the speaker stage at the same time, one core each (faster on two cores)."""

    def with_hints(
        self,
        *,
        num_speakers: int | None = None,
        min_speakers: int | None = None,
        max_speakers: int | None = None,
        language: str | None = None,
        asr_backend: str | None = None,
        model_size: str | None = None,
    ) -> PipelineConfig:
        """A copy with the user's hints applied (``None`` keeps the configured value)."""
        speakers, asr = self.speakers, self.asr
        if num_speakers is not None or min_speakers is not None or max_speakers is not None:
            speakers = _replace(
                speakers, num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers
            )
        asr_changes = {
            k: v
            for k, v in {"language": language, "backend": asr_backend, "model_size": model_size}.items()
            if v is not None
        }
        if asr_changes:
            asr = _replace(asr, **asr_changes)
        return dataclasses.replace(self, speakers=speakers, asr=asr)

    def to_dict(self) -> dict[str, Any]:
        return options_to_dict(self)


def _replace(options: Any, **changes: Any) -> Any:
    try:
        return dataclasses.replace(options, **changes)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _pipeline_dir() -> Path:
    return Path(str(resources.files("diarize.pipelines")))


def available_pipelines() -> tuple[str, ...]:
    """Names of the bundled pipelines."""
    return tuple(sorted(p.stem for p in _pipeline_dir().glob("*.yaml")))


def load_pipeline(name_or_path: str | Path | None = None) -> PipelineConfig:
    """Load a bundled pipeline by name (``meeting``, ``subtitles``, ``archive``) or a YAML file by path."""
    ref = str(name_or_path or DEFAULT_PIPELINE)
    path = Path(ref)
    if path.suffix.lower() not in (".yaml", ".yml"):
        path = _pipeline_dir() / f"{ref}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"unknown pipeline {ref!r}: use one of {', '.join(available_pipelines())} or a .yaml file"
            )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read pipeline file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a pipeline file must be a mapping of sections")
    data.setdefault("name", path.stem)
    return options_from_dict(PipelineConfig, data, where=str(path))


def config_hash(config: PipelineConfig) -> str:
    """A short, stable hash of everything that decides a result (diarize's version included)."""
    data = config.to_dict()
    data.pop("name", None)
    data.pop("description", None)
    blob = json.dumps({"version": __version__, "config": data}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
