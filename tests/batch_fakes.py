"""Model-free stand-ins for the batch tests: a per-file task whose behaviour follows the input's name, and
tiny WAV files.

Importable by spawned worker processes (the spawn start method passes the test process's ``sys.path``).
:func:`comparable_outputs` reads a batch's outputs for comparing two runs.

======================  ===============================================
name starts with        the fake task
======================  ===============================================
``segv``                kills its own worker with SIGSEGV (a crash)
``flaky``               SIGKILLs its worker on the first attempt only
``hang``                never returns (a timeout)
``bug``                 raises an unexpected RuntimeError
``bad``                 raises MediaError (final, not retried)
``slow``                sleeps ``delay`` seconds, then succeeds
anything else           succeeds at once
======================  ===============================================
"""

from __future__ import annotations

import json
import os
import signal
import struct
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from diarize.batch import Job, TaskOutput
from diarize.batch.outputs import MARKER_NAME
from diarize.errors import MediaError, ModelError

__all__ = ["FakeTask", "comparable_outputs", "write_wav"]


@dataclass
class FakeTask:
    """A per-file task without models (see the module docstring)."""

    threads: int = 1
    delay: float = 0.0
    setup_error: str | None = None
    log_dir: str | None = None
    """When set, every call appends the job's id to ``<log_dir>/<pid>.log`` (which files ran, how often)."""
    watch: str | None = None
    """An output folder: with ``log_dir``, every call also appends to ``<log_dir>/<pid>.staged`` one JSON line
    listing the files under ``<watch>/.tmp-extract-*/`` at that moment (archive members unpacked on disk)."""

    def setup(self) -> None:
        if self.setup_error:
            raise ModelError(self.setup_error)

    def __call__(self, job: Job) -> TaskOutput:
        name = Path(job.source).name
        if self.log_dir:
            with open(Path(self.log_dir) / f"{os.getpid()}.log", "a") as fh:
                fh.write(job.id + "\n")
        if self.log_dir and self.watch:
            staged = sorted(str(p.relative_to(self.watch)) for p in Path(self.watch).glob(".tmp-extract-*/**/*")
                            if p.is_file())
            with open(Path(self.log_dir) / f"{os.getpid()}.staged", "a") as fh:
                fh.write(json.dumps({"id": job.id, "file": job.file, "staged": staged}) + "\n")
        if not os.path.isfile(job.file):
            raise MediaError(job.file, "the file to process is not on disk")
        if name.startswith("segv"):
            os.kill(os.getpid(), signal.SIGSEGV)
        if name.startswith("flaky") and job.attempt == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        if name.startswith("hang"):
            time.sleep(3600)
        if name.startswith("bug"):
            raise RuntimeError("boom")
        if name.startswith("bad"):
            raise MediaError(job.file, "fake decoder says no")
        if name.startswith("slow"):
            time.sleep(self.delay)
        payload = json.dumps({"source": job.source, "stem": job.stem, "hints": job.hints}, sort_keys=True)
        return TaskOutput(files={f"{job.stem}.json": payload.encode()}, duration=0.25, timings={"fake": 0.0})


def write_wav(path: Path, seconds: float = 0.25, value: int = 0) -> Path:
    """A 16 kHz mono 16-bit WAV holding ``seconds`` of the constant sample ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(16000 * seconds)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(struct.pack("<h", value) * frames)
    return path


def comparable_outputs(out: Path) -> dict[str, object]:
    """Every output file of the batch folder ``out``, by ``<id>/<name>``; JSON parsed, without its provenance
    timings (the one part that differs between two runs of the same inputs)."""
    found: dict[str, object] = {}
    for path in sorted(out.glob("*/*")):
        if path.name == MARKER_NAME or path.parent.name.startswith("."):
            continue
        key = f"{path.parent.name}/{path.name}"
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            data["provenance"].pop("timings")
            found[key] = data
        else:
            found[key] = path.read_bytes()
    return found
