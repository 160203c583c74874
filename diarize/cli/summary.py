"""What ``diarize run`` says when an input is done: a few lines on stdout.

::

    meeting.wav: 2 speakers, 81 words; 31 s of audio in 13.9 s (RTF 0.45, models 4.2 s)
      SPEAKER_00  0:19  61 %
      SPEAKER_01  0:12  39 %
      out/  meeting.{json,md,srt}

Talk times follow :func:`diarize.talk.talk_seconds`, like every output; the last line names the output folder
and the files written there (not their full paths).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from diarize.talk import speaker_stats, talk_clock
from diarize.text import plural
from diarize.types import Result

__all__ = ["file_names", "summary_lines"]


def file_names(paths: Sequence[Path], stem: str) -> str:
    """The written files' names, short: ``meeting.json``, or ``meeting.{json,md,words.csv}`` for several
    files that share ``stem`` (others are listed after, comma-separated)."""
    shared = [p.name[len(stem) + 1:] for p in paths if p.name.startswith(stem + ".")]
    others = [p.name for p in paths if not p.name.startswith(stem + ".")]
    names = []
    if len(shared) == 1:
        names.append(f"{stem}.{shared[0]}")
    elif shared:
        names.append(f"{stem}.{{{','.join(shared)}}}")
    return ", ".join([*names, *others])


def summary_lines(
    source: str, result: Result, written: Sequence[Path], *, stem: str, elapsed: float, models: float = 0.0
) -> list[str]:
    """The lines for one finished input: counts, speed, each speaker's talk time and share, the files.

    ``stem`` is the output files' stem; ``elapsed`` the wall time the input took (s), ``models`` the part of it
    spent loading models, which the real-time factor leaves out.
    """
    duration = result.duration
    work = max(0.0, elapsed - models)
    speed = f"RTF {work / duration:.2f}" if duration > 0 else "no audio"
    if models >= 0.05:
        speed += f", models {models:.1f} s"
    lines = [f"{source}: {plural(len(result.speakers), 'speaker')}, {plural(len(result.words), 'word')}; "
             f"{duration:.0f} s of audio in {elapsed:.1f} s ({speed})"]
    stats = speaker_stats(result.turns, result.speakers)
    width = max((len(s.label) for s in stats), default=0)
    for s in stats:
        lines.append(f"  {s.label:<{width}}  {talk_clock(s.talk_time, duration >= 3600):>5}  {100 * s.share:3.0f} %")
    if written:
        folder = str(written[0].parent).rstrip(os.sep) + os.sep
        lines.append(f"  {folder}  {file_names(written, stem)}")
    return lines
