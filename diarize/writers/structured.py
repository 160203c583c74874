"""Machine-readable outputs: the canonical JSON (``diarize/1``), the speaker embeddings beside it
(``<stem>.speakers.npz``) and RTTM."""

from __future__ import annotations

import dataclasses
import io
import json
import math
from collections.abc import Mapping
from fractions import Fraction
from pathlib import PurePath
from typing import Any

import numpy as np

from diarize.errors import OutputError
from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.labels import rttm_safe
from diarize.writers.options import WriterOptions

__all__ = [
    "EMBEDDINGS_SUFFIX",
    "JsonWriter",
    "RttmWriter",
    "embeddings_npz",
    "read_embeddings",
    "result_to_json",
    "rttm_lines",
]

EMBEDDINGS_SUFFIX = ".speakers.npz"
"""The file beside ``<stem>.json`` that holds each speaker's embedding (one float32 array per label)."""


def _jsonable(value: Any) -> Any:
    """Plain JSON for values that may sit in provenance (numpy scalars and arrays, paths, fractions, sets)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def result_to_json(result: Result, *, embeddings: bool = True) -> str:
    """The canonical JSON text of ``result``: ``Result.to_dict(embeddings=...)``, UTF-8 as is, indent 2, final
    newline."""
    try:
        text = json.dumps(result.to_dict(embeddings=embeddings), ensure_ascii=False, indent=2, allow_nan=False,
                          default=_jsonable)
    except ValueError as exc:  # NaN or infinity somewhere
        raise OutputError(f"{result.source.path}: result holds a non-finite number ({exc})") from None
    except TypeError as exc:
        raise OutputError(f"{result.source.path}: result holds a value JSON cannot hold ({exc})") from None
    return text + "\n"


def embeddings_npz(embeddings: Mapping[str, np.ndarray]) -> bytes:
    """The speaker embeddings as an uncompressed ``.npz`` archive: one float32 array per speaker label."""
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **{k: np.asarray(v, dtype=np.float32) for k, v in embeddings.items()})
    return buffer.getvalue()


def read_embeddings(path: str | PurePath) -> dict[str, np.ndarray]:
    """The speaker embeddings of a ``<stem>.speakers.npz`` file."""
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _ms(seconds: float) -> int:
    return int(math.floor(seconds * 1000 + 0.5))


def rttm_lines(result: Result, stem: str) -> list[str]:
    """One ``SPEAKER`` line per overlap-aware turn, in the order of ``result.turns``.

    Onset and duration have 3 decimals, both taken from whole milliseconds so that onset + duration is the
    turn's end rounded to the millisecond. Blanks in the file id and speaker names become ``_``
    (see :func:`~diarize.writers.labels.rttm_safe`); two speakers that would then share a name are an error.
    """
    file_id = rttm_safe(stem)
    names = {s: rttm_safe(s) for s in (*result.speakers, *(t.speaker for t in result.turns))}
    if len(set(names.values())) < len(names):
        raise OutputError(f"{stem}: speaker names {sorted(names)} are not distinct once made RTTM-safe")
    lines = []
    for turn in result.turns:
        onset = _ms(turn.start)
        duration = max(0, _ms(turn.end) - onset)
        lines.append(
            f"SPEAKER {file_id} 1 {onset / 1000:.3f} {duration / 1000:.3f} "
            f"<NA> <NA> {names[turn.speaker]} <NA> <NA>"
        )
    return lines


@register_writer
class JsonWriter(TextWriter):
    """The canonical, versioned result (``schema: "diarize/1"``), described by
    :data:`~diarize.writers.schema.RESULT_SCHEMA`; the speaker embeddings go to ``<stem>.speakers.npz``
    beside it (into the JSON instead with ``options.json.embeddings_in_json``)."""

    format = "json"
    order = 10
    suffix = ".json"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        from diarize.writers.subtitles import with_subtitle_stats  # the subtitle files written beside it

        result = with_subtitle_stats(result, self.context.files, options.subtitle)
        return result_to_json(result, embeddings=options.json.embeddings_in_json)

    def outputs(self, result: Result, stem: str, options: WriterOptions) -> list[tuple[str, bytes]]:
        files = [(self.suffix, self.render(result, stem, options))]
        if result.embeddings and not options.json.embeddings_in_json:
            files.append((EMBEDDINGS_SUFFIX, embeddings_npz(result.embeddings)))
        return files


@register_writer
class RttmWriter(TextWriter):
    """NIST RTTM: ``SPEAKER <stem> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`` per turn."""

    format = "rttm"
    order = 20
    suffix = ".rttm"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return "".join(line + "\n" for line in rttm_lines(result, stem))
