"""Video frame alignment: hand-made results (fast, no models), videos built here with PyAV, the shared
talking-head video, and (slow) the whole pipeline and command line on it."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarize.errors import ConfigError, MediaError, NoAudioError
from diarize.frames import (
    FrameOptions,
    FrameTable,
    align,
    feature_count,
    feature_window,
    frame_table,
    turn_frames,
    with_frames,
)
from diarize.types import MediaInfo, Provenance, Result, Segment, SpeakerTurn, VideoInfo, Word
from diarize.writers import resolve_formats, write
from diarize.writers.frames import FRAME_COLUMNS, frames_to_frame

KATIE = "video/WDA_KatieHill_000.mp4"


def _video(fps: Fraction | int = 25, n_frames: int = 20, **kw: Any) -> VideoInfo:
    fps = Fraction(fps)
    return VideoInfo(
        fps=fps, n_frames=n_frames, width=8, height=8, duration=float(n_frames / fps), codec="mpeg4", **kw
    )


def _result(
    duration: float,
    video: VideoInfo | None,
    turns: tuple[SpeakerTurn, ...] = (),
    words: tuple[Word, ...] = (),
    speakers: tuple[str, ...] = ("SPEAKER_00", "SPEAKER_01"),
    options: dict | None = None,
) -> Result:
    source = MediaInfo(path="/in/clip.mp4", duration=duration, sample_rate=16_000, channels=1, codec="aac",
                       container="mp4", video=video)
    segments = (Segment(start=words[0].start, end=words[-1].end, text="", words=words),) if words else ()
    return Result(source=source, language="en", speakers=speakers, turns=turns, segments=segments,
                  provenance=Provenance(options={"frames": options} if options else {}))


# --- conversions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fps", "expected"),
    [(25, (4, 4)), (Fraction(30000, 1001), (3, 3)), (24, (4, 4)), (60, (2, 2)), (50, (2, 2)), (12, (8, 8))],
)
def test_window_converts_video_frames_to_feature_frames(fps, expected):
    assert feature_window(Fraction(fps), FrameOptions()) == expected


def test_window_rounds_half_up_and_always_holds_the_centre():
    assert feature_window(Fraction(100), FrameOptions(left=1, right=1)) == (1, 1)  # 0.5 → 1, not banker's 0
    assert feature_window(Fraction(240), FrameOptions(left=2, right=2)) == (0, 1)  # 0.42 → 0; right ≥ 1
    assert feature_window(Fraction(25), FrameOptions(left=0, right=0)) == (0, 1)


def test_feature_count_is_floor_of_duration_times_50():
    assert feature_count(8.0) == 400
    assert feature_count(0.58) == 29  # 0.58 * 50 = 28.999999999999996 in floats
    assert feature_count(254_976 / 48_000) == 265
    assert feature_count(0.019) == 0


# --- hand-made results -------------------------------------------------------------------------------------


def test_one_row_per_frame_with_exact_indices():
    table = align(_result(0.8, _video(25, 20)), _video(25, 20))
    assert len(table) == 20
    assert table.frame.tolist() == list(range(20))
    assert table.center_idx.tolist() == [i * 2 for i in range(20)]
    assert table.time.tolist() == pytest.approx([i / 25 for i in range(20)], abs=1e-12)
    assert table.in_audio.all() and not table.is_speech.any()
    assert table.speaker == (None,) * 20 and table.words == (None,) * 20
    assert table.n_features == 40 and (table.left, table.right) == (4, 4)


def test_windows_clamp_at_the_first_and_last_frames():
    table = align(_result(0.8, _video(25, 20)), _video(25, 20))
    windows = table.window_indices()
    assert windows.shape == (20, 8)
    # frame 0: centre 0, window [-4, 4) → the edge index 0 repeated
    assert (table.center_idx[0], table.window_first[0], table.window_last[0]) == (0, 0, 3)
    assert windows[0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3]
    # last frame 19: centre 38 of 40 features, window [34, 42) → the last index 39 repeated
    assert (table.center_idx[-1], table.window_first[-1], table.window_last[-1]) == (38, 34, 39)
    assert windows[-1].tolist() == [34, 35, 36, 37, 38, 39, 39, 39]
    # an interior frame is not clamped
    assert windows[10].tolist() == list(range(16, 24))
    assert windows.min() >= 0 and windows.max() <= table.n_features - 1


def test_overlapping_turns_give_several_speakers_in_speaker_order():
    turns = (
        SpeakerTurn(0.30, 0.60, "SPEAKER_01"),  # listed first, but SPEAKER_00 comes first in result.speakers
        SpeakerTurn(0.10, 0.50, "SPEAKER_00"),
    )
    words = (Word(0.12, 0.30, " hello", 0.9, "SPEAKER_00"), Word(0.32, 0.50, " world", 0.9, "SPEAKER_00"))
    video = _video(25, 20)
    table = align(_result(0.8, video, turns, words), video)
    # frame i is at i * 0.04 s
    assert table.speakers[2] == () and not table.is_speech[2]  # 0.08
    assert table.speakers[3] == ("SPEAKER_00",) and table.turn_id[3] == "1"  # 0.12
    assert table.words[3] == "hello"
    assert table.speaker[8] == "SPEAKER_00|SPEAKER_01" and table.turn_id[8] == "1|0"  # 0.32: overlap
    assert table.words[8] == "world"
    assert table.speaker[12] == "SPEAKER_00|SPEAKER_01"  # 0.48
    assert table.speaker[13] == "SPEAKER_01" and table.words[13] is None  # 0.52: turn [0.1, 0.5) has ended
    assert table.speaker[14] == "SPEAKER_01" and table.speaker[15] is None  # 0.60 is outside [0.3, 0.6)
    assert table.is_speech.tolist() == [3 <= i <= 14 for i in range(20)]
    assert turn_frames(turns, table) == (
        SpeakerTurn(0.30, 0.60, "SPEAKER_01", frames=(8, 14)),
        SpeakerTurn(0.10, 0.50, "SPEAKER_00", frames=(3, 12)),
    )


def test_word_lookup_follows_word_times():
    words = (Word(0.0, 0.05, "a", 1.0), Word(0.05, 0.05, "zero-length", 1.0), Word(0.20, 0.41, "b", 1.0))
    video = _video(25, 20)
    table = align(_result(0.8, video, (), words), video)
    assert table.words[:12] == ("a", "a", None, None, None, "b", "b", "b", "b", "b", "b", None)
    # words alone mean speech
    assert table.is_speech.tolist()[:12] == [w is not None for w in table.words[:12]]


def test_inputs_are_not_changed_and_frames_land_in_the_json():
    turns = (SpeakerTurn(0.1, 0.5, "SPEAKER_00"), SpeakerTurn(0.61, 0.62, "SPEAKER_01"))  # 2nd holds no frame
    video = _video(25, 20)
    result = _result(0.8, video, turns)
    before = json.dumps(result.to_dict(), sort_keys=True)
    framed = with_frames(result, align(result, video))
    assert json.dumps(result.to_dict(), sort_keys=True) == before
    data = framed.to_dict()
    assert data["turns"][0]["frames"] == [3, 12]
    assert "frames" not in data["turns"][1]
    frames = data["provenance"]["frames"]
    assert frames["fps"] == "25/1" and frames["time_source"] == "frame_rate"
    assert frames["sync"]["offset"] == 0.0 and frames["sync"]["in_sync"] is True
    assert Result.from_dict(data).turns[0].frames == (3, 12)


def test_ntsc_rate_stays_exact_over_an_hour():
    fps = Fraction(30000, 1001)
    n = 108_000  # one hour at 29.97 fps
    video = _video(fps, n)
    table = align(_result(n / fps + 0.01, video), video)
    last = n - 1
    assert table.center_idx[-1] == last * 50 * 1001 // 30000 == 180_178
    assert int(last * 50 / int(fps)) == 186_205  # int(fps) = 29 would drift by 6027 features (2 minutes)
    assert table.center_idx.tolist() == [i * 50 * 1001 // 30000 for i in range(n)]
    assert table.center_idx[600] == 1001  # frame 600 is at exactly 1001/50 s
    assert table.time[-1] == pytest.approx(last * 1001 / 30000, abs=1e-9)


def test_variable_frame_rate_uses_each_frames_pts():
    pts = (0.0, 0.05, 0.071, 0.2, 0.2399, 0.5, 0.52)
    video = _video(25, len(pts), variable_frame_rate=True, frame_times=pts)
    table = align(_result(0.6, video), video)
    assert table.time.tolist() == list(pts)
    assert table.center_idx.tolist() == [0, 2, 3, 10, 11, 25, 26]
    assert table.time_source == "pts" and table.summary()["time_source"] == "pts"


def test_picture_start_offset_shifts_times_and_indices():
    video = _video(25, 10, start_time=0.1)
    table = align(_result(0.6, video), video)
    assert table.time[0] == pytest.approx(0.1) and table.center_idx.tolist()[:3] == [5, 7, 9]
    assert table.sync.video_end == pytest.approx(0.5)


def test_audio_shorter_than_picture_warns_and_clamps(caplog):
    video = _video(25, 25)  # 1.0 s of picture
    turns = (SpeakerTurn(0.0, 0.5, "SPEAKER_00"),)
    with caplog.at_level(logging.WARNING, logger="diarize.frames"):
        table = align(_result(0.5, video, turns), video)
    assert "differ by -0.500 s" in caplog.text
    assert table.sync.offset == pytest.approx(-0.5) and not table.sync.in_sync
    assert table.sync.frames_without_audio == 12
    assert table.in_audio.tolist() == [i < 13 for i in range(25)]
    assert table.is_speech.tolist() == [i < 13 for i in range(25)]
    assert table.center_idx.max() == 24 == table.n_features - 1
    assert table.window_indices().max() == 24


def test_small_offset_is_reported_without_warning(caplog):
    video = _video(25, 20)
    with caplog.at_level(logging.WARNING, logger="diarize.frames"):
        table = align(_result(0.85, video), video)
    assert caplog.text == ""
    assert table.sync.offset == pytest.approx(0.05) and table.sync.in_sync


def test_nothing_to_align_is_an_error():
    video = _video(25, 20)
    with pytest.raises(MediaError, match="shorter than one feature frame"):
        align(_result(0.01, video), video)


# --- the frames writer -------------------------------------------------------------------------------------


def test_writer_writes_csv_and_parquet(tmp_path):
    import pandas as pd

    turns = (SpeakerTurn(0.1, 0.5, "SPEAKER_00"), SpeakerTurn(0.3, 0.6, "SPEAKER_01"))
    words = (Word(0.12, 0.30, " hello", 0.9),)
    video = _video(25, 20)
    result = _result(0.8, video, turns, words)
    paths = write(result, "frames", tmp_path, stem="clip")
    assert [p.name for p in paths] == ["clip.frames.csv", "clip.frames.parquet"]
    csv = pd.read_csv(paths[0], dtype={"speaker": "string", "turn_id": "string", "word": "string"})
    parquet = pd.read_parquet(paths[1])
    assert list(csv.columns) == list(FRAME_COLUMNS) == list(parquet.columns)
    assert len(csv) == len(parquet) == 20
    assert csv.loc[8, "speaker"] == parquet.loc[8, "speaker"] == "SPEAKER_00|SPEAKER_01"
    assert csv.loc[8, "turn_id"] == "0|1" and csv.loc[8, "n_speakers"] == 2
    assert csv.loc[3, "word"] == "hello" and pd.isna(parquet.loc[2, "word"])
    assert csv["center_idx"].tolist() == parquet["center_idx"].tolist() == [2 * i for i in range(20)]
    row8 = paths[0].read_text().splitlines()[9]
    assert row8.startswith("8,0.32,16,12,19,True,True,2,SPEAKER_00|SPEAKER_01,0|1,")

    import pyarrow.parquet as pq

    summary = json.loads(pq.read_schema(paths[1]).metadata[b"diarize.frames"])
    assert summary["fps"] == "25/1" and summary["sync"]["in_sync"] is True


def test_writer_uses_the_recorded_frame_options():
    video = _video(25, 20)
    table = frame_table(_result(0.8, video, options={"left": 1, "right": 3, "sync_tolerance": 0.1}))
    assert (table.left, table.right) == (2, 6)
    assert frames_to_frame(table)["window_last"].tolist()[0] == 5


def test_all_leaves_frames_out_and_audio_only_results_refuse_it(tmp_path):
    assert "frames" not in resolve_formats("all")
    assert resolve_formats("all,frames")[-1] == "frames"
    with pytest.raises(ConfigError, match="needs a video input"):
        write(_result(0.8, None), "json,frames", tmp_path)
    assert not list(tmp_path.iterdir())  # nothing written when one format fails


# --- videos built with PyAV ---------------------------------------------------------------------------------


def _speech(shared_data: Path, seconds: float) -> np.ndarray:
    """``seconds`` of 16 kHz mono speech: JFK, repeated as needed."""
    from diarize.audio import load_audio

    jfk = load_audio(shared_data / "speech/jfk.flac").samples
    n = int(round(seconds * 16_000))
    return np.tile(jfk, n // len(jfk) + 1)[:n]


def _make_video(
    path: Path, rate: Fraction, n_frames: int, audio: np.ndarray | None, pts_ms: list[int] | None = None
) -> Path:
    """A 16×16 mpeg4 video at ``rate`` (or at the millisecond ``pts_ms``), with ``audio`` as 16 kHz PCM."""
    import av

    with av.open(str(path), "w", format="mov") as out:
        video = out.add_stream("mpeg4", rate=rate)
        video.width, video.height, video.pix_fmt = 16, 16, "yuv420p"
        if pts_ms is not None:
            video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        sound = None if audio is None else out.add_stream("pcm_s16le", rate=16_000, layout="mono")
        for i in range(n_frames):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i % 256, dtype=np.uint8), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None and audio is not None:
            pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for start in range(0, len(pcm), 4096):
                samples = pcm[None, start : start + 4096]
                chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
                chunk.sample_rate, chunk.pts = 16_000, start
                for packet in sound.encode(chunk):
                    out.mux(packet)
            for packet in sound.encode(None):
                out.mux(packet)
    return path


def _align_file(path: Path) -> tuple[Result, FrameTable]:
    from diarize.audio import load_audio

    audio = load_audio(path)
    assert audio.info.video is not None
    everything = (SpeakerTurn(0.0, audio.info.duration, "SPEAKER_00"),)
    result = _result(audio.info.duration, audio.info.video, everything)
    return result, align(result, audio.info.video)


def test_ntsc_video_file(shared_data, tmp_path):
    fps, n = Fraction(30000, 1001), 2100
    path = _make_video(tmp_path / "ntsc.mov", fps, n, _speech(shared_data, n / fps))
    result, table = _align_file(path)
    assert result.source.video.fps == fps and len(table) == n
    last = n - 1
    assert table.center_idx[-1] == int(Fraction(last * 50) * Fraction(1001, 30000)) == 3501
    assert table.center_idx[-1] != int(last * 50 / int(fps))  # 3620 with int(fps)
    assert table.center_idx.tolist() == [i * 50 * 1001 // 30000 for i in range(n)]
    assert abs(table.sync.offset) < 0.01 and table.in_audio.all()


def test_variable_frame_rate_video_file(shared_data, tmp_path):
    rng = np.random.default_rng(7)
    pts = [0, *np.cumsum(rng.integers(15, 90, size=79)).tolist()]
    speech = _speech(shared_data, pts[-1] / 1000 + 0.05)
    path = _make_video(tmp_path / "vfr.mov", Fraction(25), 80, speech, pts)
    result, table = _align_file(path)
    assert result.source.video.variable_frame_rate
    assert table.time.tolist() == pytest.approx([p / 1000 for p in pts], abs=1e-9)
    assert table.center_idx.tolist() == [p * 50 // 1000 for p in pts]
    assert table.time_source == "pts"


def test_audio_one_second_short_video_file(shared_data, tmp_path, caplog):
    path = _make_video(tmp_path / "short.mov", Fraction(25), 125, _speech(shared_data, 4.0))
    with caplog.at_level(logging.WARNING, logger="diarize.frames"):
        result, table = _align_file(path)
    assert "differ by -1.000 s" in caplog.text
    assert table.sync.offset == pytest.approx(-1.0, abs=1e-3)
    assert table.n_features == 200 and table.window_indices().max() == 199
    assert table.in_audio.tolist() == [i < 100 for i in range(125)]
    assert not table.is_speech[100:].any() and table.is_speech[:100].all()
    assert (table.center_idx[100:] == 199).all()


def test_video_without_audio_is_a_clear_error(tmp_path):
    from diarize.audio import load_audio

    path = _make_video(tmp_path / "silent.mov", Fraction(25), 10, None)
    with pytest.raises(NoAudioError, match="no audio stream"):
        load_audio(path)


def test_talking_head_video(shared_data):
    result, table = _align_file(shared_data / KATIE)
    assert len(table) == 200
    assert table.center_idx.tolist() == [int(f * 50 / 25) for f in table.frame.tolist()]
    assert table.sync.offset == 0.0 and table.sync.in_sync


# --- the pipeline and the command line (real models) --------------------------------------------------------


@pytest.mark.slow
def test_pipeline_and_cli_on_the_talking_head_video(shared_data, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from diarize.cli.main import cli

    out = tmp_path / "out"
    args = ["run", str(shared_data / KATIE), "-o", str(out), "--pipeline", "archive", "-f", "json,frames"]
    outcome = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert outcome.exit_code == 0, outcome.output
    data = json.loads((out / "WDA_KatieHill_000.json").read_text())
    strings = {"word": "string", "speaker": "string", "turn_id": "string"}
    table = pd.read_csv(out / "WDA_KatieHill_000.frames.csv", dtype=strings)
    assert pd.read_parquet(out / "WDA_KatieHill_000.frames.parquet").shape == table.shape
    assert len(table) == 200
    assert (table["center_idx"] == (table["frame"] * 50 // 25)).all()
    assert data["provenance"]["frames"]["sync"]["offset"] == 0.0
    assert all(len(t["frames"]) == 2 for t in data["turns"])
    words = [w for s in data["segments"] for w in s["words"]]
    assert len(words) >= 10
    for word in words:  # every frame inside a word shows it and is speech
        inside = table[(table["time"] >= word["start"]) & (table["time"] < word["end"])]
        assert inside["is_speech"].all()
        assert set(inside["word"].dropna()) <= {w["word"].strip() for w in words}
    worded = table[table["word"].notna()]
    for _, row in worded.iterrows():
        assert any(w["start"] <= row["time"] < w["end"] for w in words)
    assert 0.4 < table["is_speech"].mean() <= 1.0
    for k, turn in enumerate(data["turns"]):
        first, last = turn["frames"]
        rows = table.iloc[first : last + 1]
        assert rows["turn_id"].str.split("|").map(lambda ids, k=k: str(k) in ids).all()


def test_cli_refuses_frames_for_audio_only_input(shared_data, tmp_path):
    from click.testing import CliRunner

    from diarize.cli.main import cli

    args = ["run", str(shared_data / "speech/jfk.flac"), "-o", str(tmp_path), "-f", "json,frames"]
    outcome = CliRunner().invoke(cli, args)
    assert outcome.exit_code != 0
    assert "needs a video input" in outcome.output
    assert not list(tmp_path.iterdir())
