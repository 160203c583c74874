"""Output writers: render a :class:`~diarize.types.Result` in each requested format
as ``OUT/<stem><suffix>``.

========  ======================  ==============================================================
format    file                    content
========  ======================  ==============================================================
json      ``<stem>.json``         canonical ``Result.to_dict()`` (schema ``diarize/1``); embeddings beside it in
                                  ``<stem>.speakers.npz``
rttm      ``<stem>.rttm``         one ``SPEAKER`` line per overlap-aware turn
srt       ``<stem>.srt``          subtitles, ``[NAME]`` speaker prefix
vtt       ``<stem>.vtt``          WebVTT, ``<v NAME>`` voice spans and a colour per voice
ass       ``<stem>.ass``          ASS subtitles, one coloured style per speaker
txt       ``<stem>.txt``          ``NAME [HH:MM:SS]: text`` paragraphs
md        ``<stem>.md``           meeting transcript with speaker talk times
csv       ``<stem>.words.csv``    word table
parquet   ``<stem>.words.parquet``  word table
frames    ``<stem>.frames.csv``   video frame table (and ``<stem>.frames.parquet``); video inputs only
html      ``<stem>.html``         self-contained transcript viewer: player, speaker timeline, search
png       ``<stem>.timeline.png`` speaker timeline picture
========  ======================  ==============================================================

``all`` stands for every registered format (ordered by ``Writer.order``) except ``frames``, which needs a
video input and is asked for by name (``-f all,frames``). A new format lives in its own module
that registers its writer with :func:`register_writer`; add the module's name to ``_BUILTIN_MODULES``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from pathlib import Path, PurePath

from diarize.errors import ConfigError
from diarize.types import Result
from diarize.writers.base import (
    ALL,
    OutputContext,
    TextWriter,
    Writer,
    available_formats,
    get_writer,
    register_writer,
    resolve_formats,
)
from diarize.writers.cues import Cue, CuePart, CueStats, build_cues, cue_stats
from diarize.writers.files import atomic_write, prepare_out_dir
from diarize.writers.labels import UNKNOWN_SPEAKER, parse_speaker_names, rename_speakers, rttm_safe
from diarize.writers.options import TIMESTAMP_STEPS, HtmlOptions, SubtitleOptions, TextOptions, WriterOptions
from diarize.writers.schema import RESULT_SCHEMA
from diarize.writers.structured import result_to_json, rttm_lines
from diarize.writers.tables import WORD_COLUMNS, to_frame

__all__ = [
    "ALL",
    "RESULT_SCHEMA",
    "TIMESTAMP_STEPS",
    "UNKNOWN_SPEAKER",
    "WORD_COLUMNS",
    "Cue",
    "CuePart",
    "CueStats",
    "HtmlOptions",
    "OutputContext",
    "SubtitleOptions",
    "TextOptions",
    "TextWriter",
    "Writer",
    "WriterOptions",
    "atomic_write",
    "available_formats",
    "build_cues",
    "cue_stats",
    "default_stem",
    "get_writer",
    "parse_speaker_names",
    "prepare_out_dir",
    "register_writer",
    "rename_speakers",
    "render",
    "resolve_formats",
    "result_to_json",
    "rttm_lines",
    "rttm_safe",
    "to_frame",
    "write",
]

_BUILTIN_MODULES = ("structured", "subtitles", "ass", "text", "tables", "frames", "html", "timeline")
"""Modules whose writers register when imported."""

for _module in _BUILTIN_MODULES:
    importlib.import_module(f"{__name__}.{_module}")


def default_stem(result: Result) -> str:
    """The file stem of the result's source (``/in/talk.mp4`` → ``talk``), or ``result`` when it has none."""
    return PurePath(result.source.path).stem or "result"


def _check_stem(stem: str) -> str:
    if not stem or stem in (".", "..") or any(c in stem for c in "/\\\0"):
        raise ConfigError(f"invalid output file stem {stem!r}: it must be a plain file name")
    return stem


def render(
    result: Result,
    formats: str | Iterable[str],
    out_dir: str | Path | None = None,
    options: WriterOptions | None = None,
    *,
    stem: str | None = None,
) -> list[tuple[str, bytes]]:
    """Render ``result`` in every format of ``formats``: ``(file name, content)`` pairs, nothing written.

    ``out_dir`` is where the files will go (the viewer links media and sibling outputs relative to it);
    ``None`` when that is not known yet. An unknown format raises :class:`~diarize.errors.ConfigError`
    naming the valid ones.
    """
    options = options or WriterOptions()
    names = resolve_formats(formats)
    stem = _check_stem(default_stem(result) if stem is None else stem)
    files = {name: get_writer(name).path("", stem).name for name in names}
    context = OutputContext(None if out_dir is None else Path(out_dir), files)
    writers = [get_writer(name, context) for name in names]
    return [(f"{stem}{suffix}", data) for w in writers for suffix, data in w.outputs(result, stem, options)]


def write(
    result: Result,
    formats: str | Iterable[str],
    out_dir: str | Path,
    options: WriterOptions | None = None,
    *,
    stem: str | None = None,
) -> list[Path]:
    """Write ``result`` in every format of ``formats`` (names, a comma list, or ``all``) into ``out_dir``.

    Formats are checked first: an unknown one raises :class:`~diarize.errors.ConfigError` naming the valid
    ones, before anything is written. Everything is rendered before the first file is written; each file is
    written atomically, and a folder or file that cannot be written raises
    :class:`~diarize.errors.OutputError`.
    Returns the paths written, in the order of ``formats``.
    """
    rendered = render(result, formats, out_dir, options, stem=stem)
    prepare_out_dir(out_dir)
    return [atomic_write(Path(out_dir) / name, data) for name, data in rendered]
