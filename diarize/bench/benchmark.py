"""Speed and memory of the pipeline, per stage and end to end: the library behind ``diarize bench``.

:func:`bench` decodes every file once (for the long recording, warm-ups and baselines), loads the models and
warms each configuration up on a short excerpt (reported as load time, apart from per-file time), then runs
every file through two passes (:mod:`diarize.bench.measure`), each ``repeat`` times:

- the **sequential** pass, ``parallel`` off: each stage runs alone, so its wall time, CPU time and peak memory
  are its own (decode, vad, asr, speakers — with its segmentation, embeddings and clustering steps — assign);
- the **configured** pass, the pipeline as configured (with ``parallel``, transcription and the speaker stage
  side by side on one core each): end-to-end numbers as a user gets them. Skipped, and equal to the sequential
  pass, when the pipeline runs sequentially anyway. It runs first, with only its own models loaded, so that
  its peak memory is what a user sees.

The real-time factor (RTF) is processing wall time ÷ audio duration. With ``long_minutes`` the decoded files
are concatenated into one recording of that length and run through the configured pass (the scaling test).
With ``baseline``, the reference implementations of :mod:`diarize.bench.baselines` run after ours on the same
decoded audio, each in a child process of its own (:mod:`diarize.bench.child`); one that crashes is recorded in
:attr:`BenchReport.baseline_errors` and the others still run. Where a reference RTTM lies next to a file, the
DER of ours (and of the diarization baselines, senko and pyannote) is scored.

Threads: PyTorch is held at ``threads`` for the whole run (the pipeline's stages then set their own counts
from the configuration). OpenMP's waiting policy must be chosen before PyTorch or CTranslate2 loads, so the
library does not set it; the ``diarize`` command sets ``OMP_WAIT_POLICY=PASSIVE`` at start-up and the report
records it. :mod:`diarize.bench.report` renders a :class:`BenchReport` as JSON and as a table.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diarize.bench.baselines import DIARIZERS, Reference, der_scores, load_baseline, reference_for
from diarize.bench.child import BaselineLoader, BaselineResult, BaselineSettings, run_baselines
from diarize.bench.coldstart import COLD_START_SECONDS, ColdStart, cold_start
from diarize.bench.measure import Cost, PassResult, measure, run_pass, sequential
from diarize.config import PipelineConfig, load_pipeline
from diarize.cores import available_cores, config_plan, cpu_info
from diarize.errors import ConfigError
from diarize.eval.metrics import DerScore
from diarize.types import SAMPLE_RATE, Audio, MediaInfo
from diarize.versions import versions

__all__ = [
    "BaselineResult",
    "BenchOptions",
    "BenchReport",
    "FileBench",
    "LongBench",
    "bench",
    "concat_long",
    "excerpt",
]

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
"""Called with one line of news before each step of a long benchmark."""


@dataclass(frozen=True)
class BenchOptions:
    """What ``diarize bench`` measures."""

    pipeline: str | None = None
    """Named pipeline (``meeting``, ``subtitles``, ``archive``) or a YAML file; ``None`` for the default."""

    repeat: int = 1
    """Runs of each pass per file; times are the median over runs, peak memory the maximum."""

    baseline: bool = False
    """Also run the reference baselines (senko's diarizer, pyannote.audio's own pipeline on our models, plain
    faster-whisper and openai-whisper)."""

    long_minutes: float | None = None
    """Also time one recording of this many minutes, built by concatenating the decoded files."""

    threads: int = 0
    """PyTorch threads outside the pipeline's own settings, and the threads of every baseline; ``0``: the cores
    available (:func:`diarize.cores.available_cores`)."""

    warmup_seconds: float = 10.0
    """Length of the excerpt (from the first file) each configuration and baseline is warmed up on."""

    collars: tuple[float, ...] = (0.0, 0.5)
    """DER collars, pyannote's convention (``c/2`` s removed each side of a reference boundary)."""

    cold_start: bool = False
    """Also time ``diarize run`` on 30 s of the first file in a fresh process (:mod:`diarize.bench.coldstart`)."""

    def __post_init__(self) -> None:
        if self.repeat < 1:
            raise ConfigError(f"bench repeat must be at least 1, got {self.repeat}")
        if self.threads < 0:
            raise ConfigError(f"bench threads must be 0 (automatic) or more, got {self.threads}")
        if self.long_minutes is not None and self.long_minutes <= 0:
            raise ConfigError(f"a long recording needs a positive length, got {self.long_minutes:g} min")
        if not self.collars:
            raise ConfigError("give at least one DER collar")


