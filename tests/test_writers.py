"""Output writers: golden files per format, independent parsers, subtitle line rules, file handling, renaming.

Regenerate the golden files with ``DIARIZE_UPDATE_GOLDEN=1 pytest tests/test_writers.py`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import html
import io
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import srt
import webvtt

import diarize.writers as writers
from diarize.errors import ConfigError, OutputError
from diarize.text import join_words
from diarize.types import MediaInfo, Provenance, Result, Segment, SpeakerTurn, Word
from diarize.writers import (
    RESULT_SCHEMA,
    SubtitleOptions,
    TextOptions,
    WriterOptions,
    build_cues,
    parse_speaker_names,
    rename_speakers,
    render,
    result_to_json,
    to_frame,
    write,
)
from diarize.writers.base import _REGISTRY, TextWriter, register_writer
from diarize.writers.text import format_clock

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("DIARIZE_UPDATE_GOLDEN") == "1"


# --- fixtures --------------------------------------------------------------------------------------------


def seg(speaker: str | None, items: list[tuple[float, float, str]], overlap: tuple[int, ...] = ()) -> Segment:
    ws = tuple(Word(s, e, t, 0.9, speaker, i in overlap) for i, (s, e, t) in enumerate(items))
    return Segment(ws[0].start, ws[-1].end, join_words(ws), ws, speaker)


def evenly(start: float, text: str, step: float = 0.4) -> list[tuple[float, float, str]]:
    return [
        (round(start + step * i, 3), round(start + step * i + step - 0.05, 3), " " + w)
        for i, w in enumerate(text.split())
    ]


def sample_result() -> Result:
    """Two named speakers and an unnamed one, "Mary Ann" with a blank, non-ASCII text, overlapping speech
    (3.4-5.1 with 4.5-5.5), characters to escape, an unknown speaker and a sentence longer than one cue."""
    segments = (
        seg("SPEAKER_00", evenly(0.5, "Hello everyone, welcome to the meeting.")),
        seg("Mary Ann", [(3.5, 3.9, " Grüße"), (3.9, 4.1, " aus"), (4.1, 5.0, " 東京!")], overlap=(2,)),
        seg("SPEAKER_00", [(4.6, 5.4, " Thanks.")], overlap=(0,)),
        seg("Mary Ann", evenly(6.0, "Let's look at the numbers & the <draft> plan for next quarter.", 0.3)),
        seg("SPEAKER_02", [(10.0, 10.4, " Yes.")]),
        seg("SPEAKER_00", [(10.6, 11.2, " Good.")]),
        seg(None, [(12.0, 12.5, " Hmm.")]),
        seg(
            "SPEAKER_00",
            evenly(13.0, "So the plan is that we ship the first version in March, then collect feedback."),
        ),
    )
    turns = (
        SpeakerTurn(0.4, 3.3, "SPEAKER_00"),
        SpeakerTurn(3.4, 5.1, "Mary Ann"),
        SpeakerTurn(4.5, 5.5, "SPEAKER_00"),
        SpeakerTurn(5.9, 9.9, "Mary Ann"),
        SpeakerTurn(9.9, 10.5, "SPEAKER_02"),
        SpeakerTurn(10.5, 11.3, "SPEAKER_00"),
        SpeakerTurn(12.9, 19.1, "SPEAKER_00"),
    )
    return Result(
        source=MediaInfo("/data/meeting.wav", 21.0, 16000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=("SPEAKER_00", "Mary Ann", "SPEAKER_02"),
        turns=turns,
        segments=segments,
        provenance=Provenance(
            versions={"diarize": "0.1.0"},
            models={"asr": "tiny.en"},
            options={"asr": {"beam_size": 1}},
            timings={"asr": 1.25},
        ),
    )


def long_result(seed: int, n_words: int = 600) -> Result:
    """A generated meeting: runs of several speakers, pauses, overlaps, punctuation, names with blanks."""
    rng = random.Random(seed)
    vocab = [
        "a",
        "to",
        "we",
        "the",
        "plan",
        "is",
        "ship",
        "version",
        "March",
        "Grüße",
        "東京",
        "feedback",
        "interesting,",
        "really?",
        "yes.",
        "okay!",
    ]
    names = ["SPEAKER_00", "Mary Ann", "Bob", "Dr. Quincy Longname"]
    segments: list[Segment] = []
    t = 0.0
    while sum(len(s.words) for s in segments) < n_words:
        speaker = rng.choice([*names, None])
        if segments and segments[-1].speaker == speaker:
            t = max(t, segments[-1].end)  # one speaker never overlaps itself
        items = []
        for _ in range(rng.randint(1, 25)):
            length = rng.uniform(0.05, 0.8)
            items.append((round(t, 3), round(t + length, 3), " " + rng.choice(vocab)))
            t += length + rng.choice([0.0, 0.0, 0.1, 0.5, 1.5])
        segments.append(seg(speaker, items))
        t += rng.choice([-0.6, 0.0, 0.2, 2.0])  # a negative step: the next speaker overlaps
        t = max(t, items[-1][0])
    turns = tuple(SpeakerTurn(s.start, s.end, s.speaker) for s in segments if s.speaker is not None and s.end > s.start)
    return Result(
        source=MediaInfo("/x/long.wav", t + 1.0, 16000, 1, "pcm", "wav"),
        language="en",
        speakers=tuple(names),
        turns=turns,
        segments=tuple(segments),
    )


def check_golden(name: str, data: bytes) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert path.is_file(), f"golden file {name} missing: run with DIARIZE_UPDATE_GOLDEN=1"
    assert data.decode("utf-8") == path.read_text(encoding="utf-8")


# --- golden files ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "rttm", "srt", "vtt", "ass", "txt", "md", "csv"])
def test_golden(fmt: str, tmp_path: Path) -> None:
    (path,) = write(sample_result(), [fmt], tmp_path)
    check_golden(path.name, path.read_bytes())


def test_golden_text_with_fine_timestamps() -> None:
    options = WriterOptions(text=TextOptions(timestamp_step=0.1))
    data = writers.get_writer("txt").render(sample_result(), "meeting", options)
    check_golden("meeting.step0.1.txt", data)


def test_parquet_holds_the_word_table(tmp_path: Path) -> None:
    (path,) = write(sample_result(), "parquet", tmp_path)
    assert path.name == "meeting.words.parquet"
    table = pd.read_parquet(path)
    golden = pd.read_csv(GOLDEN / "meeting.words.csv", keep_default_na=False, na_values={"speaker": [""]})
    assert list(table.columns) == list(writers.WORD_COLUMNS)
    assert table["word"].tolist() == golden["word"].tolist()
    assert table["speaker"].isna().tolist() == golden["speaker"].isna().tolist()
    assert table["overlap"].tolist() == golden["overlap"].tolist()
    assert table["start"].tolist() == pytest.approx(golden["start"].tolist())


def test_word_frame_is_typed_and_complete() -> None:
    result = sample_result()
    frame = to_frame(result)
    assert len(frame) == len(result.words)
    assert frame["overlap"].sum() == 2
    assert frame.loc[frame["speaker"].isna(), "word"].tolist() == ["Hmm."]
    assert frame["segment"].max() == len(result.segments) - 1
    empty = to_frame(Result(result.source, "en", (), (), ()))
    assert list(empty.columns) == list(writers.WORD_COLUMNS) and len(empty) == 0
    assert str(empty["start"].dtype) == "float64" and str(empty["overlap"].dtype) == "bool"


# --- JSON ------------------------------------------------------------------------------------------------


def validate(instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$") -> None:
    """A small JSON Schema check (the keywords RESULT_SCHEMA uses); raises AssertionError with the path."""
    root = root or schema
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return validate(instance, target, root, at)
    kinds: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
        "number": (int, float),
        "integer": int,
    }
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            isinstance(instance, kinds[n]) and not (n in ("number", "integer") and isinstance(instance, bool))
            for n in names
        )
        assert ok, f"{at}: {instance!r} is not {names}"
    if "const" in schema:
        assert instance == schema["const"], f"{at}: {instance!r} != {schema['const']!r}"
    if "anyOf" in schema:
        errors = []
        for option in schema["anyOf"]:
            try:
                validate(instance, option, root, at)
                break
            except AssertionError as exc:
                errors.append(str(exc))
        else:
            raise AssertionError(f"{at}: no anyOf option matches: {errors}")
    if "minimum" in schema:
        assert instance >= schema["minimum"], f"{at}: {instance} < {schema['minimum']}"
    if "maximum" in schema:
        assert instance <= schema["maximum"], f"{at}: {instance} > {schema['maximum']}"
    if "pattern" in schema:
        assert re.search(schema["pattern"], instance), f"{at}: {instance!r} !~ {schema['pattern']}"
    if isinstance(instance, dict):
        for key in schema.get("required", ()):
            assert key in instance, f"{at}: missing {key!r}"
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, value in instance.items():
            if key in props:
                validate(value, props[key], root, f"{at}.{key}")
            elif extra is False:
                raise AssertionError(f"{at}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                validate(value, extra, root, f"{at}.{key}")
    if isinstance(instance, list):
        assert len(instance) >= schema.get("minItems", 0), f"{at}: too few items"
        assert len(instance) <= schema.get("maxItems", math.inf), f"{at}: too many items"
        if schema.get("uniqueItems"):
            assert len({json.dumps(i, sort_keys=True) for i in instance}) == len(instance), f"{at}: duplicates"
        for i, item in enumerate(instance):
            if "items" in schema:
                validate(item, schema["items"], root, f"{at}[{i}]")
    return None


def test_json_matches_schema_and_round_trips(tmp_path: Path) -> None:
    result = sample_result()
    (path,) = write(result, "json", tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "Grüße" in text and "東京" in text  # ensure_ascii=False
    data = json.loads(text)
    assert data["schema"] == "diarize/1"
    validate(data, RESULT_SCHEMA)
    again = Result.from_dict(data)
    assert again.to_dict() == result.to_dict()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("turns"), "missing 'turns'"),
        (lambda d: d["segments"][0]["words"][0].update(start="1.0"), "is not"),
        (lambda d: d.update(schema="diarize/0"), "!="),
        (lambda d: d["turns"][0].update(extra=1), "unexpected key"),
        (lambda d: d["segments"][0].update(speaker=3), "is not"),
    ],
)
def test_schema_check_rejects_broken_results(mutate: Any, message: str) -> None:
    data = json.loads(writers.result_to_json(sample_result()))
    mutate(data)
    with pytest.raises(AssertionError, match=message):
        validate(data, RESULT_SCHEMA)


def _python_with_jsonschema() -> str:
    """A python3 on PATH, other than this one, that has ``jsonschema`` (the venv does not ship it)."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        python = shutil.which("python3", path=folder)
        if python is None or Path(python).resolve() == Path(sys.executable).resolve():
            continue
        if subprocess.run([python, "-c", "import jsonschema"], capture_output=True).returncode == 0:
            return python
    pytest.skip("no python3 with jsonschema on PATH")


