"""Cold start: the wall time of ``diarize run`` on a short recording in a fresh process.

What a user waits for the first time a command runs: the interpreter, the imports, model loading and warm-up,
and the run itself, on :data:`COLD_START_SECONDS` of the first benchmark file (written as a 16-bit WAV into a
temporary folder). The child is ``python -m diarize run`` with this process's interpreter and model cache; its
exit status and last line of output are kept when it fails, and the benchmark goes on.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from diarize.types import Audio

__all__ = ["COLD_START_SECONDS", "ColdStart", "cold_start"]

COLD_START_SECONDS = 30.0
"""Length of the recording the cold start runs on (shorter when the first file is shorter)."""

_LIMIT = 600.0  # s: a cold start that takes longer is stopped and reported as failed


@dataclass(frozen=True)
class ColdStart:
    """One cold ``diarize run``."""

    wall: float
    """Seconds from starting the child process to its exit."""
    audio: float
    """Seconds of audio it processed."""
    error: str | None = None
    """Why the run failed (exit status and last line of output), or ``None``."""

    def to_dict(self) -> dict[str, object]:
        return {"wall_s": round(self.wall, 3), "audio_s": round(self.audio, 3), "error": self.error}


def cold_start(audio: Audio, pipeline: str | None, cache_dir: Path | None) -> ColdStart:
    """Time ``diarize run`` on the first :data:`COLD_START_SECONDS` of ``audio`` in a fresh process."""
    samples = np.asarray(audio.samples[: round(COLD_START_SECONDS * audio.sample_rate)], dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="diarize-cold-") as tmp:
        wav = Path(tmp) / "cold.wav"
        _write_wav(wav, samples, audio.sample_rate)
        command = [sys.executable, "-m", "diarize"]
        if cache_dir is not None:
            command += ["--cache-dir", str(cache_dir)]
        command += ["run", str(wav), "-o", str(Path(tmp) / "out"), "-f", "json"]
        if pipeline is not None:
            command += ["--pipeline", pipeline]
        started = time.perf_counter()
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_LIMIT, check=False)
        except subprocess.TimeoutExpired:
            return ColdStart(time.perf_counter() - started, len(samples) / audio.sample_rate,
                             f"no result after {_LIMIT:g} s")
        wall = time.perf_counter() - started
    error = None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        error = f"exit status {done.returncode}: {lines[-1] if lines else 'no output'}"
    return ColdStart(wall, len(samples) / audio.sample_rate, error)


def _write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """``samples`` (float, -1..1) as a mono 16-bit WAV file."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())
