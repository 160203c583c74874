"""Score system outputs against references: the library behind ``diarize eval``.

Reads references (RTTM turns, optional UEM scored regions, optional STM or SegLST speaker-attributed text) and
hypotheses (diarize JSON or RTTM), matches them by file id, and scores each file with :mod:`diarize.metrics`.

File ids: an RTTM line's uri, a UEM line's uri, an STM line's first field, a SegLST ``session_id``; a
diarize JSON's id is the stem of its ``source.path`` (or, when that id is not in the reference, the JSON
file's own stem). Every hypothesis id must be in the reference (and in the UEM / text reference when those are
given): otherwise a :class:`FileIdError`. Reference ids without a hypothesis are warnings and not scored.

Text metrics (WER, cpWER, tcpWER, WDER) need a text reference and a hypothesis with words (diarize JSON).
Both sides are normalised the same way: each reference segment's text, and each hypothesis *run* (consecutive
words of one speaker inside one segment) — so WER and WDER share one alignment, and cpWER and tcpWER see the
same words. With a UEM, only reference segments and hypothesis words whose midpoint lies in it are scored.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from diarize.errors import ConfigError, InputError, OutputError
from diarize.metrics import (
    CpWerScore,
    DerScore,
    JerScore,
    LabelledWord,
    SpeakerCount,
    WderScore,
    WordErrors,
    cpwer,
    der,
    jer,
    speaker_count,
    tcpwer,
    wder,
    word_errors,
)
from diarize.types import SCHEMA, Segment, Span, SpeakerTurn

__all__ = [
    "COLLAR_CONVENTION",
    "EvalReport",
    "EvalOptions",
    "FileIdError",
    "FileScores",
    "Hypothesis",
    "References",
    "evaluate",
    "evaluate_files",
    "file_scores_dict",
    "format_table",
    "load_hypotheses",
    "load_rttm",
    "load_seglst",
    "load_stm",
    "load_uem",
    "report_dict",
    "report_rows",
    "write_report",
]

logger = logging.getLogger(__name__)

COLLAR_CONVENTION = (
    "collar c as in pyannote.metrics: c/2 s removed each side of reference boundaries "
    "(pyannote collar=0.5 is dscore/md-eval --collar 0.25)"
)
NORMALIZERS = ("whisper", "basic", "none")


class FileIdError(InputError):
    """Hypotheses and references do not name the same files."""


@dataclass(frozen=True)
class EvalOptions:
    """How ``diarize eval`` scores."""

    collars: tuple[float, ...] = (0.0, 0.5)
    """DER/JER collars in pyannote's convention (total width: ``c/2`` s each side of a reference boundary)."""
    skip_overlap: bool = False
    """Leave regions where several reference speakers overlap unscored (DER, JER)."""
    tcp_collar: float = 5.0
    """tcpWER collar (s) around hypothesis words, meeteval's convention and recommended value."""
    normalizer: str = "whisper"
    """Text normaliser for all word metrics: ``whisper`` (EnglishTextNormalizer), ``basic`` (Whisper's
    BasicTextNormalizer, any language) or ``none`` (whitespace split only)."""
    wder_substitutions: bool = False
    """Also score substituted words in WDER (Shafey et al. 2019); by default only exact hits are scored."""


@dataclass(frozen=True)
class Hypothesis:
    """One file's system output; ``segments`` is ``None`` for an RTTM hypothesis (no words)."""

    file_id: str
    path: str
    turns: tuple[SpeakerTurn, ...]
    segments: tuple[Segment, ...] | None = None


@dataclass(frozen=True)
class References:
    """Reference turns per file id, with optional scored regions (UEM) and speaker-attributed text."""

    turns: Mapping[str, tuple[SpeakerTurn, ...]]
    uem: Mapping[str, tuple[Span, ...]] | None = None
    text: Mapping[str, tuple[Segment, ...]] | None = None


@dataclass(frozen=True)
class FileScores:
    """Scores of one file, or (``file_id == "TOTAL"``) the components summed over files."""

    file_id: str
    hypothesis: str
    der: tuple[DerScore, ...]
    jer: tuple[JerScore, ...]
    speakers: SpeakerCount
    wer: WordErrors | None = None
    cpwer: CpWerScore | None = None
    tcpwer: CpWerScore | None = None
    wder: WderScore | None = None


@dataclass(frozen=True)
class EvalReport:
    """Per-file scores, their total, and what was noticed on the way (unscored reference ids, …)."""

    options: EvalOptions
    files: tuple[FileScores, ...]
    total: FileScores
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------
# Reading files
# ----------------------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it as UTF-8 text ({exc})") from exc


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
    try:
        rows = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
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
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from exc
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


# ----------------------------------------------------------------------------------------------------
# Matching file ids
# ----------------------------------------------------------------------------------------------------


