"""Options of the output writers: one frozen dataclass per concern, composed in :class:`WriterOptions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from diarize.errors import ConfigError

__all__ = [
    "SPEAKER_LABELS",
    "TIMESTAMPS",
    "TIMESTAMP_STEPS",
    "HtmlOptions",
    "JsonOptions",
    "SubtitleOptions",
    "TextOptions",
    "WriterOptions",
]

TIMESTAMP_STEPS = (0.01, 0.1, 0.5, 1.0, 10.0)
"""The timestamp granularities (s) the text outputs offer."""

TIMESTAMPS = ("sentence", "turn", "0.5s", "1s", "10s")
"""The values of ``--timestamps``: a time before every sentence, one per paragraph (the default), or one per
paragraph at that granularity."""


SPEAKER_LABELS = ("auto", "always", "never")
"""When subtitles name the speaker: ``auto`` (only with two or more speakers, and only when the speaker
changes), ``always`` (every cue), ``never``."""


@dataclass(frozen=True)
class SubtitleOptions:
    """Timed-text rules for SRT, WebVTT and ASS cues; the defaults follow common broadcast practice.

    Cues are built to keep every rule; where the speech makes one impossible (a speaker faster than
    ``max_cps`` with no silence around, a cue pinned between two others), the cue keeps its words and the
    breach is counted in the :class:`~diarize.writers.cues.CueStats` that
    :func:`~diarize.writers.cues.cue_stats` returns (the writers log it, and the JSON result written beside the
    subtitles records it under ``provenance.subtitles``)."""

    max_line_chars: int = 42
    """Most characters on one displayed line. Each format measures its own lines: in SRT the speaker prefix
    ``[NAME] `` (and the ``- `` dash of a two-speaker cue) counts, in WebVTT and ASS (which mark the speaker
    with a voice span or a style) it does not. A single word longer than this gets a line of its own."""

    max_lines: int = 2
    """Most lines in one cue."""

    min_duration: float = 5 / 6
    """Shortest cue (s): a shorter cue is extended into the silence after it, never past the start of the next
    cue (less ``min_gap``) nor past the end of the media."""

    max_duration: float = 7.0
    """Longest cue (s); a longer one is split at a clause boundary."""

    target_cps: float = 17.0
    """Reading speed (characters per second, blanks included) a cue is timed for: a faster cue is extended
    into the silence around it, or merged with its neighbour."""

    max_cps: float = 20.0
    """Hard reading-speed ceiling: a cue faster than this may start later than its first word (at most
    ``max_delay``) to gain time; a cue still faster is counted in :class:`~diarize.writers.cues.CueStats`."""

    max_delay: float = 0.75
    """Most time (s) a cue may start after its first word is spoken, to make room for the cue before it."""

    min_gap: float | None = None
    """Least time (s) between the end of a cue and the start of the next; ``None``: two frames of the
    source video, or 0.08 s for audio."""

    split_pause: float = 1.0
    """A pause of at least this (s) between two words always starts a new cue."""

    speaker_labels: Literal["auto", "always", "never"] | bool = "auto"
    """Name the speaker (``auto``, ``always``, ``never``; YAML ``true``/``false`` mean ``auto``/``never``):
    an ``[NAME] `` prefix in SRT when the speaker changes, a ``<v NAME>`` voice span in WebVTT, the
    ``Name`` field and a style of its own in ASS."""

    dialogue: bool = True
    """Allow two-speaker cues (one dash-prefixed line per speaker) for quick exchanges; needs
    ``max_lines >= 2``."""

    dialogue_max_gap: float = 0.5
    """Two one-line cues of different speakers may share a cue only when the second starts at most this (s)
    after the first ends (overlapping speech has a negative gap)."""

    highlight_words: bool = False
    """Karaoke-style word timing: WebVTT cues get an inline timestamp tag (``<00:00:01.250>``) before each word
    spoken after the cue starts, ASS events a ``{\\kNN}`` duration (centiseconds, gaps included) per word. SRT
    has no standard for it and is left as it is."""

    def __post_init__(self) -> None:
        if not isinstance(self.highlight_words, bool):
            raise ConfigError(f"subtitle highlight_words must be true or false, got {self.highlight_words!r}")
        labels: object = self.speaker_labels
        if isinstance(labels, bool):
            object.__setattr__(self, "speaker_labels", "auto" if labels else "never")
        elif labels not in SPEAKER_LABELS:
            raise ConfigError(f"subtitle speaker_labels must be auto, always or never, got {labels!r}")
        if self.max_line_chars < 10:
            raise ConfigError(f"subtitle max_line_chars must be >= 10, got {self.max_line_chars}")
        if self.max_lines < 1:
            raise ConfigError(f"subtitle max_lines must be >= 1, got {self.max_lines}")
        if not 0 <= self.min_duration < self.max_duration:
            raise ConfigError(
                f"subtitle durations need 0 <= min_duration < max_duration, got {self.min_duration} and "
                f"{self.max_duration}"
            )
        if not 0 < self.target_cps <= self.max_cps:
            raise ConfigError(
                f"subtitle reading speeds need 0 < target_cps <= max_cps, got {self.target_cps} and {self.max_cps}"
            )
        if self.split_pause <= 0 or self.dialogue_max_gap < 0 or self.max_delay < 0:
            raise ConfigError("subtitle split_pause must be > 0, dialogue_max_gap and max_delay >= 0")
        if self.min_gap is not None and not 0 <= self.min_gap < 1:
            raise ConfigError(f"subtitle min_gap must be in [0, 1) s, got {self.min_gap}")


@dataclass(frozen=True)
class TextOptions:
    """How the plain-text and Markdown transcripts look."""

    timestamp_step: float = 1.0
    """Granularity of the printed timestamps (s): 0.01, 0.1, 0.5, 1 or 10. A time is rounded down to a multiple
    of it (``62.7`` prints as ``00:01:02`` at 1 s, ``00:01:02.5`` at 0.5 s, ``00:01:00`` at 10 s)."""

    timestamps: Literal["turn", "sentence"] = "turn"
    """Where timestamps go: one at the start of each paragraph (``turn``) or one before every sentence."""

    paragraph_seconds: float = 60.0
    """A paragraph ends at the sentence that would make it longer than this (s)."""

    paragraph_pause: float = 3.0
    """A pause of at least this (s) within one speaker's talk starts a new paragraph."""

    def __post_init__(self) -> None:
        if not any(abs(self.timestamp_step - step) < 1e-9 for step in TIMESTAMP_STEPS):
            allowed = ", ".join(f"{s:g}" for s in TIMESTAMP_STEPS)
            raise ConfigError(f"timestamp step must be one of {allowed} s, got {self.timestamp_step:g}")
        if self.timestamps not in ("turn", "sentence"):
            raise ConfigError(f"text timestamps must be turn or sentence, got {self.timestamps!r}")
        if self.paragraph_seconds <= 0 or self.paragraph_pause <= 0:
            raise ConfigError("text paragraph_seconds and paragraph_pause must be > 0 s, got "
                              f"{self.paragraph_seconds:g} and {self.paragraph_pause:g}")

    @classmethod
    def from_flag(cls, value: str) -> TextOptions:
        """The options of a ``--timestamps`` value (:data:`TIMESTAMPS`): ``sentence``, ``turn``, or a step
        such as ``0.5s``."""
        if value in ("turn", "sentence"):
            return cls(timestamps=value)  # type: ignore[arg-type]
        if value not in TIMESTAMPS:
            raise ConfigError(f"--timestamps must be one of {', '.join(TIMESTAMPS)}, got {value!r}")
        return cls(timestamp_step=float(value.removesuffix("s")))


