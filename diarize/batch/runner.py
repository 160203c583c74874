"""One batch run: lock ``OUT``, find the inputs, skip what is done, run the rest, record everything.

Archive members are unpacked into ``OUT/.tmp-extract-*/<id>/`` just before a worker gets them and removed when
the attempt ends (the run is the scheduler's :class:`~diarize.batch.scheduler.Stager`). SIGINT and SIGTERM stop
the run cleanly (:mod:`diarize.batch.interrupts`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import secrets
import shutil
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from diarize.batch.archives import ArchiveError, Member, MemberExtractor
from diarize.batch.inputs import BatchInput, Discovery, discover
from diarize.batch.interrupts import BatchInterrupted, SignalStop, Stop
from diarize.batch.options import BatchOptions
from diarize.batch.outputs import MANIFEST_NAME, SUMMARY_NAME, OutputStore
from diarize.batch.scheduler import WAIT, Engine, schedule
from diarize.batch.summary import BatchProgress, BatchSummary
from diarize.batch.task import FileTask, Job, Outcome, PipelineTask
from diarize.cores import available_cores, batch_workers
from diarize.errors import ConfigError, MediaError

if TYPE_CHECKING:  # the driver imports the pipeline's configuration (and PyTorch) only when it runs
    from diarize.config import PipelineConfig

__all__ = ["RECORD_SCHEMA", "run_batch", "worker_config"]

logger = logging.getLogger(__name__)

RECORD_SCHEMA = "diarize-batch/1"
"""Version tag of a run-manifest record."""


def worker_config(config: PipelineConfig, threads: int, *, override: bool = False) -> PipelineConfig:
    """``config`` with the thread counts of a worker that owns ``threads`` cores (:mod:`diarize.cores`).

    With one core the transcription and speaker stages run one after the other (``parallel`` off), each with
    one thread; with more they share them side by side (one each on two cores). Counts the pipeline names
    are kept unless ``override`` (``--threads``).
    """
    from diarize.cores import with_threads

    return with_threads(config, threads, override=override)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_batch(  # noqa: PLR0913 - the public entry point: past the config, its knobs are keyword-only
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
    cannot be used, :class:`~diarize.errors.DiarizeError` when the workers cannot load their models, and
    :class:`~diarize.batch.interrupts.BatchInterrupted` after SIGINT or SIGTERM (called from the main thread:
    the workers are stopped, every finished input is recorded, the next run resumes).
    """
    options = options or BatchOptions()
    store = OutputStore(out_dir)
    with SignalStop() as stop:
        run: _Run | None = None
        try:
            store.open()
            run = _Run(store, config, options, task, progress or BatchProgress(), stop)
            paths = [Path(p) for p in inputs]
            return run.execute(paths, Path(input_list) if input_list is not None else None)
        except Stop:
            signum = stop.signum or 2
            finished = run.finished if run is not None else 0
            raise BatchInterrupted(signum, _interrupted_message(signum, finished, store.root)) from None
        finally:
            store.close()


def _interrupted_message(signum: int, finished: int, root: Path) -> str:
    return (f"interrupted by {BatchInterrupted.name_of(signum)}: {finished} input(s) finished by this run are "
            f"recorded in {root / MANIFEST_NAME}; run the same command again to resume")


