"""One batch run: lock ``OUT``, find the inputs, skip what is done, run the rest, record everything."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from diarize.batch.inputs import BatchInput, Discovery, discover
from diarize.batch.options import BatchOptions
from diarize.batch.outputs import SUMMARY_NAME, OutputStore
from diarize.batch.scheduler import Engine, schedule
from diarize.batch.summary import BatchProgress, BatchSummary
from diarize.batch.task import FileTask, Job, Outcome, PipelineTask
from diarize.errors import ConfigError, MediaError

if TYPE_CHECKING:  # the driver imports the pipeline's configuration (and PyTorch) only when it runs
    from diarize.config import PipelineConfig

__all__ = ["RECORD_SCHEMA", "run_batch", "worker_config"]

logger = logging.getLogger(__name__)

RECORD_SCHEMA = "diarize-batch/1"
"""Version tag of a run-manifest record."""


def worker_config(config: PipelineConfig, threads: int) -> PipelineConfig:
    """``config`` with the thread counts of a worker that owns ``threads`` cores.

    With one core the transcription and speaker stages run one after the other (``parallel`` off), each with
    one thread; with more, each stage gets them all (the pipeline gives one each when it runs them side by
    side).
    """
    asr = dataclasses.replace(config.asr, cpu_threads=threads)
    speakers = dataclasses.replace(config.speakers, num_threads=threads)
    parallel = config.parallel and threads > 1
    return dataclasses.replace(config, asr=asr, speakers=speakers, parallel=parallel)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_batch(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: PipelineConfig,
    options: BatchOptions | None = None,
    *,
    input_list: str | Path | None = None,
    task: FileTask | None = None,
    progress: BatchProgress | None = None,
) -> BatchSummary:
    """Process every input (files, folders, archives, and the entries of ``input_list``) into ``out_dir``.

    Returns the run's summary; a file that fails is recorded and never stops the run. ``task`` replaces the
    pipeline task (tests inject failing ones). Raises :class:`~diarize.errors.ConfigError` for an invalid
    input list or a configuration change without ``force``, :class:`~diarize.errors.OutputError` when ``OUT``
    cannot be used, and :class:`~diarize.errors.DiarizeError` when the workers cannot load their models.
    """
    options = options or BatchOptions()
    store = OutputStore(out_dir)
    store.open()
    try:
        run = _Run(store, config, options, task, progress or BatchProgress())
        paths = [Path(p) for p in inputs]
        return run.execute(paths, Path(input_list) if input_list is not None else None)
    finally:
        store.close()


class _Run:
    def __init__(self, store: OutputStore, config: PipelineConfig, options: BatchOptions,
                 task: FileTask | None, progress: BatchProgress) -> None:
        from diarize.config import config_hash
        from diarize.writers import resolve_formats

        self.store, self.config, self.options, self.progress = store, config, options, progress
        self.cores = options.cores or _cores()
        self.threads = max(1, self.cores // options.workers)
        self.formats = resolve_formats(options.formats or config.output.formats)
        self.pipeline_hash = config_hash(config)
        self.task = task or PipelineTask(worker_config(config, self.threads), self.formats, self.threads,
                                         options.cache_dir)
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.records: dict[str, dict[str, Any]] = {}
        self.items: dict[str, BatchInput] = {}
        self.planned: dict[str, float] = {}

    def execute(self, paths: list[Path], input_list: Path | None) -> BatchSummary:
        started = time.monotonic()
        state = self.store.manifest.compact()
        staging = self.store.temp_dir("extract")
        try:
            found = discover(paths, staging=staging, limits=self.options.archive_limits,
                             input_list=input_list, exclude=self.store.root)
            self.items = {item.id: item for item in found.inputs}
            todo = self._plan(found, state)
            if todo:
                self._process(todo)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self.store.manifest.compact()
        summary = BatchSummary(
            records=[self.records[i.id] for i in found.inputs if i.id in self.records],
            wall_s=time.monotonic() - started, engine=self.options.engine, workers=self.options.workers,
            threads=self.threads, ignored=found.ignored, duplicates=found.duplicates, out_dir=self.store.root,
        )
        summary.write_parquet(self.store.root / SUMMARY_NAME)
        return summary

    def _file_hash(self, item: BatchInput) -> str:
        """Hash of what decides this input's outputs: pipeline, hints, formats (raises ConfigError)."""
        from diarize.config import config_hash

        config = self.config.with_hints(**item.hints)
        blob = json.dumps({"config": config_hash(config), "formats": self.formats})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def _plan(self, found: Discovery, state: dict[str, dict[str, Any]]) -> list[BatchInput]:
        """Record problem inputs, skip finished ones, return those to process."""
        if self.options.resume and not self.options.force:
            self._refuse_config_change(found.inputs, state)
        todo = []
        for item in found.inputs:
            if item.problem is not None:
                self._record(item, "failed", error=item.problem)
                continue
            try:
                file_hash = self._file_hash(item)
            except ConfigError as exc:
                self._record(item, "failed", error=f"invalid hints: {exc}")
                continue
            if self.options.resume and self._reuse(item, state.get(item.id), file_hash):
                continue
            todo.append(item)
        return todo

    def _refuse_config_change(self, items: list[BatchInput], state: dict[str, dict[str, Any]]) -> None:
        done = [state[i.id] for i in items if state.get(i.id, {}).get("status") == "done"]
        changed = [r for r in done if r.get("pipeline_hash") != self.pipeline_hash]
        if changed:
            old = changed[0]
            raise ConfigError(
                f"{self.store.root}: {len(changed)} input(s) were processed with another pipeline "
                f"configuration ({old.get('pipeline')} {old.get('pipeline_hash')}, now {self.config.name} "
                f"{self.pipeline_hash}); re-run with --force to re-process them with this one, "
                "or choose another -o"
            )

    def _reuse(self, item: BatchInput, previous: dict[str, Any] | None, file_hash: str) -> bool:
        """Whether an earlier run finished ``item`` with this configuration and its outputs are intact."""
        if previous and previous.get("status") == "done" and previous.get("config_hash") == file_hash:
            if self.store.intact(previous):
                self.records[item.id] = {**previous, "status": "skipped"}
                return True
            logger.info("%s: outputs of the earlier run are missing or changed; processing again", item.path)
        marker = self.store.marker(item.id)
        if marker and marker.get("config_hash") == file_hash and self.store.intact(marker):
            logger.info("%s: finished by an interrupted run; recording it", item.path)
            self.store.manifest.append(marker)  # the killed run committed the folder but not its line
            self.records[item.id] = {**marker, "status": "skipped"}
            return True
        return False

    def _process(self, todo: list[BatchInput]) -> None:
        engine: Engine | None = None
        try:
            jobs = []
            for item in todo:
                job = self._probe(item)
                if job is not None and engine is None:
                    engine = self._engine()
                    engine.start()  # the workers load their models while the other inputs are probed
                jobs += [job] if job is not None else []
            if engine is None:
                return
            jobs.sort(key=lambda j: -self.planned[j.id])  # longest first: the last file finishes sooner
            self.progress.begin(len(jobs), sum(self.planned[j.id] for j in jobs))
            schedule(engine, jobs, retries=self.options.retries, timeout=self.options.timeout,
                     on_outcome=self._on_outcome)
        finally:
            if engine is not None:
                engine.close()
            self.progress.close()

    def _probe(self, item: BatchInput) -> Job | None:
        """A job for ``item`` when its header decodes; else its failure is recorded."""
        from diarize.audio import probe

        try:
            self.planned[item.id] = probe(item.file).duration
        except MediaError as exc:
            self._record(item, "failed", error=exc.problem)
            return None
        return Job(id=item.id, file=item.file, source=item.source, stem=item.stem, hints=item.hints)

    def _engine(self) -> Engine:
        if self.options.engine == "ray":
            from diarize.batch.ray_engine import RayEngine

            return RayEngine(self.task, self.options.workers, address=self.options.address, cores=self.cores,
                             object_store_bytes=self.options.ray_object_store_bytes)
        from diarize.batch.local import LocalEngine

        return LocalEngine(self.task, self.options.workers)

    def _on_outcome(self, job: Job, outcome: Outcome) -> None:
        item = self.items[job.id]
        if outcome.ok and outcome.output is not None:
            output = outcome.output
            self._record(item, "done", attempts=job.attempt, outcome=outcome, duration=output.duration,
                         files=output.files)
        else:
            self._record(item, "failed", error=outcome.error, attempts=job.attempt, outcome=outcome,
                         duration=self.planned.get(job.id))
        self.progress.update(self.records[item.id], self.planned.get(job.id, 0.0))

    def _record(self, item: BatchInput, status: str, *, error: str | None = None, attempts: int = 0,
                outcome: Outcome | None = None, duration: float | None = None,
                files: dict[str, bytes] | None = None) -> None:
        """Build the input's record, commit its outputs (if any), append it to the manifest."""
        try:
            file_hash: str | None = self._file_hash(item)
        except ConfigError:
            file_hash = None
        wall = outcome.wall if outcome is not None else 0.0
        record: dict[str, Any] = {
            "schema": RECORD_SCHEMA, "id": item.id, "path": item.path, "source": item.source,
            "stem": item.stem, "hints": item.hints, "status": status, "error": error, "attempts": attempts,
            "duration": None if duration is None else round(duration, 3), "wall": round(wall, 3),
            "rtf": round(wall / duration, 4) if duration and status == "done" else None,
            "timings": dict(outcome.output.timings) if outcome is not None and outcome.output else {},
            "outputs": [], "pipeline": self.config.name, "pipeline_hash": self.pipeline_hash,
            "config_hash": file_hash, "engine": self.options.engine,
            "worker": dict(outcome.worker) if outcome is not None else {}, "run": self.run_id,
            "finished_at": _now(),
        }
        if files is not None:
            record = self.store.commit(item.id, files, record)
        self.store.manifest.append(record)
        self.records[item.id] = record
