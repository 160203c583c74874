"""Measuring stages: wall time, CPU time and peak resident memory, per stage.

The pipeline times every stage through a :class:`Meter`; the benchmark turns on memory sampling, which reads
the process's resident set size from ``/proc`` in a background thread while a stage runs, so each stage gets
its own peak rather than the process-wide high-water mark.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Meter", "StageStats", "current_rss", "peak_rss"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process now, in bytes."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return peak_rss()


def peak_rss() -> int:
    """Highest resident set size this process has reached, in bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class StageStats:
    """What one stage cost: seconds of wall and CPU time, and its peak RSS (bytes; 0 when not sampled)."""

    wall: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0
    calls: int = 0

    def to_dict(self) -> dict[str, float | int]:
        return {"wall_s": self.wall, "cpu_s": self.cpu, "peak_rss_bytes": self.peak_rss, "calls": self.calls}


class _RssSampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.peak = current_rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, current_rss())

    def __enter__(self) -> _RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, current_rss())


@dataclass
class Meter:
    """Accumulates :class:`StageStats` by stage name; ``sample_rss`` turns on per-stage peak memory."""

    sample_rss: bool = False
    interval: float = 0.02
    stages: dict[str, StageStats] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[StageStats]:
        stats = self.stages.setdefault(name, StageStats())
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if self.sample_rss:
            with _RssSampler(self.interval) as sampler:
                yield stats
            stats.peak_rss = max(stats.peak_rss, sampler.peak)
        else:
            yield stats
        stats.wall += time.perf_counter() - wall0
        stats.cpu += time.process_time() - cpu0
        stats.calls += 1

    def timings(self) -> dict[str, float]:
        """Wall seconds per stage, as recorded in a result's provenance."""
        return {name: round(s.wall, 4) for name, s in self.stages.items()}
