"""Measuring pipeline passes for ``diarize bench``: wall time, CPU time and peak memory, per stage and step.

A pass runs the pipeline on one input with models already loaded. The stages come from the pipeline's
:class:`~diarize.profiling.Meter`; the speaker stage is cut into its segmentation, embeddings and clustering
steps where each first reports progress through the pipeline hook. Peak RSS is the process's highest resident
set size while the work ran: the kernel's own high-water mark, reset before each measurement where
``/proc/self/clear_refs`` allows it, else the maximum of samples taken every 20 ms (steps always use samples).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diarize.profiling import Meter, RssTrace
from diarize.types import Audio, Result

__all__ = [
    "SPEAKER_STEPS",
    "STAGES",
    "Cost",
    "PassResult",
    "RssTrace",
    "StepClock",
    "measure",
    "median_cost",
    "run_pass",
    "sequential",
    "split_steps",
]

STAGES = ("decode", "vad", "asr", "speakers", "assign")
"""The pipeline's stages, in order (``decode`` only when the input is a file)."""

SPEAKER_STEPS = ("segmentation", "embeddings", "clustering")
"""The steps of the speaker stage, timed from its progress hook; they add up to the ``speakers`` stage."""

_OVERLAPPING = ("asr", "speakers")  # side by side in a parallel run: the process CPU clock counts both


@dataclass(frozen=True)
class Cost:
    """What one piece of work took."""

    wall: float
    """Seconds of wall-clock time."""

    cpu: float | None
    """Seconds of process CPU time (all threads); ``None`` where other work ran at the same time."""

    peak_rss: int
    """Highest resident set size of the process while the work ran (bytes)."""

    rss_before: int
    """Resident set size just before the work started (bytes)."""

    def rtf(self, duration: float) -> float | None:
        """Real-time factor: wall time ÷ ``duration`` seconds of audio."""
        return self.wall / duration if duration > 0 else None


@dataclass(frozen=True)
class PassResult:
    """One pass of the pipeline over one input: the median over its runs."""

    parallel: bool
    """Whether transcription and the speaker stage ran side by side."""

    total: Cost
    """End to end, model loading excluded."""

    stages: Mapping[str, Cost]
    """Per stage (:data:`STAGES`) and speaker step (:data:`SPEAKER_STEPS`)."""

    walls: tuple[float, ...]
    """End-to-end wall time of every run."""

    result: Result = field(repr=False)
    """The pipeline's output of the last run."""


# ----------------------------------------------------------------------------------------------------
# Instruments
# ----------------------------------------------------------------------------------------------------


@contextmanager
def measure(interval: float = 0.02) -> Iterator[Callable[[], Cost]]:
    """Measure the block; the yielded function returns its :class:`Cost` once the block has finished."""
    box: list[Cost] = []
    trace = RssTrace(interval, exact=True)
    with trace:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        yield lambda: box[0]
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    box.append(Cost(wall=wall, cpu=cpu, peak_rss=trace.peak, rss_before=trace.before))


@dataclass
class _SpanMeter(Meter):
    """A :class:`Meter` that also keeps when each stage last started and ended (wall, CPU)."""

    marks: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[Any]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        with super().stage(name) as stats:
            yield stats
        self.marks[name] = (wall0, cpu0, time.perf_counter(), time.process_time())


class StepClock:
    """A progress hook that notes when each step first reports progress (wall, CPU)."""

    def __init__(self) -> None:
        self.first: dict[str, tuple[float, float]] = {}

    def __call__(self, stage: str, completed: int, total: int) -> None:
        if stage not in self.first:
            self.first[stage] = (time.perf_counter(), time.process_time())


# ----------------------------------------------------------------------------------------------------
# Passes
# ----------------------------------------------------------------------------------------------------