@dataclass(frozen=True)
class HtmlOptions:
    """How the HTML transcript viewer finds its media."""

    embed_media: bool = False
    """Put the media file inside the page as a ``data:`` URI, so that the page alone plays it. A file larger
    than ``embed_max_bytes``, or one that cannot be read, is linked instead (with a warning)."""

    embed_max_bytes: int = 25 * 2**20
    """Largest media file (bytes) that ``embed_media`` puts inside the page; base64 makes the page a third
    larger than the file."""

    media_href: str | None = None
    """Where the page's player finds the media: a URL, or a path relative to the page. ``None``: the source
    file, by its path relative to the output folder (an absolute ``file:`` URL when there is no relative
    path, e.g. another drive)."""

    def __post_init__(self) -> None:
        if self.embed_max_bytes < 0:
            raise ConfigError(f"html embed_max_bytes must be >= 0, got {self.embed_max_bytes}")


@dataclass(frozen=True)
class JsonOptions:
    """What the canonical JSON holds."""

    embeddings_in_json: bool = False
    """Put the speaker embeddings inside ``<stem>.json`` (about 40 % of a short recording's file) instead of
    beside it in ``<stem>.speakers.npz``."""


@dataclass(frozen=True)
class WriterOptions:
    """Options of every writer."""

    subtitle: SubtitleOptions = field(default_factory=SubtitleOptions)
    """SRT, WebVTT and ASS cue rules."""

    text: TextOptions = field(default_factory=TextOptions)
    """Plain-text and Markdown layout."""

    html: HtmlOptions = field(default_factory=HtmlOptions)
    """The HTML viewer's media player."""

    json: JsonOptions = field(default_factory=JsonOptions)
    """The canonical JSON."""
