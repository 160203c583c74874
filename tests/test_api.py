"""The public API (``import diarize``), the Result helpers, the shipped data files and the installed package."""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import diarize
from diarize.errors import ConfigError, InputError
from diarize.types import SCHEMA, MediaInfo, Result, Segment, SpeakerTurn, Word
from diarize.writers import SubtitleOptions
from diarize.writers.subtitles import with_subtitle_stats

ROOT = Path(__file__).resolve().parent.parent


def _result(path: str = "/in/talk.wav") -> Result:
    hello = (Word(0.5, 0.9, " Hello", 0.9, "SPEAKER_00"), Word(1.0, 1.4, " there.", 0.8, "SPEAKER_00"))
    reply = (Word(2.0, 2.3, " Hi", 0.7, "SPEAKER_01", overlap=True), Word(2.4, 2.9, " Ana.", 0.95, None))
    return Result(
        source=MediaInfo(path, 4.0, 16000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=("SPEAKER_00", "SPEAKER_01"),
        turns=(SpeakerTurn(0.4, 2.1, "SPEAKER_00"), SpeakerTurn(1.9, 3.0, "SPEAKER_01")),
        segments=(
            Segment(0.5, 1.4, " Hello there.", hello, "SPEAKER_00"),
            Segment(2.0, 2.9, " Hi Ana.", reply, "SPEAKER_01"),
        ),
    )


# --- the module ----------------------------------------------------------------------------------------


def test_import_is_cheap():
    code = "import sys, diarize; print(sorted(m for m in ('torch', 'numpy', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves_with_a_real_signature():
    for name in diarize.__all__:
        assert getattr(diarize, name) is not None, name
    assert diarize.Result is Result and diarize.DiarizeError is diarize.errors.DiarizeError
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = diarize.no_such_name
    for function in (diarize.transcribe, diarize.load_pipeline, diarize.load_audio):
        kinds = {p.kind for p in inspect.signature(function).parameters.values()}
        assert not kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}, function
        assert function.__doc__


def test_transcribe_applies_hints_like_the_command_line(monkeypatch):
    import diarize.pipeline

    calls = []
    monkeypatch.setattr(diarize.pipeline, "run", lambda media, config, **kw: calls.append((media, config, kw)))
    diarize.transcribe("a.wav", num_speakers=3, language="de")
    media, config, kw = calls[-1]
    expected = diarize.load_pipeline("meeting").with_hints(num_speakers=3, language="de")
    assert media == "a.wav" and config == expected
    assert (config.speakers.num_speakers, config.asr.language) == (3, "de")
    assert kw == {"models": None, "hook": None}

    archive = diarize.load_pipeline("archive")
    diarize.transcribe("b.wav", archive, min_speakers=2, max_speakers=4)
    config = calls[-1][1]
    assert config.name == "archive" and (config.speakers.min_speakers, config.speakers.max_speakers) == (2, 4)
    diarize.transcribe("c.wav", ROOT / "pipelines" / "subtitles.yaml")
    assert calls[-1][1] == diarize.load_pipeline("subtitles")

    with pytest.raises(ConfigError, match="min_speakers"):
        diarize.transcribe("d.wav", min_speakers=5, max_speakers=2)
    with pytest.raises(ConfigError, match="unknown pipeline"):
        diarize.transcribe("e.wav", "no-such-pipeline")


# --- Result helpers ------------------------------------------------------------------------------------


def test_result_words_are_every_word_in_order():
    result = _result()
    assert [w.text for w in result.words] == ["Hello", "there.", "Hi", "Ana."]  # no leading blanks
    assert result.words == tuple(w for s in result.segments for w in s.words)


def test_to_frame_is_the_word_table():
    from diarize.writers.tables import WORD_COLUMNS

    frame = _result().to_frame()
    assert list(frame.columns) == list(WORD_COLUMNS)
    assert frame["word"].tolist() == ["Hello", "there.", "Hi", "Ana."]
    assert frame["segment"].tolist() == [0, 0, 1, 1]
    assert frame["speaker"].tolist()[:3] == ["SPEAKER_00", "SPEAKER_00", "SPEAKER_01"]
    assert frame["speaker"].isna().tolist() == [False, False, False, True]
    assert frame["overlap"].tolist() == [False, False, True, False]
    empty = Result(_result().source, "en", (), (), ()).to_frame()
    assert len(empty) == 0 and list(empty.columns) == list(WORD_COLUMNS)


def test_to_annotation_holds_the_turns():
    annotation = _result().to_annotation()
    assert annotation.uri == "talk"
    assert sorted(annotation.labels()) == ["SPEAKER_00", "SPEAKER_01"]
    assert annotation.label_duration("SPEAKER_00") == pytest.approx(1.7)
    assert annotation.label_duration("SPEAKER_01") == pytest.approx(1.1)
    assert len(annotation.get_overlap()) == 1  # 1.9-2.1 s: both speakers


def test_write_and_from_json_round_trip(tmp_path):
    result = _result()
    written = result.write(tmp_path / "out", formats=("json", "srt"))
    assert [p.name for p in written] == ["talk.json", "talk.srt"]
    back = Result.from_json(written[0])
    subtitles = back.provenance.extra["subtitles"]  # the JSON also counts the rules the SRT beside it keeps
    assert subtitles["formats"]["srt"]["cues"] > 0 and set(subtitles["formats"]) == {"srt"}
    assert back.to_dict() == with_subtitle_stats(result, ["srt"], SubtitleOptions()).to_dict()
    assert back.words == result.words and back.turns == result.turns