def test_json_validates_with_reference_jsonschema(tmp_path: Path) -> None:
    python = _python_with_jsonschema()
    (doc,) = write(long_result(3, 100), "json", tmp_path)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(RESULT_SCHEMA), encoding="utf-8")
    code = (
        "import json, sys, jsonschema\n"
        "schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2], encoding='utf-8'))\n"
        "jsonschema.Draft202012Validator.check_schema(schema)\n"
        "jsonschema.Draft202012Validator(schema).validate(doc)\n"
        "bad = dict(doc, turns=[{'start': -1, 'end': 1, 'speaker': 'A'}])\n"
        "assert not jsonschema.Draft202012Validator(schema).is_valid(bad)\n"
    )
    run = subprocess.run([python, "-c", code, str(schema), str(doc)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_json_refuses_non_finite_numbers() -> None:
    result = sample_result()
    bad = Result(
        result.source,
        "en",
        result.speakers,
        result.turns,
        result.segments,
        Provenance(timings={"x": math.nan}),
    )
    with pytest.raises(OutputError, match="non-finite"):
        writers.result_to_json(bad)


# --- RTTM ------------------------------------------------------------------------------------------------


def test_rttm_lines_equal_the_json_turns(tmp_path: Path) -> None:
    result = long_result(5, 300)
    paths = write(result, ["json", "rttm"], tmp_path, stem="my talk")
    data = json.loads(paths[0].read_text(encoding="utf-8"))
    lines = paths[1].read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(data["turns"]) > 10
    for line, turn in zip(lines, data["turns"], strict=True):
        fields = line.split(" ")
        assert len(fields) == 10
        assert fields[:3] == ["SPEAKER", "my_talk", "1"] and fields[5:7] == ["<NA>", "<NA>"]
        assert fields[8:] == ["<NA>", "<NA>"]
        assert fields[7] == turn["speaker"].replace(" ", "_")
        assert re.fullmatch(r"\d+\.\d{3}", fields[3]) and re.fullmatch(r"\d+\.\d{3}", fields[4])
        onset, duration = float(fields[3]), float(fields[4])
        assert onset == pytest.approx(turn["start"], abs=5e-4)
        assert onset + duration == pytest.approx(turn["end"], abs=1e-3)


def test_rttm_refuses_names_that_collide_once_made_safe() -> None:
    result = sample_result()
    clash = Result(result.source, "en", ("Mary Ann", "Mary_Ann"), (SpeakerTurn(0, 1, "Mary Ann"),), ())
    with pytest.raises(OutputError, match="RTTM"):
        writers.get_writer("rttm").render(clash, "x", WriterOptions())


# --- subtitles -------------------------------------------------------------------------------------------


def _srt_and_vtt(result: Result, options: WriterOptions, tmp_path: Path) -> tuple[list[Any], list[Any]]:
    srt_path, vtt_path = write(result, ["srt", "vtt"], tmp_path, options)
    subs = list(srt.parse(srt_path.read_text(encoding="utf-8")))
    captions = list(webvtt.read(str(vtt_path)).captions)
    return subs, captions


def test_srt_and_vtt_parse_back_to_their_cues(tmp_path: Path) -> None:
    result = sample_result()
    options = WriterOptions()
    srt_cues = build_cues(result, options.subtitle, label_width=True)
    vtt_cues = build_cues(result, options.subtitle)
    subs, captions = _srt_and_vtt(result, options, tmp_path)
    assert len(subs) == len(srt_cues) and len(captions) == len(vtt_cues)
    for cue, sub in zip(srt_cues, subs, strict=True):
        assert sub.start.total_seconds() == pytest.approx(cue.start, abs=5e-4)
        assert sub.end.total_seconds() == pytest.approx(cue.end, abs=5e-4)
        assert re.sub(r"(^|\n)(- )?\[[^\]]+\] ?", r"\1\2", sub.content).replace("- ", "").split() == cue.text.split()
    for cue, cap in zip(vtt_cues, captions, strict=True):
        assert cap.start == srt.timedelta_to_srt_timestamp(srt.timedelta(seconds=round(cue.start, 3))).replace(",", ".")
        assert html.unescape(cap.text).replace("- ", "").split() == cue.text.split()
    by_text = {html.unescape(c.text): c for c in captions}
    assert (
        by_text["- Grüße aus 東京!\n- Thanks."].raw_text
        == "<v Mary Ann>- Grüße aus 東京!</v>\n<v SPEAKER_00>- Thanks.</v>"
    )
    escaped = next(c for c in captions if "draft" in c.raw_text)
    assert escaped.voice == "Mary Ann"
    assert "&amp;" in escaped.raw_text and "&lt;draft&gt;" in escaped.raw_text and "<draft>" not in escaped.raw_text


def test_vtt_lines_are_measured_without_the_srt_prefix(tmp_path: Path) -> None:
    result = sample_result()
    subs, captions = _srt_and_vtt(result, WriterOptions(), tmp_path)
    assert "So the plan is that we ship the first\nversion in March, then collect feedback." in [
        html.unescape(c.text) for c in captions
    ]
    assert any(s.content == "[SPEAKER_00] So the plan is\nthat we ship the first version in March," for s in subs)


def test_every_vtt_cue_carries_voice_tags_for_named_speakers(tmp_path: Path) -> None:
    _, captions = _srt_and_vtt(long_result(11, 300), WriterOptions(), tmp_path)
    for cap in captions:
        tags = re.findall(r"<v ([^>]+)>", cap.raw_text)
        if cap.voice is None:
            assert not tags and not cap.raw_text.startswith("- ")
        else:
            assert 1 <= len(tags) <= 2 and cap.raw_text.count("</v>") == len(tags)


def _speaker_line_count(content: str) -> int:
    return sum(1 for line in content.split("\n") if re.match(r"^(- )?\[[^\]]+\]( |$)", line))


def _check_srt_cues(result: Result, cues: tuple[Any, ...], subs: list[Any], options: SubtitleOptions) -> None:
    media_end = result.duration
    previous: str | None = None
    for i, (cue, sub) in enumerate(zip(cues, subs, strict=True)):
        lines = sub.content.split("\n")
        assert len(lines) <= options.max_lines
        assert all(len(line) <= options.max_line_chars for line in lines), lines
        duration = cue.end - cue.start
        assert 0 < duration <= options.max_duration + 1e-9
        nxt = cues[i + 1] if i + 1 < len(cues) else None
        if duration < options.min_duration - 1e-9:  # only when the next cue or the media end stops it
            assert (nxt is not None and cue.end >= nxt.start - 0.08 - 1e-6) or cue.end >= media_end - 1e-9
        if nxt is not None:
            assert nxt.start >= cue.end + 0.08 - 1e-6  # never overlapping, at least the least gap apart
        speakers = {p.speaker for p in cue.parts}
        if len(cue.parts) == 2:  # a two-speaker cue: both named, one dash line each
            assert all(line.startswith("- [") for line in lines) and len(lines) == 2
            assert cue.parts[0].speaker != cue.parts[1].speaker and None not in speakers
        else:  # the speaker is named where it changes
            named = cue.parts[0].speaker is not None and cue.parts[0].speaker != previous
            assert _speaker_line_count(sub.content) == named
        previous = cue.parts[-1].speaker


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "options",
    [SubtitleOptions(), SubtitleOptions(max_line_chars=32, max_lines=3), SubtitleOptions(max_lines=1)],
    ids=["broadcast", "32x3", "one-line"],
)
def test_subtitle_line_rules_hold_on_every_cue(seed: int, options: SubtitleOptions, tmp_path: Path) -> None:
    result = long_result(seed)
    srt_cues = build_cues(result, options, label_width=True)
    vtt_cues = build_cues(result, options)
    subs, captions = _srt_and_vtt(result, WriterOptions(subtitle=options), tmp_path)
    assert len(subs) == len(srt_cues) > 20 and len(captions) == len(vtt_cues)
    _check_srt_cues(result, srt_cues, subs, options)
    for cap in captions:
        lines = html.unescape(cap.text).split("\n")
        assert len(lines) <= options.max_lines and all(len(line) <= options.max_line_chars for line in lines)
    # no word is lost or repeated: each speaker's cue text is its words, in order
    for cues in (srt_cues, vtt_cues):
        for speaker in (*result.speakers, None):
            said = join_words(w for w in result.words if w.speaker == speaker)
            shown = " ".join(line for c in cues for p in c.parts if p.speaker == speaker for line in p.lines)
            assert shown.split() == said.split()


def test_short_cue_extends_into_silence_but_not_into_the_next_cue() -> None:
    result = sample_result()
    cues = build_cues(result, SubtitleOptions())
    hmm = next(c for c in cues if c.parts[0].lines == ("Hmm.",))
    assert (hmm.start, hmm.end) == (12.0, pytest.approx(12.0 + 5 / 6))  # 0.5 s of speech, extended
    blocked = build_cues(result, SubtitleOptions(min_duration=3.0))
    hmm = next(c for c in blocked if c.parts[0].lines == ("Hmm.",))
    assert hmm.end == pytest.approx(13.0 - 0.08)  # the next cue starts at 13.0, less the least gap


def test_dialogue_cues_can_be_turned_off() -> None:
    cues = build_cues(sample_result(), SubtitleOptions(dialogue=False))
    assert all(len(c.parts) == 1 for c in cues)
    assert len([c for c in build_cues(sample_result()) if len(c.parts) == 2]) == 2


# --- text outputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "expected"),
    [(1.0, "01:01:02"), (0.5, "01:01:02.5"), (0.1, "01:01:02.7"), (0.01, "01:01:02.79")],
)
def test_clock_granularity(step: float, expected: str) -> None:
    assert format_clock(3662.799, step) == expected
    assert format_clock(0.3, 1.0) == "00:00:00"
    assert format_clock(0.3, 0.01) == "00:00:00.30"  # 0.3 * 100 is 29.999…: no off-by-one


