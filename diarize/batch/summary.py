"""What a batch run did (counts, audio hours, throughput, memory, failures), and its progress line."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from diarize.batch.outputs import MANIFEST_NAME, SUMMARY_NAME
from diarize.errors import OutputError

__all__ = ["SUMMARY_COLUMNS", "BatchProgress", "BatchSummary"]

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = (
    "id", "path", "status", "error", "attempts", "duration_s", "wall_s", "rtf", "worker_pid", "peak_rss_mb",
    "outputs", "config_hash", "finished_at",
)
"""Columns of ``summary.parquet``: one row per input of the run."""


@dataclass
class BatchSummary:
    """One run: the final record of each of its inputs (``skipped``: finished by an earlier run)."""

    records: list[dict[str, Any]]
    wall_s: float
    engine: str
    workers: int
    threads: int
    ignored: int = 0
    duplicates: int = 0
    out_dir: Path = field(default_factory=Path)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r["status"] == status)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def ok(self) -> bool:
        """Whether every input is done (now or by an earlier run)."""
        return not self.failed

    @property
    def audio_hours(self) -> float:
        """Hours of audio processed by this run (inputs done now)."""
        return sum(r.get("duration") or 0.0 for r in self.records if r["status"] == "done") / 3600

    @property
    def files_per_hour(self) -> float:
        return self.count("done") / self.wall_s * 3600 if self.wall_s > 0 else 0.0

    @property
    def audio_hours_per_hour(self) -> float:
        return self.audio_hours / (self.wall_s / 3600) if self.wall_s > 0 else 0.0

    def worker_peaks(self) -> dict[int, float]:
        """Peak resident memory (MiB) of each worker process that finished a file, by pid."""
        peaks: dict[int, float] = {}
        for record in self.records:
            worker = record.get("worker") or {}
            if record["status"] != "skipped" and "pid" in worker:
                peaks[worker["pid"]] = max(peaks.get(worker["pid"], 0.0), worker.get("peak_rss_mb", 0.0))
        return peaks

    def to_frame(self) -> Any:
        """The per-input table (pandas DataFrame, :data:`SUMMARY_COLUMNS`)."""
        import pandas as pd

        rows = []
        for r in self.records:
            worker = r.get("worker") or {}
            rows.append({
                "id": r["id"], "path": r.get("path"), "status": r["status"], "error": r.get("error"),
                "attempts": r.get("attempts", 0), "duration_s": r.get("duration"), "wall_s": r.get("wall"),
                "rtf": r.get("rtf"), "worker_pid": worker.get("pid"),
                "peak_rss_mb": worker.get("peak_rss_mb"),
                "outputs": ",".join(o["file"] for o in r.get("outputs") or []),
                "config_hash": r.get("config_hash"), "finished_at": r.get("finished_at"),
            })
        frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
        for column in ("duration_s", "wall_s", "rtf", "peak_rss_mb"):
            frame[column] = frame[column].astype("float64")
        frame["worker_pid"] = frame["worker_pid"].astype("Int64")
        frame["attempts"] = frame["attempts"].astype("int64")
        return frame

    def write_parquet(self, path: Path) -> Path:
        """Write :meth:`to_frame` to ``path`` atomically."""
        tmp = path.with_name(f".tmp-{path.name}.{secrets.token_hex(4)}")
        try:
            self.to_frame().to_parquet(tmp, index=False)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise OutputError(f"{path}: cannot write the summary ({exc.strerror})") from None
        return path

    def format(self) -> str:
        """The printed summary: counts, audio hours, wall time, throughput, memory, where the records are (the
        failures are :meth:`failure_lines`)."""
        lines = [
            f"{len(self.records)} inputs: {self.count('done')} done, {self.count('skipped')} skipped "
            f"(done earlier), {self.count('failed')} failed"
            + (f"; {self.ignored} non-media files ignored" if self.ignored else "")
            + (f"; {self.duplicates} duplicates dropped" if self.duplicates else ""),
            f"audio {self.audio_hours:.3f} h in {_clock(self.wall_s)} wall: "
            f"{self.files_per_hour:.0f} files/h, "
            f"{self.audio_hours_per_hour:.2f} audio h/h ({self.engine} engine, {self.workers} worker(s) x "
            f"{self.threads} thread(s))",
        ]
        peaks = self.worker_peaks()
        if peaks:
            lines.append("peak memory per worker: " + ", ".join(f"{mb:.0f} MiB" for mb in peaks.values()))
        lines.append(f"manifest: {self.out_dir / MANIFEST_NAME}  summary: {self.out_dir / SUMMARY_NAME}")
        return "\n".join(lines)

    def failure_lines(self) -> list[str]:
        """One line per failed input: ``failed: <path>: <reason>``."""
        return [f"failed: {r.get('path')}: {r.get('error')}" for r in self.failed]


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class BatchProgress:
    """Files done, audio hours done and an ETA: one redrawn line on a terminal, INFO log lines elsewhere."""

    def __init__(self, stream: TextIO | None = None, interactive: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self._lock = threading.Lock()
        self._files = self._audio = 0.0
        self._done = self._failed = 0
        self._audio_done = 0.0
        self._start = time.monotonic()
        self._width = 0

    def begin(self, files: int, audio_seconds: float) -> None:
        """Start counting: ``files`` to process holding ``audio_seconds`` of audio."""
        with self._lock:
            self._files, self._audio, self._start = files, audio_seconds, time.monotonic()
            self._done = self._failed = 0
            self._audio_done = 0.0

    def plan(self, audio_seconds: float) -> None:
        """Add audio found once counting began (an archive member, probed when it is unpacked)."""
        with self._lock:
            self._audio += audio_seconds

    def update(self, record: dict[str, Any], planned_seconds: float) -> None:
        """One input finished (``planned_seconds``: its probed duration, counted as done either way)."""
        with self._lock:
            self._done += 1
            self._failed += record["status"] == "failed"
            self._audio_done += planned_seconds
            line = self._line()
            if self.interactive:
                pad = max(0, self._width - len(line))
                self.stream.write("\r" + line + " " * pad)
                self.stream.flush()
                self._width = len(line)
            else:
                logger.info("%s  %s %s", line, record["status"], record.get("path"))

    def _line(self) -> str:
        elapsed = time.monotonic() - self._start
        left = self._audio - self._audio_done
        if self._audio_done > 0 and left > 0:
            eta = f"ETA {_clock(elapsed / self._audio_done * left)}"
        else:
            eta = "ETA -" if left > 0 else "finishing"
        return (f"[{self._done}/{self._files:.0f} files, {self._failed} failed] "
                f"{self._audio_done / 3600:.2f}/{self._audio / 3600:.2f} h audio  {_clock(elapsed)}  {eta}")

    def close(self) -> None:
        with self._lock:
            if self.interactive and self._width:
                self.stream.write("\n")
                self.stream.flush()
                self._width = 0
