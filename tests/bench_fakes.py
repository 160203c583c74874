"""Model-free baselines for the bench tests, built by :class:`FakeLoader` inside the baseline's child process.

Importable by spawned child processes (the spawn start method passes the test process's ``sys.path``). Each
baseline named in one of the loader's fields misbehaves in its first ``run`` (the warm-up):

=========  ===========================================================================
``crash``  ``{name: signal}``: the child kills itself with that signal
``fail``   names whose loading raises ModelError (as a missing package does)
``hang``   names that create ``<pid_dir>/<pid>``, hold an exclusive lock on it and sleep forever: the
           lock is free again once the child process has exited (see :func:`holds_lock`)
=========  ===========================================================================

Any other baseline returns one speaker turn per second and counts its runs.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diarize.bench.baselines import BaselineOutput
from diarize.errors import ModelError
from diarize.types import Audio, SpeakerTurn

__all__ = ["FakeBaseline", "FakeLoader", "holds_lock"]


@dataclass
class FakeBaseline:
    name: str
    crash: int | None = None
    hang_in: Path | None = None
    runs: int = 0

    def run(self, audio: Audio) -> BaselineOutput:
        self.runs += 1
        if self.crash is not None:
            os.kill(os.getpid(), self.crash)
        if self.hang_in is not None:
            fd = os.open(self.hang_in / f"{os.getpid()}.part", os.O_CREAT | os.O_WRONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(self.hang_in / f"{os.getpid()}.part", self.hang_in / str(os.getpid()))
            while True:
                time.sleep(1)
        seconds = int(audio.duration)
        turns = tuple(SpeakerTurn(float(s), s + 1.0, f"S{s % 2}") for s in range(seconds))
        return BaselineOutput(turns=turns, detail={"speakers": min(seconds, 2), "runs": self.runs})


@dataclass(frozen=True)
class FakeLoader:
    crash: dict[str, int] = field(default_factory=dict)
    fail: tuple[str, ...] = ()
    hang: tuple[str, ...] = ()
    pid_dir: Path | None = None

    def __call__(self, name: str, asr: Any, speakers: Any, cache: Any, threads: int) -> FakeBaseline:
        if name in self.fail:
            raise ModelError(f"the {name} baseline needs {name}: run `pip install {name}`")
        hang_in = self.pid_dir if name in self.hang else None
        return FakeBaseline(name, crash=self.crash.get(name), hang_in=hang_in)


def holds_lock(path: Path) -> bool:
    """Whether some process holds the exclusive lock on ``path``; a hanging baseline's lock is released when its
    process exits, whatever killed it (no pid is reused by mistake, a zombie holds nothing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
