"""The ``diarize`` command end to end on real audio, and its behaviour on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from diarize.cli import cli
from diarize.types import Result
from diarize.writers import RESULT_SCHEMA

ALL_SUFFIXES = (".json", ".rttm", ".srt", ".vtt", ".txt", ".md", ".words.csv", ".words.parquet")

# Measured on simconv_en_text.wav with the meeting pipeline: cpWER 14.8 % (3 of 4 speakers found), WER 0 %.
CPWER_BOUND = 0.20


def invoke(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def simconv_run(shared_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("simconv")
    code, stdout, stderr = invoke("run", str(shared_data / "meetings/simconv_en_text.wav"), "-o", str(out), "-f", "all")
    assert code == 0, stderr
    assert "simconv_en_text" in stdout
    return out


@pytest.mark.slow
def test_every_format_is_written(simconv_run):
    for suffix in ALL_SUFFIXES:
        path = simconv_run / f"simconv_en_text{suffix}"
        assert path.is_file() and path.stat().st_size > 0, suffix
    leftovers = [p.name for p in simconv_run.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


@pytest.mark.slow
def test_json_validates_and_every_word_has_a_speaker(simconv_run):
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads((simconv_run / "simconv_en_text.json").read_text())
    jsonschema.validate(data, RESULT_SCHEMA)
    result = Result.from_dict(data)
    assert result.words, "no words transcribed"
    assert all(w.speaker in result.speakers for w in result.words)
    assert len(result.speakers) >= 3
    assert [t.speaker for t in result.turns][0] == "SPEAKER_00"
    firsts = {}
    for turn in result.turns:
        firsts.setdefault(turn.speaker, turn.start)
    assert list(firsts) == sorted(firsts, key=firsts.get) == list(result.speakers)


@pytest.mark.slow
def test_rttm_equals_json_turns(simconv_run):
    data = json.loads((simconv_run / "simconv_en_text.json").read_text())
    lines = (simconv_run / "simconv_en_text.rttm").read_text().splitlines()
    assert len(lines) == len(data["turns"])
    for line, turn in zip(lines, data["turns"], strict=True):
        f = line.split()
        assert f[0] == "SPEAKER" and f[1] == "simconv_en_text" and f[7] == turn["speaker"]
        assert float(f[3]) == pytest.approx(turn["start"], abs=1e-3)
        assert float(f[3]) + float(f[4]) == pytest.approx(turn["end"], abs=1e-3)


@pytest.mark.slow
def test_speaker_attributed_cpwer(shared_data, simconv_run):
    from diarize.evaluate import evaluate_files

    meetings = shared_data / "meetings"
    report = evaluate_files(
        meetings / "simconv_en_text.rttm",
        [simconv_run / "simconv_en_text.json"],
        uem=meetings / "simconv_en_text.uem",
        seglst=meetings / "simconv_en_text.seglst.json",
    )
    scores = report.total
    assert scores.cpwer is not None and scores.wer is not None
    assert scores.cpwer.wer < CPWER_BOUND, f"cpWER {scores.cpwer.wer:.3f}"
    assert scores.wer.wer < 0.12, f"WER {scores.wer.wer:.3f}"


@pytest.mark.slow
def test_subtitles_parse_back(simconv_run):
    srt = pytest.importorskip("srt")
    webvtt = pytest.importorskip("webvtt")
    srt_cues = list(srt.parse((simconv_run / "simconv_en_text.srt").read_text()))
    vtt_cues = list(webvtt.read(str(simconv_run / "simconv_en_text.vtt")))
    assert len(srt_cues) == len(vtt_cues) > 3
    for a, b in zip(srt_cues, vtt_cues, strict=True):
        assert a.start.total_seconds() == pytest.approx(_vtt_seconds(b.start), abs=1e-3)
        assert a.end.total_seconds() == pytest.approx(_vtt_seconds(b.end), abs=1e-3)
        lines = a.content.splitlines()
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines), lines
        assert 0 < (a.end - a.start).total_seconds() <= 7.0 + 1e-6
        assert "<v " in b.raw_text


def _vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.slow
def test_speaker_names_rename_every_output(shared_data, tmp_path):
    code, _, stderr = invoke(
        "run", str(shared_data / "speech/jfk.flac"), "-o", str(tmp_path), "-f", "json,srt,txt",
        "--pipeline", "archive", "--speaker-names", "SPEAKER_00=John F. Kennedy",
    )
    assert code == 0, stderr
    data = json.loads((tmp_path / "jfk.json").read_text())
    assert data["speakers"] == ["John F. Kennedy"]
    assert "[John F. Kennedy]" in (tmp_path / "jfk.srt").read_text()
    assert (tmp_path / "jfk.txt").read_text().startswith("John F. Kennedy [00:00:00]:")
    assert "ask not what your country can do for you" in data["segments"][0]["text"] + " ".join(
        s["text"] for s in data["segments"][1:]
    )


@pytest.mark.slow
def test_demo_prints_where_outputs_are(tmp_path):
    code, stdout, stderr = invoke("demo", "-o", str(tmp_path / "demo"), "-f", "json,md")
    assert code == 0, stderr
    assert str((tmp_path / "demo").resolve()) in stdout
    result = json.loads((tmp_path / "demo" / "sample.json").read_text())
    assert len(result["speakers"]) == 2

    # `diarize eval` on the pipeline's own output agrees with pyannote.metrics called directly.
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference_path = pyannote_sample_rttm()
    code, table, stderr = invoke(
        "eval", "--ref", str(reference_path), "--json", str(tmp_path / "eval.json"),
        str(tmp_path / "demo" / "sample.json"),
    )
    assert code == 0, stderr
    assert "sample" in table
    reference, hypothesis = Annotation(uri="sample"), Annotation(uri="sample")
    for line in reference_path.read_text().splitlines():
        f = line.split()
        reference[Segment(float(f[3]), float(f[3]) + float(f[4])), f"r{len(reference)}"] = f[7]
    for i, turn in enumerate(result["turns"]):
        hypothesis[Segment(turn["start"], turn["end"]), i] = turn["speaker"]
    for collar in (0.0, 0.5):
        direct = DiarizationErrorRate(collar=collar)(reference, hypothesis)
        assert f"{100 * direct:.2f}" in table, (collar, direct, table)
    assert 100 * DiarizationErrorRate(collar=0.0)(reference, hypothesis) < 8.0


def pyannote_sample_rttm() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("pyannote.audio")
    assert spec is not None and spec.submodule_search_locations
    return Path(list(spec.submodule_search_locations)[0]) / "sample" / "sample.rttm"


# --- bad input: one line on stderr, non-zero exit, no output files -------------------------------------


def _bad_run(tmp_path: Path, *args: str) -> tuple[int, str]:
    out = tmp_path / "out"
    code, _, stderr = invoke("run", *args, "-o", str(out))
    assert code != 0
    assert not out.exists() or not any(out.iterdir()), "partial outputs were left"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) >= 1 and "Traceback" not in stderr
    return code, lines[-1]


def test_missing_file(tmp_path):
    _, line = _bad_run(tmp_path, str(tmp_path / "absent.wav"))
    assert "absent.wav" in line and "no such file" in line


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    _, line = _bad_run(tmp_path, str(tmp_path / "empty.wav"))
    assert "empty.wav" in line and "empty file" in line


def test_non_media_file(tmp_path):
    (tmp_path / "report.mp3").write_text("quarterly report\n" * 100)
    _, line = _bad_run(tmp_path, str(tmp_path / "report.mp3"))
    assert "report.mp3" in line and "cannot be decoded" in line


def test_unknown_format(shared_data, tmp_path):
    _, line = _bad_run(tmp_path, str(shared_data / "speech/jfk.flac"), "-f", "json,docx")
    assert "docx" in line and "json" in line


def test_contradictory_speaker_hint(shared_data, tmp_path):
    code, line = _bad_run(tmp_path, str(shared_data / "speech/jfk.flac"), "--min-speakers", "4", "--max-speakers", "2")
    assert "--min-speakers" in line


def test_unknown_pipeline(shared_data, tmp_path):
    _, line = _bad_run(tmp_path, str(shared_data / "speech/jfk.flac"), "--pipeline", "podcast")
    assert "podcast" in line and "meeting" in line


def test_unwritable_output_dir(shared_data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, stderr = invoke("run", str(shared_data / "speech/jfk.flac"), "-o", str(blocker / "out"))
    assert code != 0
    assert "cannot create the output folder" in stderr.strip().splitlines()[-1]


def test_version():
    code, stdout, _ = invoke("--version")
    assert code == 0 and stdout.startswith("diarize, version ")
