"""The ``ray`` engine: the same per-file task on a pool of Ray actors, one model set per actor.

Without an address a private local Ray is started (no dashboard, a small object store) and shut down at the
end; with ``address`` (``head:6379``, ``auto``, ``ray://head:10001``) the actors run on that cluster, and every
input path and ``OUT`` must be reachable under the same names from the driver and the workers (a shared file
system): actors read their inputs from disk and send rendered outputs back; the driver alone writes ``OUT``.

Each actor reserves ``threads`` CPUs. An actor that dies (segfault, out-of-memory kill) fails its job in a
retryable way and a fresh actor takes its slot; an actor past the timeout is killed and replaced.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import Any

from diarize.batch.task import FileTask, Job, Outcome, execute, worker_environment, worker_vitals
from diarize.errors import DiarizeError

__all__ = ["RayEngine"]

logger = logging.getLogger(__name__)

_MAX_START_FAILURES = 3


class _BatchActor:
    """A Ray actor holding one task (and its models) for its lifetime."""

    def __init__(self, task_blob: bytes, threads: int) -> None:
        worker_environment(threads)
        self.task: FileTask = pickle.loads(task_blob)
        self.problem: str | None = None
        try:
            self.task.setup()
        except DiarizeError as exc:
            self.problem = str(exc)

    def ready(self) -> tuple[str, Any]:
        if self.problem is not None:
            return ("fatal", self.problem)
        return ("ready", worker_vitals(self.task.threads))

    def process(self, job: Job) -> Outcome:
        return execute(self.task, job)


@dataclass
class _Slot:
    actor: Any
    ready_ref: Any
    ready: bool = False
    job: Job | None = None
    job_ref: Any = None
    failed_starts: int = 0


class RayEngine:
    """Ray actors; see the module docstring."""

    name = "ray"

    def __init__(self, task: FileTask, workers: int, *, address: str | None, cores: int,
                 object_store_bytes: int) -> None:
        self._blob = pickle.dumps(task)
        self._threads = task.threads
        self._workers = workers
        self._address = address
        self._cores = cores
        self._object_store = object_store_bytes
        self._owns_ray = False
        self._actor_class: Any = None
        self._slots: list[_Slot] = []

    def start(self) -> None:
        import ray

        if not ray.is_initialized():
            if self._address:
                ray.init(address=self._address, log_to_driver=False)
            else:
                ray.init(
                    num_cpus=max(self._cores, self._workers * self._threads),
                    object_store_memory=self._object_store,
                    include_dashboard=False,
                    log_to_driver=False,
                )
            self._owns_ray = True
        remote = ray.remote(num_cpus=self._threads, max_restarts=0, max_task_retries=0)
        self._actor_class = remote(_BatchActor)
        self._slots = [self._spawn(0) for _ in range(self._workers)]

    def _spawn(self, failed_starts: int) -> _Slot:
        actor = self._actor_class.remote(self._blob, self._threads)
        return _Slot(actor=actor, ready_ref=actor.ready.remote(), failed_starts=failed_starts)

    def ready_slots(self) -> list[int]:
        return [i for i, s in enumerate(self._slots) if s.ready and s.job is None]

    def submit(self, slot: int, job: Job) -> None:
        self._slots[slot].job = job
        self._slots[slot].job_ref = self._slots[slot].actor.process.remote(job)

    def wait(self, timeout: float) -> list[tuple[int, Outcome]]:
        import ray

        owners = {}
        for index, slot in enumerate(self._slots):
            ref = slot.job_ref if slot.job is not None else (None if slot.ready else slot.ready_ref)
            if ref is not None:
                owners[ref] = index
        if not owners:
            return []
        refs = list(owners)
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if done:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        events = []
        for ref in done:
            events += self._service(owners[ref], ref)
        return events

    def _service(self, index: int, ref: Any) -> list[tuple[int, Outcome]]:
        import ray

        slot = self._slots[index]
        try:
            kind, payload = ("outcome", ray.get(ref)) if slot.job is not None else ray.get(ref)
        except ray.exceptions.RayError as exc:
            return self._died(index, _short(exc))
        if kind == "fatal":
            raise DiarizeError(f"batch workers cannot start: {payload}")
        if kind == "ready":
            slot.ready, slot.failed_starts = True, 0
            return []
        slot.job, slot.job_ref = None, None
        return [(index, payload)]

    def _died(self, index: int, how: str) -> list[tuple[int, Outcome]]:
        slot = self._slots[index]
        events = []
        if slot.job is not None:
            logger.warning("Ray worker died (%s) while processing %s", how, slot.job.source)
            events.append((index, Outcome.failure(slot.job, f"worker process died ({how})", retryable=True)))
        elif slot.failed_starts + 1 >= _MAX_START_FAILURES:
            raise DiarizeError(f"batch workers die while loading the models ({how}); see the log with -v")
        self._kill(slot)
        self._slots[index] = self._spawn(0 if slot.job is not None else slot.failed_starts + 1)
        return events

    def replace(self, slot: int) -> None:
        self._kill(self._slots[slot])
        self._slots[slot] = self._spawn(0)

    @staticmethod
    def _kill(slot: _Slot) -> None:
        import ray

        try:
            ray.kill(slot.actor, no_restart=True)
        except ray.exceptions.RayError as exc:
            logger.debug("actor already gone: %s", exc)

    def close(self) -> None:
        import ray

        for slot in self._slots:
            self._kill(slot)
        self._slots = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False

    def abort(self) -> None:
        """Kill every actor now (their jobs are lost); a private Ray is shut down."""
        self.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
