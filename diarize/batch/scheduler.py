"""Handing jobs to an engine's workers, with per-file timeouts and retries.

An engine owns a fixed number of worker slots (processes or Ray actors). The scheduler gives each ready slot
one job at a time, waits for outcomes, replaces a worker that runs past the timeout, and queues another
attempt of a file whose attempt failed in a retryable way (worker died, timed out, unexpected error) until
``retries`` extra attempts are spent. A file's final outcome goes to ``on_outcome``; the other files go on.

A :class:`Stager` puts a job's file in place just before it is handed to a worker and takes it away when the
attempt ends (archive members are unpacked only then); it may ask the next job to wait until a running one
ends (not enough disk space yet), or drop it (its failure recorded by the stager).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Literal, Protocol

from diarize.batch.task import Job, Outcome

__all__ = ["WAIT", "Engine", "Stager", "schedule"]

logger = logging.getLogger(__name__)

_POLL = 0.25  # s: longest wait between timeout and stop checks


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

    def abort(self) -> None:
        """Stop every worker at once (jobs in flight are lost)."""
        ...


WAIT: Literal["wait"] = "wait"
"""What :meth:`Stager.stage` returns for a job that can start only after a running one has ended."""


class Stager(Protocol):
    """Puts each job's file in place for one attempt (see the module docstring)."""

    def stage(self, job: Job, can_wait: bool) -> Job | None | Literal["wait"]:
        """The job ready to run, ``None`` when it failed (and is recorded), or :data:`WAIT` (only when
        ``can_wait``: other jobs are running)."""
        ...

    def release(self, job: Job) -> None:
        """The attempt at ``job`` has ended: remove what :meth:`stage` put in place."""
        ...


def schedule(  # noqa: PLR0913 - past the engine and jobs, every parameter is keyword-only
    engine: Engine,
    jobs: Iterable[Job],
    *,
    retries: int,
    timeout: float | None,
    on_outcome: Callable[[Job, Outcome], None],
    stager: Stager | None = None,
    checkpoint: Callable[[], None] | None = None,
) -> None:
    """Run every job on ``engine``; call ``on_outcome`` once per job with its last attempt's outcome (jobs
    that ``stager`` drops excepted). ``checkpoint`` is called between waits; it may raise to stop the run."""
    pending = deque(jobs)
    running: dict[int, tuple[Job, float]] = {}

    def settle(job: Job, outcome: Outcome) -> None:
        if stager is not None:
            stager.release(job)
        if not outcome.ok and outcome.retryable and job.attempt <= retries:
            logger.warning("%s: attempt %d failed (%s); retrying", job.source, job.attempt, outcome.error)
            pending.append(dataclasses.replace(job, attempt=job.attempt + 1))
        else:
            on_outcome(job, outcome)

    while pending or running:
        if checkpoint is not None:
            checkpoint()
        free = [slot for slot in engine.ready_slots() if slot not in running]
        while free and pending:
            staged = stager.stage(pending[0], can_wait=bool(running)) if stager is not None else pending[0]
            if staged == WAIT:
                break
            pending.popleft()
            if isinstance(staged, Job):
                slot = free.pop(0)
                engine.submit(slot, staged)
                running[slot] = (staged, time.monotonic())
        if not pending and not running:
            break
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
