"""Reading references and hypotheses for ``diarize eval``: RTTM, UEM, STM, SegLST and diarize JSON.

File ids: an RTTM line's uri, a UEM line's uri, an STM line's first field, a SegLST ``session_id``; a diarize
JSON's id is the stem of its ``source.path`` (or, when that id is not among the reference ids, the JSON file's
own stem). Every reader raises :class:`~diarize.errors.InputError` naming the file (and line) it cannot read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diarize.errors import InputError
from diarize.types import SCHEMA, Segment, Span, SpeakerTurn

__all__ = ["Hypothesis", "load_hypotheses", "load_rttm", "load_seglst", "load_stm", "load_uem", "read_json"]


@dataclass(frozen=True)
class Hypothesis:
    """One file's system output; ``segments`` is ``None`` for an RTTM hypothesis (no words)."""

    file_id: str
    path: str
    turns: tuple[SpeakerTurn, ...]
    segments: tuple[Segment, ...] | None = None



def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc


def read_json(path: Path) -> Any:
    """The parsed JSON of ``path``; :class:`~diarize.errors.InputError` naming the file when it is missing,
    unreadable or not JSON."""
    path = Path(path)
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc


def _fields(path: Path) -> Iterable[tuple[int, list[str]]]:
    """Non-empty, non-comment lines (``;`` or ``#``) split on whitespace, with their line numbers."""
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        fields = line.split()
        if fields and not fields[0].startswith((";", "#")):
            yield number, fields


def _float(path: Path, number: int, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{path}:{number}: {value!r} is not a number") from None


def _grouped(items: Iterable[tuple[str, Any]]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, list[Any]] = {}
    for key, item in items:
        out.setdefault(key, []).append(item)
    return {key: tuple(values) for key, values in out.items()}


def load_rttm(path: Path) -> dict[str, tuple[SpeakerTurn, ...]]:
    """Speaker turns per file id from an RTTM file (``SPEAKER`` lines only; others are skipped)."""
    path = Path(path)

    def turns() -> Iterable[tuple[str, SpeakerTurn]]:
        for number, f in _fields(path):
            if f[0] != "SPEAKER":
                continue
            if len(f) < 8:
                raise InputError(f"{path}:{number}: an RTTM SPEAKER line needs at least 8 fields")
            onset, duration = _float(path, number, f[3]), _float(path, number, f[4])
            if duration < 0:
                raise InputError(f"{path}:{number}: negative duration {duration}")
            yield f[1], SpeakerTurn(onset, onset + duration, f[7])

    return _grouped(turns())


def load_uem(path: Path) -> dict[str, tuple[Span, ...]]:
    """Scored regions per file id from a UEM file (``uri channel start end``; several per uri)."""
    path = Path(path)

    def spans() -> Iterable[tuple[str, Span]]:
        for number, f in _fields(path):
            if len(f) != 4:
                raise InputError(f"{path}:{number}: a UEM line is 'uri channel start end'")
            start, end = _float(path, number, f[2]), _float(path, number, f[3])
            if end < start:
                raise InputError(f"{path}:{number}: region ends ({end}) before it starts ({start})")
            yield f[0], Span(start, end)

    return _grouped(spans())


def load_stm(path: Path) -> dict[str, tuple[Segment, ...]]:
    """Speaker-attributed text per file id from STM (``uri channel speaker start end [<tags>] text``)."""
    path = Path(path)

    def segments() -> Iterable[tuple[str, Segment]]:
        for number, f in _fields(path):
            if len(f) < 5:
                raise InputError(f"{path}:{number}: an STM line is 'uri channel speaker start end text'")
            words = f[5:]
            if words and words[0].startswith("<") and words[0].endswith(">"):
                words = words[1:]
            if words == ["IGNORE_TIME_SEGMENT_IN_SCORING"] or f[2] in (
                "inter_segment_gap",
                "excluded_region",
            ):
                continue
            start, end = _float(path, number, f[3]), _float(path, number, f[4])
            yield f[0], Segment(start=start, end=end, text=" ".join(words), speaker=f[2])

    return _grouped(segments())


def load_seglst(path: Path) -> dict[str, tuple[Segment, ...]]:
    """Speaker-attributed text per file id from a SegLST JSON list (``session_id``, ``speaker``,
    ``start_time``, ``end_time``, ``words``)."""
    path = Path(path)
    rows = read_json(path)
    if not isinstance(rows, list):
        raise InputError(f"{path}: a SegLST file holds a JSON list of segments")

    def segments() -> Iterable[tuple[str, Segment]]:
        for i, row in enumerate(rows):
            try:
                segment = Segment(
                    start=float(row["start_time"]),
                    end=float(row["end_time"]),
                    text=str(row["words"]),
                    speaker=None if row.get("speaker") is None else str(row["speaker"]),
                )
                yield str(row["session_id"]), segment
            except (KeyError, TypeError, ValueError) as exc:
                raise InputError(f"{path}: segment {i} lacks a valid {exc} field") from None

    return _grouped(segments())


def _json_hypothesis(path: Path, reference_ids: Iterable[str]) -> Hypothesis:
    data = read_json(path)
    if not isinstance(data, dict) or "turns" not in data:
        raise InputError(
            f"{path}: not a diarize result (a JSON object with 'turns'); pass our JSON or an RTTM"
        )
    if data.get("schema", SCHEMA) != SCHEMA:
        raise InputError(f"{path}: result schema {data.get('schema')!r} is not {SCHEMA!r}")
    try:
        turns = tuple(SpeakerTurn.from_dict(t) for t in data["turns"])
        segments = tuple(Segment.from_dict(s) for s in data.get("segments", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed turn or segment ({exc!r})") from None
    source = data.get("source") or {}
    candidates = [Path(str(source["path"])).stem] if source.get("path") else []
    candidates.append(path.stem)
    known = set(reference_ids)
    file_id = next((c for c in candidates if c in known), candidates[0])
    return Hypothesis(file_id=file_id, path=str(path), turns=turns, segments=segments)


def load_hypotheses(paths: Sequence[Path], reference_ids: Iterable[str] = ()) -> list[Hypothesis]:
    """Hypotheses from diarize JSON files (``.json``) and RTTM files (any other name; several ids each)."""
    known = tuple(reference_ids)
    out: list[Hypothesis] = []
    for path in map(Path, paths):
        if path.suffix.lower() == ".json":
            out.append(_json_hypothesis(path, known))
        else:
            turns = load_rttm(path)
            if not turns:
                raise InputError(f"{path}: no SPEAKER lines; is it an RTTM file?")
            out.extend(Hypothesis(file_id=uri, path=str(path), turns=t) for uri, t in turns.items())
    return out