@dataclass(frozen=True)
class FileBench:
    """Everything measured on one input file."""

    path: str
    duration: float
    """Seconds of decoded audio."""
    sequential: PassResult
    configured: PassResult | None
    """``None`` when the pipeline runs sequentially anyway (its numbers are the sequential pass's)."""
    baselines: Mapping[str, BaselineResult] = field(default_factory=dict)
    """The baselines that ran to this file (a crashed one is in :attr:`BenchReport.baseline_errors`)."""
    reference: Reference | None = None
    der: Mapping[str, tuple[DerScore, ...]] = field(default_factory=dict)
    """DER components per system (``ours``, ``senko``, ``pyannote``) at each of the options' collars."""

    @property
    def as_configured(self) -> PassResult:
        return self.configured or self.sequential


@dataclass(frozen=True)
class LongBench:
    """The long recording: its length, what it was built from, and its configured pass."""

    duration: float
    sources: tuple[str, ...]
    configured: PassResult
    baselines: Mapping[str, Cost] = field(default_factory=dict)
    """Each baseline's cost on the long recording (with ``baseline``)."""


@dataclass(frozen=True)
class BenchReport:
    """A whole benchmark run."""

    options: BenchOptions
    config: PipelineConfig
    environment: Mapping[str, Any]
    """Machine, thread settings, versions, load averages (see :mod:`diarize.bench.report`)."""
    load: Mapping[str, Cost]
    """Model loading and warm-up per configuration and baseline (``models.sequential``, ``warmup.senko``…)."""
    files: tuple[FileBench, ...]
    long: LongBench | None = None
    baseline_errors: Mapping[str, str] = field(default_factory=dict)
    """Baselines whose child process failed, and why, in one line (``killed by SIGILL (...)``)."""
    cold_start: ColdStart | None = None
    """The cold ``diarize run``, when asked for."""


# ----------------------------------------------------------------------------------------------------
# Building recordings
# ----------------------------------------------------------------------------------------------------


def concat_long(audios: Sequence[Audio], minutes: float) -> Audio:
    """One recording of exactly ``minutes`` minutes (rounded to a sample): ``audios`` end to end, repeated in
    order as often as needed, the last piece cut short."""
    if minutes <= 0:
        raise ConfigError(f"a long recording needs a positive length, got {minutes:g} min")
    if any(a.sample_rate != SAMPLE_RATE for a in audios):
        raise ConfigError(f"a long recording is built from {SAMPLE_RATE} Hz audio")
    pieces = [np.asarray(a.samples, dtype=np.float32) for a in audios if len(a.samples)]
    if not pieces:
        raise ConfigError("a long recording needs at least one non-empty input")
    needed = round(minutes * 60 * SAMPLE_RATE)
    samples = np.empty(needed, dtype=np.float32)  # shape: (num_samples,)
    filled, index = 0, 0
    while filled < needed:
        piece = pieces[index % len(pieces)][: needed - filled]
        samples[filled : filled + len(piece)] = piece
        filled += len(piece)
        index += 1
    info = MediaInfo(
        path=f"long-{minutes:g}min", duration=needed / SAMPLE_RATE, sample_rate=SAMPLE_RATE, channels=1,
        codec="pcm_f32le", container="memory",
    )
    return Audio(samples=samples, info=info)


