"""The ``diarize`` command end to end on real audio, and its behaviour on bad input."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from diarize.cli.common import OutputGuard, interruptible
from diarize.cli.main import cli
from diarize.cli.progress import Cancelled
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
    assert set(data["provenance"]) <= set(RESULT_SCHEMA["$defs"]["provenance"]["properties"])  # all documented
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
    from diarize.eval.scoring import evaluate_files

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
    # Each format lays out its own cues: the SRT reserves room for its [NAME] prefix, the VTT does not.
    assert len(srt_cues) > 3 and len(vtt_cues) > 3
    assert srt_cues[0].start.total_seconds() == pytest.approx(_vtt_seconds(vtt_cues[0].start), abs=1e-3)
    for a in srt_cues:
        lines = a.content.splitlines()
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines), lines
        assert 0 < (a.end - a.start).total_seconds() <= 7.0 + 1e-6
    assert all("<v " in b.raw_text for b in vtt_cues)


def _vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@pytest.mark.slow
def test_speaker_names_rename_every_output(shared_data, tmp_path):
    code, _, stderr = invoke(
        "run", str(shared_data / "speech/jfk.flac"), "-o", str(tmp_path), "-f", "json,srt,txt",
        "--pipeline", "archive", "--speaker-names", "SPEAKER_00=John F. Kennedy", "--speaker-labels", "always",
    )
    assert code == 0, stderr
    data = json.loads((tmp_path / "jfk.json").read_text())
    assert [(r["label"], r["name"]) for r in data["speakers"]] == [("John F. Kennedy", "John F. Kennedy")]
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


def test_output_path_is_a_file(shared_data, tmp_path):
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    code, stdout, stderr = invoke("run", str(shared_data / "speech/jfk.flac"), "-o", str(blocker))
    assert code == 1
    assert stderr.strip().splitlines() == [f"diarize: error: {blocker}: output path exists and is not a folder; "
                                           "choose another -o"]
    assert blocker.read_text() == "not a folder"


# --- several inputs: every usable one is processed, each failure gets one line ---------------------------


def _truncated(source: Path, path: Path) -> Path:
    """``source`` re-encoded into ``path`` (its format from the suffix), then cut to half its bytes."""
    samples, rate = sf.read(source, dtype="float32")
    sf.write(path, samples, rate)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".wav", ".flac"])  # WAV: caught when probed; FLAC: only when decoded
def test_several_inputs_go_on_past_a_bad_one(shared_data, tmp_path, suffix):
    first = shared_data / "speech/ami_ES2011a_headset_40-46s.wav"
    second = _truncated(shared_data / "speech/jfk.flac", tmp_path / f"cut{suffix}")
    third = shared_data / "speech/jfk.flac"
    out = tmp_path / "out"
    code, stdout, stderr = invoke("run", str(first), str(second), str(third), "-o", str(out), "-f", "json,rttm")
    assert code == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "ami_ES2011a_headset_40-46s.json", "ami_ES2011a_headset_40-46s.rttm", "ami_ES2011a_headset_40-46s.speakers.npz",
        "jfk.json", "jfk.rttm", "jfk.speakers.npz",
    ]
    lines = [line for line in stderr.splitlines() if line.startswith("diarize: ")]  # not the progress lines
    assert len(lines) == 2, stderr
    assert lines[0].startswith(f"diarize: error: {second}: ") and "truncated" in lines[0]
    assert lines[1] == "diarize: 2 of 3 inputs done, 1 failed"
    assert str(first) in stdout and str(third) in stdout and str(second) not in stdout


@pytest.mark.slow
def test_outputs_go_to_the_current_folder_and_the_summary_names_them(shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = invoke("run", str(shared_data / "speech/jfk.flac"), "-f", "json,md")
    assert code == 0, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jfk.json", "jfk.md", "jfk.speakers.npz"]
    lines = stdout.splitlines()
    assert re.match(rf"{re.escape(str(shared_data / 'speech/jfk.flac'))}: 1 speaker, \d+ words; 11 s of audio in "
                    r"[\d.]+ s \(RTF [\d.]+", lines[0]), lines[0]
    assert re.fullmatch(r"  SPEAKER_00   0:\d\d  100 %", lines[1]), lines[1]
    assert lines[2] == "  ./  jfk.{json,speakers.npz,md}"
    assert "jfk.flac: loading models" in stderr.splitlines()[0]  # progress, plain off a terminal


def test_unusable_inputs_are_reported_before_any_work(tmp_path):
    (tmp_path / "notes.wav").write_text("not audio\n" * 50)
    out = tmp_path / "out"
    code, stdout, stderr = invoke("run", str(tmp_path / "absent.wav"), str(tmp_path / "notes.wav"), "-o", str(out))
    assert code == 1 and stdout == ""
    lines = stderr.strip().splitlines()
    assert len(lines) == 3, stderr
    assert "absent.wav: no such file" in lines[0] and "notes.wav: cannot be decoded" in lines[1]
    assert lines[2] == "diarize: 0 of 2 inputs done, 2 failed"
    assert not out.exists()


# --- interruption: SIGINT / SIGTERM stop the run at any stage ------------------------------------------

_HANG_BOUND = 20.0  # s: far above the promised 2 s; only a hang fails the test
_TRIGGER_BOUND = 900.0  # s: the stage must be reached within this on a busy machine
_LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING) [\w.\-]+: ")
_PROGRESS_LINE = re.compile(r"^\S+\.(wav|mp4|flac): ")  # a plain progress line, printed before the signal


@pytest.fixture(scope="module")
def long_recording(shared_data, tmp_path_factory) -> Path:
    """150 s of real meeting audio: the 16 kHz AMI excerpts one after another, repeated."""
    pieces = [sf.read(p, dtype="float32")[0] for p in sorted((shared_data / "meetings").glob("ami_trn*.wav"))]
    samples = np.concatenate(pieces)
    length = 150 * 16_000
    path = tmp_path_factory.mktemp("long") / "meeting150.wav"
    sf.write(path, np.tile(samples, length // len(samples) + 1)[:length], 16_000, subtype="PCM_16")
    return path


def _interrupt(args: list[str], trigger: str, sig: signal.Signals) -> tuple[int, list[str], float]:
    """Run ``diarize -v ARGS``, send ``sig`` when a stderr line matches ``trigger``; the exit status, the
    stderr lines from the signal on, and the seconds from signal to exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "diarize", "-v", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + _TRIGGER_BOUND
    try:
        while not (seen and re.search(trigger, seen[-1])):
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            assert line is not None, f"exited ({process.wait()}) before {trigger!r}:\n" + "\n".join(seen)
            seen.append(line)
        process.send_signal(sig)
        sent = time.monotonic()
        code = process.wait(timeout=_HANG_BOUND)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    after = [seen[-1]]
    while (line := lines.get(timeout=5)) is not None:
        after.append(line)
    print(f"{sig.name} at {trigger!r}: exit {code} after {elapsed:.2f} s")
    return code, after[1:], elapsed


