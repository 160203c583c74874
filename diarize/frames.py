"""Video frame alignment (stage 5): speech turns and words on video frame indices."""

from __future__ import annotations

from dataclasses import dataclass

from diarize.errors import ConfigError

__all__ = ["FEATURE_RATE", "FrameOptions"]

FEATURE_RATE = 50
"""Whisper encoder frames per second (16 kHz, hop 160 → 100 mel frames/s, halved by the encoder: 20 ms)."""


@dataclass(frozen=True)
class FrameOptions:
    """How video frames are mapped onto Whisper's 50 Hz feature grid."""

    left: int = 2
    """Video frames of context before each frame's centre, converted to feature frames."""

    right: int = 2
    """Video frames of context after each frame's centre, converted to feature frames."""

    sync_tolerance: float = 0.1
    """Seconds of audio/video duration mismatch above which a warning is given."""

    def __post_init__(self) -> None:
        if self.left < 0 or self.right < 0:
            raise ConfigError(f"frames left/right must be >= 0, got {self.left}, {self.right}")
        if self.sync_tolerance < 0:
            raise ConfigError(f"frames sync_tolerance must be >= 0, got {self.sync_tolerance}")