def excerpt(audio: Audio, seconds: float) -> Audio:
    """The first ``seconds`` of ``audio``."""
    samples = audio.samples[: round(seconds * audio.sample_rate)]
    info = dataclasses.replace(audio.info, duration=len(samples) / audio.sample_rate)
    return Audio(samples=samples, info=info, sample_rate=audio.sample_rate)


# ----------------------------------------------------------------------------------------------------
# Environment
# ----------------------------------------------------------------------------------------------------


def _proc_field(path: str, key: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        return None
    return None


def _environment(threads: int, config: PipelineConfig) -> dict[str, Any]:
    import torch

    cpu = cpu_info()
    memory = _proc_field("/proc/meminfo", "MemTotal")
    policy = os.environ.get("OMP_WAIT_POLICY")
    if (policy or "").upper() != "PASSIVE":
        logger.warning("OMP_WAIT_POLICY is not PASSIVE: PyTorch slows down when other work shares the CPU")
    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "cpu_model": cpu["model"],
            "cpu_flags": cpu["flags"],
            "cores_available": cpu["cores_available"],
            "cgroup_quota": cpu["cgroup_quota"],
            "memory_bytes": int(memory.split()[0]) * 1024 if memory else None,
            "platform": platform.platform(),
        },
        "threads": {
            "bench": threads,
            "torch": torch.get_num_threads(),
            "torch_interop": torch.get_num_interop_threads(),
            "plan": config_plan(config).to_dict(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "OMP_WAIT_POLICY": policy,
        },
        "versions": versions(),
        "load_average_start": list(os.getloadavg()),
    }


# ----------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------


def _load(models: Any, label: str, config: PipelineConfig, warm: Audio, note: Progress) -> dict[str, Cost]:
    """Load the models of ``config``, then run it once on ``warm``: what per-file times leave out."""
    from diarize.pipeline import run

    note(f"loading models ({label})")
    with measure() as cost:
        models.load(config)
    load = {f"models.{label}": cost()}
    with measure() as cost:
        run(warm, config, models=models)
    load[f"warmup.{label}"] = cost()
    return load


def _bench_ours(
    inputs: Sequence[tuple[Path, Audio, Reference | None]],
    configs: Mapping[str, PipelineConfig],
    models: Any,
    options: BenchOptions,
    note: Progress,
) -> tuple[list[FileBench], LongBench | None, dict[str, Cost]]:
    """Each configuration loaded, warmed up and run over every input (file, decoded audio, reference); the
    long recording right after the configured pass. Returns the files, the long recording and load costs.

    The configured pass goes first, with only its own models loaded, so that its peak memory is what a user
    sees; the sequential pass then also carries the configured pass's models (one-thread Whisper).
    """
    warm = excerpt(inputs[0][1], options.warmup_seconds)
    load: dict[str, Cost] = {}
    passes: dict[str, list[PassResult]] = {}
    long = None
    for label, config in configs.items():
        load.update(_load(models, label, config, warm, note))
        passes[label] = []
        for index, (path, _, _) in enumerate(inputs, start=1):
            note(f"[{index}/{len(inputs)}] {path.name}: {label} pass")
            passes[label].append(run_pass(path, config, models, options.repeat))
        if options.long_minutes is not None and long is None:  # the first pass is the pipeline as configured
            recording = concat_long([audio for _, audio, _ in inputs], options.long_minutes)
            note(f"long recording: {recording.duration / 60:g} min, {label} pass")
            sources = tuple(str(path) for path, _, _ in inputs)
            long = LongBench(recording.duration, sources, run_pass(recording, config, models))
    files = []
    for index, (path, audio, reference) in enumerate(inputs):
        configured = passes["configured"][index] if "configured" in passes else None
        result = (configured or passes["sequential"][index]).result
        der = {"ours": tuple(der_scores(reference, result.turns, options.collars))} if reference else {}
        files.append(
            FileBench(
                path=str(path), duration=audio.duration, sequential=passes["sequential"][index],
                configured=configured, reference=reference, der=der,
            )
        )
    return files, long, load


