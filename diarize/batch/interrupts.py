"""Stopping a batch run on SIGINT or SIGTERM without tearing its records.

Rules:

1. While a run is active (:class:`SignalStop` entered in the main thread), SIGINT and SIGTERM no longer kill
   the process or raise ``KeyboardInterrupt`` at a random point: the handler raises :class:`Stop` (a
   ``BaseException``, so no ``except Exception`` swallows it) at once, wherever the driver waits or computes.
2. Inside :meth:`SignalStop.held` a signal is only noted; :class:`Stop` is raised when the outermost held
   section ends, or earlier at a :meth:`SignalStop.check` the section calls at a safe point. Committing an
   input's folder and appending its manifest line is held, so a record is written whole or not at all; so is
   the scheduling of the workers, because an exception raised by a handler inside an extension's blocking
   call (Ray's ``wait``) breaks that extension; it checks between waits (at most a quarter second apart).
3. The run then stops its workers at once, removes its temporary folders, compacts the manifest and raises
   :class:`BatchInterrupted`; inputs in flight are not recorded and are processed by the next run.
4. A second signal while the run is stopping ends the process at once with that signal's default action, as a
   kill would (the next run still resumes correctly, see :mod:`diarize.batch`).
5. The previous handlers come back when the run ends. Outside the main thread nothing is installed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import Any

from diarize import supervise
from diarize.errors import DiarizeError

__all__ = ["BatchInterrupted", "SignalStop", "Stop"]


class Stop(BaseException):
    """Raised in the driver by the signal handler (rule 1)."""


class BatchInterrupted(DiarizeError):
    """A run stopped by SIGINT or SIGTERM after recording every input it had finished."""

    def __init__(self, signum: int, message: str) -> None:
        self.signum = signum
        super().__init__(message)

    @property
    def exit_status(self) -> int:
        """The shell's status of a process ended by this signal: 128 + its number (130, 143)."""
        return supervise.exit_status(self.signum)

    @staticmethod
    def name_of(signum: int) -> str:
        """``SIGINT``, ``SIGTERM``…"""
        return supervise.signal_name(signum)


class SignalStop:
    """The signal handling of one run (see the module docstring)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._depth = 0
        self._raised = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalStop:
        self.install()
        return self

    def install(self) -> None:
        """Put this run's handler in place (again: a library the run starts may have replaced it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, previous in supervise.install_handlers(self._handle).items():
            self._previous.setdefault(signum, previous)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        supervise.restore_handlers(self._previous)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None:  # rule 4
            supervise.die_of(signum)
            return
        self.signum = signum
        if self._depth == 0:
            self._raised = True
            raise Stop

    def check(self) -> None:
        """Raise :class:`Stop` if a signal came; call at points where stopping is safe (rule 2)."""
        if self.signum is not None and not self._raised:
            self._raised = True
            raise Stop

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A section that a signal does not interrupt (rule 2)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
        if self._depth == 0 and self.signum is not None and not self._raised:
            self._raised = True
            raise Stop