@pytest.mark.parametrize(
    ("content", "problem"),
    [(None, "no such file"), ("{not json", "not valid JSON"), ("[1, 2]", "not a diarize result"),
     (json.dumps({"schema": "other/9"}), "not a diarize"), (json.dumps({"schema": SCHEMA}), "not a diarize")],
)
def test_from_json_names_the_file_it_cannot_read(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=problem) as caught:
        Result.from_json(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


# --- data/ ---------------------------------------------------------------------------------------------


def test_sample_recording_and_its_reference():
    import soundfile as sf

    from diarize.eval.io import load_rttm, load_uem
    from diarize.models.registry import SAMPLE_ID, sample_path

    info = sf.info(str(sample_path()))
    assert (info.samplerate, info.channels, info.duration) == (16000, 1, pytest.approx(30.0))
    turns = load_rttm(sample_path(".rttm"))[SAMPLE_ID]
    assert {t.speaker for t in turns} == {"speaker90", "speaker91"}
    (region,) = load_uem(sample_path(".uem"))[SAMPLE_ID]
    assert (region.start, region.end) == (0.0, pytest.approx(info.duration))
    assert max(t.end for t in turns) <= region.end
    assert "MIT" in (sample_path().parent / "README.md").read_text(encoding="utf-8")


def test_result_schema_is_the_data_file():
    from diarize.writers.schema import RESULT_SCHEMA, schema_path

    assert schema_path() == ROOT / "data" / "result.schema.json"
    assert RESULT_SCHEMA["properties"]["schema"] == {"const": SCHEMA}
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_result().to_dict(), RESULT_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**_result().to_dict(), "schema": "diarize/0"}, RESULT_SCHEMA)


def test_voice_thresholds_are_the_calibration_table():
    from diarize.voices.naming import CALIBRATION, DEFAULT_THRESHOLDS

    table = json.loads((ROOT / "data" / "voice_thresholds.json").read_text(encoding="utf-8"))["models"]
    assert DEFAULT_THRESHOLDS == {model: entry["threshold"] for model, entry in table.items()} == {
        "campplus": 0.45, "ge2e": 0.88}
    for entry in CALIBRATION.values():  # the rule the thresholds follow: above every impostor trial
        assert entry["impostors"]["max"] < entry["threshold"]


# --- real runs -----------------------------------------------------------------------------------------


def _readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md's Python API section has no python code block"
    return match.group(1)


def test_readme_has_the_python_example():
    code = _readme_example()
    assert "diarize.transcribe(" in code and ".write(" in code
    compile(code, "README.md", "exec")


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    exec(compile(_readme_example(), "README.md", "exec"), {"__name__": "__readme__"})
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(re.match(r"SPEAKER_0[01]: \S", line) for line in lines), lines
    assert {line.split(":")[0] for line in lines} == {"SPEAKER_00", "SPEAKER_01"}
    result = Result.from_json(tmp_path / "out" / "sample.json")
    assert len(result.speakers) == 2 and len(result.words) > 40
    assert (tmp_path / "out" / "sample.srt").read_text(encoding="utf-8").startswith("1\n")


@pytest.mark.slow
def test_installed_wheel_finds_its_data_and_runs_the_demo(tmp_path):
    """A non-editable install: the wheel alone must carry the sample, the schema and the pipelines."""
    source, wheels, target = tmp_path / "source", tmp_path / "wheels", tmp_path / "site"
    # Built from a copy: an in-tree build would leave build/ behind, whose stale modules enter later wheels.
    for name in ("diarize", "pipelines", "data"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(source)], check=True, capture_output=True, cwd=source)
    (wheel,) = wheels.glob("diarize-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    # The target comes first on sys.path; the venv's site-packages (dependencies) after the standard library, as
    # usual. The editable install's finder is only consulted after the path, so the source tree cannot serve.
    env = {**os.environ, "PYTHONPATH": str(target)}
    check = (
        "import diarize, json\n"
        "from diarize.config import available_pipelines, load_pipeline\n"
        "from diarize.writers import RESULT_SCHEMA\n"
        "from diarize.voices.naming import DEFAULT_THRESHOLDS\n"
        "print(json.dumps({'module': diarize.__file__, 'sample': str(diarize.sample_path()),\n"
        "    'files': [diarize.sample_path(s).is_file() for s in ('.wav', '.rttm', '.uem')],\n"
        "    'schema': RESULT_SCHEMA['title'], 'pipelines': [load_pipeline(n).name for n in available_pipelines()],\n"
        "    'thresholds': dict(DEFAULT_THRESHOLDS)}))\n"
    )
    run = subprocess.run([sys.executable, "-c", check], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert Path(found["module"]).is_relative_to(target) and Path(found["sample"]).is_relative_to(target)
    assert found["files"] == [True, True, True] and found["schema"] == "diarize result"
    assert found["pipelines"] == ["archive", "meeting", "subtitles"]
    assert found["thresholds"] == {"campplus": 0.45, "ge2e": 0.88}

    demo = subprocess.run([sys.executable, "-m", "diarize", "demo", "-o", "demo", "-f", "json"], env=env,
                          cwd=tmp_path, capture_output=True, text=True)
    assert demo.returncode == 0, demo.stderr
    match = re.search(r"DER (\d+\.\d+) % against sample\.rttm \(collar 0\)", demo.stdout)
    assert match, demo.stdout
    assert float(match.group(1)) < 8.0
    assert json.loads((tmp_path / "demo" / "sample.json").read_text())["source"]["path"].startswith(str(target))
