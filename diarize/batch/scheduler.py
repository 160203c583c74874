"""Handing jobs to an engine's workers, with per-file timeouts and retries.

An engine owns a fixed number of worker slots (processes or Ray actors). The scheduler gives each ready slot
one job at a time, waits for outcomes, replaces a worker that runs past the timeout, and queues another
attempt of a file whose attempt failed in a retryable way (worker died, timed out, unexpected error) until
``retries`` extra attempts are spent. A file's final outcome goes to ``on_outcome``; the other files go on.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from diarize.batch.task import Job, Outcome

__all__ = ["Engine", "schedule"]

logger = logging.getLogger(__name__)

_POLL = 0.5  # s: longest wait between timeout checks


class Engine(Protocol):
    """Worker slots that run jobs; ``wait`` reports finished jobs (a dead worker as a retryable failure).

    ``wait`` raises :class:`~diarize.errors.DiarizeError` when workers cannot start at all (models missing).
    """

    name: str

    def start(self) -> None: ...

    def ready_slots(self) -> list[int]: ...

    def submit(self, slot: int, job: Job) -> None: ...

    def wait(self, timeout: float) -> list[tuple[int, Outcome]]: ...

    def replace(self, slot: int) -> None: ...

    def close(self) -> None: ...


def schedule(
    engine: Engine,
    jobs: Iterable[Job],
    *,
    retries: int,
    timeout: float | None,
    on_outcome: Callable[[Job, Outcome], None],
) -> None:
    """Run every job on ``engine``; call ``on_outcome`` once per job with its last attempt's outcome."""
    pending = deque(jobs)
    running: dict[int, tuple[Job, float]] = {}

    def settle(job: Job, outcome: Outcome) -> None:
        if not outcome.ok and outcome.retryable and job.attempt <= retries:
            logger.warning("%s: attempt %d failed (%s); retrying", job.source, job.attempt, outcome.error)
            pending.append(dataclasses.replace(job, attempt=job.attempt + 1))
        else:
            on_outcome(job, outcome)

    while pending or running:
        for slot in engine.ready_slots():
            if not pending:
                break
            if slot not in running:
                job = pending.popleft()
                engine.submit(slot, job)
                running[slot] = (job, time.monotonic())
        for slot, outcome in engine.wait(_next_wait(running, timeout)):
            job, _ = running.pop(slot)
            settle(job, outcome)
        if timeout is None:
            continue
        now = time.monotonic()
        for slot, (job, started) in list(running.items()):
            if now - started > timeout:
                logger.warning("%s: no result after %g s; stopping its worker", job.source, timeout)
                running.pop(slot)
                engine.replace(slot)
                settle(job, Outcome.failure(job, f"timed out after {timeout:g} s", retryable=True,
                                            wall=now - started))


def _next_wait(running: dict[int, tuple[Job, float]], timeout: float | None) -> float:
    if timeout is None or not running:
        return _POLL
    first_deadline = min(started for _, started in running.values()) + timeout
    return max(0.01, min(_POLL, first_deadline - time.monotonic()))
