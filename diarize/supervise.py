"""A supervisor process for commands that must stop promptly on SIGINT and SIGTERM.

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
from collections.abc import Callable, Iterator
from typing import NoReturn

__all__ = ["die_with_parent", "enabled", "fork"]

_WATCHED = {signal.SIGINT, signal.SIGTERM, signal.SIGCHLD}
_SI_KERNEL = 0x80  # Linux: sent by the kernel, e.g. the terminal's Ctrl-C to its whole foreground group
_PR_SET_PDEATHSIG = 1
_enabled = False


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


def fork(backstop: float, line: Callable[[int], str]) -> None:
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
            os._exit(128 + first)


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
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP keep their default anyway
            signal.signal(-code, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {-code})
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)