def _ids(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:8]) + (f" … ({len(ids)} in all)" if len(ids) > 8 else "")


def _match(references: References, hypotheses: Sequence[Hypothesis]) -> list[str]:
    """Raise :class:`FileIdError` for hypotheses that cannot be scored; return warnings for the rest."""
    if not hypotheses:
        raise FileIdError("no hypothesis to score")
    seen: dict[str, str] = {}
    for h in hypotheses:
        if h.file_id in seen:
            raise FileIdError(f"file id {h.file_id!r} is in both {seen[h.file_id]} and {h.path}")
        seen[h.file_id] = h.path
    required: list[tuple[str, Mapping[str, Any] | None]] = [
        ("reference RTTM", references.turns),
        ("UEM", references.uem),
    ]
    for name, table in required:
        if table is not None and (missing := set(seen) - set(table)):
            where = "; ".join(f"{i} ({seen[i]})" for i in sorted(missing))
            raise FileIdError(f"hypothesis file id(s) not in the {name}: {where}; its ids are: {_ids(table)}")
    warnings = []
    for name, table in [*required, ("text reference", references.text)]:
        if table is not None and (extra := set(table) - set(seen)):
            warnings.append(f"{name} id(s) without a hypothesis, not scored: {_ids(extra)}")
    if references.text is not None:
        with_words = {h.file_id for h in hypotheses if h.segments is not None}
        if missing := with_words - set(references.text):
            raise FileIdError(f"hypothesis file id(s) not in the text reference: {_ids(missing)}")
        if without := set(seen) - with_words:
            warnings.append(f"no words in the hypothesis (RTTM), word metrics skipped: {_ids(without)}")
    return warnings


# ----------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------


def _normalizer(name: str) -> Callable[[str], str]:
    if name == "none":
        return lambda text: text
    if name == "whisper":
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer()
    if name == "basic":
        from whisper.normalizers import BasicTextNormalizer

        return BasicTextNormalizer()
    raise ConfigError(f"unknown text normaliser {name!r}; use one of {', '.join(NORMALIZERS)}")


def _inside(uem: Sequence[Span] | None, start: float, end: float) -> bool:
    middle = (start + end) / 2
    return uem is None or any(s.start <= middle < s.end for s in uem)


def _runs(segments: Sequence[Segment], uem: Sequence[Span] | None) -> list[Segment]:
    """Hypothesis runs: consecutive words of one speaker inside one segment (a word's speaker, else its
    segment's); a segment without words is one run."""
    runs: list[Segment] = []
    for segment in segments:
        if not segment.words:
            if segment.text.strip() and _inside(uem, segment.start, segment.end):
                runs.append(Segment(segment.start, segment.end, segment.text, speaker=segment.speaker))
            continue
        words = [w for w in segment.words if _inside(uem, w.start, w.end)]
        speakers = [w.speaker if w.speaker is not None else segment.speaker for w in words]
        first = 0
        for i in range(1, len(words) + 1):
            if i == len(words) or speakers[i] != speakers[first]:
                text = " ".join(w.text.strip() for w in words[first:i])
                runs.append(Segment(words[first].start, words[i - 1].end, text, speaker=speakers[first]))
                first = i
    return sorted(runs, key=lambda r: r.start)


def _labelled(segments: Sequence[Segment], normalize: Callable[[str], str]) -> list[LabelledWord]:
    return [(token, s.speaker) for s in segments for token in normalize(s.text).split()]


def _score_text(
    reference: Sequence[Segment],
    hypothesis: Sequence[Segment],
    uem: Sequence[Span] | None,
    options: EvalOptions,
    normalize: Callable[[str], str],
) -> dict[str, Any]:
    ref = sorted((s for s in reference if _inside(uem, s.start, s.end)), key=lambda s: (s.start, s.end))
    hyp = _runs(hypothesis, uem)
    ref_words, hyp_words = _labelled(ref, normalize), _labelled(hyp, normalize)
    return {
        "wer": word_errors([w for w, _ in ref_words], [w for w, _ in hyp_words]),
        "wder": wder(ref_words, hyp_words, include_substitutions=options.wder_substitutions),
        "cpwer": cpwer(ref, hyp, normalizer=normalize),
        "tcpwer": tcpwer(ref, hyp, collar=options.tcp_collar, normalizer=normalize),
    }


