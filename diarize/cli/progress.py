"""Progress reporting: how a hook stops a run (:class:`Cancelled`), and the command line's display (a one-line
status on a terminal, log lines elsewhere)."""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TextIO

__all__ = ["Cancelled", "ProgressLine"]

logger = logging.getLogger("diarize.cli.progress")


class Cancelled(BaseException):
    """Raised by a progress hook (or between stages) to stop a run that was asked to stop.

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that no ``except Exception`` on the way
    swallows it; it leaves every stage at its next progress report.
    """


class ProgressLine:
    """A pipeline hook (``hook(stage, completed, total)``) that redraws one status line on a terminal.

    Off a terminal it logs each stage's start and end at INFO level instead, so CI logs stay quiet by default.
    Safe to call from several threads (transcription and the speaker stage report concurrently).
    """

    def __init__(self, label: str = "", stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.label = label
        self._state: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._width = 0

    def set_label(self, label: str) -> None:
        with self._lock:
            self.label = label
            self._state.clear()
            self._start = time.monotonic()

    def __call__(self, stage: str, completed: int, total: int) -> None:
        with self._lock:
            self._state[stage] = (completed, total)
            if self.interactive:
                self._draw()
            elif completed == 0 or completed >= total:
                logger.info("%s %s %s", self.label, stage, "started" if completed == 0 else "done")

    def _draw(self) -> None:
        parts = []
        for stage, (done, total) in self._state.items():
            if done >= total and total > 0:
                parts.append(f"{stage} ✓")
            else:
                parts.append(f"{stage} {_bar(done, total)} {done}/{total}")
        line = f"{self.label} {time.monotonic() - self._start:5.1f}s  " + "  ".join(parts[-3:])
        pad = max(0, self._width - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        """Erase the status line (a terminal), so that an error or interruption line stands alone.

        Safe from any thread, even while another one is drawing: it waits for the lock a moment at most.
        """
        locked = self._lock.acquire(timeout=0.2)
        try:
            if self.interactive and self._width:
                self.stream.write("\r" + " " * self._width + "\r")
                self.stream.flush()
                self._width = 0
        finally:
            if locked:
                self._lock.release()

    def close(self) -> None:
        """End the status line (a terminal gets a newline)."""
        with self._lock:
            if self.interactive and self._width:
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0


def _bar(done: int, total: int, width: int = 12) -> str:
    filled = 0 if total <= 0 else min(width, int(width * done / total))
    return "[" + "#" * filled + "." * (width - filled) + "]"
