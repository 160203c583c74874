"""``diarize batch``: many inputs, resumable, one failure never stops the run, on a process pool or Ray.

Inputs (:mod:`diarize.batch.inputs`): files, folders (recursive; media found by name or signature, then
probed), ``.zip``/``.tar[.gz|.bz2|.xz]`` archives (members hashed in place, then unpacked one at a time under
``OUT/.tmp-extract-*`` only while a worker processes them, within :class:`ArchiveLimits` for the whole run;
:mod:`diarize.batch.archives`), and a CSV/JSONL input list with per-file hints.

Outputs (:mod:`diarize.batch.outputs`): ``OUT/<id>/<stem>.<ext>`` per input, committed atomically (temp
folder, completion marker, rename), and the run manifest ``OUT/manifest.jsonl``.

Run manifest records (schema ``diarize-batch/1``), one JSON line per finished input, appended and fsynced as
it finishes::

    schema         "diarize-batch/1"
    id             16 hex digits: sha256(relative path, content hash); the output folder's name
    path           the input as found (``<archive>/<member>`` for an archive member)
    source         the source path written into the outputs (archive members: the name inside the archive)
    stem           output file stem
    hints          per-file hints from the input list ({} if none)
    status         "done" | "failed"
    error          one-line reason (null when done)
    attempts       attempts made (0: failed before processing, e.g. undecodable or a rejected member)
    duration       seconds of audio (decoded when done, probed when failed; null if unknown)
    wall           wall seconds of the last attempt (models already loaded)
    rtf            wall / duration (done only)
    timings        wall seconds per pipeline stage
    outputs        [{"file", "bytes", "sha256"}] of OUT/<id>/
    pipeline       pipeline name;  pipeline_hash: config_hash() of the run's configuration
    config_hash    hash of what decides this input's outputs: configuration with its hints, and formats
    engine         "local" | "ray"
    worker         {"pid", "peak_rss_mb" (the worker process's high-water mark), "threads"}
    run            run id;  finished_at: UTC time (ISO 8601)

Final state: the last line per id. A run compacts the manifest to its final state (one line per id, rewritten
atomically) when it starts and when it ends, so after any run that was not killed there are no duplicate ids;
after a killed run, readers take the last complete line per id (a torn last line is ignored). ``skipped``
never appears in the manifest: it is the status, in the run's summary (``summary.parquet``, printed summary),
of an input whose ``done`` record was reused.

Resume (default): an input is skipped when its final record is ``done``, its ``config_hash`` matches and its
folder holds the marker and every recorded output with the recorded size and SHA-256. A folder committed by a
run that was killed before appending its line is recognised by its marker and recorded without re-processing.
Everything else is processed (again), including inputs that failed before. Orphan ``OUT/.tmp-*`` folders are
removed at the start of every run; a lock keeps a second run out of the same ``OUT``.

Configuration changes: different hints or formats for an input only re-process that input. A different
pipeline configuration (another ``pipeline_hash`` than the one that made an input's ``done`` record) is
refused with an error unless ``force`` is set, so that one folder never silently mixes results of two
configurations; with ``force`` those inputs are re-processed and their folders replaced. ``resume=False``
re-processes every input.

Interrupts: SIGINT or SIGTERM stops a run within a second or two (:mod:`diarize.batch.interrupts`): the
workers are killed, inputs in flight are dropped (not recorded), temporary folders are removed, the manifest
is compacted, and :class:`BatchInterrupted` is raised; the next run processes what is left, each input once.

Engines: ``local`` (:mod:`diarize.batch.local`, spawned worker processes) and ``ray``
(:mod:`diarize.batch.ray_engine`, Ray actors); both run :class:`PipelineTask` and the driver writes the same
folders and records. With N workers on C cores each worker gets ``max(1, C // N)`` threads (or
``BatchOptions.threads``), shared by its stages (:func:`worker_config`), and N is lowered so that workers ×
threads never exceed C (rule 8 of :mod:`diarize.cores`; on a Ray cluster, Ray places the workers).
"""

from diarize.batch.inputs import BatchInput, Discovery, discover, input_id, read_input_list
from diarize.batch.interrupts import BatchInterrupted
from diarize.batch.options import ArchiveLimits, BatchOptions
from diarize.batch.outputs import OutputStore, RunManifest, final_state
from diarize.batch.runner import RECORD_SCHEMA, run_batch, worker_config
from diarize.batch.summary import BatchProgress, BatchSummary
from diarize.batch.task import FileTask, Job, Outcome, PipelineTask, TaskOutput

__all__ = [
    "RECORD_SCHEMA",
    "ArchiveLimits",
    "BatchInput",
    "BatchInterrupted",
    "BatchOptions",
    "BatchProgress",
    "BatchSummary",
    "Discovery",
    "FileTask",
    "Job",
    "Outcome",
    "OutputStore",
    "PipelineTask",
    "RunManifest",
    "TaskOutput",
    "discover",
    "final_state",
    "input_id",
    "read_input_list",
    "run_batch",
    "worker_config",
]
