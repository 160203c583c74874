"""Rendering an evaluation report: JSON-ready data, flat CSV rows and plain-text tables.

Rates are written in percent (``*_pct``); a rate that is not finite (errors without any reference speech) is
``None`` in JSON and ``-`` in the table.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diarize.errors import OutputError
from diarize.eval.scores import CpWerScore, WordErrors
from diarize.texttable import grid

if TYPE_CHECKING:
    from diarize.eval.scoring import EvalReport, FileScores

__all__ = [
    "COLLAR_CONVENTION",
    "file_scores_dict",
    "format_table",
    "report_dict",
    "report_rows",
    "write_report",
]

COLLAR_CONVENTION = (
    "collar c as in pyannote.metrics: c/2 s removed each side of reference boundaries "
    "(pyannote collar=0.5 is dscore/md-eval --collar 0.25)"
)


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
    from diarize.versions import versions

    return {
        "collar_convention": COLLAR_CONVENTION,
        "options": {f.name: getattr(report.options, f.name) for f in fields(report.options)},
        "versions": versions(),
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
    out += grid(["file", "collar", "scored s", "miss %", "FA %", "conf %", "DER %", "JER %"], rows)
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
    out += grid(header, rows)
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
