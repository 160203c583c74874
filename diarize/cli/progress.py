"""Progress reporting: how a hook stops a run (:class:`Cancelled`), and the command line's display.

:class:`RunProgress` is the pipeline hook of ``diarize run`` and ``diarize demo``. Each stage's progress is shown
as seconds of audio done out of the recording's length, with an overall percentage and an estimate of the time
left. On a terminal it is a live `rich <https://rich.readthedocs.io>`_ display (log lines print above it); off
a terminal it prints a plain line at every stage change and at least every :data:`PLAIN_EVERY` seconds.

The estimate of the time left: each stage is expected to take :data:`_PRIORS` seconds per second of audio,
scaled by how much slower than that the stages finished so far ran (model loading, the first, calibrates it);
from :data:`_OWN_RATE` done on, a stage's own rate counts too, the more the further it is. Transcription and
the speaker stage (segmentation, embeddings, clustering) run side by side (the longer counts) or one after the
other (both count); decoding, VAD, attribution and writing the outputs add to either.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = [
    "PLAIN_EVERY",
    "Cancelled",
    "RunProgress",
    "configure_logging",
    "format_duration",
    "status_console",
]

PLAIN_EVERY = 10.0
"""Most seconds between two plain progress lines (off a terminal)."""

_PRIORS = {
    "decode": 0.001, "vad": 0.001, "language": 0.025, "asr": 0.10, "segmentation": 0.038, "embeddings": 0.09,
    "clustering": 0.001, "assign": 0.001, "write": 0.002,
}
"""Seconds of work per second of audio of each stage on an idle machine (two cores of an AMD EPYC with AVX-512,
the default pipeline on a 20-minute meeting, transcription and the speaker stage side by side, the speaker
networks on ONNX Runtime); the estimate scales them by how much slower this run has been so far."""

_FIXED = {"models": 4.0, "write": 0.05}
_FORMAT_COST = {"png": 0.5, "parquet": 0.2, "html": 0.1}  # s to write, imports included
_TRACKS = {"asr": ("language", "asr"), "speakers": ("segmentation", "embeddings", "clustering")}
_BEFORE, _AFTER = ("decode", "vad"), ("assign", "write")
_OPTIONAL = {"language"}  # counted only once reported (per-region language detection)
_OWN_RATE = 0.2  # from this far done on, a stage's own rate counts
_STAGE_NAMES = {"models": "loading models", "asr": "transcription", "language": "languages", "speakers": "speakers",
                "write": "writing"}
_ROWS = {"models": "models", "language": "asr", "asr": "asr", "segmentation": "speakers", "embeddings": "speakers",
         "clustering": "speakers"}  # the display's row of each stage; the others show in the overall row only


class Cancelled(BaseException):
    """Raised by a progress hook (or between stages) to stop a run that was asked to stop.

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that no ``except Exception`` on the way
    swallows it; it leaves every stage at its next progress report.
    """


def format_duration(seconds: float | None) -> str:
    """A time span for people: ``0:07``, ``12:05``, ``1:02:05``; ``-:--`` when unknown."""
    if seconds is None:
        return "-:--"
    whole = max(0, int(seconds + 0.5))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _Stage:
    fraction: float = 0.0
    started: float = 0.0
    ended: float | None = None
    units: tuple[int, int] = (0, 0)


@dataclass
class _State:
    """What one input has reported so far, and the estimate of the time left (see the module docstring)."""

    label: str
    duration: float
    started: float = field(default_factory=time.monotonic)
    speed: float = 1.0
    write_cost: float = 0.0
    stages: dict[str, _Stage] = field(default_factory=dict)

    @property
    def work_started(self) -> float | None:
        return min((s.started for name, s in self.stages.items() if name != "models"), default=None)

    def report(self, stage: str, completed: int, total: int, now: float) -> bool:
        """Record a report; whether it starts or ends a stage."""
        fraction = 1.0 if total <= 0 else min(1.0, max(0.0, completed / total))
        state = self.stages.get(stage)
        changed = state is None
        if state is None:
            state = self.stages[stage] = _Stage(started=now)
        state.fraction, state.units = fraction, (completed, total)
        if fraction >= 1.0 and state.ended is None:
            state.ended, changed = now, True
            self.speed = self._measured_speed()
        return changed

    def prior(self, stage: str) -> float:
        """Seconds ``stage`` takes on an idle machine."""
        cost = _PRIORS.get(stage, 0.0) * self.duration + _FIXED.get(stage, 0.0)
        return cost + self.write_cost if stage == "write" else cost

    def _measured_speed(self) -> float:
        """How many times slower than :data:`_PRIORS` the finished stages ran (1 before any has)."""
        done = {n: (s.ended - s.started, self.prior(n)) for n, s in self.stages.items()
                if s.ended is not None and self.prior(n) >= 0.2 and s.ended - s.started >= 0.05}
        if len(done) > 1:
            done.pop("models", None)  # loading is other work than computing: it only calibrates the start
        if not done:
            return self.speed
        return max(0.2, sum(a for a, _ in done.values()) / sum(p for _, p in done.values()))

    def _left(self, stage: str, now: float, speed: float) -> float:
        state = self.stages.get(stage)
        expected = self.prior(stage) * speed
        if state is None:
            return 0.0 if stage in _OPTIONAL else expected
        if state.ended is not None:
            return 0.0
        spent, done = now - state.started, state.fraction
        by_prior = max(expected - spent, 0.25 * spent, 0.1)  # running over: about a quarter more
        if done < _OWN_RATE:
            return by_prior
        return done * spent * (1.0 - done) / done + (1.0 - done) * by_prior  # trust its own rate as it goes

    def remaining(self, now: float) -> float:
        """Estimated seconds left."""
        speed = self.speed
        for name, stage in self.stages.items():  # a stage running longer than expected: a slower machine
            if stage.ended is None and self.prior(name) >= 0.2:
                speed = max(speed, (now - stage.started) / self.prior(name))
        left = sum(self._left(s, now, speed) for s in ("models", *_BEFORE, *_AFTER) if s in self.stages
                   or s != "models")
        tracks = [sum(self._left(s, now, speed) for s in stages) for stages in _TRACKS.values()]
        return left + (max(tracks) if self._side_by_side() else sum(tracks))

    def _side_by_side(self) -> bool:
        asr, speakers = self.stages.get("asr") or self.stages.get("language"), self.stages.get("segmentation")
        if asr is None or speakers is None:
            return True  # the default; one after the other shows once the second starts after the first ends
        first, second = sorted((asr, speakers), key=lambda s: s.started)
        return first.ended is None or second.started <= first.ended

    def percent(self, now: float) -> float:
        spent, left = now - self.started, self.remaining(now)
        return 100.0 * spent / (spent + left) if spent + left > 0 else 100.0

    def summary(self, now: float) -> str:
        """Where every running stage is, the overall share and the time left (plain text)."""
        parts = [f"{_stage_name(name)} {self.stage_detail(name)}" for name, stage in self.stages.items()
                 if stage.ended is None and name != "models"]
        return "".join(p + ", " for p in parts) + (f"{self.percent(now):.0f} % done, about "
                                                   f"{format_duration(self.remaining(now))} left")

    def stage_detail(self, name: str) -> str:
        stage = self.stages[name]
        if name == "models":
            return f"{stage.units[0]}/{stage.units[1]}"
        if name in ("asr", "segmentation", "embeddings", "decode", "vad") and self.duration > 0:
            return f"{stage.fraction * self.duration:.1f}/{self.duration:.1f} s"
        return "done" if stage.ended is not None else "…"


def _stage_name(stage: str) -> str:
    return _STAGE_NAMES.get(stage, stage)


class RunProgress:
    """A pipeline hook (``hook(stage, completed, total)``) that shows how far a run has got.

    ``console`` is the rich console every message of the command goes through (log lines included);
    ``interactive`` draws a live display (default: when the console is a terminal); ``quiet`` shows nothing.
    Safe to call from several threads (transcription and the speaker stage report concurrently).
    """

    def __init__(self, console: Console, *, interactive: bool | None = None, quiet: bool = False,
                 every: float = PLAIN_EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console
        self.interactive = console.is_terminal if interactive is None else interactive
        self.quiet = quiet
        self.every = every
        self.clock = clock
        self._lock = threading.RLock()
        self._state: _State | None = None
        self._live: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last_line = 0.0
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, label: str, duration: float, formats: tuple[str, ...] = ()) -> None:
        """A new input: ``label`` names it, ``duration`` is its length (s), ``formats`` those it is written in
        (for the estimate). The first call draws at once."""
        with self._lock:
            speed = self._state.speed if self._state is not None else 1.0
            self._end_live()
            write_cost = sum(_FORMAT_COST.get(f, 0.0) for f in formats)
            self._state = _State(label, max(0.0, duration), started=self.clock(), speed=speed,
                                 write_cost=write_cost)
            if self.quiet:
                return
            if self.interactive:
                self._start_live(label)
            else:
                self._plain(f"{label}: loading models")
            self._start_ticker()

    def __call__(self, stage: str, completed: int, total: int) -> None:
        with self._lock:
            state = self._state
            if state is None or self.quiet:
                return
            now = self.clock()
            changed = state.report(stage, completed, total, now)
            if self._live is not None:
                self._draw(state, stage, now)
            elif changed:
                self._plain_stage(state, stage, now)

    def remaining(self) -> float | None:
        """Estimated seconds left of the current input (``None`` when not known yet)."""
        with self._lock:
            return None if self._state is None else self._state.remaining(self.clock())

    def percent(self) -> float:
        with self._lock:
            return 0.0 if self._state is None else self._state.percent(self.clock())

    def clear(self) -> None:
        """Take the display down (an error or interruption line follows); safe from any thread."""
        locked = self._lock.acquire(timeout=0.2)
        try:
            self._stop.set()
            self._end_live()
        finally:
            if locked:
                self._lock.release()

    def close(self) -> None:
        """The input is done: take the display down (the caller prints the summary)."""
        with self._lock:
            self._end_live()
            self._state = None

    # --- the live display (a terminal) -------------------------------------------------------------------

    def _start_live(self, label: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self._live = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=28),
            TextColumn("{task.fields[detail]}"),
            console=self.console, transient=True, refresh_per_second=8,
        )
        self._tasks = {"": self._live.add_task(f"[bold]{label}", total=100, detail="loading models")}
        self._live.start()

    def _draw(self, state: _State, stage: str, now: float) -> None:
        """One row per part of the run (models, transcription, speakers) and the overall row."""
        assert self._live is not None
        row = _ROWS.get(stage)
        if row is not None:
            stages = (stage,) if row == "models" else tuple(
                s for s in _TRACKS[row] if s in state.stages or s not in _OPTIONAL)
            weights = {s: _PRIORS.get(s, 1.0) for s in stages}  # a part's share: its typical cost
            fraction = sum(w * state.stages[s].fraction for s, w in weights.items() if s in state.stages)
            fraction /= sum(weights.values())
            ended = all(s in state.stages and state.stages[s].ended is not None for s in stages)
            detail = state.stage_detail(stage) if stage == row else f"{stage} {state.stage_detail(stage)}"
            if row not in self._tasks:
                self._tasks[row] = self._live.add_task(f"  {_stage_name(row)}", total=1.0, detail=detail)
            self._live.update(self._tasks[row], completed=1.0 if ended else fraction, detail="✓" if ended else detail)
        self._draw_overall(state, now)

    def _draw_overall(self, state: _State, now: float) -> None:
        assert self._live is not None
        percent = state.percent(now)
        running = [_stage_name(n) for n, s in state.stages.items() if s.ended is None and n not in _ROWS]
        overall = (f"{percent:3.0f} %  {format_duration(now - state.started)} elapsed, about "
                   f"{format_duration(state.remaining(now))} left" + "".join(f"  ({r})" for r in running[-1:]))
        self._live.update(self._tasks[""], completed=percent, detail=overall)

    def _end_live(self) -> None:
        self._stop.set()
        if self._live is not None:
            live, self._live = self._live, None
            live.stop()
            self._tasks = {}

    # --- plain lines (not a terminal) --------------------------------------------------------------------

    def _plain(self, line: str) -> None:
        self._last_line = self.clock()
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def _plain_stage(self, state: _State, stage: str, now: float) -> None:
        model = state.stages[stage]
        if stage == "models":
            if model.ended is not None:
                self._plain(f"{state.label}: models loaded in {model.ended - model.started:.1f} s")
            return
        event = "done" if model.ended is not None else "started"
        self._plain(f"{state.label}: {_stage_name(stage)} {event}; {state.summary(now)}")

    def _start_ticker(self) -> None:
        self._stop = stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(stop,), name="progress", daemon=True)
        self._ticker.start()

    def _tick(self, stop: threading.Event) -> None:
        """Keep the estimate moving between reports: the overall row twice a second (a terminal), a plain line
        after :attr:`every` seconds without one."""
        while not stop.wait(0.5 if self.interactive else min(0.5, self.every / 4)):
            with self._lock:
                state, now = self._state, self.clock()
                if stop.is_set() or state is None:
                    return
                if self._live is not None:
                    self._draw_overall(state, now)
                elif now - self._last_line >= self.every - 0.6:
                    self._plain(f"{state.label}: {state.summary(now)}")


def status_console(quiet: bool = False) -> Any:
    """The rich console of stderr that a command's progress and log lines share."""
    from rich.console import Console

    return Console(stderr=True, quiet=quiet, highlight=False)


def configure_logging(level: int, console: Any) -> None:
    """Send log records of ``level`` and up to stderr: through ``console`` on a terminal (so that they print
    above a live progress display), as ``LEVEL name: message`` lines elsewhere. Does nothing when the host
    (a test runner) has put its own handlers on the root logger."""
    import logging
    import sys

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "diarize_cli", False)]:
        root.removeHandler(old)
    if root.handlers:
        return
    handler: logging.Handler
    if console.is_terminal:
        from rich.logging import RichHandler

        handler = RichHandler(console=console, show_time=False, show_path=False, markup=False,
                              highlighter=None, keywords=[])
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    setattr(handler, "diarize_cli", True)  # noqa: B010 (marks the handler this module added)
    root.addHandler(handler)
    root.setLevel(level)
