"""When each subtitle cue is shown (rule 5 of :mod:`diarize.writers.cues`).

Every cue has a *hard* need (its characters at ``max_cps``) and a *target* (its characters at ``target_cps``,
at least ``min_duration``). Two passes place the cues, in order, without overlaps and ``gap`` apart:

1. **Backward**: the latest start of each cue that still leaves every later cue its hard need before the media
   end, and never starts a cue more than ``max_delay`` after its first word.
2. **Forward**: a cue starts at its first word (later when the cue before needs the time, earlier, by up to
   ``lead_in``, when the silence before it lets it reach its target) and ends at its last word or its target,
   whichever is later, but never past the latest start of the next cue (less ``gap``), its ``max_duration`` or
   the media end. So a cue takes the silence after it, and a fast cue borrows from a slow neighbour, only as
   far as the cues after it can still be read.

Where the speech leaves no way to give every cue its hard need (a *crunch*: a run of cues pinned one after the
other between the earliest start of its first and a fixed end), the whole shortfall goes to one cue, the one
with the most characters (the least over ``max_cps``), so that one cue, not all of them, reads too fast.
With a frame ``step`` (constant-rate video) every time is a whole number of frames from ``origin``, so that
snapping to frames later costs no cue any time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Slot", "Timing", "plan_times"]

_EPS = 1e-9


@dataclass(frozen=True)
class Slot:
    """What timing needs to know about one cue."""

    first: float
    """Start of its first word (s)."""
    last: float
    """End of its last word (s)."""
    chars: int
    """Characters shown (blanks included, speaker marks not)."""


@dataclass(frozen=True)
class Timing:
    """The limits cues are timed within (seconds; rates in characters per second)."""

    max_cps: float
    target_cps: float
    min_duration: float
    max_duration: float
    max_delay: float
    lead_in: float
    gap: float
    media_end: float = math.inf
    step: float = 0.0
    """Frame duration of constant-rate video (0: none); times are then whole frames from ``origin``."""
    origin: float = 0.0

    def up(self, seconds: float) -> float:
        """A duration rounded up to whole frames."""
        return math.ceil(seconds / self.step - 1e-6) * self.step if self.step else seconds

    def down(self, seconds: float) -> float:
        """A duration rounded down to whole frames."""
        return math.floor(seconds / self.step + 1e-6) * self.step if self.step else seconds

    def near(self, t: float) -> float:
        """A time moved to the nearest frame boundary."""
        return self.origin + round((t - self.origin) / self.step) * self.step if self.step else t


def _latest_starts(firsts: Sequence[float], hard: Sequence[float], end: float, t: Timing) -> list[tuple[float, float]]:
    """Backward pass: each cue's latest start, and the latest start that only the cues after it set (its
    *chain* bound, without ``max_delay``)."""
    latest: list[tuple[float, float]] = [(0.0, 0.0)] * len(firsts)
    bound = end + t.gap
    for i in range(len(firsts) - 1, -1, -1):
        chained = bound - t.gap - hard[i]
        latest[i] = (min(chained, firsts[i] + t.down(t.max_delay)), chained)
        bound = latest[i][0]
    return latest


def _absorber(i: int, shortfall: float, hard: Sequence[float], latest: Sequence[tuple[float, float]],
              delays: Sequence[float], slots: Sequence[Slot]) -> int:
    """The cue of the crunch starting at cue ``i`` that takes the ``shortfall``: the one with the most
    characters among the cues it passes to (a cue taking its hard need leaves the next one short by as much,
    and starting as much later: not past a cue whose latest start ``max_delay`` sets, nor one it would start
    more than ``max_delay`` after its first word; ``delays``: those latest starts)."""
    best = j = i
    while (
        j + 1 < len(slots)
        and latest[j + 1][1] <= latest[j + 1][0] + _EPS
        and latest[j + 1][1] + shortfall <= delays[j + 1] + _EPS
    ):
        j += 1
        if slots[j].chars > slots[best].chars and hard[j] > shortfall:
            best = j
    return best


def plan_times(slots: Sequence[Slot], t: Timing) -> list[tuple[float, float]]:
    """(start, end) of each cue in ``slots`` (sorted by first word), by the two passes of the module docstring."""
    if not slots:
        return []
    end_of_media = t.origin + t.down(t.media_end - t.origin) if math.isfinite(t.media_end) else math.inf
    firsts = [max(t.near(s.first), 0.0) for s in slots]
    hard = [t.up(max(s.chars / t.max_cps, t.step)) for s in slots]
    target = [max(h, t.up(max(t.min_duration, s.chars / t.target_cps))) for h, s in zip(hard, slots, strict=True)]
    latest = _latest_starts(firsts, hard, end_of_media, t)
    delays = [f + t.down(t.max_delay) for f in firsts]
    lead = t.down(t.lead_in)
    least = t.step or 0.001
    times: list[tuple[float, float]] = []
    prev_end = -math.inf
    squeeze = -1
    for i, slot in enumerate(slots):
        earliest = max(prev_end + t.gap, firsts[i] - lead, 0.0)
        cap = min(latest[i + 1][0] - t.gap if i + 1 < len(slots) else end_of_media, end_of_media)
        if i > squeeze and earliest > latest[i][1] + _EPS:  # a crunch: one cue takes the shortfall
            squeeze = _absorber(i, earliest - latest[i][1], hard, latest, delays, slots)
        if i < squeeze:  # before the cue that takes the shortfall: exactly the hard need
            cap = max(cap, earliest + hard[i])
        free = min(cap, firsts[i + 1] - t.gap) if i + 1 < len(slots) else cap  # without delaying the next cue
        start = earliest if i <= squeeze else max(earliest, firsts[i])  # in a crunch: as early as it may
        if free - start < target[i]:  # start early, into the silence before it, to be read
            start = max(earliest, min(start, free - target[i]))
        end = min(max(slot.last, start + target[i]), free, start + t.max_duration)
        end = start + hard[i] if i < squeeze else max(end, min(start + hard[i], cap))
        end = max(end, start + least)
        times.append((start, end))
        prev_end = end
    return times