def _score_file(
    h: Hypothesis, references: References, options: EvalOptions, normalize: Callable[[str], str] | None
) -> FileScores:
    ref = references.turns[h.file_id]
    uem = references.uem[h.file_id] if references.uem is not None else None
    if uem is None:
        logger.info("%s: no UEM, scoring the extent of reference and hypothesis together", h.file_id)
    text: dict[str, Any] = {}
    if normalize is not None and references.text is not None and h.segments is not None:
        text = _score_text(references.text[h.file_id], h.segments, uem, options, normalize)
    return FileScores(
        file_id=h.file_id,
        hypothesis=h.path,
        der=tuple(der(ref, h.turns, uem, c, options.skip_overlap) for c in options.collars),
        jer=tuple(jer(ref, h.turns, uem, c, options.skip_overlap) for c in options.collars),
        speakers=speaker_count(ref, h.turns, uem),
        **text,
    )


def _sum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    total = present[0]
    for value in present[1:]:
        total = total + value
    return total


def _total(files: Sequence[FileScores]) -> FileScores:
    """Sum of components over files (rates of the total are ratios of sums, never means of rates)."""
    return FileScores(
        file_id="TOTAL",
        hypothesis="",
        der=tuple(_sum(scores) for scores in zip(*(f.der for f in files), strict=True)),
        jer=tuple(_sum(scores) for scores in zip(*(f.jer for f in files), strict=True)),
        speakers=_sum(f.speakers for f in files),
        wer=_sum(f.wer for f in files),
        cpwer=_sum(f.cpwer for f in files),
        tcpwer=_sum(f.tcpwer for f in files),
        wder=_sum(f.wder for f in files),
    )


def evaluate(
    references: References, hypotheses: Sequence[Hypothesis], options: EvalOptions | None = None
) -> EvalReport:
    """Score every hypothesis against its reference; see the module docstring for the matching rules."""
    options = options or EvalOptions()
    if not options.collars:
        raise ConfigError("give at least one collar")
    warnings = _match(references, hypotheses)
    for warning in warnings:
        logger.warning("%s", warning)
    wants_text = references.text is not None and any(h.segments is not None for h in hypotheses)
    normalize = _normalizer(options.normalizer) if wants_text else None
    files = tuple(
        _score_file(h, references, options, normalize) for h in sorted(hypotheses, key=lambda h: h.file_id)
    )
    return EvalReport(options=options, files=files, total=_total(files), warnings=tuple(warnings))


def evaluate_files(
    reference: Path,
    hypotheses: Sequence[Path],
    uem: Path | None = None,
    stm: Path | None = None,
    seglst: Path | None = None,
    options: EvalOptions | None = None,
) -> EvalReport:
    """Load the files and :func:`evaluate`; the text reference is ``stm`` or ``seglst`` (not both)."""
    if stm is not None and seglst is not None:
        raise ConfigError("give an STM or a SegLST text reference, not both")
    turns = load_rttm(Path(reference))
    if not turns:
        raise InputError(f"{reference}: no SPEAKER lines; the reference must be an RTTM file")
    text = (
        load_stm(Path(stm)) if stm is not None else load_seglst(Path(seglst)) if seglst is not None else None
    )
    references = References(turns=turns, uem=load_uem(Path(uem)) if uem is not None else None, text=text)
    return evaluate(references, load_hypotheses(hypotheses, turns), options)


# ----------------------------------------------------------------------------------------------------
# Rendering: dict (JSON), flat rows (CSV), text table
# ----------------------------------------------------------------------------------------------------


def _pct(rate: float) -> float | None:
    """A rate as a percentage; ``None`` when it is not finite (errors without any reference, or undefined)."""
    return 100 * rate if math.isfinite(rate) else None


def _words_dict(score: WordErrors | None, rate: str) -> dict[str, Any] | None:
    if score is None:
        return None
    d = {f"{rate}_pct": _pct(score.wer), **{f.name: getattr(score, f.name) for f in fields(score)}}
    if isinstance(score, CpWerScore):
        d["assignment"] = [list(pair) for pair in score.assignment]
    return d


def file_scores_dict(scores: FileScores) -> dict[str, Any]:
    """One file's scores as JSON-ready data: seconds, counts, and rates in percent (``*_pct``)."""
    return {
        "file": scores.file_id,
        "hypothesis": scores.hypothesis,
        "diarization": [
            {
                "collar": d.collar,
                "collar_each_side": d.collar / 2,
                "skip_overlap": d.skip_overlap,
                "der_pct": _pct(d.der),
                "missed_pct": _pct(d.missed / d.total) if d.total else None,
                "false_alarm_pct": _pct(d.false_alarm / d.total) if d.total else None,
                "confusion_pct": _pct(d.confusion / d.total) if d.total else None,
                "jer_pct": _pct(j.jer),
                "scored_s": d.total,
                "missed_s": d.missed,
                "false_alarm_s": d.false_alarm,
                "confusion_s": d.confusion,
                "jer_speakers": j.speakers,
            }
            for d, j in zip(scores.der, scores.jer, strict=True)
        ],
        "speakers": {
            "reference": scores.speakers.reference,
            "hypothesis": scores.speakers.hypothesis,
            "error": scores.speakers.error,
            "abs_error": scores.speakers.abs_error,
        },
        "wer": _words_dict(scores.wer, "wer"),
        "cpwer": _words_dict(scores.cpwer, "cpwer"),
        "tcpwer": _words_dict(scores.tcpwer, "tcpwer"),
        "wder": None
        if scores.wder is None
        else {
            "wder_pct": _pct(scores.wder.wder),
            "scored": scores.wder.scored,
            "wrong": scores.wder.wrong,
            "mapping": scores.wder.mapping,
        },
    }


