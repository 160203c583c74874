"""diarize: who spoke when, and what they said — offline speaker diarization and transcription."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
