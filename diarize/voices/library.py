"""The voice library: named speaker embeddings on disk, one JSON file per voice.

A voice is a name and one or more embeddings of that person's speech, all from one embedding model, each with
where it came from. The library is a folder: ``$DIARIZE_VOICES``, else ``<user data dir>/diarize/voices``
(``platformdirs.user_data_dir("diarize")``), unless the caller names one. Each voice is one file::

    {
      "format": "diarize-voice/1",
      "name": "Alice",
      "model": "campplus",            # the embedding network (SpeakerOptions.embedding_model)
      "dimension": 192,
      "embeddings": [[...192 floats...], ...],  # one L2-normalised row per enrolment, float32 values
      "enrolments": [                  # row i came from enrolments[i]
        {"source": "/path/alice.wav", "start": 12.0, "end": 31.5, "speaker": null, "speech": 17.9,
         "kind": "clip", "added": "2025-01-01T12:00:00+00:00", "diarize_version": "0.1.0"}
      ]
    }

One self-contained file per voice (the embeddings are a few kilobytes) is written atomically: a temporary file
in the same folder, flushed and renamed over the old one, so a crash leaves the old voice or the new one,
never half of either. Files are named after the voice (``alice-<hash>.json``); the name inside is
authoritative.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from diarize.errors import ConfigError, OutputError
from diarize.writers.files import atomic_write

__all__ = [
    "ENV_VAR",
    "VOICE_FORMAT",
    "Enrolment",
    "Voice",
    "VoiceLibrary",
    "check_voice_name",
    "default_library_dir",
    "resolve_library_dir",
]

logger = logging.getLogger(__name__)

VOICE_FORMAT = "diarize-voice/1"
"""Version tag of a voice file."""

ENV_VAR = "DIARIZE_VOICES"
"""Environment variable naming the default voice library folder."""

_LABEL = re.compile(r"SPEAKER_\d+")
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f,=]")


def default_library_dir() -> Path:
    """``$DIARIZE_VOICES`` when set, else ``platformdirs.user_data_dir("diarize")/voices``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("diarize")) / "voices"


def resolve_library_dir(path: str | Path | None) -> Path:
    """The library folder: ``path`` when given, else :func:`default_library_dir`."""
    return Path(path).expanduser() if path else default_library_dir()


def check_voice_name(name: str) -> str:
    """``name`` without surrounding blanks; :class:`ConfigError` when it cannot name a voice.

    A name cannot be empty, contain ``,``, ``=`` or control characters (they separate items on the command
    line), or look like an anonymous label (``SPEAKER_03``).
    """
    clean = name.strip()
    if not clean or _FORBIDDEN.search(clean):
        raise ConfigError(
            f"invalid voice name {name!r}: use a non-empty name without ',', '=' or control characters"
        )
    if _LABEL.fullmatch(clean):
        raise ConfigError(f"invalid voice name {name!r}: SPEAKER_xx labels are reserved for unnamed speakers")
    return clean


