"""The records that pass between pipeline stages.

Every record is a frozen dataclass with an explicit ``to_dict``/``from_dict`` pair; stages return new records and
never edit their inputs. All times are seconds (float) on the ORIGINAL media timeline: a stage that works on
trimmed or chunked audio maps its times back before it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from pyannote.core import Annotation

__all__ = [
    "SAMPLE_RATE",
    "SCHEMA",
    "Audio",
    "Diarization",
    "LanguageRegion",
    "MediaInfo",
    "Provenance",
    "Result",
    "Segment",
    "Span",
    "SpeakerActivity",
    "SpeakerTurn",
    "Transcript",
    "VideoInfo",
    "Word",
]

SAMPLE_RATE = 16_000
"""Sample rate of every decoded :class:`Audio` (Hz)."""

SCHEMA = "diarize/1"
"""Version tag of the canonical JSON form of a :class:`Result`."""


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _ms(seconds: float) -> float:
    """A time as the JSON form holds it: seconds rounded to the millisecond."""
    return round(float(seconds), 3)


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open time interval ``[start, end)`` in seconds."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": _ms(self.start), "end": _ms(self.end)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Span:
        return cls(start=float(d["start"]), end=float(d["end"]))


@dataclass(frozen=True)
class VideoInfo:
    """The picture stream of a video file.

    ``fps`` is the container's exact rational rate (e.g. ``Fraction(30000, 1001)``), never rounded. For
    variable-frame-rate video ``frame_times`` holds each frame's presentation time (s, first frame at its own pts);
    for constant-rate video it is ``None`` and frame ``i`` is presented at ``start_time + i / fps``.
    """

    fps: Fraction
    n_frames: int
    width: int
    height: int
    duration: float
    codec: str
    start_time: float = 0.0
    variable_frame_rate: bool = False
    frame_times: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "fps_float": float(self.fps),
            "n_frames": self.n_frames,
            "width": self.width,
            "height": self.height,
            "duration": self.duration,
            "codec": self.codec,
            "start_time": self.start_time,
            "variable_frame_rate": self.variable_frame_rate,
        }
        if self.frame_times is not None:
            d["frame_times"] = list(self.frame_times)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VideoInfo:
        times = d.get("frame_times")
        return cls(
            fps=Fraction(str(d["fps"])),
            n_frames=int(d["n_frames"]),
            width=int(d["width"]),
            height=int(d["height"]),
            duration=float(d["duration"]),
            codec=str(d["codec"]),
            start_time=float(d.get("start_time", 0.0)),
            variable_frame_rate=bool(d.get("variable_frame_rate", False)),
            frame_times=None if times is None else tuple(float(t) for t in times),
        )


@dataclass(frozen=True)
class MediaInfo:
    """What the decoder found in a media file, before conversion to 16 kHz mono."""

    path: str
    duration: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    video: VideoInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "duration": self.duration,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "codec": self.codec,
            "container": self.container,
            "video": None if self.video is None else self.video.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MediaInfo:
        video = d.get("video")
        return cls(
            path=str(d["path"]),
            duration=float(d["duration"]),
            sample_rate=int(d["sample_rate"]),
            channels=int(d["channels"]),
            codec=str(d.get("codec", "")),
            container=str(d.get("container", "")),
            video=None if video is None else VideoInfo.from_dict(video),
        )


@dataclass(frozen=True, eq=False)
class Audio:
    """Decoded audio: 16 kHz mono float32 samples and where they came from."""

    samples: np.ndarray  # shape: (num_samples,), float32 in [-1, 1]
    info: MediaInfo
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def slice(self, start: float, end: float) -> np.ndarray:
        """Samples of ``[start, end)`` seconds, clamped to the audio."""
        lo = max(0, int(round(start * self.sample_rate)))
        hi = min(len(self.samples), int(round(end * self.sample_rate)))
        return self.samples[lo:max(lo, hi)]


@dataclass(frozen=True)
class Word:
    """One transcribed word; ``overlap`` is true when it lies in speech of several speakers.

    ``text`` has no surrounding blanks (Whisper's leading space is dropped); :func:`diarize.text.join_words`
    puts words back together as text.
    """

    start: float
    end: float
    text: str
    probability: float
    speaker: str | None = None
    overlap: bool = False

    def __post_init__(self) -> None:
        if self.text != self.text.strip():
            object.__setattr__(self, "text", self.text.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _ms(self.start),
            "end": _ms(self.end),
            "word": self.text,
            "probability": self.probability,
            "speaker": self.speaker,
            "overlap": self.overlap,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Word:
        return cls(
            start=float(d["start"]),
            end=float(d["end"]),
            text=str(d["word"]),
            probability=float(d.get("probability", 1.0)),
            speaker=d.get("speaker"),
            overlap=bool(d.get("overlap", False)),
        )


@dataclass(frozen=True)
class Segment:
    """A run of words: an ASR segment, or (after assignment) one speaker's sentence."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    language: str | None = None
    """The language the segment was decoded in when it was detected (``None`` when forced or English-only)."""
    channel: int | None = None
    """The audio channel (from 0) the segment was heard on when channels are transcribed one by one; ``None``
    for the mixed channels."""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "start": _ms(self.start),
            "end": _ms(self.end),
            "speaker": self.speaker,
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
        }
        for key in ("avg_logprob", "no_speech_prob", "compression_ratio", "language", "channel"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Segment:
        return cls(
            start=float(d["start"]),
            end=float(d["end"]),
            text=str(d["text"]),
            words=tuple(Word.from_dict(w) for w in d.get("words", ())),
            speaker=d.get("speaker"),
            avg_logprob=_opt_float(d.get("avg_logprob")),
            no_speech_prob=_opt_float(d.get("no_speech_prob")),
            compression_ratio=_opt_float(d.get("compression_ratio")),
            language=None if d.get("language") is None else str(d["language"]),
            channel=None if d.get("channel") is None else int(d["channel"]),
        )


@dataclass(frozen=True)
class LanguageRegion:
    """The language one speech region was decoded in (:mod:`diarize.asr.language`): ``probabilities`` are
    its own detection's (empty when it was too short to judge), ``confident`` whether the most probable
    reached the threshold, and ``context`` the languages around it that it may take instead. In memory
    only."""

    start: float
    end: float
    language: str
    probabilities: Mapping[str, float] = field(default_factory=dict)
    confident: bool = False
    context: tuple[str, ...] = ()


@dataclass(frozen=True)
class Transcript:
    """What the ASR stage heard: segments of words, and the language (the one with the most speech when it was
    detected per region; ``regions`` then holds each region's, in memory only)."""

    segments: tuple[Segment, ...]
    language: str
    language_probability: float | None = None
    regions: tuple[LanguageRegion, ...] = ()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    def to_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_probability": self.language_probability,
            "segments": [s.to_dict() for s in self.segments],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Transcript:
        return cls(
            segments=tuple(Segment.from_dict(s) for s in d.get("segments", ())),
            language=str(d.get("language", "")),
            language_probability=_opt_float(d.get("language_probability")),
        )


@dataclass(frozen=True)
class SpeakerTurn:
    """One speaker talking during ``[start, end)``; turns of different speakers may overlap.

    ``frames`` is the ``(first, last)`` video frame range the turn covers, set by the frame-alignment stage;
    ``channel`` the audio channel (from 0) the turn was heard on when channels are transcribed one by one.
    """

    start: float
    end: float
    speaker: str
    frames: tuple[int, int] | None = None
    channel: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": _ms(self.start), "end": _ms(self.end), "speaker": self.speaker}
        if self.frames is not None:
            d["frames"] = list(self.frames)
        if self.channel is not None:
            d["channel"] = self.channel
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SpeakerTurn:
        frames = d.get("frames")
        return cls(
            start=float(d["start"]),
            end=float(d["end"]),
            speaker=str(d["speaker"]),
            frames=None if frames is None else (int(frames[0]), int(frames[1])),
            channel=None if d.get("channel") is None else int(d["channel"]),
        )


@dataclass(frozen=True, eq=False)
class SpeakerActivity:
    """Who talks in each frame of the speaker stage's grid (frame ``i`` covers ``[start + i * step,
    start + i * step + duration)``); in memory only, never written to JSON.

    ``active`` and ``exclusive`` are boolean ``(num_frames, len(speakers))`` arrays, the frames the
    overlap-aware and the exclusive turns were made from; ``strength`` is a float array of the same shape: how
    strongly each speaker is heard there (0 where not active). Column ``k`` is ``speakers[k]``.
    """

    start: float
    step: float
    duration: float
    speakers: tuple[str, ...]
    active: np.ndarray  # shape: (num_frames, num_speakers), bool
    exclusive: np.ndarray  # shape: (num_frames, num_speakers), bool
    strength: np.ndarray  # shape: (num_frames, num_speakers), float32

    def frame_range(self, start: float, end: float) -> tuple[int, int, np.ndarray]:
        """``(first, stop, seconds)``: the frames whose cells meet ``[start, end)`` and how many seconds of it
        each covers. Frame ``i``'s cell runs from its middle to the next frame's middle, as turns are
        time-stamped (a run of frames ``[i, j)`` is the turn from middle ``i`` to middle ``j``)."""
        num_frames = self.active.shape[0]
        origin = self.start + 0.5 * self.duration
        first = max(0, int(np.floor((start - origin) / self.step)))
        stop = min(num_frames, int(np.floor((end - origin) / self.step)) + 1)
        if stop <= first:
            return first, first, np.zeros(0)
        lo = np.maximum(origin + self.step * np.arange(first, stop), start)
        hi = np.minimum(origin + self.step * np.arange(first + 1, stop + 1), end)
        return first, stop, np.clip(hi - lo, 0.0, None)


@dataclass(frozen=True, eq=False)
class Diarization:
    """Who spoke when.

    ``turns`` is overlap-aware (overlapping speech gives overlapping turns); ``exclusive`` is the
    one-speaker-at-a-time view used to attribute words. ``centroids`` holds one L2-normalised embedding per
    speaker that has one (a speaker heard too briefly for a reliable embedding has none), from
    ``embedding_model``. Labels are ``SPEAKER_00``, ``SPEAKER_01``… in order of first appearance. ``note`` says
    why a speaker was assumed or left without a centroid (too little speech to embed…); empty otherwise.
    ``activity`` is the frame-level activity the turns were made from, when the speaker stage has it.
    """

    turns: tuple[SpeakerTurn, ...]
    exclusive: tuple[SpeakerTurn, ...]
    speakers: tuple[str, ...]
    centroids: Mapping[str, np.ndarray] = field(default_factory=dict)  # each shape: (dimension,)
    embedding_model: str = ""
    note: str = ""
    activity: SpeakerActivity | None = None


@dataclass(frozen=True)
class Provenance:
    """How a result was made: software versions, models, options and per-stage timings (s)."""

    versions: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "models": dict(self.models),
            "options": dict(self.options),
            "timings": dict(self.timings),
            **dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Provenance:
        known = {"versions", "models", "options", "timings"}
        return cls(
            versions=dict(d.get("versions", {})),
            models=dict(d.get("models", {})),
            options=dict(d.get("options", {})),
            timings={k: float(v) for k, v in d.get("timings", {}).items()},
            extra={k: v for k, v in d.items() if k not in known},
        )


@dataclass(frozen=True, eq=False)
class Result:
    """Everything the pipeline produced for one media file; its ``to_dict`` is the canonical JSON."""

    source: MediaInfo
    language: str
    speakers: tuple[str, ...]
    turns: tuple[SpeakerTurn, ...]
    segments: tuple[Segment, ...]
    provenance: Provenance = field(default_factory=Provenance)
    embeddings: Mapping[str, np.ndarray] = field(default_factory=dict)  # each shape: (dimension,)
    speaker_scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def words(self) -> tuple[Word, ...]:
        """Every word of every segment, in transcript order."""
        return tuple(w for s in self.segments for w in s.words)

    @property
    def duration(self) -> float:
        return self.source.duration

    @property
    def speaker_languages(self) -> dict[str, list[str]]:
        """Each speaker's languages, most seconds first, from the segments that carry one."""
        seconds: dict[str, dict[str, float]] = {}
        for s in self.segments:
            if s.speaker is not None and s.language is not None:
                per = seconds.setdefault(s.speaker, {})
                per[s.language] = per.get(s.language, 0.0) + (s.end - s.start)
        return {k: sorted(per, key=lambda lang: -per[lang]) for k, per in seconds.items()}

    def to_frame(self) -> pd.DataFrame:
        """The words as a pandas DataFrame, one row per word: the table of ``<stem>.words.csv``
        (columns :data:`diarize.writers.tables.WORD_COLUMNS`)."""
        from diarize.writers.tables import to_frame

        return to_frame(self)

    def to_annotation(self) -> Annotation:
        """The speaker turns as a ``pyannote.core.Annotation`` (uri: the source file's stem), e.g. to score
        them with pyannote.metrics."""
        from diarize.eval.metrics import annotation

        return annotation(self.turns, uri=Path(self.source.path).stem)

    def write(self, out_dir: str | Path, formats: str | Iterable[str] = ("json",)) -> list[Path]:
        """Write the result as ``out_dir/<stem>.<ext>`` in each of ``formats`` (names, a comma list, or
        ``all``); ``<stem>`` is the source file's stem. Returns the paths written (see
        :func:`diarize.writers.write`)."""
        from diarize.writers import write

        return write(self, formats, out_dir)

    @classmethod
    def from_json(cls, path: str | Path) -> Result:
        """Read a result back from its canonical JSON file (``<stem>.json``), with the speaker embeddings of
        ``<stem>.speakers.npz`` beside it when the JSON holds none. Raises :class:`~diarize.errors.InputError`
        naming the file when it is not a diarize result."""
        import dataclasses

        from diarize.errors import InputError
        from diarize.eval.io import read_json
        from diarize.writers.structured import EMBEDDINGS_SUFFIX, read_embeddings

        data = read_json(Path(path))
        if not isinstance(data, dict):
            raise InputError(f"{path}: not a diarize result (a JSON object with 'schema': {SCHEMA!r})")
        try:
            result = cls.from_dict(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{path}: not a diarize {SCHEMA} result ({exc!r})") from None
        beside = Path(path).with_name(Path(path).name.removesuffix(".json") + EMBEDDINGS_SUFFIX)
        if not result.embeddings and beside.is_file():
            result = dataclasses.replace(result, embeddings=read_embeddings(beside))
        return result

    def to_dict(self, *, embeddings: bool = True) -> dict[str, Any]:
        """The canonical JSON form: times in seconds rounded to the millisecond, ``speakers`` as records
        (:class:`diarize.talk.SpeakerStats`); the speaker embeddings unless ``embeddings`` is false (the
        JSON writer puts them in ``<stem>.speakers.npz``)."""
        from diarize.talk import speaker_stats

        d: dict[str, Any] = {
            "schema": SCHEMA,
            "source": self.source.to_dict(),
            "language": self.language,
            "speakers": [s.to_dict() for s in speaker_stats(self.turns, self.speakers)],
            "turns": [t.to_dict() for t in self.turns],
            "segments": [s.to_dict() for s in self.segments],
            "provenance": self.provenance.to_dict(),
        }
        if self.embeddings and embeddings:
            d["embeddings"] = {k: [float(x) for x in v] for k, v in self.embeddings.items()}
        if self.speaker_scores:
            d["speaker_scores"] = dict(self.speaker_scores)
        if languages := self.speaker_languages:
            d["speaker_languages"] = languages
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Result:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"unsupported result schema {d.get('schema')!r}, expected {SCHEMA!r}")
        return cls(
            source=MediaInfo.from_dict(d["source"]),
            language=str(d.get("language", "")),
            speakers=tuple(str(s["label"] if isinstance(s, Mapping) else s) for s in d.get("speakers", ())),
            turns=tuple(SpeakerTurn.from_dict(t) for t in d.get("turns", ())),
            segments=tuple(Segment.from_dict(s) for s in d.get("segments", ())),
            provenance=Provenance.from_dict(d.get("provenance", {})),
            embeddings={
                k: np.asarray(v, dtype=np.float32) for k, v in d.get("embeddings", {}).items()
            },
            speaker_scores={k: float(v) for k, v in d.get("speaker_scores", {}).items()},
        )
