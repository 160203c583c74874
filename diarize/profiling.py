"""Measuring stages: wall time, CPU time and peak resident memory, per stage.

The pipeline times every stage through a :class:`Meter`; the benchmark turns on memory sampling, which reads
the process's resident set size from ``/proc`` in a background thread while a stage runs (:class:`RssTrace`,
the one memory sampler of the package), so each stage gets its own peak rather than the process-wide
high-water mark.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["Meter", "RssTrace", "StageStats", "current_rss", "peak_rss"]

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


def _reset_high_water_mark() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux 4.0+); ``False`` where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _high_water_mark() -> int:
    """The kernel's peak RSS of this process since the last reset (bytes; 0 when unreadable)."""
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class RssTrace:
    """Resident memory while a block runs: a timestamped sample every ``interval`` s, and the peak.

    ``peak`` is the highest sample; with ``exact``, the kernel's high-water mark, reset on entry when allowed
    (one exact trace at a time may do that: an inner one would spoil the outer one's mark), or the sampled
    maximum where the reset is not allowed. :meth:`peak_between` gives the sampled peak of a time window.
    """

    def __init__(self, interval: float = 0.02, exact: bool = False) -> None:
        self.interval = interval
        self.before = 0
        self.peak = 0
        self.exact = exact
        self.samples: list[tuple[float, int]] = []  # (perf_counter, rss bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append((time.perf_counter(), current_rss()))

    def __enter__(self) -> RssTrace:
        self.before = current_rss()
        self.exact = self.exact and _reset_high_water_mark()
        self.samples.append((time.perf_counter(), self.before))
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.perf_counter(), current_rss()))
        sampled = max(rss for _, rss in self.samples)
        self.peak = max(sampled, _high_water_mark()) if self.exact else sampled

    def peak_between(self, start: float, end: float) -> int:
        """Highest sampled RSS from ``start`` to ``end`` (``perf_counter`` seconds), edges included, and the
        last sample before ``start``."""
        inside = [rss for t, rss in self.samples if start <= t <= end]
        before = [rss for t, rss in self.samples if t < start]
        return max(inside + before[-1:]) if inside or before else self.before


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
            with RssTrace(self.interval) as sampler:
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
