"""The speaker timeline picture (``-f png``): asserted from the matplotlib figure's data, not from pixels."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from diarize.types import MediaInfo, Result, SpeakerTurn
from diarize.writers import write
from diarize.writers.timeline import (
    SPEAKER_COLORS,
    axis_time,
    overlap_spans,
    speaker_color,
    timeline_figure,
)


def rttm_result(path: Path, duration: float) -> Result:
    """Speakers and turns of an RTTM file, labelled ``SPEAKER_00``… in order of first appearance."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    labels: dict[str, str] = {}
    for fields in rows:
        labels.setdefault(fields[7], f"SPEAKER_{len(labels):02d}")
    turns = tuple(SpeakerTurn(float(f[3]), float(f[3]) + float(f[4]), labels[f[7]]) for f in rows)
    source = MediaInfo(str(path.with_suffix(".wav")), duration, 16000, 1, "pcm_s16le", "wav")
    return Result(source, "en", tuple(labels.values()), turns, ())


def bars(ax, gid: str) -> list[tuple[float, float]]:  # type: ignore[no-untyped-def]
    """``(start, end)`` of every bar in the collection ``gid``."""
    (collection,) = [c for c in ax.collections if c.get_gid() == gid]
    return sorted(
        (round(p.vertices[:, 0].min(), 3), round(p.vertices[:, 0].max(), 3)) for p in collection.get_paths()
    )


def test_simconv_timeline_has_a_row_per_speaker_over_the_whole_duration(shared_data: Path) -> None:
    result = rttm_result(shared_data / "meetings" / "simconv_en_text.rttm", 31.192)
    fig = timeline_figure(result)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == list(result.speakers)
    assert result.speakers == ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02", "SPEAKER_03")
    assert list(ax.get_yticks()) == [0, 1, 2, 3]
    assert ax.get_xlim() == pytest.approx((0.0, 31.192))
    for row, speaker in enumerate(result.speakers):
        expected = sorted((round(t.start, 3), round(t.end, 3)) for t in result.turns if t.speaker == speaker)
        assert bars(ax, f"turns:{speaker}") == expected
        (collection,) = [c for c in ax.collections if c.get_gid() == f"turns:{speaker}"]
        ys = {round(y, 2) for p in collection.get_paths() for y in p.vertices[:, 1]}
        assert ys == {round(row - 0.34, 2), round(row + 0.34, 2)}  # its own row
        assert collection.get_facecolor()[0][:3] == pytest.approx(_rgb(speaker_color(row)))
    # LJ (SPEAKER_01) comes back at 29.222 while LS1089 (SPEAKER_03) still talks until 30.104
    assert bars(ax, "overlap:SPEAKER_01") == [(29.222, 30.104)]
    assert bars(ax, "overlap:SPEAKER_03") == [(29.222, 30.104)]
    assert bars(ax, "overlap:SPEAKER_00") == []
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels[0] == "0:00" and "0:30" in labels


def _rgb(hex_color: str) -> tuple[float, float, float]:
    return tuple(int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5))  # type: ignore[return-value]


def test_long_media_reads_hours_and_empty_results_still_draw(tmp_path: Path) -> None:
    turns = (SpeakerTurn(10.0, 4000.0, "A"), SpeakerTurn(3990.0, 5400.0, "B"))
    result = Result(MediaInfo("long.wav", 5400.0, 16000, 1, "", ""), "en", ("A", "B"), turns, ())
    (ax,) = timeline_figure(result).axes
    fig = ax.figure
    fig.canvas.draw()  # type: ignore[union-attr]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels[:3] == ["0:00:00", "0:10:00", "0:20:00"] and labels[-1] == "1:30:00"
    empty = Result(MediaInfo("silence.wav", 12.0, 16000, 1, "", ""), "en", (), (), ())
    (ax,) = timeline_figure(empty).axes
    assert ax.get_xlim() == (0.0, 12.0) and list(ax.get_yticks()) == []
    assert write(empty, "png", tmp_path)[0].name == "silence.timeline.png"


def test_png_writer_writes_a_png(tmp_path: Path) -> None:
    from PIL import Image

    turns = (SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(1.5, 3.0, "B"), SpeakerTurn(3.0, 4.0, "C"))
    result = Result(MediaInfo("in/talk.wav", 4.0, 16000, 1, "", ""), "en", ("A", "B", "C"), turns, ())
    (path,) = write(result, "png", tmp_path)
    assert path.name == "talk.timeline.png"
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.format == "PNG" and image.width == 1800 and image.height > 300


def test_overlap_spans_and_axis_times() -> None:
    turns = [SpeakerTurn(0, 5, "A"), SpeakerTurn(4, 6, "B"), SpeakerTurn(5.5, 7, "A"), SpeakerTurn(7, 8, "B"),
             SpeakerTurn(1, 2, "A")]  # A's own turns overlapping each other is not overlapped speech
    assert overlap_spans(turns) == [(4, 5), (5.5, 6)]
    assert overlap_spans([]) == []
    assert axis_time(65.9) == "1:05"
    assert axis_time(3725, long=True) == "1:02:05" and axis_time(3725) == "62:05"
    assert len(set(SPEAKER_COLORS)) == len(SPEAKER_COLORS)
    assert speaker_color(len(SPEAKER_COLORS)) == SPEAKER_COLORS[0]