def _bench_baselines(
    files: Sequence[FileBench],
    audios: Sequence[Audio],
    settings: BaselineSettings,
    options: BenchOptions,
    note: Progress,
    loader: BaselineLoader,
) -> tuple[list[FileBench], dict[str, Cost], dict[str, str], dict[str, Cost]]:
    """Each baseline loaded, warmed up and run on every one of ``audios`` in a child process of its own:
    the files' audio, then the long recording when one more is given. Returns ``files`` with their baseline
    results, the load costs, the baselines that failed (name: why) and each baseline's cost on the long
    recording."""
    warm = excerpt(audios[0], options.warmup_seconds)
    runs = run_baselines(audios, warm, settings, note, loader)
    load = {key: cost for run in runs.values() for key, cost in run.load.items()}
    errors = {name: run.error for name, run in runs.items() if run.error is not None}
    on_long = {name: run.results[len(files)].cost for name, run in runs.items() if len(run.results) > len(files)}
    out = []
    for index, file in enumerate(files):
        baselines = {name: run.results[index] for name, run in runs.items() if index < len(run.results)}
        der = dict(file.der)
        for name in DIARIZERS:
            if file.reference is not None and name in baselines:
                der[name] = tuple(der_scores(file.reference, baselines[name].output.turns, options.collars))
        out.append(dataclasses.replace(file, baselines=baselines, der=der))
    return out, load, errors, on_long


def bench(
    files: Sequence[str | Path],
    options: BenchOptions | None = None,
    cache: Any = None,
    progress: Progress | None = None,
    loader: BaselineLoader = load_baseline,
) -> BenchReport:
    """Benchmark the pipeline ``options.pipeline`` on ``files`` (see the module docstring).

    ``cache`` is the :class:`~diarize.models.cache.ModelCache` to load from (default: the user cache). Every file is
    probed before any work starts: an unusable one raises :class:`~diarize.errors.MediaError`. ``loader``
    builds each baseline inside its child process (see :data:`~diarize.bench.child.BaselineLoader`).
    """
    from diarize.audio import load_audio, probe

    options = options or BenchOptions()
    note = progress or (lambda line: logger.info("%s", line))
    paths = [Path(f) for f in files]
    if not paths:
        raise ConfigError("give at least one file to benchmark")
    for path in paths:
        probe(path)
    references = [reference_for(p) for p in paths]
    config = load_pipeline(options.pipeline)
    from diarize.models.threads import torch_threads
    from diarize.pipeline import Models

    # the configured pass first (see _bench_ours); when the pipeline is sequential anyway, it is the only one
    configs = {"configured": config} if config.parallel else {}
    configs["sequential"] = sequential(config)
    threads = options.threads or available_cores()
    with torch_threads(threads):
        environment = _environment(threads, config)
        audios = [load_audio(p) for p in paths]
        models = Models(cache)
        inputs = list(zip(paths, audios, references, strict=True))
        results, long, load = _bench_ours(inputs, configs, models, options, note)
        errors: dict[str, str] = {}
        if options.baseline:
            settings = BaselineSettings(config.asr, config.speakers, models.cache, threads, options.repeat)
            runs_on = list(audios)
            if long is not None and options.long_minutes is not None:
                runs_on.append(concat_long(audios, options.long_minutes))
            results, baseline_load, errors, on_long = _bench_baselines(
                results, runs_on, settings, options, note, loader
            )
            load.update(baseline_load)
            if long is not None:
                long = dataclasses.replace(long, baselines=on_long)
        cold = None
        if options.cold_start:
            seconds = min(COLD_START_SECONDS, audios[0].duration)
            note(f"cold start: diarize run on {seconds:.1f} s of {paths[0].name} in a fresh process")
            cold = cold_start(audios[0], options.pipeline, getattr(cache, "cache_dir", None))
        environment["load_average_end"] = list(os.getloadavg())
    return BenchReport(options, config, environment, load, tuple(results), long, errors, cold)