@dataclass(frozen=True)
class Enrolment:
    """Where one embedding of a voice came from."""

    source: str
    """The clip (media file) or result JSON the embedding was taken from."""

    kind: str = "clip"
    """``"clip"`` (embedded from audio) or ``"result"`` (a speaker's centroid from an earlier result)."""

    start: float | None = None
    """Start (s) of the range the user gave, ``None`` for the whole clip."""

    end: float | None = None
    """End (s) of that range, ``None`` for the whole clip."""

    speaker: str | None = None
    """The speaker label the embedding belongs to in ``source`` (a result's label, or the clip's speaker)."""

    speech: float | None = None
    """Seconds of the speaker's speech the embedding was computed from, when known."""

    added: str = ""
    """When it was added (ISO 8601, UTC)."""

    diarize_version: str = ""
    """The diarize version that computed it."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
            "speaker": self.speaker,
            "speech": self.speech,
            "added": self.added,
            "diarize_version": self.diarize_version,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Enrolment:
        def opt(key: str) -> float | None:
            value = d.get(key)
            return None if value is None else float(value)

        speaker = d.get("speaker")
        return cls(
            source=str(d["source"]),
            kind=str(d.get("kind", "clip")),
            start=opt("start"),
            end=opt("end"),
            speaker=None if speaker is None else str(speaker),
            speech=opt("speech"),
            added=str(d.get("added", "")),
            diarize_version=str(d.get("diarize_version", "")),
        )


@dataclass(frozen=True, eq=False)
class Voice:
    """A named speaker: embeddings from one model, one row per enrolment."""

    name: str
    model: str
    embeddings: np.ndarray  # shape: (num_enrolments, dimension), float32, rows L2-normalised
    enrolments: tuple[Enrolment, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        rows = np.array(self.embeddings, dtype=np.float32)  # a copy: the caller keeps its array
        if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
            raise ConfigError(
                f"voice {self.name!r}: expected a (enrolments, dimension) array, got {rows.shape}"
            )
        if not np.isfinite(rows).all():
            raise ConfigError(f"voice {self.name!r}: embeddings contain NaN or infinite values")
        if len(self.enrolments) != rows.shape[0]:
            raise ConfigError(
                f"voice {self.name!r}: {rows.shape[0]} embeddings but {len(self.enrolments)} enrolments"
            )
        norms = np.linalg.norm(rows.astype(np.float64), axis=1, keepdims=True)
        if np.any(norms == 0.0):
            raise ConfigError(f"voice {self.name!r}: an embedding is all zeros")
        if np.any(np.abs(norms - 1.0) > 1e-5):  # rows already of unit length stay bit-exact
            rows = (rows / norms).astype(np.float32)
        object.__setattr__(self, "embeddings", rows)

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    @property
    def vector(self) -> np.ndarray:
        """The voice's reference embedding: the normalised mean of its rows, shape ``(dimension,)``."""
        mean = self.embeddings.mean(axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)

    def extended(self, embeddings: np.ndarray, enrolments: Sequence[Enrolment]) -> Voice:
        """A copy with more enrolments of the same model and dimension."""
        rows = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if rows.shape[1] != self.dimension:
            raise ConfigError(
                f"voice {self.name!r} holds {self.dimension}-dim embeddings, "
                f"the new ones are {rows.shape[1]}-dim"
            )
        return replace(
            self,
            embeddings=np.concatenate([self.embeddings, rows]),
            enrolments=(*self.enrolments, *enrolments),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": VOICE_FORMAT,
            "name": self.name,
            "model": self.model,
            "dimension": self.dimension,
            "embeddings": [[float(x) for x in row] for row in self.embeddings],
            "enrolments": [e.to_dict() for e in self.enrolments],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Voice:
        """Rebuild a voice; :class:`ConfigError` when ``d`` is not a valid voice."""
        if d.get("format") != VOICE_FORMAT:
            raise ConfigError(f"not a voice file (format {d.get('format')!r}, expected {VOICE_FORMAT!r})")
        try:
            embeddings = np.asarray(d["embeddings"], dtype=np.float32)
            voice = cls(
                name=str(d["name"]),
                model=str(d["model"]),
                embeddings=embeddings,
                enrolments=tuple(Enrolment.from_dict(e) for e in d["enrolments"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed voice ({type(exc).__name__}: {exc})") from exc
        if int(d.get("dimension", voice.dimension)) != voice.dimension:
            raise ConfigError(
                f"voice {voice.name!r}: dimension {d.get('dimension')} but {voice.dimension}-dim rows"
            )
        return voice


def _file_name(name: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "voice"
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{stem}-{digest}.json"


class VoiceLibrary:
    """The voices in one folder. Reading a missing folder gives an empty library; writing creates it."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = resolve_library_dir(root)

    def __repr__(self) -> str:
        return f"VoiceLibrary({str(self.root)!r})"

    def path(self, name: str) -> Path:
        """The file that holds (or would hold) the voice ``name``."""
        return self.root / _file_name(check_voice_name(name))

    def voices(self) -> list[Voice]:
        """Every voice, sorted by name. A file that is not a valid voice raises :class:`ConfigError`."""
        if not self.root.is_dir():
            return []
        voices = [self._read(p) for p in sorted(self.root.glob("*.json"))]
        return sorted(voices, key=lambda v: v.name.casefold())

    def names(self) -> list[str]:
        return [v.name for v in self.voices()]

    def get(self, name: str) -> Voice | None:
        """The voice called ``name``, or ``None``."""
        path = self.path(name)
        if not path.is_file():
            return None
        voice = self._read(path)
        return voice if voice.name == check_voice_name(name) else None

    def add(self, voice: Voice) -> Voice:
        """Store ``voice``; when one of that name exists, its enrolments are kept and ``voice``'s appended.

        A library holds voices of one embedding model: a voice of another model raises :class:`ConfigError`.
        """
        name = check_voice_name(voice.name)
        voice = replace(voice, name=name)
        stored = self.voices()
        other = next((v for v in stored if v.model != voice.model), None)
        if other is not None:
            raise ConfigError(
                f"voice library {self.root} holds voices enrolled with {other.model!r} ({other.name}), not "
                f"{voice.model!r}: enrol with {other.model!r}, "
                f"or keep {voice.model!r} voices in another --library"
            )
        existing = next((v for v in stored if v.name == name), None)
        if existing is not None:
            voice = existing.extended(voice.embeddings, voice.enrolments)
        self._write(self.path(name), voice)
        return voice

    def model(self) -> str | None:
        """The embedding model of the library's voices (``None`` when empty)."""
        stored = self.voices()
        return stored[0].model if stored else None

    def remove(self, name: str) -> Voice:
        """Delete the voice ``name`` and return it; :class:`ConfigError` when there is none."""
        voice = self.get(name)
        if voice is None:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"no voice {name.strip()!r} in {self.root} (voices: {known})")
        self.path(name).unlink()
        return voice

    def _read(self, path: Path) -> Voice:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: unreadable voice file ({exc}); remove it or restore it") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a voice file; remove it from the voice library")
        try:
            return Voice.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}; remove it from the voice library") from exc

    def _write(self, path: Path, voice: Voice) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write the voice ({exc})") from exc
        atomic_write(path, _dumps(voice.to_dict()).encode("utf-8"))
        logger.info("saved voice %r (%d enrolments) to %s", voice.name, len(voice.enrolments), path)


def _dumps(d: Mapping[str, Any]) -> str:
    """Indented JSON with each embedding on one line (readable, and diffs stay small)."""
    head = json.dumps({k: v for k, v in d.items() if k != "embeddings"}, ensure_ascii=False, indent=1)
    rows = ",\n  ".join(json.dumps(row) for row in d["embeddings"])
    return head[: -len("\n}")] + f',\n "embeddings": [\n  {rows}\n ]\n}}\n'
