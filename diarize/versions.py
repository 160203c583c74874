"""The software a result, a benchmark or an evaluation report was made with."""

from __future__ import annotations

import platform
from importlib import metadata

from diarize import __version__

__all__ = ["VERSIONED", "versions"]

VERSIONED = (
    "torch", "ctranslate2", "faster-whisper", "openai-whisper", "pyannote.audio", "pyannote.metrics", "senko",
    "silero-vad", "numpy", "av", "webrtcvad-wheels", "meeteval", "jiwer",
)
"""The distributions whose versions are recorded (the ones that can change a result, a timing or a score)."""


def versions() -> dict[str, str]:
    """``diarize``, ``python`` and each installed distribution of :data:`VERSIONED`: its version (one that is
    not installed is left out)."""
    found = {"diarize": __version__, "python": platform.python_version()}
    for name in VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found
