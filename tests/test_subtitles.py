"""Subtitles a professional would ship: every timed-text rule, checked by independent parsers on SRT, WebVTT
and ASS rendered from hand-built results and from real pipeline outputs."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pysubs2
import pytest
from click.testing import CliRunner

from diarize.types import MediaInfo, Provenance, Result, Segment, VideoInfo, Word
from diarize.writers import SubtitleOptions, WriterOptions, build_cues, cue_stats, render, write
from diarize.writers.cues import cue_gap
from tests.subtitle_checker import Report, assert_compliant, check, parse, unavoidable_over_cps
from tests.test_writers import long_result, sample_result

FORMATS = ("srt", "vtt", "ass")


def _reports(result: Result, tmp_path: Path, options: SubtitleOptions | None = None) -> dict[str, Report]:
    options = options or SubtitleOptions()
    paths = write(result, FORMATS, tmp_path, WriterOptions(subtitle=options))
    return {p.suffix[1:]: check(parse(p), result, options, cue_gap(result, options)) for p in paths}


def turns(*runs: tuple[str, float, float, str], duration: float) -> Result:
    """A result of speaker runs ``(speaker, start, end, text)``, each run's words spread evenly by length."""
    segments = []
    for speaker, start, end, text in runs:
        tokens = text.split()
        total, done, words = sum(len(t) for t in tokens), 0, []
        for token in tokens:
            a = start + (end - start) * done / total
            done += len(token)
            words.append(Word(a, start + (end - start) * done / total, token, 0.9, speaker))
        segments.append(Segment(start, end, text, tuple(words), speaker))
    return Result(
        source=MediaInfo("/in/call.wav", duration, 16000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=tuple(dict.fromkeys(r[0] for r in runs)),
        turns=(),
        segments=tuple(segments),
        provenance=Provenance(versions={}, models={}, options={}, timings={}),
    )


def one_speaker(text: str, step: float = 0.25, speaker: str = "SPEAKER_00") -> Result:
    """One speaker reading ``text`` at ``step`` s per word, in sentences with short pauses."""
    words, t = [], 0.3
    for token in text.split():
        words.append(Word(t, t + step - 0.03, " " + token, 0.9, speaker))
        t += step + (0.4 if token.endswith(".") else 0.0)
    segment = Segment(words[0].start, words[-1].end, text, tuple(words), speaker)
    return Result(
        source=MediaInfo("/in/talk.wav", t + 1.0, 16000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=(speaker,),
        turns=(),
        segments=(segment,),
        provenance=Provenance(versions={}, models={}, options={}, timings={}),
    )


STORY = (
    "Welcome to the orientation. In the first week of the programme you will meet your mentor, who will "
    "show you around the campus and the library. We ask that you register for your courses by Friday, and "
    "that you bring a photo for your student card. If you have any questions about housing or about "
    "the timetable, the office on the second floor is open every day of the week from nine to five."
)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_generated_meetings_keep_every_rule(seed: int, tmp_path: Path) -> None:
    for report in _reports(long_result(seed), tmp_path).values():
        assert_compliant(report)


def test_fast_single_speaker_is_timed_to_be_read(tmp_path: Path) -> None:
    result = one_speaker(STORY, step=0.26)  # 19 characters per second, as spoken
    for report in _reports(result, tmp_path).values():
        assert_compliant(report)
        assert report.over_max_cps == 0
    srt_text = (tmp_path / "talk.srt").read_text(encoding="utf-8")
    assert "[SPEAKER_00]" not in srt_text  # one speaker: no labels unless asked
    assert "<v SPEAKER_00>" in (tmp_path / "talk.vtt").read_text(encoding="utf-8")
    assert parse(tmp_path / "talk.srt")[0].lines == ("Welcome to the orientation.",)


def test_speech_faster_than_the_ceiling_is_counted(tmp_path: Path) -> None:
    result = one_speaker(STORY, step=0.22)  # 22 characters per second: no silence to gain time from
    options = SubtitleOptions()
    stats = cue_stats(build_cues(result, options, label_width=True), options)
    (path,) = write(result, ["srt"], tmp_path)
    report = check(parse(path), result, options)
    assert stats.over_max_cps == report.over_max_cps > 0
    assert report.words_missing == report.words_extra == report.overlaps == 0


def test_lines_never_end_on_a_dangling_word(tmp_path: Path) -> None:
    write(one_speaker(STORY), ["srt", "vtt"], tmp_path)
    for path in (tmp_path / "talk.srt", tmp_path / "talk.vtt"):
        for cue in parse(path):
            for line in cue.lines[:-1] if len(cue.lines) > 1 else []:
                assert line.split()[-1].lower() not in {"a", "an", "the", "of", "in", "to", "and", "for"}, cue
            assert cue.text.split()[-1].lower() not in {"a", "an", "the", "of", "in"}, cue


def test_speaker_labels_always_and_never(tmp_path: Path) -> None:
    result = one_speaker(STORY)
    write(result, ["srt"], tmp_path / "always", WriterOptions(subtitle=SubtitleOptions(speaker_labels="always")))
    cues = parse(tmp_path / "always" / "talk.srt")
    assert all(c.lines[0].startswith("[SPEAKER_00]") for c in cues)
    assert all(len(line) <= 42 for c in cues for line in c.lines)
    write(
        sample_result(),
        ["srt", "vtt"],
        tmp_path / "never",
        WriterOptions(subtitle=SubtitleOptions(speaker_labels="never")),
    )
    assert "[" not in (tmp_path / "never" / "meeting.srt").read_text(encoding="utf-8")
    vtt = (tmp_path / "never" / "meeting.vtt").read_text(encoding="utf-8")
    assert "<v " not in vtt and "STYLE" not in vtt


def test_srt_names_the_speaker_only_where_it_changes(tmp_path: Path) -> None:
    write(sample_result(), ["srt"], tmp_path)
    cues = parse(tmp_path / "meeting.srt")
    last = next(c for c in cues if "collect feedback" in c.text)
    assert not last.lines[0].startswith("[")  # the same speaker goes on
    assert cues[0].lines[0].startswith("[SPEAKER_00] ")


def test_vtt_style_colours_each_voice(tmp_path: Path) -> None:
    write(sample_result(), ["vtt"], tmp_path)
    vtt = (tmp_path / "meeting.vtt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\nSTYLE\n")
    for name in ("SPEAKER_00", "Mary Ann", "SPEAKER_02"):
        assert f'::cue(v[voice="{name}"]) {{ color: #' in vtt


def test_ass_has_a_coloured_style_per_speaker(tmp_path: Path) -> None:
    (path,) = write(sample_result(), ["ass"], tmp_path)
    subs = pysubs2.load(str(path))
    assert {"Default", "SPEAKER_00", "Mary Ann", "SPEAKER_02"} <= set(subs.styles)
    colours = {str(subs.styles[n].primarycolor) for n in ("SPEAKER_00", "Mary Ann", "SPEAKER_02")}
    assert len(colours) == 3
    names = [e.name for e in subs.events]
    assert names[0] == "SPEAKER_00" and "Mary Ann" in names
    assert all(e.style == (e.name or "Default") for e in subs.events)
    draft = next(e for e in subs.events if "draft" in e.plaintext)
    assert "<draft>" in draft.plaintext and "&" in draft.plaintext


def test_impossible_speed_is_counted_not_hidden() -> None:
    result = one_speaker("one two three four five six seven eight nine ten eleven twelve", step=0.08)
    result = Result(
        result.source.__class__(result.source.path, 1.3, 16000, 1, "pcm_s16le", "wav"),
        result.language,
        result.speakers,
        result.turns,
        result.segments,
        result.provenance,
    )
    options = SubtitleOptions()
    cues = build_cues(result, options)
    stats = cue_stats(cues, options)
    assert stats.cues == len(cues) and stats.over_max_cps >= 1  # 60 characters in 1.3 s of media
    assert " ".join(c.text for c in cues).split() == [w.text.strip() for w in result.words]


def test_cli_flags_override_the_subtitle_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli_main = importlib.import_module("diarize.cli.main")

    seen: list[SubtitleOptions] = []

    def fake_process(usable: list[object], plan: object, *rest: object) -> int:
        seen.append(plan.config.output.writers.subtitle)  # type: ignore[attr-defined]
        return 0

    monkeypatch.setattr(cli_main, "_process", fake_process)
    monkeypatch.setattr(cli_main, "_voice_namer", lambda *args: None)
    args = [
        "run",
        "data/sample.wav",
        "-o",
        str(tmp_path),
        "-f",
        "srt",
        "--max-line-width",
        "37",
        "--max-line-count",
        "1",
        "--max-cps",
        "15",
        "--speaker-labels",
        "never",
        "--highlight-words",
    ]
    outcome = CliRunner().invoke(cli_main.cli, args)
    assert outcome.exit_code == 0, outcome.output
    (options,) = seen
    assert (options.max_line_chars, options.max_lines, options.max_cps, options.target_cps) == (37, 1, 15.0, 15.0)
    assert options.speaker_labels == "never" and options.highlight_words is True
    bad = CliRunner().invoke(cli_main.cli, [*args[:6], "--speaker-labels", "sometimes"])
    assert bad.exit_code != 0


def test_too_fast_speech_with_no_silence_makes_one_cue_fast_not_all(tmp_path: Path) -> None:
    result = turns(  # 100 characters in 5 s of media: no timing keeps all three cues at 20 cps
        ("A", 0.10, 0.46, "He"),
        ("B", 0.46, 2.30, "could rise and seem to complain against the wizard"),
        ("A", 2.30, 4.58, "who would vanish behind the curtain on the left."),
        duration=5.0,
    )
    options = SubtitleOptions()
    assert unavoidable_over_cps(result, options) == 1
    for fmt, report in _reports(result, tmp_path, options).items():
        assert report.cues == 3 and report.over_max_cps == 1, (fmt, report)
        assert_compliant(report, unavoidable=1)
    cues = parse(tmp_path / "call.vtt")
    fast = [c for c in cues if len(c.text) > 20 * (c.end - c.start) + 1e-6]
    assert [c.text for c in fast] == ["could rise and seem to complain against the wizard"]  # the longest


def test_a_fast_cue_takes_the_silence_before_it_and_delays_the_next_a_little(tmp_path: Path) -> None:
    fast = "Then we moved everything to the new servers over the weekend."  # 61 characters in 2.2 s
    result = turns(("A", 1.0, 3.2, fast), ("B", 3.4, 3.9, "Right."), duration=8.0)
    options = SubtitleOptions()
    cues = build_cues(result, options)
    assert [c.text for c in cues] == [fast, "Right."]
    first, second = cues
    assert first.end - first.start >= len(fast) / options.max_cps - 1e-9
    assert first.start < 1.0  # shown before the first word, in the silence before it
    assert second.start <= 3.4 + options.max_delay + 1e-9
    assert second.end - second.start >= options.min_duration - 1e-9
    for report in _reports(result, tmp_path, options).values():
        assert_compliant(report)
        assert report.over_max_cps == 0


def test_provenance_records_the_rule_counts_of_each_subtitle_file(tmp_path: Path) -> None:
    result = one_speaker(STORY, step=0.22)  # too fast to read everywhere: some cues are counted
    options = SubtitleOptions()
    paths = write(result, ["json", *FORMATS], tmp_path, WriterOptions(subtitle=options))
    provenance = json.loads(paths[0].read_text(encoding="utf-8"))["provenance"]
    recorded = provenance["subtitles"]
    assert recorded["rules"]["max_cps"] == options.max_cps
    for path in paths[1:]:
        stats, report = recorded["formats"][path.suffix[1:]], check(parse(path), result, options)
        assert stats["cues"] == report.cues and stats["over_max_cps"] == report.over_max_cps > 0
        assert stats["lines"] == report.lines and stats["long_lines"] == report.long_lines == 0
        assert stats["too_long"] == stats["short_gaps"] == stats["overlaps"] == report.overlaps == 0
        assert stats["one_word_lines"] == report.one_word_lines == 0
    (alone,) = write(result, ["json"], tmp_path / "alone")
    assert "subtitles" not in json.loads(alone.read_text(encoding="utf-8"))["provenance"]


@pytest.mark.parametrize("make", [sample_result, lambda: one_speaker(STORY), lambda: long_result(3)])
def test_highlighted_words_carry_valid_word_timing(make: object, tmp_path: Path) -> None:
    result = make()  # type: ignore[operator]
    options = SubtitleOptions(highlight_words=True)
    plain = _reports(result, tmp_path / "plain")
    reports = _reports(result, tmp_path / "karaoke", options)
    for fmt, report in reports.items():
        assert_compliant(report)
        assert dataclasses.replace(report, word_stamps=0, karaoke_events=0) == plain[fmt]  # same cues and text
    assert reports["vtt"].word_stamps >= len(result.words) // 2
    assert reports["ass"].karaoke_events == reports["ass"].cues
    srt = {d: (tmp_path / d / f"{Path(result.source.path).stem}.srt").read_bytes() for d in ("plain", "karaoke")}
    assert srt["plain"] == srt["karaoke"]  # SRT has no word timing


def test_karaoke_durations_follow_the_words() -> None:
    result = one_speaker("Welcome to the orientation.", step=0.5)
    (_, data), = render(result, ["ass"], options=WriterOptions(subtitle=SubtitleOptions(highlight_words=True)))
    event = pysubs2.SSAFile.from_string(data.decode("utf-8")).events[0]
    assert event.text == "{\\k50}Welcome {\\k50}to {\\k50}the {\\k47}orientation."  # words from 0.3 to 2.27 s
    (_, vtt), = render(result, ["vtt"], options=WriterOptions(subtitle=SubtitleOptions(highlight_words=True)))
    assert "Welcome <00:00:00.800>to <00:00:01.300>the <00:00:01.800>orientation." in vtt.decode("utf-8")


def test_highlight_words_is_validated() -> None:
    from diarize.errors import ConfigError

    with pytest.raises(ConfigError, match="highlight_words"):
        SubtitleOptions(highlight_words="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("lead", ["", " "])
def test_cue_text_joins_words_with_or_without_their_leading_blanks(lead: str) -> None:
    from diarize.text import join_words

    tokens = ["It", "'s", "late", ",", "isn't", "it", "?", "Yes", "—", "very", "late", "."]
    words = [Word(i * 0.3, i * 0.3 + 0.25, lead + t, 0.9, "A") for i, t in enumerate(tokens)]
    assert join_words(words) == "It's late, isn't it? Yes — very late."
    segment = Segment(0.0, words[-1].end, "", tuple(words), "A")
    result = dataclasses.replace(one_speaker("x"), segments=(segment,))
    assert [c.text for c in build_cues(result)] == ["It's late, isn't it? Yes — very late."]


# --- real recordings ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_results(shared_data: Path, pyannote_sample: Path) -> dict[str, Result]:
    """The default pipeline's results on a four-speaker mix and the two-speaker sample (models load once)."""
    import diarize

    paths = {"simconv": shared_data / "meetings" / "simconv_en_text.wav", "sample": pyannote_sample}
    return {name: diarize.transcribe(path) for name, path in paths.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["simconv", "sample"])
@pytest.mark.parametrize("highlight", [False, True])
def test_real_recordings_give_compliant_subtitles(
    name: str, highlight: bool, real_results: dict[str, Result], tmp_path: Path
) -> None:
    result = real_results[name]
    options = SubtitleOptions(highlight_words=highlight)
    assert unavoidable_over_cps(result, options) == 0
    for report in _reports(result, tmp_path, options).values():
        assert_compliant(report)  # 95 % of cues at most max_cps, every other rule on every cue


def test_speaker_label_settings_accept_yaml_booleans() -> None:
    from diarize.errors import ConfigError

    assert SubtitleOptions(speaker_labels=True).speaker_labels == "auto"
    assert SubtitleOptions(speaker_labels=False).speaker_labels == "never"
    with pytest.raises(ConfigError, match="auto, always or never"):
        SubtitleOptions(speaker_labels="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target_cps <= max_cps"):
        SubtitleOptions(max_cps=15.0)


# --- frame-accurate cues on video --------------------------------------------------------------------------

_STAMP_TOLERANCE = {"srt": 0.0011, "vtt": 0.0011, "ass": 0.0101}  # s: the format's timestamp precision


def _frame_times(video: VideoInfo, until: float) -> list[float]:
    if video.variable_frame_rate and video.frame_times:
        times = list(video.frame_times)
        step = times[-1] - times[-2]
        while times[-1] < until:
            times.append(times[-1] + step)
        return times
    count = int(until * video.fps) + 3
    return [video.start_time + float(Fraction(k) / video.fps) for k in range(count)]


def _off_frame(path: Path, video: VideoInfo) -> list[tuple[float, float]]:
    """(stamp, distance to the nearest frame) of every cue boundary in ``path`` farther than its precision."""
    events = [e for e in pysubs2.load(str(path)) if not e.is_comment]
    times = _frame_times(video, max((e.end for e in events), default=0) / 1000 + 1.0)
    tolerance = _STAMP_TOLERANCE[path.suffix[1:]]
    off = []
    for event in events:
        for stamp in (event.start / 1000, event.end / 1000):
            distance = min(abs(stamp - t) for t in times)
            if distance > tolerance:
                off.append((stamp, distance))
    return off


def _with_video(result: Result, video: VideoInfo) -> Result:
    return dataclasses.replace(result, source=dataclasses.replace(result.source, video=video))


@pytest.mark.parametrize("fps", [Fraction(30000, 1001), Fraction(25), Fraction(24000, 1001)])
def test_video_cues_start_and_end_on_frames(fps: Fraction, tmp_path: Path) -> None:
    base = long_result(2)
    video = VideoInfo(fps, int(base.duration * fps) + 1, 640, 360, base.duration, "h264")
    result = _with_video(base, video)
    options = SubtitleOptions()
    cues = build_cues(result, options)
    for cue in cues:
        for t in (cue.start, cue.end):
            k = round(t * fps)
            assert abs(t - float(k / fps)) < 1e-9
    assert cue_stats(cues, options, cue_gap(result, options)).overlaps == 0
    assert cue_stats(cues, options, cue_gap(result, options)).short_gaps == 0
    for path in write(result, FORMATS, tmp_path, WriterOptions(subtitle=options)):
        assert _off_frame(path, video) == []


def test_variable_frame_rate_cues_land_on_frame_timestamps(tmp_path: Path) -> None:
    base = one_speaker(STORY, step=0.3)
    times: list[float] = []
    t = 0.0
    while t < base.duration:  # 30 fps with every fifth interval doubled
        times.append(round(t, 6))
        t += (2 if len(times) % 5 == 0 else 1) / 30
    video = VideoInfo(Fraction(25), len(times), 640, 360, base.duration, "h264", 0.0, True, tuple(times))
    result = _with_video(base, video)
    cues = build_cues(result)
    for cue in cues:
        assert min(abs(cue.start - x) for x in times) < 1e-9
    for a, b in zip(cues, cues[1:], strict=False):
        assert b.start >= a.end
    for path in write(result, FORMATS, tmp_path, WriterOptions()):
        assert _off_frame(path, video) == []


@pytest.fixture(scope="module")
def media_results(shared_data: Path) -> dict[str, Result]:
    """The subtitles pipeline on a talking-head video and a two-channel meeting (models load once)."""
    import diarize

    paths = {
        "video": shared_data / "video" / "WDA_KatieHill_000.mp4",
        "stereo": shared_data / "meetings" / "stereo_diarization.wav",
    }
    return {name: diarize.transcribe(path, "subtitles") for name, path in paths.items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["video", "stereo"])
@pytest.mark.parametrize("highlight", [False, True])
def test_media_subtitles_keep_every_rule(
    name: str, highlight: bool, media_results: dict[str, Result], tmp_path: Path
) -> None:
    result = media_results[name]
    options = SubtitleOptions(highlight_words=highlight)
    paths = write(result, FORMATS, tmp_path, WriterOptions(subtitle=options))
    assert sorted(p.suffix for p in paths) == [".ass", ".srt", ".vtt"]
    gap = cue_gap(result, options)
    # Both clips are spoken faster than 20 characters a second from the first to the last frame (159
    # characters in 8 s of video, 100 in 5 s of call): no timing can keep every cue at max_cps, so one cue,
    # and only one, may read faster. The bound comes from the words and the media, not from the writers.
    unavoidable = unavoidable_over_cps(result, options, gap)
    for path in paths:
        report = check(parse(path), result, options, gap)
        assert_compliant(report, unavoidable)
        if name == "video":
            assert result.source.video is not None
            assert _off_frame(path, result.source.video) == []


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not on PATH")
def test_ffmpeg_burns_the_subtitles_in(media_results: dict[str, Result], shared_data: Path, tmp_path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
    video = shared_data / "video" / "WDA_KatieHill_000.mp4"
    karaoke = WriterOptions(subtitle=SubtitleOptions(highlight_words=True))
    paths = write(media_results["video"], ("ass", "srt"), tmp_path, WriterOptions())
    paths += write(media_results["video"], ("ass",), tmp_path / "karaoke", karaoke)
    for path in paths:
        name = str(path).replace("\\", "/").replace(":", "\\:").replace("'", "\\'")
        command = [ffmpeg, "-v", "error", "-i", str(video), "-vf", f"subtitles={name}"]
        command += ["-frames:v", "10", "-f", "null", "-"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{path.name}: {done.stderr[-2000:]}"