class _Run:
    def __init__(self, store: OutputStore, config: PipelineConfig, options: BatchOptions,
                 task: FileTask | None, progress: BatchProgress, stop: SignalStop) -> None:
        from diarize.config import config_hash
        from diarize.writers import resolve_formats

        self.store, self.config, self.options, self.progress, self.stop = store, config, options, progress, stop
        self.cores = options.cores or available_cores()
        self.workers, self.threads = self._share(options)
        self.formats = resolve_formats(options.formats or config.output.formats)
        self.pipeline_hash = config_hash(config)
        self.task = task or PipelineTask(worker_config(config, self.threads, override=options.threads is not None),
                                         self.formats, self.threads, options.cache_dir)
        self.run_id = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.records: dict[str, dict[str, Any]] = {}
        self.items: dict[str, BatchInput] = {}
        self.members: dict[str, Member] = {}
        self.planned: dict[str, float] = {}
        self.finished = 0
        """Inputs this run recorded (done, failed, or adopted from a killed run)."""
        self.extractor: MemberExtractor | None = None

    def _share(self, options: BatchOptions) -> tuple[int, int]:
        """Workers and threads per worker; on a cluster (``address``) its scheduler places the workers."""
        if options.engine == "ray" and options.address is not None:
            return options.workers, options.threads or max(1, self.cores // options.workers)
        return batch_workers(options.workers, options.threads, self.cores)

    def execute(self, paths: list[Path], input_list: Path | None) -> BatchSummary:
        started = time.monotonic()
        with self.stop.held():
            state = self.store.manifest.compact()
        staging = self.store.temp_dir("extract")
        self.extractor = MemberExtractor(staging, self.options.archive_limits, checkpoint=self.stop.check)
        try:
            found = discover(paths, limits=self.options.archive_limits, input_list=input_list,
                             exclude=self.store.root)
            self.items = {item.id: item for item in found.inputs}
            self.members = found.members
            todo = self._plan(found, state)
            if todo:
                self._process(todo)
        finally:
            with self.stop.held():
                self.extractor.close()
                shutil.rmtree(staging, ignore_errors=True)
                self.store.manifest.compact()
        summary = BatchSummary(
            records=[self.records[i.id] for i in found.inputs if i.id in self.records],
            wall_s=time.monotonic() - started, engine=self.options.engine, workers=self.workers,
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
            with self.stop.held():
                self.store.manifest.append(marker)  # the killed run committed the folder but not its line
                self.records[item.id] = {**marker, "status": "skipped"}
                self.finished += 1
            return True
        return False

    def _process(self, todo: list[BatchInput]) -> None:
        """Archive members first, in archive order (one pass over a compressed tar), then the other files,
        longest first (the last file finishes sooner). Signals are checked between steps (engines block in
        extensions that an exception raised by a signal handler would break)."""
        engine: Engine | None = None
        try:
            with self.stop.held():
                members: list[Job] = []
                files: list[Job] = []
                for item in todo:
                    self.stop.check()
                    job = self._job(item) if item.id in self.members else self._probe(item)
                    if job is not None and engine is None:
                        engine = self._engine()
                        engine.start()  # the workers load their models while the other inputs are probed
                        self.stop.install()  # Ray puts its own SIGTERM handler in place
                    if job is not None:
                        (members if item.id in self.members else files).append(job)
                if engine is None:
                    return
                files.sort(key=lambda j: -self.planned[j.id])
                self.progress.begin(len(members) + len(files), sum(self.planned[j.id] for j in files))
                schedule(engine, members + files, retries=self.options.retries, timeout=self.options.timeout,
                         on_outcome=self._on_outcome, stager=self, checkpoint=self.stop.check)
        except BaseException:
            if engine is not None:
                engine.abort()
                engine = None
            raise
        finally:
            if engine is not None:
                engine.close()
            self.progress.close()

    @staticmethod
    def _job(item: BatchInput, file: str | None = None) -> Job:
        return Job(id=item.id, file=item.file if file is None else file, source=item.source, stem=item.stem,
                   hints=item.hints)

    def _probe(self, item: BatchInput, file: str | None = None) -> Job | None:
        """A job for ``item`` when its header decodes; else its failure is recorded."""
        from diarize.audio import probe

        job = self._job(item, file)
        try:
            self.planned[item.id] = probe(job.file).duration
        except MediaError as exc:
            self._record(item, "failed", error=exc.problem)
            return None
        return job

    def stage(self, job: Job, can_wait: bool) -> Job | None | Literal["wait"]:
        """Unpack an archive member for its attempt (a plain file is already in place); see
        :class:`~diarize.batch.scheduler.Stager`."""
        member = self.members.get(job.id)
        if member is None or self.extractor is None:
            return job
        if can_wait and self.extractor.shortfall(member):
            return WAIT  # the members being processed free their space when they end
        item = self.items[job.id]
        try:
            path = self.extractor.extract(member, job.id)
        except ArchiveError as exc:
            self._record(item, "failed", error=exc.problem, attempts=job.attempt - 1)
            self.progress.update(self.records[item.id], 0.0)
            return None
        first = job.id not in self.planned
        probed = self._probe(item, str(path))
        if probed is None:
            self.extractor.remove(job.id)
            self.progress.update(self.records[item.id], 0.0)
            return None
        if first:
            self.progress.plan(self.planned[job.id])
        return dataclasses.replace(job, file=probed.file)

    def release(self, job: Job) -> None:
        """Remove an archive member unpacked for an attempt that has ended."""
        if job.id in self.members and self.extractor is not None:
            self.extractor.remove(job.id)

    def _engine(self) -> Engine:
        if self.options.engine == "ray":
            from diarize.batch.ray_engine import RayEngine

            return RayEngine(self.task, self.workers, address=self.options.address, cores=self.cores,
                             object_store_bytes=self.options.ray_object_store_bytes)
        from diarize.batch.local import LocalEngine

        return LocalEngine(self.task, self.workers)

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

    def _record(  # noqa: PLR0913 - keyword-only fields of one manifest row
        self, item: BatchInput, status: str, *, error: str | None = None, attempts: int = 0,
        outcome: Outcome | None = None, duration: float | None = None,
        files: dict[str, bytes] | None = None
    ) -> None:
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
        with self.stop.held():
            if files is not None:
                record = self.store.commit(item.id, files, record)
            self.store.manifest.append(record)
            self.records[item.id] = record
            self.finished += 1
