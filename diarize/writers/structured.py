"""Machine-readable outputs: the canonical JSON (``diarize/1``) and RTTM."""

from __future__ import annotations

import dataclasses
import json
import math
from fractions import Fraction
from pathlib import PurePath
from typing import Any

import numpy as np

from diarize.errors import OutputError
from diarize.types import Result
from diarize.writers.base import TextWriter, register_writer
from diarize.writers.labels import rttm_safe
from diarize.writers.options import WriterOptions

__all__ = ["JsonWriter", "RttmWriter", "result_to_json", "rttm_lines"]


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


def result_to_json(result: Result) -> str:
    """The canonical JSON text of ``result``: ``Result.to_dict()``, UTF-8 as is, indent 2, final newline."""
    try:
        text = json.dumps(result.to_dict(), ensure_ascii=False, indent=2, allow_nan=False, default=_jsonable)
    except ValueError as exc:  # NaN or infinity somewhere
        raise OutputError(f"{result.source.path}: result holds a non-finite number ({exc})") from None
    except TypeError as exc:
        raise OutputError(f"{result.source.path}: result holds a value JSON cannot hold ({exc})") from None
    return text + "\n"


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
    :data:`~diarize.writers.schema.RESULT_SCHEMA`."""

    format = "json"
    order = 10
    suffix = ".json"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return result_to_json(result)


@register_writer
class RttmWriter(TextWriter):
    """NIST RTTM: ``SPEAKER <stem> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>`` per turn."""

    format = "rttm"
    order = 20
    suffix = ".rttm"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return "".join(line + "\n" for line in rttm_lines(result, stem))