@pytest.mark.slow
@pytest.mark.parametrize(
    ("trigger", "sig"),
    [
        (r"diarize\.models\.cache: loaded \S+ in", signal.SIGINT),  # while the other models load
        (r"transcription started", signal.SIGINT),  # transcribing here, the speaker stage in its thread
        (r"embeddings started", signal.SIGINT),  # inside the speaker thread
        (r"segmentation started", signal.SIGTERM),
    ],
    ids=["loading", "asr", "speakers", "sigterm"],
)
def test_a_signal_stops_the_run(long_recording, tmp_path, trigger, sig):
    out = tmp_path / "out"
    code, after, _ = _interrupt(["run", str(long_recording), "-o", str(out), "-f", "all"], trigger, sig)
    assert code == 128 + sig
    said = [line for line in after if not _LOG_LINE.match(line) and not _PROGRESS_LINE.match(line)]
    assert said == ["diarize: interrupted" + ("" if sig == signal.SIGINT else " (SIGTERM)")], after
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_a_signal_stops_the_demo(tmp_path):
    out = tmp_path / "demo"
    code, after, _ = _interrupt(["demo", "-o", str(out)], r"segmentation started", signal.SIGINT)
    assert code == 130
    said = [line for line in after if not _LOG_LINE.match(line) and not _PROGRESS_LINE.match(line)]
    assert said == ["diarize: interrupted"], after
    assert not out.exists() or list(out.iterdir()) == []


