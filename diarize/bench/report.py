"""Rendering a benchmark: the JSON document ``diarize bench --json`` writes, and the terminal table.

JSON schema ``diarize-bench/1`` (times in seconds, memory in bytes, ``null`` where not measured)::

    schema            "diarize-bench/1"
    passes            what "sequential" and "configured" mean (text)
    environment       machine {cpu_count, usable_cpus, cpu_model, cpu_flags (those of diarize.cores.CPU_FLAGS
                      the CPU has), cores_available (affinity and cgroup quota), cgroup_quota (cores or
                      null), memory_bytes, platform},
                      threads {bench, torch, torch_interop, plan {cores, asr, speakers, parallel}: the
                      configured pass's thread plan (diarize.cores), OMP_NUM_THREADS, OMP_WAIT_POLICY},
                      versions {package: version}, load_average_start/end [1, 5, 15 min]
    pipeline          name, description, config_hash (diarize.config.config_hash), parallel, models
    options           repeat, baseline, long_minutes, threads (0: the cores available, the count used is
                      environment.threads.bench), warmup_seconds, cold_start, collars, collar_convention
    load              {"models.<pass or baseline>" | "warmup.<pass or baseline>": COST}
    baseline_errors   {baseline name: why its child process failed, one line}: e.g. "killed by SIGILL (its
                      compiled code needs a newer CPU)"; {} when all ran. A failed baseline is missing from
                      the files' baselines from the file it died on; its ratios and DER are null there
    files[]           path, duration_s,
                      sequential PASS, configured PASS (with "same_as_sequential": true when not parallel),
                      baselines {senko | pyannote | faster-whisper | openai-whisper: COST + detail
                      (senko, pyannote: speakers; Whisper: words, segments, language)},
                      ratios {name: ours ÷ baseline wall time}, der DER | null
    aggregate         duration_s, sequential PASS, configured PASS, baselines, ratios, der: the files summed
                      (rates of the sum: RTF = Σ wall ÷ Σ duration; DER from summed components)
    long              duration_s, minutes, sources, configured PASS, baselines, ratios (end to end only;
                      empty without baseline) | null
    cold_start        {wall_s, audio_s, error}: ``diarize run`` on 30 s of the first file in a fresh process
                      (interpreter, imports, model loading and the run); null unless asked for

    COST   {wall_s, cpu_s (null where other work ran at once: asr, speakers and its steps in a parallel pass),
            rtf (wall ÷ audio duration; null for loads), peak_rss_bytes, rss_before_bytes}
    PASS   {parallel, total: COST + walls_s (every run), stages: {decode, vad, asr, speakers, segmentation,
            embeddings, clustering, assign: COST}, words, speakers}
    DER    {reference, uem, scores: [{collar, ours_pct, senko_pct, pyannote_pct, ours: COMPONENTS,
           senko: COMPONENTS, pyannote: COMPONENTS}]} (a baseline that did not run is missing);
           in the aggregate {files, scores}
    COMPONENTS  {total_s, missed_s, false_alarm_s, confusion_s} (pyannote.metrics, overlap scored)

Peak RSS is the whole process's: for ours, the bench process (models of earlier passes stay loaded); for a
baseline, its own child process (the interpreter and the baseline's libraries, none of ours).
``rss_before_bytes`` shows what was resident when the work started.

Ratios: ``speakers_vs_senko`` and ``speakers_vs_pyannote`` (our speaker stage, sequential pass, against senko's
diarizer and pyannote.audio's own pipeline on the same networks), ``vad_asr_vs_faster-whisper`` and
``vad_asr_vs_openai-whisper`` (our VAD + ASR stages), ``end_to_end_vs_senko_plus_faster-whisper`` (our
configured end to end, decode included, against both baselines one after the other),
``end_to_end_vs_faster-whisper`` (the same against plain transcription alone: what speakers cost on top). Below 1,
ours is faster.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from diarize.bench.baselines import BASELINES, DIARIZERS
from diarize.bench.benchmark import BenchReport, FileBench
from diarize.bench.measure import SPEAKER_STEPS, STAGES, Cost, PassResult
from diarize.config import config_hash
from diarize.eval.metrics import DerScore
from diarize.eval.report import COLLAR_CONVENTION
from diarize.texttable import grid
from diarize.writers.files import atomic_write

__all__ = ["SCHEMA", "format_table", "report_dict", "write_json"]

SCHEMA = "diarize-bench/1"

PASSES = {
    "sequential": "parallel off: each stage runs alone with its configured threads; per-stage numbers",
    "configured": "the pipeline as configured (parallel: ASR and speakers side by side, one core each); "
    "end-to-end numbers; CPU of the overlapping stages (asr, speakers and its steps) not separable",
}

_MIB = 2**20

_SYSTEMS = ("ours", *DIARIZERS)
"""The diarizations scored against a reference, in the order the DER table shows them."""


def _cost(cost: Cost, duration: float | None) -> dict[str, Any]:
    return {
        "wall_s": round(cost.wall, 6),
        "cpu_s": None if cost.cpu is None else round(cost.cpu, 6),
        "rtf": None if duration is None else cost.rtf(duration),
        "peak_rss_bytes": cost.peak_rss,
        "rss_before_bytes": cost.rss_before,
    }


def _sum(costs: Iterable[Cost]) -> Cost:
    costs = list(costs)
    cpus = [c.cpu for c in costs]
    return Cost(
        wall=sum(c.wall for c in costs),
        cpu=None if any(c is None for c in cpus) else sum(c for c in cpus if c is not None),
        peak_rss=max(c.peak_rss for c in costs),
        rss_before=min(c.rss_before for c in costs),
    )


def _pass(p: PassResult, duration: float) -> dict[str, Any]:
    total = _cost(p.total, duration) | {"walls_s": [round(w, 6) for w in p.walls]}
    return {
        "parallel": p.parallel,
        "total": total,
        "stages": {name: _cost(cost, duration) for name, cost in p.stages.items()},
        "words": len(p.result.words),
        "speakers": len(p.result.speakers),
    }


def _ours_vs(file_costs: Mapping[str, Cost], baselines: Mapping[str, Cost]) -> dict[str, float | None]:
    """Ours ÷ baseline wall time for each comparison whose both sides were measured."""

    def ratio(ours: float | None, theirs: float | None) -> float | None:
        return ours / theirs if ours is not None and theirs else None

    def wall(table: Mapping[str, Cost], *names: str) -> float | None:
        return sum(table[n].wall for n in names) if all(n in table for n in names) else None

    return {
        "speakers_vs_senko": ratio(wall(file_costs, "speakers"), wall(baselines, "senko")),
        "speakers_vs_pyannote": ratio(wall(file_costs, "speakers"), wall(baselines, "pyannote")),
        "vad_asr_vs_faster-whisper": ratio(wall(file_costs, "vad", "asr"), wall(baselines, "faster-whisper")),
        "vad_asr_vs_openai-whisper": ratio(wall(file_costs, "vad", "asr"), wall(baselines, "openai-whisper")),
        "end_to_end_vs_senko_plus_faster-whisper": ratio(
            wall(file_costs, "end_to_end"), wall(baselines, "senko", "faster-whisper")
        ),
        "end_to_end_vs_faster-whisper": ratio(wall(file_costs, "end_to_end"), wall(baselines, "faster-whisper")),
    }


def _comparable(file: FileBench) -> tuple[dict[str, Cost], dict[str, Cost]]:
    ours = dict(file.sequential.stages) | {"end_to_end": file.as_configured.total}
    return ours, {name: b.cost for name, b in file.baselines.items()}


def _components(score: DerScore) -> dict[str, float]:
    return {f"{f.name}_s": getattr(score, f.name) for f in fields(score) if f.name not in DerScore._keys}


def _der(der: Mapping[str, Sequence[DerScore]], collars: Sequence[float]) -> list[dict[str, Any]]:
    rows = []
    for i, collar in enumerate(collars):
        row: dict[str, Any] = {"collar": collar}
        for system, scores in der.items():
            row[f"{system}_pct"] = 100 * scores[i].der
            row[system] = _components(scores[i])
        rows.append(row)
    return rows


def _file(file: FileBench, collars: Sequence[float]) -> dict[str, Any]:
    configured = _pass(file.as_configured, file.duration) | {"same_as_sequential": file.configured is None}
    ours, theirs = _comparable(file)
    return {
        "path": file.path,
        "duration_s": file.duration,
        "sequential": _pass(file.sequential, file.duration),
        "configured": configured,
        "baselines": {
            name: _cost(b.cost, file.duration) | dict(b.output.detail) for name, b in file.baselines.items()
        },
        "ratios": _ours_vs(ours, theirs) if file.baselines else {},
        "der": None
        if file.reference is None
        else {
            "reference": str(file.reference.rttm),
            "uem": file.reference.uem is not None,
            "scores": _der(file.der, collars),
        },
    }


def _summed_pass(passes: Sequence[PassResult], duration: float) -> dict[str, Any]:
    names = [n for n in (*STAGES, *SPEAKER_STEPS) if all(n in p.stages for p in passes)]
    return {
        "parallel": passes[0].parallel,
        "total": _cost(_sum(p.total for p in passes), duration),
        "stages": {n: _cost(_sum(p.stages[n] for p in passes), duration) for n in names},
        "words": sum(len(p.result.words) for p in passes),
    }


def _aggregate(report: BenchReport) -> dict[str, Any]:
    files = report.files
    duration = sum(f.duration for f in files)
    ours = {n: _sum(_comparable(f)[0][n] for f in files) for n in ("vad", "asr", "speakers", "end_to_end")}
    names = [n for n in files[0].baselines if all(n in f.baselines for f in files)]
    theirs = {n: _sum(f.baselines[n].cost for f in files) for n in names}
    scored = [f for f in files if f.reference is not None]
    systems = [s for s in _SYSTEMS if scored and all(s in f.der for f in scored)]
    collars = range(len(report.options.collars))
    der = {s: [_sum_der(f.der[s][i] for f in scored) for i in collars] for s in systems}
    return {
        "duration_s": duration,
        "sequential": _summed_pass([f.sequential for f in files], duration),
        "configured": _summed_pass([f.as_configured for f in files], duration),
        "baselines": {n: _cost(c, duration) for n, c in theirs.items()},
        "ratios": _ours_vs(ours, theirs) if theirs else {},
        "der": {"files": len(scored), "scores": _der(der, report.options.collars)} if scored else None,
    }


def _sum_der(scores: Iterable[DerScore]) -> DerScore:
    scores = list(scores)
    total = scores[0]
    for score in scores[1:]:
        total = total + score
    return total


def report_dict(report: BenchReport) -> dict[str, Any]:
    """The benchmark as JSON-ready data, schema ``diarize-bench/1`` (see the module docstring)."""
    from diarize.pipeline import Models

    o, config = report.options, report.config
    return {
        "schema": SCHEMA,
        "passes": PASSES,
        "environment": dict(report.environment),
        "pipeline": {
            "name": config.name,
            "description": config.description,
            "config_hash": config_hash(config),
            "parallel": config.parallel,
            "models": Models.names(config),
        },
        "options": {
            "repeat": o.repeat,
            "baseline": o.baseline,
            "long_minutes": o.long_minutes,
            "threads": o.threads,
            "warmup_seconds": o.warmup_seconds,
            "cold_start": o.cold_start,
            "collars": list(o.collars),
            "collar_convention": COLLAR_CONVENTION,
        },
        "load": {name: _cost(cost, None) for name, cost in report.load.items()},
        "baseline_errors": dict(report.baseline_errors),
        "files": [_file(f, o.collars) for f in report.files],
        "aggregate": _aggregate(report),
        "long": None
        if report.long is None
        else {
            "duration_s": report.long.duration,
            "minutes": report.long.duration / 60,
            "sources": list(report.long.sources),
            "configured": _pass(report.long.configured, report.long.duration),
            "baselines": {n: _cost(c, report.long.duration) for n, c in report.long.baselines.items()},
            "ratios": _ours_vs({"end_to_end": report.long.configured.total}, report.long.baselines)
            if report.long.baselines else {},
        },
        "cold_start": None if report.cold_start is None else report.cold_start.to_dict(),
    }


def write_json(report: BenchReport | Mapping[str, Any], path: Path) -> None:
    """Write :func:`report_dict` (or data it returned) to ``path``."""
    data = report_dict(report) if isinstance(report, BenchReport) else report
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


# ----------------------------------------------------------------------------------------------------
# The table
# ----------------------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / _MIB:.0f}"


def _cost_cells(cost: Mapping[str, Any] | None) -> list[str]:
    if cost is None:
        return ["-"] * 4
    return [_num(cost["wall_s"]), _num(cost["cpu_s"]), _num(cost["rtf"], 3), _mib(cost["peak_rss_bytes"])]


def _header(data: Mapping[str, Any]) -> list[str]:
    env, pipeline, load = data["environment"], data["pipeline"], data["load"]
    machine, threads = env["machine"], env["threads"]
    loads = "; ".join(
        f"{key.split('.', 1)[1]}: models {_num(load[key]['wall_s'])} s + warm-up "
        f"{_num(load.get('warmup.' + key.split('.', 1)[1], {}).get('wall_s'))} s"
        for key in load
        if key.startswith("models.")
    )
    average = env.get("load_average_start", [None])[0], env.get("load_average_end", [None])[0]
    plan = threads.get("plan")
    lines = [
        f"cpu: {machine['cpu_model']}, flags {' '.join(machine.get('cpu_flags') or []) or '-'}, "
        f"{machine.get('cores_available', machine['usable_cpus'])} core(s) available"
        + (f" (cgroup quota {machine['cgroup_quota']})" if machine.get("cgroup_quota") else "")
        + (f"; threads used: asr {plan['asr']} + speakers {plan['speakers']} of {plan['cores']}"
           f"{' side by side' if plan['parallel'] else ', one after the other'}" if plan else ""),
    ]
    cold = data.get("cold_start")
    if cold:
        lines.append(f"cold start: diarize run on {cold['audio_s']:.1f} s in a fresh process "
                     + (f"failed ({cold['error']})" if cold["error"] else f"took {cold['wall_s']:.2f} s"))
    return [
        f"diarize bench: pipeline {pipeline['name']} (config {pipeline['config_hash']}, "
        f"parallel {'on' if pipeline['parallel'] else 'off'}), "
        f"models {', '.join(pipeline['models'].values())}",
        f"machine: {machine['cpu_model']} x{machine['usable_cpus']}, bench threads {threads['bench']}, "
        f"OMP_WAIT_POLICY={threads['OMP_WAIT_POLICY']}, "
        f"load average {_num(average[0])} -> {_num(average[1])}, "
        f"repeat {data['options']['repeat']} (medians)",
        f"load time, not in per-file times: {loads}",
        *lines,
    ]


def _stage_table(agg: Mapping[str, Any], files: int) -> list[str]:
    seq, conf = agg["sequential"], agg["configured"]
    rows = []
    for name in (*STAGES, *SPEAKER_STEPS):
        if name in seq["stages"] and name not in SPEAKER_STEPS:
            rows.append([name, *_cost_cells(seq["stages"][name])])
            if name == "speakers":
                steps = [s for s in SPEAKER_STEPS if s in seq["stages"]]
                rows += [[f"  {s}", *_cost_cells(seq["stages"][s])] for s in steps]
    rows.append(["total, sequential", *_cost_cells(seq["total"])])
    label = "end to end, " + ("parallel" if conf["parallel"] else "as configured")
    rows.append([label, *_cost_cells(conf["total"])])
    title = f"Per stage, sequential pass (parallel off), {files} file(s), {agg['duration_s']:.1f} s of audio"
    return ["", title, *grid(["stage", "wall s", "cpu s", "RTF", "peak RSS MiB"], rows)]


def _file_table(data: Mapping[str, Any]) -> list[str]:
    rows = []
    entries = [(Path(f["path"]).name, f) for f in data["files"]]
    if data["long"] is not None:
        entries.append((f"long {data['long']['minutes']:g} min", data["long"] | {"sequential": None}))
    for name, f in entries:
        seq, conf = f["sequential"], f["configured"]
        total, stages = conf["total"], conf["stages"]
        rows.append([
            name,
            f"{f['duration_s']:.1f}",
            *(_cost_cells(seq["total"])[::2] if seq else ["-", "-"]),
            *_cost_cells(total)[::2],
            _mib(total["peak_rss_bytes"]),
            _num(stages.get("speakers", {}).get("wall_s")),
            _num(stages.get("asr", {}).get("wall_s")),
        ])
    header = ["file", "audio s", "seq wall s", "seq RTF", "e2e wall s", "e2e RTF", "peak MiB"]
    header += ["spk s", "asr s"]
    return ["", "Per file (seq: sequential pass; e2e: as configured, decode included)", *grid(header, rows)]


def _baseline_table(data: Mapping[str, Any]) -> list[str]:
    names = list(BASELINES)
    rows = []
    entries = [*((Path(f["path"]).name, f) for f in data["files"]), ("all", data["aggregate"])]
    if data["long"] is not None and data["long"].get("baselines"):
        entries.append((f"long {data['long']['minutes']:g} min", data["long"]))
    for label, f in entries:
        b, r = f["baselines"], f["ratios"]
        keys = ("speakers_vs_senko", "speakers_vs_pyannote", "vad_asr_vs_faster-whisper",
                "vad_asr_vs_openai-whisper", "end_to_end_vs_senko_plus_faster-whisper", "end_to_end_vs_faster-whisper")
        walls = [_num(b.get(n, {}).get("wall_s")) for n in names]
        rows.append([label, *walls, *(_num(r.get(k)) for k in keys)])
    header = ["file", "senko s", "pyannote s", "f-whisper s", "o-whisper s"]
    header += ["spk/senko", "spk/pyannote", "asr/f-w", "asr/o-w", "e2e/(senko+f-w)", "e2e/f-w"]
    title = ("Baselines, each in its own process on the same decoded audio; "
             "ratio = ours / baseline wall time (< 1: ours faster)")
    failed = [f"baseline {name}: {why}" for name, why in data.get("baseline_errors", {}).items()]
    return ["", title, *grid(header, rows), *failed]


def _der_table(data: Mapping[str, Any]) -> list[str]:
    rows = []
    scored = [(Path(f["path"]).name, f["der"]) for f in data["files"] if f["der"]]
    if data["aggregate"]["der"]:
        scored.append(("all", data["aggregate"]["der"]))
    for label, der in scored:
        for s in der["scores"]:
            rows.append([label, f"{s['collar']:g}", *(_num(s.get(f"{system}_pct")) for system in _SYSTEMS)])
    if not rows:
        return []
    title = f"DER % (overlap scored; {COLLAR_CONVENTION})"
    return ["", title, *grid(["file", "collar", *_SYSTEMS], rows)]


def format_table(report: BenchReport | Mapping[str, Any]) -> str:
    """The benchmark as plain-text tables (from a report, or from the JSON data of one)."""
    data = report_dict(report) if isinstance(report, BenchReport) else report
    out = _header(data) + _stage_table(data["aggregate"], len(data["files"])) + _file_table(data)
    if data["options"]["baseline"]:
        out += _baseline_table(data)
    out += _der_table(data)
    return "\n".join(out)