def report_dict(report: EvalReport) -> dict[str, Any]:
    """The whole report as JSON-ready data (what ``diarize eval --json`` writes)."""
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("pyannote.metrics", "meeteval", "jiwer", "openai-whisper"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "collar_convention": COLLAR_CONVENTION,
        "options": {f.name: getattr(report.options, f.name) for f in fields(report.options)},
        "versions": versions,
        "files": [file_scores_dict(f) for f in report.files],
        "total": file_scores_dict(report.total),
        "warnings": list(report.warnings),
    }


def report_rows(report: EvalReport) -> list[dict[str, Any]]:
    """One flat row per file and a last ``TOTAL`` row (what ``diarize eval --csv`` writes)."""
    rows = []
    for scores in (*report.files, report.total):
        d = file_scores_dict(scores)
        row: dict[str, Any] = {"file": d["file"], "hypothesis": d["hypothesis"]}
        for item in d["diarization"]:
            tag = f"c{item['collar']:g}"
            for key in ("der_pct", "missed_pct", "false_alarm_pct", "confusion_pct", "jer_pct", "scored_s"):
                row[f"{key}_{tag}"] = item[key]
        row.update({f"speakers_{k}": v for k, v in d["speakers"].items()})
        for metric in ("wer", "cpwer", "tcpwer"):
            part = d[metric] or {}
            for key in (f"{metric}_pct", "errors", "reference_words"):
                row[key if key.endswith("_pct") else f"{metric}_{key}"] = part.get(key)
        row.update(
            {"wder_pct": (d["wder"] or {}).get("wder_pct"), "wder_scored": (d["wder"] or {}).get("scored")}
        )
        rows.append(row)
    return rows


def _cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    return [line(header), *(line(r) for r in rows)]


def format_table(report: EvalReport) -> str:
    """The per-file and total scores as plain-text tables, rates in percent."""
    overlap = "overlap not scored" if report.options.skip_overlap else "overlap scored"
    out = [f"Diarization ({overlap}; {COLLAR_CONVENTION})"]
    rows = []
    for scores in (*report.files, report.total):
        for item in file_scores_dict(scores)["diarization"]:
            rows.append(
                [
                    scores.file_id,
                    f"{item['collar']:g}",
                    _cell(item["scored_s"]),
                    _cell(item["missed_pct"]),
                    _cell(item["false_alarm_pct"]),
                    _cell(item["confusion_pct"]),
                    _cell(item["der_pct"]),
                    _cell(item["jer_pct"]),
                ]
            )
    out += _grid(["file", "collar", "scored s", "miss %", "FA %", "conf %", "DER %", "JER %"], rows)
    header = ["file", "ref spk", "hyp spk", "spk err"]
    has_text = report.total.wer is not None
    if has_text:
        header += ["ref words", "WER %", "cpWER %", "tcpWER %", "WDER %"]
    rows = []
    for s in (*report.files, report.total):
        row = [s.file_id, str(s.speakers.reference), str(s.speakers.hypothesis), f"{s.speakers.error:+d}"]
        if has_text:
            words = [s.wer, s.cpwer, s.tcpwer]
            row += [str(s.wer.reference_words) if s.wer else "-"]
            row += [_cell(None if w is None else _pct(w.wer)) for w in words]
            row += [_cell(None if s.wder is None else _pct(s.wder.wder))]
        rows.append(row)
    text = f"; text normaliser {report.options.normalizer}, tcpWER collar {report.options.tcp_collar:g} s"
    out += ["", "Speakers" + (" and words" + text if has_text else "")]
    out += _grid(header, rows)
    return "\n".join(out)


def write_report(report: EvalReport, json_path: Path | None = None, csv_path: Path | None = None) -> None:
    """Write the report as JSON (:func:`report_dict`) and/or CSV (:func:`report_rows`, via pandas)."""
    try:
        if json_path is not None:
            Path(json_path).write_text(json.dumps(report_dict(report), indent=2) + "\n", encoding="utf-8")
        if csv_path is not None:
            import pandas as pd

            pd.DataFrame(report_rows(report)).to_csv(csv_path, index=False)
    except OSError as exc:
        raise OutputError(
            f"{exc.filename or json_path or csv_path}: cannot write the report ({exc.strerror})"
        ) from exc