def test_interruptible_cleans_up_and_exits_with_the_signal_status(tmp_path, capfd):
    previous = signal.getsignal(signal.SIGTERM)
    cleaned = []
    with pytest.raises(click.exceptions.Exit) as info, interruptible(grace=60.0) as interrupts:
        interrupts.on_exit(lambda: cleaned.append(True))
        os.kill(os.getpid(), signal.SIGTERM)
        assert interrupts.event.wait(10)
        interrupts.check()
    assert info.value.exit_code == 143 and cleaned == [True]
    assert capfd.readouterr().err == "diarize: interrupted (SIGTERM)\n"
    assert signal.getsignal(signal.SIGTERM) is previous


def test_interruptible_lets_other_errors_through():
    previous = signal.getsignal(signal.SIGINT)
    with pytest.raises(ValueError), interruptible() as interrupts:
        interrupts.check()
        raise ValueError("not an interruption")
    assert signal.getsignal(signal.SIGINT) is previous


def test_other_signals_do_not_stop_the_work():
    previous = signal.signal(signal.SIGUSR1, lambda *_: None)  # a Python handler: its number reaches the watcher
    try:
        with interruptible(grace=60.0) as interrupts:
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.3)
            assert not interrupts.event.is_set()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def _plain_progress(every: float = 10.0) -> tuple[Any, Any, list[float]]:
    import io

    from rich.console import Console

    from diarize.cli.progress import RunProgress

    stream = io.StringIO()
    now = [100.0]
    progress = RunProgress(Console(file=stream, width=200), interactive=False, every=every, clock=lambda: now[0])
    return progress, stream, now


def test_plain_progress_prints_at_once_and_at_every_stage_change():
    progress, stream, now = _plain_progress()
    progress.start("a.wav", 60.0, ("json",))
    assert stream.getvalue() == "a.wav: loading models\n"  # before any model is loaded
    for stage, done, total, at in [("models", 0, 2, 100.0), ("models", 2, 2, 104.0), ("segmentation", 0, 5, 104.5),
                                   ("segmentation", 3, 5, 106.0), ("asr", 0, 60_000, 105.0),
                                   ("asr", 30_000, 60_000, 110.0)]:
        now[0] = at
        progress(stage, done, total)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[1] == "a.wav: models loaded in 4.0 s"
    assert lines[2].startswith("a.wav: segmentation started; segmentation 0.0/60.0 s, ")
    assert lines[3].startswith("a.wav: transcription started; ") and len(lines) == 4  # no line within a stage
    assert re.search(r"\d+ % done, about \d+:\d\d left$", lines[3])


def test_the_estimate_follows_the_measured_speed():
    estimates = []
    for loading in (1.0, 10.0):  # an idle machine, then one ten times slower
        progress, _, now = _plain_progress()
        progress.start("a.wav", 100.0)
        progress("models", 0, 2)
        now[0] += loading
        progress("models", 2, 2)
        estimates.append(progress.remaining())
        progress("asr", 0, 100_000)  # half the transcription done in 10 s: its own rate from now on
        now[0] += 10.0
        progress("asr", 50_000, 100_000)
        assert 0 < progress.percent() < 100
        assert progress.remaining() >= 10.0
    assert estimates[1] == pytest.approx(10 * estimates[0], rel=0.05)


def test_quiet_progress_prints_nothing():
    import io

    from rich.console import Console

    from diarize.cli.progress import RunProgress

    stream = io.StringIO()
    progress = RunProgress(Console(file=stream), interactive=False, quiet=True)
    progress.start("a.wav", 10.0)
    progress("asr", 1, 2)
    progress.close()
    assert stream.getvalue() == ""