def test_text_options_reject_other_granularities() -> None:
    with pytest.raises(ConfigError, match="0.01, 0.1, 0.5, 1"):
        TextOptions(timestamp_step=0.25)


def test_markdown_lists_talk_time_and_share() -> None:
    text = writers.get_writer("md").render(sample_result(), "meeting", WriterOptions()).decode()
    rows = re.findall(r"^\| (.+?) \| (\d\d:\d\d:\d\d) \| ([\d.]+) % \|$", text, flags=re.M)
    assert rows == [
        ("SPEAKER_00", "00:00:11", "63.4"),
        ("Mary Ann", "00:00:06", "33.1"),
        ("SPEAKER_02", "00:00:01", "3.5"),
    ]
    assert sum(float(r[2]) for r in rows) == pytest.approx(100, abs=0.2)
    assert writers.text.talk_times(sample_result())["SPEAKER_00"] == pytest.approx(2.9 + 1.0 + 0.8 + 6.2)


# --- the registry and files ------------------------------------------------------------------------------


def test_all_expands_to_every_format_and_names_follow_the_contract(tmp_path: Path) -> None:
    paths = write(sample_result(), "all", tmp_path)
    assert [p.name for p in paths] == [
        "meeting.json",
        "meeting.rttm",
        "meeting.srt",
        "meeting.vtt",
        "meeting.ass",
        "meeting.txt",
        "meeting.md",
        "meeting.words.csv",
        "meeting.words.parquet",
        "meeting.html",
        "meeting.timeline.png",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)  # no temp files left


