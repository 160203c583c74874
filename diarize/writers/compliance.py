"""How well built subtitle cues keep the timed-text rules of :class:`~diarize.writers.options.SubtitleOptions`:
one count per rule, for the writers' log line and the JSON result's provenance."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from diarize.writers.labels import speaker_prefix
from diarize.writers.options import SubtitleOptions

if TYPE_CHECKING:
    from diarize.writers.cues import Cue

__all__ = ["CueStats", "cue_stats", "shown_lines"]

_AUDIO_GAP = 0.08
_EPS = 1e-6


@dataclass(frozen=True)
class CueStats:
    """How many cues (or lines) break each timed-text rule once built; speech can make a rule impossible
    (a speaker faster than ``max_cps`` with no silence around), and such a cue is counted, not hidden."""

    cues: int
    over_max_cps: int
    """Cues shown for less time than their characters need at ``max_cps``."""
    over_target_cps: int
    too_short: int
    """Cues shorter than ``min_duration`` that had room to last longer (not pinned to the next cue nor
    ending at the media end)."""
    too_long: int
    short_gaps: int
    """Pairs of cues less than the least gap apart (overlaps not included)."""
    overlaps: int
    lines: int = 0
    long_lines: int = 0
    """Lines longer than ``max_line_chars``, as shown (SRT speaker marks and dialogue dashes included)."""
    extra_lines: int = 0
    """Cues of more than ``max_lines`` lines."""
    one_word_lines: int = 0
    """Lines of a single word in a cue of several lines (dialogue lines aside)."""

    def summary(self) -> str:
        """One line for the log."""
        return (
            f"{self.cues} cues: {self.over_max_cps} over max cps, {self.over_target_cps} over target cps, "
            f"{self.too_short} too short, {self.too_long} too long, {self.short_gaps} short gaps, "
            f"{self.overlaps} overlaps, {self.long_lines} long lines, {self.extra_lines} with too many lines, "
            f"{self.one_word_lines} one-word lines"
        )

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def shown_lines(cue: Cue, options: SubtitleOptions, *, marks: bool = False) -> list[str]:
    """The cue's lines as a viewer shows them: a ``- `` dash per speaker in a two-speaker cue and, with
    ``marks`` (SRT), the ``[NAME] `` mark of a part that names its speaker."""

    def mark(speaker: str | None, label: bool) -> str:
        return speaker_prefix(speaker, options) if marks and label else ""

    if len(cue.parts) > 1:
        return [f"- {mark(p.speaker, p.label)}{p.lines[0]}" for p in cue.parts]
    part = cue.parts[0]
    lines = [line for line in part.lines if line or (marks and part.label)]
    if not lines:
        return []
    return [(mark(part.speaker, part.label) + lines[0]).rstrip(), *lines[1:]]


def cue_stats(
    cues: Sequence[Cue],
    options: SubtitleOptions,
    gap: float = _AUDIO_GAP,
    *,
    media_end: float = math.inf,
    marks: bool = False,
) -> CueStats:
    """Count the cues that break a timed-text rule of ``options`` (``gap``: the least gap between cues;
    ``marks``: lines carry SRT speaker marks)."""
    durations = [c.end - c.start for c in cues]
    pairs = list(zip(cues, cues[1:], strict=False))
    room = [b.start - a.end > gap + 1e-3 for a, b in pairs] + [bool(cues) and cues[-1].end < media_end - 1e-3]
    shown = [shown_lines(c, options, marks=marks) for c in cues]
    return CueStats(
        cues=len(cues),
        over_max_cps=sum(len(c.text) > options.max_cps * d + _EPS for c, d in zip(cues, durations, strict=True)),
        over_target_cps=sum(len(c.text) > options.target_cps * d + _EPS for c, d in zip(cues, durations, strict=True)),
        too_short=sum(d < options.min_duration - _EPS and r for d, r in zip(durations, room, strict=False)),
        too_long=sum(d > options.max_duration + _EPS for d in durations),
        short_gaps=sum(0 <= b.start - a.end < gap - 1e-3 for a, b in pairs),
        overlaps=sum(b.start < a.end - _EPS for a, b in pairs),
        lines=sum(len(lines) for lines in shown),
        long_lines=sum(len(line) > options.max_line_chars for lines in shown for line in lines),
        extra_lines=sum(len(lines) > options.max_lines for lines in shown),
        one_word_lines=sum(
            len(lines) > 1 and len(line.split()) == 1 and not line.startswith("- ") for lines in shown for line in lines
        ),
    )
