"""How much each speaker talks, and the one rule every output rounds talk times by.

A speaker's talk time is the union of its overlap-aware turns (two turns of one speaker that overlap count
once). Every human-readable output (Markdown, the HTML viewer, the PNG timeline, the command's summary) shows
:func:`talk_seconds`: the talk time rounded to the nearest whole second, halves up; :func:`talk_clock` writes
it as ``m:ss`` (``h:mm:ss`` from an hour). A speaker's share is its talk time over the sum of all talk times,
so shares add up to 100 % even when speakers overlap.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from diarize.types import SpeakerTurn

__all__ = ["SpeakerStats", "speaker_stats", "talk_clock", "talk_seconds", "talk_times"]

_DIARIZED = re.compile(r"SPEAKER_\d+")


def talk_times(turns: Iterable[SpeakerTurn], speakers: Iterable[str] = ()) -> dict[str, float]:
    """Seconds each speaker talks: the union of its turns; every one of ``speakers`` appears (first, in that
    order), then any other speaker the turns name."""
    spans: dict[str, list[tuple[float, float]]] = {s: [] for s in speakers}
    for turn in turns:
        spans.setdefault(turn.speaker, []).append((turn.start, turn.end))
    totals: dict[str, float] = {}
    for speaker, items in spans.items():
        total, reach = 0.0, -math.inf
        for start, end in sorted(items):
            start = max(start, reach)
            if end > start:
                total += end - start
                reach = end
        totals[speaker] = total
    return totals


def talk_seconds(seconds: float) -> int:
    """A talk time as every output shows it: whole seconds, to the nearest, halves up (11.69 s → 12)."""
    return max(0, math.floor(seconds + 0.5))


def talk_clock(seconds: float, long: bool = False) -> str:
    """:func:`talk_seconds` as ``m:ss`` (``0:12``), or ``h:mm:ss`` when ``long`` or from an hour on."""
    whole = talk_seconds(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if long or hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class SpeakerStats:
    """One speaker of a result: its label (as turns and words name it), the name it was given (or ``None``),
    talk time (s), share of all talk time (0-1), number of turns, and the start of its first and the end of its
    last turn (``None`` without turns)."""

    label: str
    name: str | None
    talk_time: float
    share: float
    turns: int
    first: float | None
    last: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "name": self.name,
            "talk_time": round(self.talk_time, 3),
            "share": round(self.share, 4),
            "turns": self.turns,
            "first": None if self.first is None else round(self.first, 3),
            "last": None if self.last is None else round(self.last, 3),
        }


def speaker_stats(turns: Iterable[SpeakerTurn], speakers: Iterable[str]) -> list[SpeakerStats]:
    """A :class:`SpeakerStats` per speaker (``speakers`` first, in order). A label other than the speaker
    stage's ``SPEAKER_NN`` is a name given to the speaker (``--speaker-names``, ``--voices``)."""
    turns = list(turns)
    times = talk_times(turns, speakers)
    total = sum(times.values())
    stats = []
    for label, seconds in times.items():
        own = [t for t in turns if t.speaker == label]
        stats.append(SpeakerStats(
            label=label,
            name=None if _DIARIZED.fullmatch(label) else label,
            talk_time=seconds,
            share=seconds / total if total > 0 else 0.0,
            turns=len(own),
            first=min((t.start for t in own), default=None),
            last=max((t.end for t in own), default=None),
        ))
    return stats