def test_a_quiet_plain_period_still_gets_a_line():
    progress, stream, now = _plain_progress(every=0.6)
    progress.start("a.wav", 60.0)
    progress("models", 0, 2)
    now[0] += 5.0  # the clock moved on: the ticker prints within its next wake-up
    deadline = time.monotonic() + 5
    while stream.getvalue().count("\n") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    progress.clear()
    assert stream.getvalue().splitlines()[1].startswith("a.wav: ")


def test_live_progress_draws_on_a_terminal_and_leaves_no_trace():
    import io

    from rich.console import Console

    from diarize.cli.progress import RunProgress

    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    progress = RunProgress(console)
    progress.start("a.wav", 30.0)
    progress("models", 2, 2)
    progress("asr", 10_000, 30_000)
    progress.close()
    assert "loading models" in stream.getvalue() and "transcription" in stream.getvalue()
    assert "10.0/30.0 s" in stream.getvalue()


@pytest.mark.parametrize("command", [(), ("run",), ("demo",), ("eval",), ("batch",), ("bench",), ("models",),
                                     ("models", "list"), ("models", "prepare"), ("voices",), ("voices", "add"),
                                     ("voices", "list"), ("voices", "remove")])
def test_help_states_examples_and_true_defaults(command):
    code, stdout, _ = invoke(*command, "--help")
    assert code == 0
    examples = re.findall(r"^    (diarize .+)$", stdout.split("Examples:")[-1], flags=re.M)
    assert 2 <= len(examples) <= 3, stdout
    assert "[default: the pipeline's]  [default: all]" not in " ".join(stdout.split())
    if command == ("run",):
        flat = " ".join(stdout.split())
        assert "[default: the current folder]" in flat and "meeting: md,json,srt" in flat
        assert "--timestamps [sentence|turn|0.5s|1s|10s]" in stdout


def test_quiet_and_a_missing_input_print_the_error_only(tmp_path):
    code, stdout, stderr = invoke("-q", "run", str(tmp_path / "absent.wav"))
    assert code == 1 and stdout == ""
    assert stderr.strip().splitlines() == [f"diarize: error: {tmp_path / 'absent.wav'}: no such file"]


def test_output_guard_removes_only_what_appeared_since_the_last_commit(tmp_path):
    (tmp_path / "old.json").write_text("{}")
    guard = OutputGuard(tmp_path)
    (tmp_path / "a.json").write_text("{}")
    guard.commit()
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / ".b.rttm.0123abcd.tmp").write_text("")
    guard.rollback()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "old.json"]


def test_a_failing_stage_stops_the_other_and_its_error_wins():
    from diarize.pipeline import _side_by_side, _Stop

    stop = _Stop(None)
    reports = []

    def asr() -> None:
        for done in range(10_000):
            time.sleep(0.01)
            stop.guard(lambda *args: reports.append(args))("asr", done, 10_000)

    def speakers() -> None:
        raise RuntimeError("speaker stage failed")

    with pytest.raises(RuntimeError, match="speaker stage failed"):
        _side_by_side(asr, speakers, stop)  # type: ignore[arg-type]
    assert len(reports) < 10_000


def test_a_cancelled_run_stops_both_stages():
    from diarize.pipeline import _side_by_side, _Stop

    cancel = threading.Event()
    stop = _Stop(cancel)
    speaker_reports = []

    def asr() -> None:
        cancel.set()
        stop.check()

    def speakers() -> None:
        hook = stop.guard(lambda *args: speaker_reports.append(args))
        for done in range(10_000):
            time.sleep(0.01)
            hook("embeddings", done, 10_000)

    with pytest.raises(Cancelled):
        _side_by_side(asr, speakers, stop)  # type: ignore[arg-type]
    assert len(speaker_reports) < 10_000


# --- the supervisor: a signal stops the command even while a call holds the interpreter lock ------------