def test_resolve_formats_normalises() -> None:
    assert writers.resolve_formats(" JSON, srt,json ") == ("json", "srt")
    assert writers.resolve_formats(["vtt", "rttm,txt"]) == ("vtt", "rttm", "txt")
    assert writers.resolve_formats(["srt", "all"])[:2] == ("srt", "json")
    with pytest.raises(ConfigError, match="no output format"):
        writers.resolve_formats(" , ")


def test_unknown_format_raises_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as info:
        write(sample_result(), ["json", "docx", "srt"], out)
    message = str(info.value)
    assert "'docx'" in message and "json" in message and "parquet" in message and "\n" not in message
    assert not out.exists()
    with pytest.raises(ConfigError):
        writers.get_writer("docx")


def test_unwritable_output_folder_raises_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        write(sample_result(), "json,srt", blocker / "out")
    assert str(blocker) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(OutputError, match="not a folder"):
        write(sample_result(), "json", blocker)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user")
def test_read_only_folder_raises_output_error(tmp_path: Path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="not writable"):
            write(sample_result(), "json", out)
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o700)


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "meeting.json"
    target.write_text("old complete file")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match="No space left"):
        write(sample_result(), "json", tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["meeting.json"]
    assert target.read_text() == "old complete file"


def test_atomic_write_replaces_and_keeps_usual_permissions(tmp_path: Path) -> None:
    path = writers.atomic_write(tmp_path / "a.txt", b"one")
    writers.atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_registry_is_open_for_new_formats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("diarize.writers.base._REGISTRY", dict(_REGISTRY))

    @register_writer
    class Shout(TextWriter):
        format = "shout"
        suffix = ".shout.txt"

        def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
            return result.segments[0].text.upper()

    assert writers.available_formats()[-1] == "shout"
    (path,) = write(sample_result(), "shout", tmp_path)
    assert path.name == "meeting.shout.txt" and path.read_text() == "HELLO EVERYONE, WELCOME TO THE MEETING."
    assert "shout" in writers.resolve_formats("all")


def test_bad_stem_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        write(sample_result(), "json", tmp_path, stem="../evil")


# --- speaker names ---------------------------------------------------------------------------------------


def test_rename_speakers_everywhere_without_touching_the_input() -> None:
    result = sample_result()
    before = json.dumps(result.to_dict())
    renamed = rename_speakers(result, parse_speaker_names("SPEAKER_00=Alice, SPEAKER_02 = Bob Lee"))
    assert json.dumps(result.to_dict()) == before
    assert renamed.speakers == ("Alice", "Mary Ann", "Bob Lee")
    assert {t.speaker for t in renamed.turns} == {"Alice", "Mary Ann", "Bob Lee"}
    assert [s.speaker for s in renamed.segments][:3] == ["Alice", "Mary Ann", "Alice"]
    assert all(w.speaker == s.speaker for s in renamed.segments for w in s.words)
    assert renamed.provenance.to_dict()["speaker_names"] == {"SPEAKER_00": "Alice", "SPEAKER_02": "Bob Lee"}
    srt_text = writers.get_writer("srt").render(renamed, "m", WriterOptions()).decode()
    assert "[Alice] Hello" in srt_text and "SPEAKER_00" not in srt_text


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"SPEAKER_09": "Zed"}, "unknown speaker label 'SPEAKER_09'; the speakers are SPEAKER_00, Mary Ann"),
        ({"SPEAKER_00": "Mary Ann"}, "both be called 'Mary Ann'"),
        ({"SPEAKER_00": "X", "SPEAKER_02": "X"}, "both be called 'X'"),
        ({"SPEAKER_00": "bad\nname"}, "invalid name"),
    ],
)
def test_rename_speakers_validates(mapping: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        rename_speakers(sample_result(), mapping)


@pytest.mark.parametrize("spec", ["SPEAKER_00", "=Alice", "SPEAKER_00=", "A=x,A=y"])
def test_parse_speaker_names_rejects_malformed_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_speaker_names(spec)


def test_csv_is_utf8_and_has_empty_speaker_for_unknown(tmp_path: Path) -> None:
    (path,) = write(sample_result(), "csv", tmp_path)
    frame = pd.read_csv(io.BytesIO(path.read_bytes()), encoding="utf-8")
    assert "東京!" in frame["word"].tolist()
    assert frame.loc[frame["word"] == "Hmm.", "speaker"].isna().all()


def test_attributed_transcript_feeds_every_writer(tmp_path: Path) -> None:
    from diarize.assign import attribute
    from diarize.types import Diarization, Transcript

    words = tuple(
        Word(s, e, t, 0.9)
        for s, e, t in [(0.0, 0.4, " Guten"), (0.4, 0.9, " Tag."), (0.95, 1.3, " Hi"), (1.5, 2.0, " there.")]
    )
    transcript = Transcript((Segment(0.0, 2.0, "Guten Tag. Hi there.", words),), "de")
    aware = (SpeakerTurn(0.0, 1.2, "SPEAKER_00"), SpeakerTurn(0.9, 2.1, "SPEAKER_01"))
    exclusive = (SpeakerTurn(0.0, 0.95, "SPEAKER_00"), SpeakerTurn(0.95, 2.1, "SPEAKER_01"))
    attribution = attribute(transcript, Diarization(aware, exclusive, ("SPEAKER_00", "SPEAKER_01")))
    result = Result(
        MediaInfo("in/talk.mp3", 3.0, 44100, 2, "mp3", "mp3"),
        "de",
        ("SPEAKER_00", "SPEAKER_01"),
        aware,
        attribution.segments,
    )
    result = rename_speakers(result, {"SPEAKER_01": "Mary Ann"})
    paths = write(result, "all", tmp_path)
    assert paths[0].name == "talk.json"
    frame = pd.read_csv(tmp_path / "talk.words.csv")
    assert frame["speaker"].tolist() == ["SPEAKER_00", "SPEAKER_00", "Mary Ann", "Mary Ann"]
    assert frame["overlap"].tolist() == [False, False, True, False]  # "Hi": 0.25 of its 0.35 s in 0.9-1.2
    assert "Mary Ann [00:00:00]: Hi there." in (tmp_path / "talk.txt").read_text(encoding="utf-8")
    assert "SPEAKER talk 1 0.900 1.200 <NA> <NA> Mary_Ann <NA> <NA>" in (tmp_path / "talk.rttm").read_text()


# --- one rule for talk times, JSON times and records, embeddings beside the JSON, words and paragraphs ------


def _one_speaker(talk: float) -> Result:
    words = tuple(Word(0.2 + 0.5 * i, 0.6 + 0.5 * i, f"w{i}", 0.9, "SPEAKER_00") for i in range(3))
    return Result(
        source=MediaInfo("/data/talk.wav", 30.0, 16000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=("SPEAKER_00",),
        turns=(SpeakerTurn(0.0, talk, "SPEAKER_00"),),
        segments=(Segment(0.2, 1.6, join_words(words), words, "SPEAKER_00"),),
    )


def test_every_output_rounds_a_talk_time_the_same_way():
    from diarize.cli.summary import summary_lines
    from diarize.talk import talk_clock, talk_seconds
    from diarize.writers.html import viewer_data
    from diarize.writers.timeline import timeline_figure

    result = _one_speaker(11.69)
    assert talk_seconds(11.69) == 12 and talk_seconds(11.49) == 11 and talk_clock(11.69) == "0:12"
    markdown = render(result, "md")[0][1].decode()
    assert "| SPEAKER_00 | 00:00:12 | 100.0 % |" in markdown
    figure = timeline_figure(result)
    assert any(t.get_text().startswith("0:12 ") for t in figure.axes[0].texts)
    assert viewer_data(result)["speakers"][0]["talk_clock"] == "0:12"
    lines = summary_lines("talk.wav", result, [], stem="talk", elapsed=3.0)
    assert lines[0].startswith("talk.wav: 1 speaker, 3 words;") and "0:12" in lines[1]


def test_json_times_are_rounded_to_the_millisecond_and_speakers_are_records():
    words = (Word(0.7565937500000001, 1.1000000000000003, " hi", 0.9, "SPEAKER_00"),)
    result = dataclasses.replace(
        _one_speaker(2.0004), segments=(Segment(0.7565937500000001, 1.1000000000000003, "hi", words, "SPEAKER_00"),)
    )
    data = json.loads(result_to_json(result))
    assert data["segments"][0]["start"] == 0.757 and data["segments"][0]["words"][0]["end"] == 1.1
    assert data["segments"][0]["words"][0]["word"] == "hi"
    assert data["speakers"] == [{"label": "SPEAKER_00", "name": None, "talk_time": 2.0, "share": 1.0, "turns": 1,
                                 "first": 0.0, "last": 2.0}]
    back = Result.from_dict(data)
    assert back.speakers == ("SPEAKER_00",) and back.to_dict() == data
    old = {**data, "speakers": ["SPEAKER_00"]}  # files written before speakers were records
    assert Result.from_dict(old).speakers == ("SPEAKER_00",)


def test_the_json_schema_describes_speaker_records():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(json.loads(result_to_json(rename_speakers(sample_result(), {"SPEAKER_02": "Bo"}))),
                        RESULT_SCHEMA)


def test_embeddings_go_beside_the_json_unless_asked_for_inside(tmp_path):
    from diarize.writers.options import JsonOptions

    vector = np.linspace(-1, 1, 192, dtype=np.float32)
    result = dataclasses.replace(_one_speaker(2.0), embeddings={"SPEAKER_00": vector})
    written = write(result, "json", tmp_path)
    assert [p.name for p in written] == ["talk.json", "talk.speakers.npz"]
    assert "embeddings" not in json.loads((tmp_path / "talk.json").read_text())
    back = Result.from_json(tmp_path / "talk.json")
    assert np.array_equal(back.embeddings["SPEAKER_00"], vector)
    inside = write(result, "json", tmp_path / "inside", WriterOptions(json=JsonOptions(embeddings_in_json=True)))
    assert [p.name for p in inside] == ["talk.json"]
    assert len(json.loads(inside[0].read_text())["embeddings"]["SPEAKER_00"]) == 192


def test_words_hold_no_blanks_and_join_words_restores_the_text():
    from diarize.text import plural

    word = Word(0.0, 0.5, " Hello", 0.9)
    assert word.text == "Hello" and Word.from_dict(word.to_dict()).text == "Hello"
    words = [word, Word(0.5, 1.0, "world.", 0.9)]
    assert join_words(words) == "Hello world."
    assert join_words([Word(0, 1, "東京", 1.0), Word(1, 2, "です", 1.0)], "ja") == "東京です"
    assert [plural(n, "speaker") for n in (0, 1, 2)] == ["0 speakers", "1 speaker", "2 speakers"]


def _talk(sentences: list[tuple[float, float]]) -> Result:
    segments = []
    for i, (start, end) in enumerate(sentences):
        words = (Word(start, end, f"s{i}.", 0.9, "SPEAKER_00"),)
        segments.append(Segment(start, end, f"s{i}.", words, "SPEAKER_00"))
    return Result(
        source=MediaInfo("/data/long.wav", 200.0, 16000, 1, "pcm_s16le", "wav"), language="en",
        speakers=("SPEAKER_00",), turns=(SpeakerTurn(0.0, 200.0, "SPEAKER_00"),), segments=tuple(segments),
    )


def test_markdown_paragraphs_end_at_a_long_pause_and_after_about_a_minute():
    from diarize.writers.text import paragraphs

    # one speaker: sentences every 10 s for 100 s, then a 5 s pause
    result = _talk([(10.0 * i, 10.0 * i + 9.0) for i in range(10)] + [(104.0, 110.0)])
    starts = [start for _, start, _ in paragraphs(result)]
    assert starts == [0.0, 60.0, 104.0]
    markdown = render(result, "md")[0][1].decode()
    assert markdown.count("**SPEAKER_00**") == 3


@pytest.mark.parametrize(("flag", "expected"), [
    ("turn", "SPEAKER_00 [00:01:04]: s0. s1."),
    ("10s", "SPEAKER_00 [00:01:00]: s0. s1."),
    ("0.5s", "SPEAKER_00 [00:01:04.5]: s0. s1."),
    ("sentence", "SPEAKER_00: [00:01:04] s0. [00:01:07] s1."),
])
def test_timestamps_flag_sets_where_times_go_and_their_step(flag, expected):
    result = _talk([(64.7, 66.0), (67.2, 68.0)])
    options = WriterOptions(text=TextOptions.from_flag(flag))
    assert render(result, "txt", options=options)[0][1].decode().strip() == expected


def test_an_unknown_timestamps_value_names_the_allowed_ones():
    with pytest.raises(ConfigError, match="sentence, turn, 0.5s, 1s, 10s"):
        TextOptions.from_flag("2s")
