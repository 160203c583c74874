"""The CPU cores diarize may use, and how one run shares them between transcription and the speaker stage.

Rules:

1. The cores available are those the process may run on (``os.sched_getaffinity``; ``os.cpu_count`` where
   the platform has no affinity), lowered to the cgroup CPU quota when one is set: cgroup v2 ``cpu.max``
   (``"quota period"``; ``"max"`` is no quota), else cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``
   (``-1`` is no quota). A quota counts ``quota / period`` cores, rounded down; the result is at least 1.
2. A stage's thread count of ``0`` (the default of ``asr.cpu_threads`` and ``speakers.num_threads``) means
   "size from the machine"; any other number is used as given, even above the cores available.
3. A run's budget is the cores available (rule 1), or the number ``--threads`` gives. When both stages name
   their counts and no budget is given, the counts are the plan (side by side when rule 4 allows it, whatever
   the cores), and its budget is the cores they use: their sum side by side, the larger one otherwise.
4. Transcription and the speaker stage run side by side only when the pipeline asks for it, transcription
   runs on faster-whisper (openai-whisper's PyTorch thread count is process-wide) and the budget is at least
   2 cores; otherwise they run one after the other.
5. Side by side, the budget is split by the stages' cost: the speaker stage costs about twice transcription at
   equal threads, so transcription gets a third of the cores (rounded, at least 1) and the speaker stage the
   rest (at least 1): 2 cores 1 + 1, 3 cores 1 + 2, 4 cores 1 + 3, 6 cores 2 + 4. A stage given an explicit
   count keeps it and the other gets what is left (at least 1).
6. One after the other, an automatic stage gets the whole budget.
7. Side by side, whichever stage finishes first hands its cores to the other: the pipeline raises the other
   stage's :class:`ThreadBudget` to the whole budget. The speaker stage reads it before each segmentation
   batch (PyTorch threads) and each embedding batch (embedding workers). Transcription reads it before each
   decoder window: CTranslate2 fixes its threads per model replica when the model loads, so the model is
   loaded with :attr:`ThreadPlan.asr_workers` replicas of ``asr`` threads each, and windows are decoded
   ``budget // asr`` at a time.
8. A batch shares the cores among its workers: each worker's budget is ``cores // workers`` (at least 1), and
   the workers are capped at ``cores // threads`` so that workers × threads never exceed the cores (a single
   worker with more explicit threads than cores is allowed, by rule 2).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from diarize.config import PipelineConfig

__all__ = [
    "CPU_FLAGS",
    "ThreadBudget",
    "ThreadPlan",
    "available_cores",
    "batch_workers",
    "config_plan",
    "cpu_info",
    "current_budget",
    "plan_threads",
    "with_threads",
]

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where the cgroup file systems are mounted (tests point it elsewhere)."""

PROC_SELF_CGROUP = Path("/proc/self/cgroup")
"""This process's cgroup membership."""

PROC_CPUINFO = Path("/proc/cpuinfo")
"""The CPU's model name and feature flags (Linux)."""

CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "fma", "amx_int8")
"""The CPU features that decide how fast CTranslate2's int8 kernels and PyTorch run."""

SPEAKER_COST = 2.0
"""The speaker stage's cost relative to transcription at equal threads (rule 5; measured on 2 cores)."""


