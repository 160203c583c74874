"""Processes and stop signals: what every command and worker process shares, and the supervisor process.

Shared by :func:`diarize.cli.common.interruptible` (``run``, ``demo``, ``bench``: a grace period, then a forced
exit) and :mod:`diarize.batch.interrupts` (a batch run's own clean-up): the stop signals
(:data:`STOP_SIGNALS`), the shell's exit status of a process they end (:func:`exit_status`: 130, 143), their
names, the one line an interrupted command prints (:func:`interrupted_line`), putting handlers in place and
back (:func:`install_handlers`, :func:`restore_handlers`); for child processes, :func:`die_with_parent` and
:func:`exit_reason` (a dead child's exit code in words).

The supervisor, for commands that must stop promptly on SIGINT and SIGTERM.

Why: some long library calls hold Python's global interpreter lock. SciPy's hierarchical clustering held it for
43 s on the embeddings of 50 minutes of audio, and while one does, no other Python code in the process runs,
signal handlers and watchdog threads included. A second, idle process is not held up:

1. :func:`fork` splits the process: the child goes on with the command (and is killed by the kernel if the
   supervisor dies, ``PR_SET_PDEATHSIG``); the parent waits for it and exits with its status (or dies of its
   signal);
2. a SIGINT or SIGTERM sent to the supervisor alone (``kill``, a service manager) is passed on to the child;
   one from the terminal (Ctrl-C, ``si_code == SI_KERNEL``) is not, since the terminal sends it to the child
   as well;
3. a child still alive ``backstop`` seconds after the first signal is killed (it had its own grace period to
   clean up and leave); the supervisor prints the interruption line and exits with 128 + the signal number.

Only the console entry point turns this on (:func:`enabled`): a host process such as a test runner never forks.
Off Linux, off the main thread or with other threads already running, :func:`fork` does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

__all__ = [
    "STOP_SIGNALS",
    "die_of",
    "die_with_parent",
    "enabled",
    "exit_reason",
    "exit_status",
    "fork",
    "install_handlers",
    "interrupted_line",
    "restore_handlers",
    "signal_name",
]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that stop a command or a batch run (Ctrl-C, ``kill``)."""

_WATCHED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
_SI_KERNEL = 0x80  # Linux: sent by the kernel, e.g. the terminal's Ctrl-C to its whole foreground group
_PR_SET_PDEATHSIG = 1
_enabled = False


def exit_status(signum: int) -> int:
    """The shell's status of a process ended by signal ``signum``: 128 + its number (130, 143)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    """``SIGINT``, ``SIGTERM``… (``signal N`` for a number that names no signal)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interrupted_line(signum: int) -> str:
    """The one line an interrupted command prints: ``diarize: interrupted`` (SIGINT: the user knows) or
    ``diarize: interrupted (SIGTERM)``."""
    name = "" if signum == signal.SIGINT else f" ({signal_name(signum)})"
    return f"diarize: interrupted{name}"


def exit_reason(code: int | None) -> str:
    """A child process's exit code in words: ``SIGKILL`` (negative codes: the signal), ``exit status 1``."""
    if code is not None and code < 0:
        return signal_name(-code)
    return f"exit status {code}"


def install_handlers(handler: Callable[[int, Any], Any], signals: tuple[int, ...] = STOP_SIGNALS) -> dict[int, Any]:
    """Make ``handler`` the Python handler of ``signals`` (main thread only); the handlers it replaced."""
    return {signum: signal.signal(signum, handler) for signum in signals}


def restore_handlers(previous: Mapping[int, Any]) -> None:
    """Put back handlers :func:`install_handlers` replaced (one not set from Python becomes the default)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def die_of(signum: int) -> None:
    """End this process with ``signum``'s default action, as if it had not been caught (a kill)."""
    with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)


@contextlib.contextmanager
def enabled() -> Iterator[None]:
    """Let a :func:`fork` inside the block split the process (the console script runs its command in one)."""
    global _enabled
    _enabled = True
    try:
        yield
    finally:
        _enabled = False


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux); exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def fork(backstop: float, line: Callable[[int], str] = interrupted_line) -> None:
    """Return in a child process that runs the rest of the command; this process becomes its supervisor and
    never returns. ``line(signum)`` is what the supervisor prints when it has to kill the child.

    Returns in this same process, doing nothing, unless inside :func:`enabled` (once per process), on Linux,
    with no other thread running.
    """
    global _enabled
    if not (_enabled and sys.platform.startswith("linux") and threading.active_count() == 1):
        return
    _enabled = False
    for stream in (sys.stdout, sys.stderr):  # nothing buffered may be written twice
        with contextlib.suppress(Exception):
            stream.flush()
    parent = os.getpid()
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        return
    if pid == 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        die_with_parent(parent)
        return
    _supervise(pid, backstop, line)


def _supervise(pid: int, backstop: float, line: Callable[[int], str]) -> NoReturn:
    first: int | None = None
    deadline = float("inf")
    while True:
        info = signal.sigtimedwait(_WATCHED, min(3600.0, max(0.0, deadline - time.monotonic())))
        status = _reap(pid)
        if status is not None:
            _leave_like(status)
        if info is not None and info.si_signo != signal.SIGCHLD:
            if info.si_code != _SI_KERNEL:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, info.si_signo)
            if first is None:
                first, deadline = info.si_signo, time.monotonic() + backstop
        if first is not None and time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                os.write(2, (line(first) + "\n").encode())
            os._exit(exit_status(first))


def _reap(pid: int) -> int | None:
    """The child's wait status once it has ended, else ``None``."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return status if done == pid else None


def _leave_like(status: int) -> NoReturn:
    """Exit with the child's status, or die of the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        die_of(-code)
        code = exit_status(-code)
    os._exit(code)
