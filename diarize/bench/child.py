"""Each reference baseline of ``diarize bench`` in a child process of its own.

A baseline is other people's code, some of it compiled for newer CPUs than the one at hand (senko's fbank
library dies with SIGILL on a CPU without AVX-512). :func:`run_baselines` therefore starts a fresh interpreter
per baseline (the spawn start method), one after the other. The child gets the decoded audio with its start-up
arguments (pickled by the spawn start method: no temporary files to leave behind), builds its baseline with the
loader, warms it up on the excerpt, runs it ``repeat`` times on every file and sends each measurement back over
a pipe as soon as it has it. Wall time, CPU time and
peak memory are those of the child process: the baseline's own, with none of ours loaded.

- A child that fails (killed by a signal, killed for memory, a failed import or load, a non-zero exit) costs
  only its own baseline: :attr:`BaselineRun.error` says why in one line, e.g. ``killed by SIGILL (its
  compiled code needs a newer CPU)``, what the child sent before it died is kept, and the next baseline runs.
- No orphans: the child ignores SIGINT (Ctrl-C is the parent's to handle); the parent ends the child on any
  exception, KeyboardInterrupt included; on Linux the kernel kills the child when the parent dies (SIGTERM,
  SIGKILL).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diarize.asr.options import AsrOptions
from diarize.bench.baselines import BASELINES, Baseline, BaselineOutput, load_baseline
from diarize.bench.measure import Cost, measure, median_cost
from diarize.errors import DiarizeError
from diarize.speakers.options import SpeakerOptions
from diarize.supervise import die_with_parent, exit_reason
from diarize.types import Audio

__all__ = ["BaselineLoader", "BaselineResult", "BaselineRun", "BaselineSettings", "crash_reason", "run_baselines"]

logger = logging.getLogger(__name__)

BaselineLoader = Callable[[str, AsrOptions, SpeakerOptions, Any, int], Baseline]
"""Builds a baseline from its name, ASR and speaker options, model cache and thread count, like
:func:`~diarize.bench.baselines.load_baseline`. It is pickled to the child, so it must be importable there
(a module-level function, or an instance of a module-level class)."""

_SIGNAL_WORDS: Mapping[int, str] = {
    signal.SIGILL: "its compiled code needs a newer CPU",
    signal.SIGSEGV: "a crash in its compiled code",
    signal.SIGBUS: "a bad memory access in its compiled code",
    signal.SIGFPE: "an arithmetic fault in its compiled code",
    signal.SIGABRT: "its compiled code aborted",
    signal.SIGKILL: "killed, out of memory?",
    signal.SIGTERM: "terminated from outside",
}

_STOP_GRACE = 5.0  # s a child has to exit after SIGTERM, before SIGKILL


@dataclass(frozen=True)
class BaselineSettings:
    """What every baseline child is told, besides its name."""

    asr: AsrOptions
    """The pipeline's ASR options: model size and decoding settings of the Whisper baselines."""

    speakers: SpeakerOptions
    """The pipeline's speaker options: the runtime and clustering threshold of the pyannote baseline."""

    cache: Any
    """The :class:`~diarize.models.cache.ModelCache` to load from (pickled: only its directory travels)."""

    threads: int
    """PyTorch and CTranslate2 threads of the baseline."""

    repeat: int = 1
    """Runs per file; the cost is the median over them."""


@dataclass(frozen=True)
class BaselineResult:
    """One baseline on one file: the median cost over the runs and the last run's output."""

    cost: Cost
    output: BaselineOutput


@dataclass(frozen=True)
class BaselineRun:
    """One baseline's child process: what it measured, and why it failed if it did."""

    name: str
    load: Mapping[str, Cost] = field(default_factory=dict)
    """``models.<name>`` (loading) and ``warmup.<name>``, as far as the child got."""
    results: tuple[BaselineResult, ...] = ()
    """One per file, in input order, as far as the child got."""
    error: str | None = None
    """Why the child failed, in one line; ``None`` when it ran to the end."""


@dataclass(frozen=True)
class _Job:
    """Everything a child is started with."""

    name: str
    settings: BaselineSettings
    loader: BaselineLoader
    warm: Audio
    audios: tuple[Audio, ...]