def available_cores() -> int:
    """The cores this process may use (rule 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    if quota is not None:
        cores = min(cores, quota)
    return max(1, cores)


def cgroup_quota() -> int | None:
    """The cores a cgroup CPU quota allows (rounded down, at least 1), or ``None`` when none is set."""
    for folder in _cgroup_folders():
        v2 = _read(folder / "cpu.max")
        if v2 is not None:
            quota, _, period = v2.partition(" ")
            if quota != "max" and period:
                return _cores_of(quota, period)
            return None
        v1 = _read(folder / "cpu.cfs_quota_us")
        if v1 is not None:
            v1_period = _read(folder / "cpu.cfs_period_us")
            if v1.startswith("-") or v1_period is None:
                return None
            return _cores_of(v1, v1_period)
    return None


def _cores_of(quota: str, period: str) -> int | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return max(1, q // p) if q > 0 and p > 0 else None


def _cgroup_folders() -> list[Path]:
    """The cgroup folders of this process that may hold a CPU quota, the process's own first."""
    own: list[Path] = []
    text = _read(PROC_SELF_CGROUP) or ""
    for line in text.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        relative = path.lstrip("/")
        if controllers == "":  # cgroup v2
            own.append(CGROUP_ROOT / relative)
        elif "cpu" in controllers.split(","):
            own += [CGROUP_ROOT / name / relative for name in ("cpu", "cpu,cpuacct", controllers)]
    folders = [*own, CGROUP_ROOT, CGROUP_ROOT / "cpu", CGROUP_ROOT / "cpu,cpuacct"]
    return list(dict.fromkeys(folders))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class ThreadPlan:
    """How one run uses the cores: its budget, each stage's threads, and whether the stages overlap."""

    cores: int
    """The run's budget (rule 3)."""
    asr: int
    """Transcription threads (CTranslate2 ``intra_threads``, or PyTorch's for openai-whisper)."""
    speakers: int
    """Speaker stage threads (embedding workers, one PyTorch thread each)."""
    parallel: bool
    """Whether the two stages run side by side (rule 4)."""

    @property
    def asr_workers(self) -> int:
        """CTranslate2 model replicas transcription needs to take over the whole budget (rule 7): one when
        the stages run one after the other."""
        return max(1, self.cores // max(1, self.asr)) if self.parallel else 1

    def to_dict(self) -> dict[str, Any]:
        return {"cores": self.cores, "asr": self.asr, "speakers": self.speakers, "parallel": self.parallel}


class ThreadBudget:
    """The threads a running stage may use now: its plan's count, raised when the stage beside it finishes
    (rule 7).

    The pipeline raises it from the thread that ran the other stage; the stage reads :attr:`threads` between
    batches, in its own thread, through :func:`current_budget` while :meth:`bound` is active there.
    """

    def __init__(self, threads: int) -> None:
        self._threads = max(1, threads)
        self._lock = threading.Lock()

    @property
    def threads(self) -> int:
        """The threads the stage may use from its next batch on."""
        return self._threads

    def raise_to(self, threads: int) -> None:
        """Let the stage use ``threads`` from its next batch on; a budget is never lowered."""
        with self._lock:
            if threads > self._threads:
                logger.debug("thread budget raised from %d to %d", self._threads, threads)
                self._threads = threads

    @contextlib.contextmanager
    def bound(self) -> Iterator[ThreadBudget]:
        """Make this the :func:`current_budget` of the block (in the calling thread and its context)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)


_CURRENT: ContextVar[ThreadBudget | None] = ContextVar("diarize_thread_budget", default=None)


def current_budget() -> ThreadBudget | None:
    """The :class:`ThreadBudget` bound in this context, or ``None`` when the stage runs on fixed counts."""
    return _CURRENT.get()


def plan_threads(asr: int, speakers: int, *, parallel: bool, budget: int | None = None) -> ThreadPlan:
    """The thread plan for stages asking for ``asr`` and ``speakers`` threads (0: automatic, rule 2).

    ``parallel`` says whether the pipeline and its backend allow the stages to overlap; ``budget`` replaces
    the cores available (``--threads``).
    """
    if asr and speakers and budget is None:  # rule 3: explicit counts are the plan
        return ThreadPlan(asr + speakers if parallel else max(asr, speakers), asr, speakers, parallel=parallel)
    cores = budget if budget is not None else available_cores()
    side_by_side = parallel and cores >= 2
    if not side_by_side:
        return ThreadPlan(cores, asr or cores, speakers or cores, parallel=False)
    if asr and speakers:
        return ThreadPlan(cores, asr, speakers, parallel=True)
    if asr:
        return ThreadPlan(cores, asr, max(1, cores - asr), parallel=True)
    if speakers:
        return ThreadPlan(cores, max(1, cores - speakers), speakers, parallel=True)
    share = min(cores - 1, max(1, round(cores / (1.0 + SPEAKER_COST))))
    return ThreadPlan(cores, share, cores - share, parallel=True)


def config_plan(config: PipelineConfig, budget: int | None = None) -> ThreadPlan:
    """The thread plan of a run of ``config`` (rules 2-6); ``budget`` replaces the cores available."""
    return plan_threads(
        config.asr.cpu_threads,
        config.speakers.num_threads,
        parallel=config.parallel and config.asr.backend == "faster",
        budget=budget,
    )


def with_threads(config: PipelineConfig, budget: int | None, *, override: bool = False) -> PipelineConfig:
    """``config`` with explicit thread counts: its plan on ``budget`` cores (a batch worker's share,
    ``--threads``), or on the cores available when ``budget`` is ``None``. ``override`` (``--threads``) sizes
    both stages automatically even where the pipeline names a count."""
    if override:
        config = dataclasses.replace(
            config,
            asr=dataclasses.replace(config.asr, cpu_threads=0),
            speakers=dataclasses.replace(config.speakers, num_threads=0),
        )
    plan = config_plan(config, budget)
    return dataclasses.replace(
        config,
        asr=dataclasses.replace(config.asr, cpu_threads=plan.asr),
        speakers=dataclasses.replace(config.speakers, num_threads=plan.speakers),
        parallel=plan.parallel,
    )


def batch_workers(workers: int, threads: int | None, cores: int) -> tuple[int, int]:
    """``(workers, threads per worker)`` of a batch on ``cores`` cores (rule 8); ``threads`` ``None`` is
    automatic."""
    per_worker = threads if threads is not None else max(1, cores // workers)
    most = max(1, cores // per_worker)
    if workers > most:
        logger.warning("%d workers × %d thread(s) would exceed the %d core(s) available; using %d worker(s)",
                       workers, per_worker, cores, most)
        workers = most
    return workers, per_worker


def cpu_info() -> dict[str, Any]:
    """The CPU model, which of :data:`CPU_FLAGS` it has, and the cores available (rule 1)."""
    model: str | None = None
    flags: set[str] = set()
    for line in (_read(PROC_CPUINFO) or "").splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name == "model name" and model is None:
            model = value.strip()
        elif name == "flags" and not flags:
            flags = set(value.split())
    if model is None:
        import platform

        model = platform.processor() or None
    return {
        "model": model,
        "flags": [flag for flag in CPU_FLAGS if flag in flags],
        "logical_cpus": os.cpu_count(),
        "cores_available": available_cores(),
        "cgroup_quota": cgroup_quota(),
    }
