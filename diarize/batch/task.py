"""The per-file task that every engine runs: one job in, one outcome (rendered outputs or an error) out.

A task object is sent to each worker once (pickled); the worker calls :meth:`FileTask.setup` (load the models)
and then the task once per job. :func:`execute` wraps a call so that no failure escapes a worker: project
errors (:class:`~diarize.errors.DiarizeError`: undecodable media, bad hints) are final, anything else is an
unexpected failure worth a retry. Outputs travel back as bytes; the driver alone writes ``OUT``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from diarize.errors import DiarizeError, MediaError
from diarize.profiling import peak_rss

if TYPE_CHECKING:
    from diarize.config import PipelineConfig
    from diarize.pipeline import Models

__all__ = ["FileTask", "Job", "Outcome", "PipelineTask", "TaskOutput", "execute", "worker_environment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """One attempt at one input, as sent to a worker."""

    id: str
    file: str
    """The file to decode."""
    source: str
    """The source path to write into the outputs."""
    stem: str
    hints: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1


@dataclass(frozen=True)
class TaskOutput:
    """What a task returns for one job."""

    files: dict[str, bytes]
    """Output file name → content."""
    duration: float
    """Seconds of audio decoded."""
    timings: dict[str, float] = field(default_factory=dict)
    """Wall seconds per pipeline stage."""


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt, success or failure, with the worker's vital signs."""

    id: str
    ok: bool
    output: TaskOutput | None = None
    error: str | None = None
    retryable: bool = False
    """Whether another attempt could succeed (a crash, a timeout, an unexpected error)."""
    wall: float = 0.0
    worker: dict[str, Any] = field(default_factory=dict)
    """``pid``, ``peak_rss_mb`` (the worker's high-water mark so far), ``threads``."""

    @classmethod
    def failure(cls, job: Job, error: str, *, retryable: bool, wall: float = 0.0,
                worker: dict[str, Any] | None = None) -> Outcome:
        return cls(id=job.id, ok=False, error=error, retryable=retryable, wall=wall, worker=worker or {})


class FileTask(Protocol):
    """What a worker runs: ``setup()`` once per worker process, then ``task(job)`` per file."""

    threads: int

    def setup(self) -> None: ...

    def __call__(self, job: Job) -> TaskOutput: ...


def worker_environment(threads: int) -> None:
    """Thread settings of a worker process; call before PyTorch or CTranslate2 is imported in it.

    tqdm (faster-whisper's progress bar) gets a thread lock: its default, a named multiprocessing semaphore in a
    spawned process, would be reported as leaked when a stopped run kills the worker.
    """
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import tqdm
    except ImportError:
        return
    tqdm.tqdm.set_lock(threading.RLock())


def worker_vitals(threads: int) -> dict[str, Any]:
    """This worker's pid, peak resident memory so far (MiB) and thread budget."""
    peak = peak_rss() / 2**20
    return {"pid": os.getpid(), "peak_rss_mb": round(peak, 1), "threads": threads}


def execute(task: FileTask, job: Job) -> Outcome:
    """Run ``task`` on ``job``; every failure becomes an :class:`Outcome` (a worker never dies of a file)."""
    start = time.perf_counter()
    try:
        output = task(job)
    except MediaError as exc:
        error, retryable = exc.problem, False  # the record names the input (the file read may be a temp copy)
    except DiarizeError as exc:
        error, retryable = str(exc), False
    except MemoryError:
        error, retryable = "out of memory", True
    except Exception as exc:  # noqa: BLE001 - the fault-isolation boundary: any bug in one file is that file's
        logger.debug("job %s failed:\n%s", job.id, traceback.format_exc())
        error, retryable = f"unexpected {type(exc).__name__}: {exc}", True
    else:
        wall = time.perf_counter() - start
        return Outcome(id=job.id, ok=True, output=output, wall=wall, worker=worker_vitals(task.threads))
    wall = time.perf_counter() - start
    return Outcome.failure(job, error, retryable=retryable, wall=wall, worker=worker_vitals(task.threads))


@dataclass
class PipelineTask:
    """The real task: run the pipeline on a job's file and render the requested formats."""

    config: PipelineConfig
    """The configuration to run (thread counts already set for one worker)."""
    formats: tuple[str, ...]
    threads: int = 1
    cache_dir: Path | None = None
    _models: Models | None = field(default=None, repr=False)

    def setup(self) -> None:
        """Load every model once for this worker process."""
        import torch

        from diarize.models.cache import ModelCache
        from diarize.pipeline import Models

        torch.set_num_threads(self.threads)
        self._models = Models(ModelCache(self.cache_dir))
        self._models.load(self.config)

    def __call__(self, job: Job) -> TaskOutput:
        from diarize.pipeline import run
        from diarize.writers import render

        if self._models is None:
            self.setup()
        config = self.config.with_hints(**job.hints)
        result = run(job.file, config, models=self._models)
        result = dataclasses.replace(result, source=dataclasses.replace(result.source, path=job.source))
        files = dict(render(result, self.formats, None, self.config.output.writers, stem=job.stem))
        return TaskOutput(files=files, duration=result.duration, timings=dict(result.provenance.timings))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_models"] = None  # models are loaded in each worker, never shipped
        return state
