"""What every ``diarize`` command shares: one-line errors, interruption, output clean-up, the model cache.

Interruption (:func:`interruptible`): SIGINT and SIGTERM set an event that long work checks at its progress
reports (``pipeline.run(cancel=event)``, :meth:`Interrupts.check`); the work leaves with
:class:`~diarize.cli.progress.Cancelled`, the registered clean-ups run (:meth:`Interrupts.on_exit`: remove an
unfinished input's outputs, stop child processes) and the command exits with 128 + the signal number (130 for
SIGINT, 143 for SIGTERM) and one line on stderr. Work that cannot be stopped within the grace period (one long
call inside CTranslate2, PyTorch or SciPy) and a second signal end the process at once with the same clean-ups,
line and status, through ``os._exit``: no interpreter shutdown, which would wait for the busy thread and could
abort in C++ (``terminate called without an active exception``). A call that also holds Python's global lock
stops even that watchdog; in the console script a supervisor process (:mod:`diarize.supervise`) kills the
command :data:`BACKSTOP` seconds after the signal in that case.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from diarize import supervise
from diarize.cli.progress import Cancelled
from diarize.errors import DiarizeError

__all__ = [
    "BACKSTOP",
    "FORMATS_HELP",
    "FORMATS_LIST_HELP",
    "GRACE",
    "Cancelled",
    "Failure",
    "Group",
    "Interrupts",
    "OutputGuard",
    "console_script_starts",
    "error_line",
    "examples",
    "exit_now_if_interrupted",
    "finished",
    "interruptible",
    "model_cache",
    "read_speaker_names",
]

GRACE = 1.2
"""Seconds between a stop signal and the forced exit when the work has not stopped by itself."""

BACKSTOP = GRACE + 0.4
"""Seconds between a stop signal and the supervisor killing a command that could not even force its exit."""

_INTERRUPTED = tuple(supervise.exit_status(sig) for sig in supervise.STOP_SIGNALS)
_left = False  # an interrupted command has cleaned up and is leaving
_finished = False  # a command has written all its outputs: nothing is left for the interpreter's shutdown


def error_line(message: str) -> str:
    """How an error reaches the user: ``diarize: error: <message>``."""
    return f"diarize: error: {message}"


class Failure(click.ClickException):
    """One line on stderr and exit status 1: how every :class:`DiarizeError` reaches the user."""

    def show(self, file: Any = None) -> None:
        click.echo(error_line(self.format_message()), err=True)


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: the example command lines, kept as written (click's ``\\b``)."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _interrupted() -> click.exceptions.Exit:
    click.echo(supervise.interrupted_line(signal.SIGINT), err=True)
    return click.exceptions.Exit(supervise.exit_status(signal.SIGINT))


class Group(click.Group):
    """A command group whose commands turn the project's own errors into :class:`Failure`, and Ctrl-C outside
    :func:`interruptible` (while the arguments are parsed, too) into one line and exit status 130 (instead of
    click's ``Aborted!`` and 1)."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except KeyboardInterrupt:
            raise _interrupted() from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DiarizeError as exc:
            raise Failure(str(exc)) from exc
        except (KeyboardInterrupt, Cancelled):
            raise _interrupted() from None


class Interrupts:
    """The stop request of one command (see the module docstring); made by :func:`interruptible`.

    ``event`` is set at the first SIGINT or SIGTERM; ``signum`` is that signal. Clean-ups registered with
    :meth:`on_exit` run once, in order, on any interrupted exit (graceful or forced), from whichever thread
    leaves; they must be quick and must not raise (errors are ignored).
    """

    def __init__(self, grace: float = GRACE) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.grace = grace
        self._cleanups: list[Callable[[], object]] = []
        self._lock = threading.Lock()
        self._done = False
        self._received = 0
        self._deadline: threading.Timer | None = None

    def check(self) -> None:
        """Raise :class:`Cancelled` once a stop signal has arrived."""
        if self.event.is_set():
            raise Cancelled()

    def on_exit(self, cleanup: Callable[[], object]) -> None:
        """Run ``cleanup`` if the command is interrupted (e.g. remove partial outputs, kill child processes)."""
        self._cleanups.append(cleanup)

    @property
    def exit_code(self) -> int:
        return supervise.exit_status(self.signum or signal.SIGINT)

    def _request(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def _received_signal(self, signum: int) -> None:
        """A signal, seen by the watcher thread however busy the main thread is: the first one starts the
        grace period, the second one leaves at once."""
        self._request(signum)
        self._received += 1
        if self._received == 1:
            self._deadline = threading.Timer(self.grace, self._force)
            self._deadline.daemon = True
            self._deadline.start()
        else:
            self._force()

    def leave(self) -> int:
        """Clean up and print the line (once); the exit status. The work has stopped: no forced exit follows."""
        global _left
        _left = True
        with self._lock:
            if self._deadline is not None:
                self._deadline.cancel()
            self._finish()
            return self.exit_code

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        for cleanup in self._cleanups:
            with contextlib.suppress(Exception):
                cleanup()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        with contextlib.suppress(OSError):
            os.write(2, (supervise.interrupted_line(self.signum or signal.SIGINT) + "\n").encode())

    def _force(self) -> None:
        """The work did not stop in time (or a second signal came): clean up and end the process now."""
        if not self._lock.acquire(timeout=self.grace):  # a graceful exit is cleaning up
            os._exit(self.exit_code)
        if self._done:  # it finished cleaning up: let it leave normally
            self._lock.release()
            return
        self._finish()
        os._exit(self.exit_code)

    def _handle(self, signum: int, frame: Any) -> None:
        self._request(signum)

    def _watch(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            while data := os.read(fd, 16):
                for signum in data:  # every signal that has a Python handler is written here: keep ours
                    if signum in supervise.STOP_SIGNALS:
                        self._received_signal(signum)
        with contextlib.suppress(OSError):
            os.close(fd)

    def _install(self) -> Callable[[], None]:
        """Signal handlers and the watcher thread; returns what puts the previous handlers back."""
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        previous = supervise.install_handlers(self._handle)
        previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, args=(read_fd,), name="interrupts", daemon=True).start()

        def restore() -> None:
            signal.set_wakeup_fd(previous_fd)
            supervise.restore_handlers(previous)
            os.close(write_fd)  # the watcher reads end-of-file and ends

        return restore


@contextlib.contextmanager
def interruptible(grace: float = GRACE) -> Iterator[Interrupts]:
    """Run a command's work so that SIGINT and SIGTERM stop it (see the module docstring).

    Pass ``interrupts.event`` as ``cancel=`` to :func:`diarize.pipeline.run`, call ``interrupts.check()``
    between steps of other work, and register clean-ups with ``interrupts.on_exit``. On a signal the block
    ends with :class:`click.exceptions.Exit` (status 130 or 143) once the work has stopped, or the process
    ends by itself after ``grace`` seconds. Off the main thread, signals cannot be caught: the event is never
    set. Once the console script has enabled it (:func:`diarize.supervise.enabled`), the process forks here
    and the block runs in the child, under a supervisor; enter the block before starting any thread.
    """
    interrupts = Interrupts(grace)
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return
    supervise.fork(BACKSTOP - GRACE + grace, supervise.interrupted_line)  # the console script only: see the docstring
    restore = interrupts._install()
    try:
        yield interrupts
    except BaseException:
        if interrupts.signum is None:
            restore()
            raise
    if interrupts.signum is None:
        restore()
        return
    code = interrupts.leave()
    restore()
    raise click.exceptions.Exit(code)


def console_script_starts() -> None:
    """Forget what earlier commands of this process said (:func:`finished`, an interrupted exit): the console
    script calls this first, so that a host that ran commands before (a test runner) is never ended for them."""
    global _finished, _left
    _finished = _left = False


def finished() -> None:
    """Say that the command has done and written everything, so that :func:`exit_now_if_interrupted` may end
    the process at once with its exit status."""
    global _finished
    _finished = True


def exit_now_if_interrupted(status: object) -> None:
    """For a console entry point: after :func:`interruptible` stopped a command (exit status 130 or 143,
    clean-ups done), or once a command said it has :func:`finished` (exit status 0 or 1), end the process at
    once. The interpreter's shutdown, which frees the loaded models, took 3-4 s on a busy machine."""
    if (_left and status in _INTERRUPTED) or (_finished and status in (None, 0, 1)):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(int(status or 0))


class OutputGuard:
    """The files a command has finished in a folder, so that an unfinished input leaves nothing behind.

    :meth:`commit` keeps the files present now; :meth:`rollback` removes every file that appeared since (the
    outputs of an input that failed or was interrupted half way, a writer's temp file).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._kept = self._names()

    def _names(self) -> set[str]:
        try:
            return {entry.name for entry in os.scandir(self.folder)}
        except OSError:
            return set()

    def commit(self) -> None:
        self._kept = self._names()

    def rollback(self) -> None:
        for _ in range(2):  # twice: a writer in another thread may have created one more meanwhile
            for name in sorted(self._names() - self._kept):
                path = self.folder / name
                if path.is_file() or path.is_symlink():
                    with contextlib.suppress(OSError):
                        path.unlink()


def read_speaker_names(spec: str | None) -> dict[str, str]:
    """``--speaker-names``: ``SPEAKER_00=Alice,SPEAKER_01=Bob``, or ``@FILE``, a UTF-8 CSV with the header
    ``label,name`` and one speaker a row (what the HTML viewer's names download holds). A file that cannot be
    read or holds a bad row raises :class:`~diarize.errors.ConfigError` naming the file and the line."""
    from diarize.writers import parse_speaker_names

    if not spec or not spec.startswith("@"):
        return parse_speaker_names(spec or "")
    return _names_csv(Path(spec[1:]))


def _names_csv(path: Path) -> dict[str, str]:
    import csv
    import io

    from diarize.errors import ConfigError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the speaker names file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the speaker names file is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    mapping: dict[str, str] = {}
    try:
        header = next(reader, [])
        if [field.strip().lower() for field in header] != ["label", "name"]:
            raise ConfigError(f"{path}: a speaker names file starts with the header line label,name")
        for row in reader:
            fields = [field.strip() for field in row]
            if not any(fields):
                continue
            if len(fields) != 2 or not all(fields):
                raise ConfigError(f"{path}, line {reader.line_num}: expected label,name, got {','.join(row)!r}")
            if fields[0] in mapping:
                raise ConfigError(f"{path}, line {reader.line_num}: {fields[0]!r} is named twice")
            mapping[fields[0]] = fields[1]
    except csv.Error as exc:
        raise ConfigError(f"{path}, line {reader.line_num}: not CSV ({exc})") from None
    return mapping


def model_cache(ctx: click.Context | None = None) -> Any:
    """The model cache the root command was told to use (``--cache-dir``)."""
    from diarize.models.cache import ModelCache

    ctx = ctx or click.get_current_context()
    return ModelCache((ctx.find_root().obj or {}).get("cache_dir"))


FORMATS_LIST_HELP = ("Formats, comma-separated: json, rttm, srt, vtt, ass, txt, md, csv, parquet, html, png, frames, "
                     "or all.")
"""``-f``'s help, for a command that states its own default."""

FORMATS_HELP = FORMATS_LIST_HELP + " [default: the pipeline's; meeting: md,json,srt]"
"""``-f``'s help where the pipeline's ``output.formats`` is the default."""
