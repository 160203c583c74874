"""Strict building of option dataclasses from YAML-like mappings, and the one check of allowed choices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from diarize.asr.options import AsrOptions
from diarize.config import load_pipeline
from diarize.errors import ConfigError
from diarize.speakers.options import SpeakerOptions
from diarize.strict import check_choice, choices_of, options_from_dict, options_to_dict
from diarize.vad import VadOptions


@dataclass(frozen=True)
class Inner:
    threshold: float = 0.5
    method: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    count: int | None = None
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    opts = options_from_dict(Outer, {"count": 3, "sizes": [4, 5], "inner": {"threshold": 1}})
    assert opts == Outer(count=3, sizes=(4, 5), inner=Inner(threshold=1.0))
    assert isinstance(opts.inner.threshold, float)


def test_round_trip_through_plain_data():
    opts = Outer(name="y", count=None, flag=True, inner=Inner(method="b"))
    assert options_from_dict(Outer, options_to_dict(opts)) == opts


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, r"Outer: unknown key\(s\) 'colour'; valid keys are count, flag, inner, name, sizes"),
        ({"inner": {"treshold": 1}}, r"inner: unknown key\(s\) 'treshold'"),
        ({"count": "three"}, r"count: expected an integer, got 'three'"),
        ({"flag": "yes"}, r"flag: expected true or false"),
        ({"inner": {"method": "c"}}, r"inner.method: 'c' is not one of 'a', 'b'"),
        ({"sizes": 3}, r"sizes: expected a list"),
        ([1, 2], r"expected a mapping"),
    ],
)
def test_invalid_input_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        options_from_dict(Outer, data)


def test_check_choice_takes_a_literal_or_a_tuple():
    check_choice("inner.method", "a", Literal["a", "b"])
    check_choice("vad.frame_ms", 20, (10, 20, 30))
    assert choices_of(Literal["a", "b"]) == ("a", "b")
    with pytest.raises(ConfigError, match=r"^inner.method: 'c' is not one of 'a', 'b'$"):
        check_choice("inner.method", "c", Literal["a", "b"])
    with pytest.raises(ConfigError, match=r"^vad.frame_ms: 25 is not one of 10, 20, 30$"):
        check_choice("vad.frame_ms", 25, (10, 20, 30))


def test_stage_options_name_the_bad_choice():
    with pytest.raises(ConfigError, match=r"^asr.backend: 'whisperx' is not one of 'faster', 'openai'$"):
        AsrOptions(backend="whisperx")
    with pytest.raises(ConfigError, match=r"^vad.aggressiveness: 4 is not one of 0, 1, 2, 3$"):
        VadOptions(aggressiveness=4)
    with pytest.raises(ConfigError, match=r"^speakers.linkage: 'upgma' is not one of 'average', "):
        SpeakerOptions(linkage="upgma")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speakers: {clustering: kmeans}", r"bad.yaml.speakers.clustering: 'kmeans' is not one of 'auto', "),
        ("speakers: {min_speakers: 3, max_speakers: 2}", r"bad.yaml.speakers: min_speakers \(3\) is larger"),
        ("asr: {compute_type: float16}", r"bad.yaml.asr.compute_type: 'float16' is not one of 'int8', 'float32'"),
        ("asr: {task: summarise}", r"bad.yaml.asr.task: 'summarise' is not one of 'transcribe', 'translate'"),
        ("asr: {model_size: tiny.en, task: translate}", r"tiny.en is English-only and cannot translate"),
        ("asr: {model_size: ''}", r"asr.model_size must be tiny.en or base, a model directory"),
    ],
)
def test_a_pipeline_file_with_a_bad_value_names_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_pipeline(path)


def test_a_pipeline_file_sets_the_model_task_and_vocabulary(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "asr: {model_size: /models/whisper-small-ct2, task: translate, hotwords: 'Claflin, Abbie',"
        " initial_prompt: Design meeting.}\n",
        encoding="utf-8",
    )
    asr = load_pipeline(path).asr
    assert (asr.model_size, asr.task, asr.hotwords, asr.initial_prompt) == (
        "/models/whisper-small-ct2", "translate", "Claflin, Abbie", "Design meeting.")