def split_steps(
    span: tuple[float, float, float, float],
    clock: StepClock,
    trace: RssTrace,
    with_cpu: bool,
    steps: Sequence[str] = SPEAKER_STEPS,
) -> dict[str, Cost]:
    """Work that ran over ``span`` (wall and CPU clocks at its start, then at its end) cut into ``steps``
    where each step but the first first reports to ``clock``; a step that never reports takes no time.

    The first step runs from the start of ``span`` (set-up included) to the second step's first report, and
    so on; the last step runs to the end of ``span``. Peak memory per step comes from ``trace``'s samples.
    """
    wall0, cpu0, wall1, cpu1 = span
    cuts = [(wall0, cpu0)]
    for step in steps[1:]:
        wall, cpu = clock.first.get(step, (wall1, cpu1))
        cuts.append((min(max(wall, cuts[-1][0]), wall1), cpu))
    cuts.append((wall1, cpu1))
    out = {}
    for step, start, end in zip(steps, cuts[:-1], cuts[1:], strict=True):
        out[step] = Cost(
            wall=end[0] - start[0],
            cpu=max(0.0, end[1] - start[1]) if with_cpu else None,
            peak_rss=trace.peak_between(start[0], end[0]),
            rss_before=trace.before,
        )
    return out


def _speaker_steps(meter: _SpanMeter, clock: StepClock, trace: RssTrace, with_cpu: bool) -> dict[str, Cost]:
    """Segmentation, embeddings and clustering (:func:`split_steps`) of the speaker stage: clustering
    includes turn building; nothing when the stage did not run."""
    if "speakers" not in meter.marks:
        return {}
    return split_steps(meter.marks["speakers"], clock, trace, with_cpu)


def _run_once(source: Path | Audio, config: Any, models: Any) -> tuple[Result, Cost, dict[str, Cost]]:
    from diarize.pipeline import run

    meter = _SpanMeter(sample_rss=True)
    clock = StepClock()
    with RssTrace(exact=True) as trace:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = run(source, config, models=models, hook=clock, meter=meter)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    parallel = bool(result.provenance.extra.get("parallel"))
    loading = meter.stages.get("load_models")  # a look-up in the loaded-model cache by now
    if loading is not None:
        wall, cpu = wall - loading.wall, cpu - loading.cpu
    total = Cost(wall=wall, cpu=cpu, peak_rss=trace.peak, rss_before=trace.before)
    stages = {
        name: Cost(
            wall=s.wall,
            cpu=None if parallel and name in _OVERLAPPING else s.cpu,
            peak_rss=max(s.peak_rss, trace.before),
            rss_before=trace.before,
        )
        for name in STAGES
        if (s := meter.stages.get(name)) is not None
    }
    stages.update(_speaker_steps(meter, clock, trace, with_cpu=not parallel))
    return result, total, stages


def median_cost(costs: Sequence[Cost]) -> Cost:
    """Median wall and CPU time of several runs of the same work; the highest peak, the lowest start."""
    cpus = [c.cpu for c in costs]
    return Cost(
        wall=statistics.median(c.wall for c in costs),
        cpu=None if any(c is None for c in cpus) else statistics.median(c for c in cpus if c is not None),
        peak_rss=max(c.peak_rss for c in costs),
        rss_before=min(c.rss_before for c in costs),
    )


def run_pass(source: Path | Audio, config: Any, models: Any, repeat: int = 1) -> PassResult:
    """Run the pipeline ``repeat`` times on ``source`` (a file, decoded and timed, or decoded audio) with
    models already loaded; the median of the runs."""
    runs = [_run_once(source, config, models) for _ in range(repeat)]
    result = runs[-1][0]
    names = [name for name in (*STAGES, *SPEAKER_STEPS) if all(name in r[2] for r in runs)]
    return PassResult(
        parallel=bool(result.provenance.extra.get("parallel")),
        total=median_cost([r[1] for r in runs]),
        stages={name: median_cost([r[2][name] for r in runs]) for name in names},
        walls=tuple(r[1].wall for r in runs),
        result=result,
    )


def sequential(config: Any) -> Any:
    """``config`` with ``parallel`` off: every stage runs alone, with its configured thread count."""
    return dataclasses.replace(config, parallel=False)
