"""The writer registry: one :class:`Writer` per output format, looked up by name (like whisper's
``get_writer``).

A writer renders a :class:`~diarize.types.Result` to bytes; file handling (folder checks, atomic writes) is
shared. A new format subclasses :class:`Writer` (or :class:`TextWriter`), sets ``format``, ``suffix`` and
``order`` and is decorated with :func:`register_writer`; importing its module registers it.

A writer is made for one run: :func:`get_writer` gives it an :class:`OutputContext` (the output folder and the
run's other files), which writers that link to other files by relative paths read (the HTML viewer).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from diarize.errors import ConfigError
from diarize.types import Result
from diarize.writers.options import WriterOptions

__all__ = [
    "ALL",
    "OutputContext",
    "TextWriter",
    "Writer",
    "available_formats",
    "get_writer",
    "register_writer",
    "resolve_formats",
]

ALL = "all"
"""The format name that stands for every registered format whose writer has ``in_all`` set."""


@dataclass(frozen=True)
class OutputContext:
    """Where a writer's files go, and what else the same run writes beside them."""

    out_dir: Path | None = None
    """The output folder; ``None`` when content is rendered with no place to go."""

    files: Mapping[str, str] = field(default_factory=dict)
    """Format → file name (``OUT/<stem><suffix>``) of every format the run writes, in the requested order."""


class Writer(ABC):
    """Renders a :class:`Result` in one format: :meth:`outputs` gives its files' suffixes and contents, which
    :func:`diarize.writers.write` puts in ``OUT/<stem><suffix>``."""

    def __init__(self, context: OutputContext | None = None) -> None:
        self.context = context or OutputContext()
        """Where the run writes; only writers that link to other files need it."""

    format: ClassVar[str]
    """The name users pass (``-f json``)."""
    suffix: ClassVar[str]
    """What follows the stem in the file name, e.g. ``.json`` or ``.words.csv``."""
    in_all: ClassVar[bool] = True
    """Whether ``all`` includes this format."""
    order: ClassVar[int] = 1000
    """Position in listings and in ``all`` (ties keep registration order)."""

    @abstractmethod
    def render(self, result: Result, stem: str, options: WriterOptions) -> bytes:
        """The file's content. ``stem`` names the recording (RTTM's file id)."""

    def path(self, out_dir: str | Path, stem: str) -> Path:
        return Path(out_dir) / f"{stem}{self.suffix}"

    def outputs(self, result: Result, stem: str, options: WriterOptions) -> list[tuple[str, bytes]]:
        """Every file of the format as ``(suffix, content)``: one, ``(suffix, render(...))``, unless a format
        writes several (``frames`` writes CSV and Parquet)."""
        return [(self.suffix, self.render(result, stem, options))]


class TextWriter(Writer):
    """A writer of UTF-8 text (no byte-order mark, ``\\n`` line ends)."""

    @abstractmethod
    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        """The file's text."""

    def render(self, result: Result, stem: str, options: WriterOptions) -> bytes:
        return self.render_text(result, stem, options).encode("utf-8")


_REGISTRY: dict[str, type[Writer]] = {}

W = TypeVar("W", bound=type[Writer])


def register_writer(cls: W) -> W:
    """Class decorator: make ``cls`` available under ``cls.format`` (a later registration replaces it)."""
    name = cls.format
    if not name or name != name.lower() or "," in name or name == ALL:
        raise ValueError(f"invalid writer format name {name!r}")
    _REGISTRY[name] = cls
    return cls


def available_formats() -> tuple[str, ...]:
    """Every registered format name, by ``Writer.order`` (ties in registration order)."""
    return tuple(sorted(_REGISTRY, key=lambda name: _REGISTRY[name].order))


def _unknown(name: str) -> ConfigError:
    valid = ", ".join((*available_formats(), ALL))
    return ConfigError(f"unknown output format {name!r}; valid formats: {valid}")


def get_writer(name: str, context: OutputContext | None = None) -> Writer:
    """A writer for format ``name`` (for a run described by ``context``); an unknown name raises
    :class:`ConfigError` listing the valid ones."""
    try:
        cls = _REGISTRY[name.strip().lower()]
    except KeyError:
        raise _unknown(name) from None
    return cls(context)


def resolve_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Normalise a format list (``"json,srt"`` or ``["json", "srt"]``, any case): ``all`` expands, duplicates
    go, order is kept. Unknown or missing names raise :class:`ConfigError`."""
    items = formats.split(",") if isinstance(formats, str) else [p for f in formats for p in f.split(",")]
    names: list[str] = []
    for item in items:
        name = item.strip().lower()
        if not name:
            continue
        if name == ALL:
            expanded = [n for n in available_formats() if _REGISTRY[n].in_all]
        elif name in _REGISTRY:
            expanded = [name]
        else:
            raise _unknown(item.strip())
        names += [n for n in expanded if n not in names]
    if not names:
        raise ConfigError(f"no output format given; valid formats: {', '.join((*available_formats(), ALL))}")
    return tuple(names)
