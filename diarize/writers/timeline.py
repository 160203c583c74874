"""The speaker timeline picture (``-f png`` → ``<stem>.timeline.png``), and what it shares with the HTML
viewer: the speaker palette, overlap spans and axis times.

One row per speaker (first speaker on top) with a bar per overlap-aware turn; the stretches where a speaker
talks over another are hatched. The time axis reads ``m:ss``, or ``h:mm:ss`` for media of an hour or more;
each row ends with the speaker's talk time (:func:`diarize.talk.talk_clock`) and share. matplotlib (Agg, no
display) is imported only when a picture is drawn.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import TYPE_CHECKING

from diarize.talk import talk_clock
from diarize.text import plural
from diarize.types import Result, SpeakerTurn
from diarize.writers.base import Writer, register_writer
from diarize.writers.options import WriterOptions
from diarize.writers.text import talk_times

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "SPEAKER_COLORS",
    "UNKNOWN_COLOR",
    "TimelineWriter",
    "axis_time",
    "overlap_spans",
    "speaker_color",
    "speaker_labels",
    "timeline_figure",
]

SPEAKER_COLORS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#555555")
"""The Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), in the order speakers
get them; a ninth speaker starts again at the first colour."""

UNKNOWN_COLOR = "#9AA0A6"
"""Words that no speaker could be given."""

_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
_MAX_TICKS = 12
_OVERLAP_HATCH = "////"


def speaker_color(index: int) -> str:
    """The colour of the ``index``-th speaker (0-based, in :func:`speaker_labels` order)."""
    return SPEAKER_COLORS[index % len(SPEAKER_COLORS)]


def speaker_labels(result: Result) -> list[str]:
    """``result.speakers``, then any label that only turns or words use, in order of first appearance."""
    labels = list(result.speakers)
    for label in (*(t.speaker for t in result.turns), *(w.speaker for w in result.words)):
        if label is not None and label not in labels:
            labels.append(label)
    return labels


def overlap_spans(turns: Iterable[SpeakerTurn]) -> list[tuple[float, float]]:
    """The stretches ``(start, end)`` where two or more speakers talk at once, sorted and merged."""
    events: list[tuple[float, int, str]] = []
    for turn in turns:
        if turn.end > turn.start:
            events += [(turn.start, 1, turn.speaker), (turn.end, -1, turn.speaker)]
    events.sort(key=lambda e: (e[0], e[1]))  # an end sorts before a start at the same time: touching turns
    # do not overlap
    active: dict[str, int] = {}
    spans: list[tuple[float, float]] = []
    opened: float | None = None
    for time, step, speaker in events:
        active[speaker] = active.get(speaker, 0) + step
        talking = sum(1 for n in active.values() if n > 0)
        if talking >= 2 and opened is None:
            opened = time
        elif talking < 2 and opened is not None:
            if time > opened:
                spans.append((opened, time))
            opened = None
    return spans


def axis_time(seconds: float, long: bool = False) -> str:
    """A time axis label: ``m:ss`` (``12:05``), or ``h:mm:ss`` (``1:02:05``) when ``long``."""
    whole = max(0, int(math.floor(seconds + 1e-6)))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if long:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{hours * 60 + minutes}:{secs:02d}"


def _tick_step(duration: float) -> float:
    for step in _TICK_STEPS:
        if duration / step <= _MAX_TICKS:
            return float(step)
    return float(_TICK_STEPS[-1])


def _clip(spans: Sequence[tuple[float, float]], start: float, end: float) -> list[tuple[float, float]]:
    return [(max(a, start), min(b, end)) for a, b in spans if a < end and b > start]


def timeline_figure(result: Result, *, width: float = 12.0) -> Figure:
    """The timeline as a matplotlib Figure (not attached to pyplot): one row per speaker of
    :func:`speaker_labels` with ``y`` = row index, the x-axis spanning ``[0, duration]``.

    Each speaker's turns are one bar collection with ``gid`` ``"turns:<label>"``; its overlapped stretches a
    hatched one with ``gid`` ``"overlap:<label>"``.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    labels = speaker_labels(result)
    turns_of = {label: [t for t in result.turns if t.speaker == label] for label in labels}
    duration = max([result.duration, *(t.end for t in result.turns)]) or 1.0
    overlaps = overlap_spans(result.turns)
    rows = max(1, len(labels))
    fig = Figure(figsize=(width, 1.3 + 0.42 * rows), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    talk = talk_times(result)
    total = sum(talk.values())
    for row, label in enumerate(labels):
        color = speaker_color(row)
        bars = [(t.start, t.end - t.start) for t in turns_of[label]]
        ax.broken_barh(bars, (row - 0.34, 0.68), facecolors=color, edgecolors="none", gid=f"turns:{label}")
        mine = [c for t in turns_of[label] for c in _clip(overlaps, t.start, t.end)]
        ax.broken_barh([(a, b - a) for a, b in mine], (row - 0.34, 0.68), facecolors="none",
                       edgecolors="#1A1A1A", hatch=_OVERLAP_HATCH, linewidth=0.0, gid=f"overlap:{label}")
        share = 100 * talk.get(label, 0.0) / total if total > 0 else 0.0
        ax.annotate(f"{talk_clock(talk.get(label, 0.0), duration >= 3600)}  {share:.0f} %", (1.0, row),
                    xycoords=("axes fraction", "data"), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=8, color="#444444")
    if not labels:
        ax.text(0.5, 0.5, "no speech", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.set_xlim(0.0, duration)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_yticks(range(len(labels)), labels)
    step = _tick_step(duration)
    ax.set_xticks([i * step for i in range(int(duration // step + 1e-9) + 1)])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: axis_time(x, duration >= 3600)))
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.tick_params(axis="y", length=0, labelsize=9)
    ax.tick_params(axis="x", labelsize=8, colors="#444444")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.spines["bottom"].set_color("#999999")
    name = PurePath(result.source.path).name or "recording"
    ax.set_title(f"{name} · {axis_time(duration, duration >= 3600)} · {plural(len(labels), 'speaker')}",
                 loc="left", fontsize=10, color="#222222")
    if overlaps:
        ax.legend(handles=[Patch(facecolor="white", edgecolor="#1A1A1A", hatch=_OVERLAP_HATCH,
                                 label="overlapping speech")],
                  loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, borderaxespad=0.2)
    return fig


@register_writer
class TimelineWriter(Writer):
    """The speaker timeline as a PNG picture (``<stem>.timeline.png``)."""

    format = "png"
    order = 95
    suffix = ".timeline.png"

    def render(self, result: Result, stem: str, options: WriterOptions) -> bytes:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = timeline_figure(result)
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()
