"""The ``local`` engine: a pool of worker processes (spawn start method), one model set per worker.

Each worker is a fresh interpreter that sets its thread budget, loads the models once (``task.setup()``),
says it is ready and then runs jobs one at a time, sent over its own pipe, until the pipe closes. The driver
watches every pipe and every process sentinel, so a worker that dies (segfault, out-of-memory kill, SIGKILL)
is noticed at once: its job is reported as a retryable failure and a fresh worker takes the slot. On Linux a
worker also asks the kernel to kill it when the driver dies, so a killed driver leaves no orphan computing.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import time
from dataclasses import dataclass
from typing import Any

from diarize.batch.task import FileTask, Job, Outcome, execute, worker_environment
from diarize.errors import DiarizeError
from diarize.supervise import die_with_parent, exit_reason

__all__ = ["LocalEngine"]

logger = logging.getLogger(__name__)

_MAX_START_FAILURES = 3  # per slot, in a row: then the run stops (the workers cannot load their models)


def _worker_main(conn: Any, task_blob: bytes, threads: int, parent: int) -> None:
    """Entry point of a worker process."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    worker_environment(threads)
    task: FileTask = pickle.loads(task_blob)
    try:
        task.setup()
    except DiarizeError as exc:
        conn.send(("fatal", str(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        conn.send(("outcome", execute(task, job)))


@dataclass
class _Slot:
    process: Any
    conn: Any
    ready: bool = False
    job: Job | None = None
    failed_starts: int = 0


class LocalEngine:
    """Worker processes on this machine; see the module docstring."""

    name = "local"

    def __init__(self, task: FileTask, workers: int) -> None:
        self._blob = pickle.dumps(task)
        self._threads = task.threads
        self._workers = workers
        self._ctx = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []

    def start(self) -> None:
        self._slots = []
        for _ in range(self._workers):  # one by one: abort() reaches every worker started so far
            self._slots.append(self._spawn(failed_starts=0))

    def _spawn(self, failed_starts: int) -> _Slot:
        parent_conn, child_conn = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_worker_main, args=(child_conn, self._blob, self._threads, os.getpid()),
            name="diarize-batch-worker", daemon=True,
        )
        process.start()
        child_conn.close()
        return _Slot(process=process, conn=parent_conn, failed_starts=failed_starts)

    def ready_slots(self) -> list[int]:
        return [i for i, s in enumerate(self._slots) if s.ready and s.job is None]

    def submit(self, slot: int, job: Job) -> None:
        self._slots[slot].job = job
        with contextlib.suppress(OSError):  # a dead worker's sentinel reports it on the next wait
            self._slots[slot].conn.send(job)

    def wait(self, timeout: float) -> list[tuple[int, Outcome]]:
        handles = [s.conn for s in self._slots] + [s.process.sentinel for s in self._slots]
        ready = set(multiprocessing.connection.wait(handles, timeout))
        events: list[tuple[int, Outcome]] = []
        for index, slot in enumerate(self._slots):
            if slot.conn in ready or slot.process.sentinel in ready:
                events += self._service(index)
        return events

    def _service(self, index: int) -> list[tuple[int, Outcome]]:
        """Read what a worker sent; replace it when it has died."""
        slot = self._slots[index]
        events = []
        with contextlib.suppress(EOFError, OSError):
            while slot.conn.poll():
                kind, payload = slot.conn.recv()
                if kind == "fatal":
                    raise DiarizeError(f"batch workers cannot start: {payload}")
                if kind == "ready":
                    slot.ready, slot.failed_starts = True, 0
                elif kind == "outcome" and slot.job is not None:
                    events.append((index, payload))
                    slot.job = None
        if slot.process.is_alive():
            return events
        slot.process.join()
        how = exit_reason(slot.process.exitcode)
        if slot.job is not None:
            logger.warning("worker %d died (%s) while processing %s", slot.process.pid, how, slot.job.source)
            events.append((index, Outcome.failure(slot.job, f"worker process died ({how})", retryable=True)))
        elif not slot.ready:
            slot.failed_starts += 1
            if slot.failed_starts >= _MAX_START_FAILURES:
                raise DiarizeError(
                    f"batch workers die while starting ({how}); see their traceback above (a script that "
                    "calls run_batch must guard its work with `if __name__ == '__main__':`)"
                )
        self._close_slot(slot)
        self._slots[index] = self._spawn(failed_starts=slot.failed_starts if not slot.ready else 0)
        return events

    def replace(self, slot: int) -> None:
        old = self._slots[slot]
        old.process.kill()
        old.process.join()
        self._close_slot(old)
        self._slots[slot] = self._spawn(failed_starts=0)

    @staticmethod
    def _close_slot(slot: _Slot) -> None:
        with contextlib.suppress(OSError):
            slot.conn.close()

    def close(self) -> None:
        for slot in self._slots:
            with contextlib.suppress(OSError):
                slot.conn.send(None)
        deadline = time.monotonic() + 5.0
        for slot in self._slots:
            slot.process.join(max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join()
            self._close_slot(slot)
        self._slots = []

    def abort(self) -> None:
        """Kill every worker now (their jobs are lost) and reap them."""
        for slot in self._slots:
            with contextlib.suppress(OSError, ValueError):
                slot.process.kill()
        for slot in self._slots:
            with contextlib.suppress(OSError, ValueError):
                slot.process.join(5.0)
            self._close_slot(slot)
        self._slots = []