_SUPERVISED = """
import os, re, sys
from diarize import supervise
from diarize.cli.common import interruptible
with supervise.enabled(), interruptible():
    print(os.getpid(), flush=True)
    if sys.argv[1] == "busy":
        re.match(r"(a+)+$", "a" * 30 + "b")  # backtracks for minutes without releasing the interpreter lock
    elif sys.argv[1] == "crash":
        os.kill(os.getpid(), 9)
    sys.exit(3)
"""


def _supervised(mode: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([sys.executable, "-c", _SUPERVISED, mode], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, int(process.stdout.readline())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_a_call_that_holds_the_interpreter_lock(sig):
    process, child = _supervised("busy")
    assert child != process.pid
    time.sleep(0.3)
    sent = time.monotonic()
    process.send_signal(sig)
    try:
        _, stderr = process.communicate(timeout=_HANG_BOUND)
    finally:
        process.kill()
    print(f"{sig.name} during a lock-holding call: exit {process.returncode} after {time.monotonic() - sent:.2f} s")
    assert process.returncode == 128 + sig
    assert stderr == "diarize: interrupted" + ("" if sig == signal.SIGINT else " (SIGTERM)") + "\n"
    assert _gone(child)


def test_the_supervisor_exits_like_the_command():
    process, _ = _supervised("exit")
    assert process.wait(timeout=_HANG_BOUND) == 3
    process, _ = _supervised("crash")
    assert process.wait(timeout=_HANG_BOUND) == -9


def test_no_fork_outside_the_console_script():
    with pytest.raises(click.exceptions.Exit), interruptible(grace=60.0) as interrupts:
        pid = os.getpid()
        os.kill(pid, signal.SIGINT)
        assert interrupts.event.wait(10)
    assert os.getpid() == pid


def test_the_command_dies_with_its_supervisor():
    process, child = _supervised("busy")
    process.kill()
    process.wait()
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(child)


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def test_ctrl_c_while_arguments_are_parsed_is_an_interruption_not_aborted():
    from diarize.cli.common import Group

    def stop(ctx: click.Context, param: click.Parameter, value: object) -> object:
        raise KeyboardInterrupt

    @click.group(cls=Group)
    @click.option("--early", callback=stop)  # parsed before any command runs
    def root(early: object) -> None:
        raise AssertionError("not reached")

    @root.command("slow")
    @click.option("--value", callback=stop)
    def slow(value: object) -> None:
        raise AssertionError("not reached")

    for args in (["--early", "1", "slow"], ["slow", "--value", "1"]):
        result = CliRunner().invoke(root, args)
        assert result.exit_code == 130 and "Aborted" not in result.output, args
        assert result.stderr == "diarize: interrupted\n"


def test_main_never_ends_its_host_for_a_command_run_before(tmp_path: Path) -> None:
    """A command that finished earlier in the process (a test runner's, say) lets the console script leave at
    once only for itself: a later ``main()`` that fails raises SystemExit, it does not end the process."""
    script = (
        "import sys\n"
        "from diarize.cli import common\n"
        "from diarize.cli.main import main\n"
        "common.finished()\n"
        f"sys.argv = ['diarize', 'eval', '--ref', {str(tmp_path / 'missing.rttm')!r}, 'hyp.rttm']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    print('still here, status', exc.code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "still here, status" in done.stdout, done.stderr


def test_a_run_that_fails_after_its_display_started_leaves_no_display_running(tmp_path: Path) -> None:
    """The voice library is checked once the first input's progress shows: its error must take the display
    (and its ticker thread, which would print into whatever runs next) down."""
    from diarize.models.registry import sample_path

    before = set(threading.enumerate())
    outcome = CliRunner().invoke(cli, ["run", str(sample_path()), "-o", str(tmp_path / "out"),
                                       "--voices", str(tmp_path / "no-library")])
    assert outcome.exit_code == 1 and "no voices in" in outcome.output

    def tickers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "progress" and t not in before]

    deadline = time.monotonic() + 5.0
    while tickers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tickers()