def crash_reason(exitcode: int | None) -> str:
    """A dead child's exit status in words, e.g. ``killed by SIGILL (its compiled code needs a newer CPU)``."""
    if exitcode is not None and exitcode < 0:
        words = _SIGNAL_WORDS.get(-exitcode)
        return f"killed by {exit_reason(exitcode)}" + (f" ({words})" if words else "")
    return f"stopped with {exit_reason(exitcode)} (see its messages above)"


# ----------------------------------------------------------------------------------------------------
# The child
# ----------------------------------------------------------------------------------------------------


def _child_main(conn: Any, job: _Job, parent: int) -> None:
    """Entry point of a baseline's child process; every message it sends is ``(kind, payload...)``."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        _child_work(job, conn.send)
    except DiarizeError as exc:
        conn.send(("error", " ".join(str(exc).split())))
    except Exception as exc:  # noqa: BLE001 - the baseline's own failure (a missing module, a bug): one line
        conn.send(("error", " ".join(f"{type(exc).__name__}: {exc}".split())))
    conn.close()


def _child_work(job: _Job, send: Callable[[tuple[Any, ...]], None]) -> None:
    name, settings = job.name, job.settings
    with measure() as cost:
        baseline = job.loader(name, settings.asr, settings.speakers, settings.cache, settings.threads)
    send(("load", f"models.{name}", cost()))
    with measure() as cost:
        baseline.run(job.warm)
    send(("load", f"warmup.{name}", cost()))
    for index, audio in enumerate(job.audios, start=1):
        send(("note", f"[{index}/{len(job.audios)}] {Path(audio.info.path).name}: baseline {name}"))
        costs, output = [], BaselineOutput()
        for _ in range(settings.repeat):
            with measure() as cost:
                output = baseline.run(audio)
            costs.append(cost())
        send(("result", BaselineResult(cost=median_cost(costs), output=output)))


# ----------------------------------------------------------------------------------------------------
# The parent
# ----------------------------------------------------------------------------------------------------


def _messages(receiver: Any, process: Any) -> Iterator[tuple[Any, ...]]:
    """What the child sends, until it has exited (or closed its end) and the pipe is drained."""
    while True:
        ready = multiprocessing.connection.wait([receiver, process.sentinel])
        while receiver.poll():
            try:
                yield receiver.recv()
            except EOFError:
                return
        if process.sentinel in ready:
            return


def _stop(process: Any) -> None:
    """End the child if it still runs: SIGTERM, then SIGKILL after a grace period."""
    if process.is_alive():
        process.terminate()
        process.join(_STOP_GRACE)
    if process.is_alive():
        process.kill()
    process.join()


def _run_child(context: Any, job: _Job, note: Callable[[str], None]) -> BaselineRun:
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child_main, args=(sender, job, os.getpid()), name=f"diarize-bench-{job.name}", daemon=True
    )
    load: dict[str, Cost] = {}
    results: list[BaselineResult] = []
    error = None
    process.start()
    sender.close()
    try:
        for kind, *payload in _messages(receiver, process):
            if kind == "note":
                note(payload[0])
            elif kind == "load":
                load[payload[0]] = payload[1]
            elif kind == "result":
                results.append(payload[0])
            elif kind == "error":
                error = payload[0]
        process.join()
    finally:
        _stop(process)
        receiver.close()
    if error is None and process.exitcode != 0:
        error = crash_reason(process.exitcode)
    return BaselineRun(name=job.name, load=load, results=tuple(results), error=error)


def run_baselines(
    audios: Sequence[Audio],
    warm: Audio,
    settings: BaselineSettings,
    note: Callable[[str], None],
    loader: BaselineLoader = load_baseline,
) -> dict[str, BaselineRun]:
    """Every baseline of :data:`~diarize.bench.baselines.BASELINES` in a child process of its own, warmed up
    on ``warm``, then run on each of ``audios``; ``note`` gets a line before each step. A failed child is
    logged as one warning line and recorded in its run's :attr:`~BaselineRun.error`."""
    context = multiprocessing.get_context("spawn")
    runs: dict[str, BaselineRun] = {}
    for name in BASELINES:
        note(f"baseline {name}: loading")
        runs[name] = _run_child(context, _Job(name, settings, loader, warm, tuple(audios)), note)
        if runs[name].error is not None:
            logger.warning("baseline %s: %s", name, runs[name].error)
    return runs
