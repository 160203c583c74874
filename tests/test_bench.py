"""diarize.bench.benchmark and ``diarize bench``: the long recording, the instruments, references, the real command."""

from __future__ import annotations

import json
import logging
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from batch_fakes import write_wav
from bench_fakes import FakeLoader, holds_lock
from click.testing import CliRunner

from diarize.asr.options import AsrOptions
from diarize.bench.baselines import BASELINES, der_scores, load_baseline, pyannote_threshold, reference_for
from diarize.bench.benchmark import BenchOptions, bench, concat_long, excerpt
from diarize.bench.child import BaselineSettings, crash_reason, run_baselines
from diarize.bench.coldstart import cold_start
from diarize.bench.measure import (
    SPEAKER_STEPS,
    STAGES,
    RssTrace,
    StepClock,
    _SpanMeter,
    _speaker_steps,
)
from diarize.bench.report import format_table, report_dict, write_json
from diarize.cli.main import cli
from diarize.cores import CPU_FLAGS
from diarize.errors import ConfigError
from diarize.speakers.options import DEFAULT_THRESHOLDS, SpeakerOptions
from diarize.types import SAMPLE_RATE, Audio, MediaInfo, SpeakerTurn


def _audio(values: list[float], seconds: float) -> Audio:
    """``seconds`` of audio whose samples cycle through ``values`` (a recognisable pattern)."""
    n = round(seconds * SAMPLE_RATE)
    samples = np.resize(np.asarray(values, dtype=np.float32), n)
    info = MediaInfo(path="x.wav", duration=n / SAMPLE_RATE, sample_rate=SAMPLE_RATE, channels=1, codec="pcm",
                     container="wav")
    return Audio(samples=samples, info=info)


# --------------------------------------------------------------------------------------------------
# The long recording
# --------------------------------------------------------------------------------------------------


def test_concat_long_duration_is_exact_and_sources_repeat_in_order() -> None:
    a, b = _audio([0.1], 1.5), _audio([-0.2], 0.7)
    long = concat_long([a, b], minutes=0.1)  # 6 s: a b a b a(0.8 s of it)
    assert len(long.samples) == 6 * SAMPLE_RATE
    assert long.duration == 6.0 and long.info.duration == 6.0
    assert long.samples.dtype == np.float32
    bounds = np.cumsum([0, 1.5, 0.7, 1.5, 0.7, 0.8]) * SAMPLE_RATE
    expected = [0.1, -0.2, 0.1, -0.2, 0.1]
    for lo, hi, value in zip(bounds[:-1], bounds[1:], expected, strict=True):
        assert np.all(long.samples[round(lo) : round(hi)] == np.float32(value))


@pytest.mark.parametrize("minutes", [1 / 60, 0.05, 2.5, 10.0])
def test_concat_long_length_for_any_minutes(minutes: float) -> None:
    long = concat_long([_audio([0.3, -0.3], 7.25)], minutes)
    assert len(long.samples) == round(minutes * 60 * SAMPLE_RATE)
    assert math.isclose(long.duration, minutes * 60, abs_tol=0.5 / SAMPLE_RATE)


def test_concat_long_shorter_than_one_source_is_its_start() -> None:
    source = _audio([0.0, 0.5, 1.0], 90.0)
    long = concat_long([source], minutes=0.5)
    np.testing.assert_array_equal(long.samples, source.samples[: 30 * SAMPLE_RATE])
    np.testing.assert_array_equal(excerpt(source, 30.0).samples, long.samples)


def test_concat_long_rejects_nothing_to_repeat() -> None:
    with pytest.raises(ConfigError, match="positive"):
        concat_long([_audio([0.1], 1.0)], 0)
    with pytest.raises(ConfigError, match="non-empty"):
        concat_long([_audio([0.1], 0.0)], 1.0)
    with pytest.raises(ConfigError, match="positive"):
        BenchOptions(long_minutes=-1)


# --------------------------------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------------------------------


_MEASURE_40_MIB = """
import json, numpy as np
from diarize.bench.measure import measure
with measure() as cost:
    block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
    block[::512] += 1.0
    del block
c = cost()
print(json.dumps({"wall": c.wall, "cpu": c.cpu, "peak": c.peak_rss, "before": c.rss_before, "rtf": c.rtf(2.0)}))
"""


def test_measure_sees_memory_and_time() -> None:
    # A fresh process: in a long test session, freed heap pages can be reused without raising the RSS.
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _MEASURE_40_MIB], capture_output=True, text=True, check=True)
    c = json.loads(out.stdout.strip().splitlines()[-1])
    assert c["wall"] > 0 and c["cpu"] is not None and c["cpu"] > 0
    assert c["peak"] - c["before"] >= 30 * 2**20
    assert math.isclose(c["rtf"] or 0.0, c["wall"] / 2.0)


def test_speaker_steps_partition_the_speaker_stage() -> None:
    meter, clock, trace = _SpanMeter(), StepClock(), RssTrace()
    meter.marks["speakers"] = (10.0, 1.0, 20.0, 9.0)  # wall 10 s, CPU 8 s
    clock.first.update({"segmentation": (10.5, 1.2), "embeddings": (13.0, 3.0), "clustering": (19.0, 8.5)})
    trace.samples = [(11.0, 100), (14.0, 300), (19.5, 200)]
    steps = _speaker_steps(meter, clock, trace, with_cpu=True)
    assert list(steps) == list(SPEAKER_STEPS)
    assert [round(s.wall, 6) for s in steps.values()] == [3.0, 6.0, 1.0]
    assert [round(s.cpu or 0, 6) for s in steps.values()] == [2.0, 5.5, 0.5]
    assert [s.peak_rss for s in steps.values()] == [100, 300, 300]
    # nobody spoke: no embeddings or clustering reports, segmentation takes the whole stage
    clock.first = {"segmentation": (10.5, 1.2)}
    steps = _speaker_steps(meter, clock, trace, with_cpu=False)
    assert [s.wall for s in steps.values()] == [10.0, 0.0, 0.0] and steps["embeddings"].cpu is None


# --------------------------------------------------------------------------------------------------
# References next to media files
# --------------------------------------------------------------------------------------------------


def test_reference_next_to_media_and_der(tmp_path: Path) -> None:
    media = tmp_path / "meet.wav"
    assert reference_for(media) is None
    (tmp_path / "meet.rttm").write_text(
        "SPEAKER meet 1 0.0 4.0 <NA> <NA> A <NA> <NA>\nSPEAKER meet 1 4.0 6.0 <NA> <NA> B <NA> <NA>\n"
    )
    (tmp_path / "meet.uem").write_text("meet 1 0.0 8.0\n")
    reference = reference_for(media)
    assert reference is not None and reference.uem is not None and reference.uem[0].end == 8.0
    perfect = [SpeakerTurn(0.0, 4.0, "x"), SpeakerTurn(4.0, 10.0, "y")]
    one_speaker = [SpeakerTurn(0.0, 10.0, "x")]
    exact, lumped = der_scores(reference, perfect, [0.0]), der_scores(reference, one_speaker, [0.0, 0.5])
    assert exact[0].der == 0.0
    assert math.isclose(lumped[0].der, 4.0 / 8.0)  # B's 4 scored seconds are confused
    assert lumped[1].collar == 0.5 and lumped[1].der < lumped[0].der


# --------------------------------------------------------------------------------------------------
# Baselines, each in a child process of its own
# --------------------------------------------------------------------------------------------------

_SIGILL_WORDS = "killed by SIGILL (its compiled code needs a newer CPU)"


@pytest.mark.parametrize(
    ("exitcode", "words"),
    [
        (-signal.SIGILL, _SIGILL_WORDS),
        (-signal.SIGSEGV, "killed by SIGSEGV (a crash in its compiled code)"),
        (-signal.SIGKILL, "killed by SIGKILL (killed, out of memory?)"),
        (-signal.SIGBUS, "killed by SIGBUS (a bad memory access in its compiled code)"),
        (-signal.SIGUSR1, "killed by SIGUSR1"),
        (1, "stopped with exit status 1 (see its messages above)"),
    ],
)
def test_crash_reason_says_what_killed_the_child(exitcode: int, words: str) -> None:
    assert crash_reason(exitcode) == words


def test_crashed_baseline_child_is_one_line_and_the_others_run(caplog: pytest.LogCaptureFixture) -> None:
    audios = [_audio([0.1, -0.1], 3.0), _audio([0.2], 2.0)]
    settings = BaselineSettings(AsrOptions(), SpeakerOptions(), cache=None, threads=1, repeat=2)
    loader = FakeLoader(crash={"senko": signal.SIGILL}, fail=("openai-whisper",))
    notes: list[str] = []
    with caplog.at_level(logging.WARNING, logger="diarize.bench.child"):
        runs = run_baselines(audios, excerpt(audios[0], 1.0), settings, notes.append, loader)
    assert list(runs) == list(BASELINES)
    senko, pyannote, faster, openai = runs.values()
    # a real SIGILL in the warm-up: the load was measured, nothing after it
    assert senko.error == _SIGILL_WORDS
    assert list(senko.load) == ["models.senko"] and senko.results == ()
    # a failed load (as a missing package): its own message
    assert openai.error == "the openai-whisper baseline needs openai-whisper: run `pip install openai-whisper`"
    assert openai.load == {} and openai.results == ()
    # the baselines between them ran everything: warm-up, then `repeat` runs per file
    for run in (pyannote, faster):
        assert run.error is None and list(run.load) == [f"models.{run.name}", f"warmup.{run.name}"]
        assert [len(r.output.turns) for r in run.results] == [3, 2]
        assert [r.output.detail["runs"] for r in run.results] == [3, 5]
        assert all(r.cost.wall > 0 and r.cost.peak_rss > 0 for r in run.results)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [f"baseline senko: {senko.error}", f"baseline openai-whisper: {openai.error}"]
    assert "[2/2] x.wav: baseline faster-whisper" in notes


_HANGING_BASELINE = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
import numpy as np
from bench_fakes import FakeLoader
from diarize.asr.options import AsrOptions
from diarize.bench.child import BaselineSettings, run_baselines
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, MediaInfo
info = MediaInfo(path="x.wav", duration=1.0, sample_rate=16000, channels=1, codec="pcm", container="wav")
audio = Audio(samples=np.zeros(16000, dtype=np.float32), info=info)
loader = FakeLoader(hang=("senko",), pid_dir=Path({pids!r}))
run_baselines([audio], audio, BaselineSettings(AsrOptions(), SpeakerOptions(), None, 1), print, loader)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_bench_leaves_no_baseline_child(tmp_path: Path, sig: signal.Signals) -> None:
    script = _HANGING_BASELINE.format(tests=str(Path(__file__).parent), pids=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 120
    while not [p for p in tmp_path.iterdir() if p.suffix != ".part"]:
        if parent.poll() is not None or time.monotonic() > deadline:
            parent.kill()
            pytest.fail(f"the baseline child never started: {parent.communicate()[1]}")
        time.sleep(0.05)
    (child,) = tmp_path.iterdir()  # named by the child's pid, locked while it lives
    assert holds_lock(child)
    parent.send_signal(sig)
    parent.wait(30)
    assert parent.returncode != 0
    deadline = time.monotonic() + 10  # SIGTERM: the kernel kills the child once the parent is gone
    while holds_lock(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not holds_lock(child), f"the baseline child {child.name} outlived its interrupted parent"


# --------------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------------


def test_cold_start_that_fails_is_one_line(tmp_path: Path) -> None:
    audio = Audio(samples=np.zeros(16_000, dtype=np.float32),
                  info=MediaInfo(path="x", duration=1.0, sample_rate=16_000, channels=1, codec="pcm", container="x"))
    cold = cold_start(audio, str(tmp_path / "no-such-pipeline.yaml"), None)
    assert cold.error is not None and cold.error.startswith("exit status 1: ") and "no-such-pipeline" in cold.error
    assert cold.wall > 0 and cold.audio == 1.0


def test_bench_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["bench", str(tmp_path / "absent.wav")])
    assert result.exit_code == 1
    assert "diarize: error:" in result.output and "absent.wav" in result.output


def _check_cost(cost: dict, duration: float | None) -> None:
    assert cost["wall_s"] > 0, cost
    assert cost["peak_rss_bytes"] > 0 and cost["rss_before_bytes"] > 0
    if duration is not None:
        assert math.isclose(cost["rtf"], cost["wall_s"] / duration, rel_tol=1e-3)


@pytest.mark.slow
def test_bench_jfk_tiny_en(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    clip = shared_data / "speech" / "jfk.flac"
    result = CliRunner().invoke(cli, ["bench", str(clip), "--pipeline", "archive", "--long", "0.25", "--json",
                                      str(out), "--cold-start"])
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(out.read_text())
    assert data["schema"] == "diarize-bench/1"
    assert data["pipeline"]["name"] == "archive" and len(data["pipeline"]["config_hash"]) == 16
    assert "tiny.en" in data["pipeline"]["models"]["asr"]
    machine, threads = data["environment"]["machine"], data["environment"]["threads"]
    assert machine["cpu_count"] >= 1 and 1 <= machine["cores_available"] <= machine["cpu_count"]
    assert set(machine["cpu_flags"]) <= set(CPU_FLAGS) and machine["cpu_model"]
    assert threads["plan"]["cores"] == machine["cores_available"]
    assert data["cold_start"]["error"] is None and data["cold_start"]["wall_s"] > 0
    assert math.isclose(data["cold_start"]["audio_s"], 11.0, abs_tol=0.1)  # the clip is shorter than 30 s
    assert "cold start: diarize run on 11.0 s" in result.output and "core(s) available" in result.output
    # model loading is measured apart, and not inside any per-file time
    for key in ("models.sequential", "warmup.sequential", "models.configured", "warmup.configured"):
        _check_cost(data["load"][key], None)
    (file,) = data["files"]
    duration = file["duration_s"]
    assert math.isclose(duration, 11.0, abs_tol=0.1)
    sequential, configured = file["sequential"], file["configured"]
    assert sequential["parallel"] is False and configured["parallel"] is True
    for name in (*STAGES, *SPEAKER_STEPS):
        _check_cost(sequential["stages"][name], duration)
        assert sequential["stages"][name]["cpu_s"] is not None
    _check_cost(sequential["total"], duration)
    _check_cost(configured["total"], duration)
    stage_sum = sum(sequential["stages"][n]["wall_s"] for n in STAGES)
    assert stage_sum <= sequential["total"]["wall_s"] + 1e-3
    assert sequential["total"]["wall_s"] - stage_sum < 0.5  # nothing else (no model loading) inside
    step_sum = sum(sequential["stages"][s]["wall_s"] for s in SPEAKER_STEPS)
    assert math.isclose(step_sum, sequential["stages"]["speakers"]["wall_s"], abs_tol=2e-3)
    assert configured["stages"]["asr"]["cpu_s"] is None  # not separable while stages overlap
    assert sequential["words"] >= 20 and sequential["speakers"] == 1
    assert file["der"] is None and file["baselines"] == {}
    aggregate = data["aggregate"]
    assert aggregate["duration_s"] == duration
    assert aggregate["configured"]["total"]["wall_s"] == configured["total"]["wall_s"]
    long = data["long"]
    assert long["duration_s"] == 15.0 and long["sources"] == [str(clip)]
    _check_cost(long["configured"]["total"], 15.0)
    assert "Per stage, sequential pass" in result.output and "long 0.25 min" in result.output


@pytest.mark.slow
def test_bench_report_records_a_crashed_baseline_and_the_others(tmp_path: Path) -> None:
    clip = write_wav(tmp_path / "quiet.wav", seconds=4.0, value=300)
    (tmp_path / "quiet.rttm").write_text("SPEAKER quiet 1 0.0 4.0 <NA> <NA> A <NA> <NA>\n")
    options = BenchOptions(pipeline="archive", baseline=True, warmup_seconds=2.0)
    report = bench([clip], options, loader=FakeLoader(crash={"senko": signal.SIGILL}))
    write_json(report, tmp_path / "bench.json")
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data == json.loads(json.dumps(report_dict(report)))
    assert data["baseline_errors"] == {"senko": _SIGILL_WORDS}
    assert "models.senko" in data["load"] and "warmup.senko" not in data["load"]
    (file,) = data["files"]
    assert sorted(file["baselines"]) == ["faster-whisper", "openai-whisper", "pyannote"]
    for name in ("pyannote", "faster-whisper", "openai-whisper"):  # the fake's output and its own process's cost
        baseline = file["baselines"][name]
        assert baseline["speakers"] == 2 and baseline["runs"] == 2
        assert baseline["wall_s"] > 0 and baseline["rtf"] is not None and baseline["peak_rss_bytes"] > 0
        assert f"warmup.{name}" in data["load"]
    ratios = file["ratios"]
    assert ratios["speakers_vs_senko"] is None and ratios["end_to_end_vs_senko_plus_faster-whisper"] is None
    assert ratios["vad_asr_vs_faster-whisper"] > 0 and ratios["vad_asr_vs_openai-whisper"] > 0
    speakers = file["sequential"]["stages"]["speakers"]["wall_s"]
    pyannote = file["baselines"]["pyannote"]["wall_s"]  # the fake's microseconds, rounded in the JSON
    assert math.isclose(ratios["speakers_vs_pyannote"], speakers / pyannote, rel_tol=0.05)
    assert sorted(data["aggregate"]["baselines"]) == ["faster-whisper", "openai-whisper", "pyannote"]
    assert data["aggregate"]["ratios"]["speakers_vs_pyannote"] == ratios["speakers_vs_pyannote"]
    # pyannote's turns scored like ours; senko's missing (its child died)
    scores = file["der"]["scores"]
    assert [sorted(s) for s in scores] == [["collar", "ours", "ours_pct", "pyannote", "pyannote_pct"]] * 2
    assert math.isclose(scores[0]["pyannote_pct"], 50.0)  # the fake alternates two speakers every second
    assert set(scores[0]["pyannote"]) == {"total_s", "missed_s", "false_alarm_s", "confusion_s"}
    assert data["aggregate"]["der"]["scores"][0]["pyannote_pct"] == scores[0]["pyannote_pct"]
    lines = format_table(data).splitlines()
    assert f"baseline senko: {_SIGILL_WORDS}" in lines
    start = next(i for i, line in enumerate(lines) if line.startswith("Baselines"))
    baselines = lines[start : lines.index("", start)]
    header = next(line for line in baselines if line.startswith("file"))
    assert header.split()[1:5] == ["senko", "s", "pyannote", "s"] and "spk/pyannote" in header
    (row,) = [line.split() for line in baselines if line.startswith("quiet.wav")]
    assert len(row) == 11  # file, four baselines, six ratios
    assert row[1] == "-" and row[2] != "-" and row[3] != "-"  # senko s, pyannote s, f-whisper s
    assert row[5] == "-" and float(row[6]) == round(ratios["speakers_vs_pyannote"], 2)  # spk/senko, spk/pyannote
    start = next(i for i, line in enumerate(lines) if line.startswith("DER %"))
    assert lines[start + 1].split() == ["file", "collar", "ours", "senko", "pyannote"]
    assert lines[start + 2].split()[3:] == ["-", "50.00"]


def test_pyannote_threshold_is_our_agglomerative_one_for_campplus() -> None:
    measured = DEFAULT_THRESHOLDS[("campplus", "agglomerative")]
    assert pyannote_threshold(SpeakerOptions()) == measured  # ours clusters constrained: its threshold differs
    assert pyannote_threshold(SpeakerOptions(threshold=0.4)) == measured
    assert pyannote_threshold(SpeakerOptions(clustering="agglomerative", threshold=0.7)) == 0.7
    assert pyannote_threshold(SpeakerOptions(embedding_model="ge2e", clustering="agglomerative")) == measured


@pytest.mark.slow
def test_pyannote_baseline_runs_pyannotes_own_pipeline_on_our_models(shared_data: Path, pyannote_sample: Path) -> None:
    from pyannote.audio.pipelines import SpeakerDiarization

    from diarize.audio import load_audio
    from diarize.models.cache import ModelCache

    baseline = load_baseline("pyannote", AsrOptions(), SpeakerOptions(), ModelCache(), threads=2)
    pipeline = baseline.pipeline
    assert type(pipeline) is SpeakerDiarization  # pyannote's class, not our faster subclass
    assert pipeline.segmentation_step == 0.1 and pipeline.embedding_exclude_overlap is True
    assert pipeline.embedding_batch_size == 32 and pipeline.segmentation_batch_size == 32
    assert pipeline.klustering == "AgglomerativeClustering"
    assert pipeline.parameters(instantiated=True) == {
        "segmentation": {"min_duration_off": 0.0},
        "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": pyannote_threshold(SpeakerOptions())},
    }
    meeting = shared_data / "meetings" / "ami_trn05.wav"  # one speaker holds 24 of its 26 s of speech
    sample = pyannote_sample  # two speakers
    for path, fewest in ((meeting, 1), (sample, 2)):
        audio = load_audio(path)
        output = baseline.run(audio)
        speakers = {t.speaker for t in output.turns}
        assert len(speakers) >= fewest and output.detail == {"speakers": len(speakers)}, path.name
        assert all(0 <= t.start < t.end <= audio.duration for t in output.turns)
        reference = reference_for(path)
        assert reference is not None
        (score,) = der_scores(reference, output.turns, [0.0])
        assert score.der < 0.6, (path.name, score)


def _senko_reason(data: dict) -> str | None:
    """Why senko did not run, if it did not (its compiled fbank library needs AVX-512: SIGILL without it)."""
    reason = data["baseline_errors"].get("senko")
    if reason is not None:
        assert "SIGILL" in reason, reason  # the one failure expected of it on a CPU without AVX-512
    return reason


@pytest.mark.slow
def test_bench_baselines_side_by_side(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    meeting = shared_data / "meetings" / "ami_trn05.wav"
    result = CliRunner().invoke(cli, ["bench", str(meeting), "--pipeline", "archive", "--baseline", "--json",
                                      str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    data = json.loads(out.read_text())
    (file,) = data["files"]
    senko_failed = _senko_reason(data)
    assert set(data["baseline_errors"]) <= {"senko"}, data["baseline_errors"]
    ran = [n for n in BASELINES if not (n == "senko" and senko_failed)]
    for name in ran:
        _check_cost(file["baselines"][name], file["duration_s"])
        _check_cost(data["load"][f"models.{name}"], None)
    assert file["baselines"]["faster-whisper"]["words"] > 20
    assert file["baselines"]["pyannote"]["speakers"] >= 1
    assert "spk/senko" in result.output and "spk/pyannote" in result.output
    scores = file["der"]["scores"]
    assert [s["collar"] for s in scores] == [0.0, 0.5] and file["der"]["uem"] is True
    for s in scores:
        assert 0 <= s["ours_pct"] < 100 and 0 <= s["pyannote_pct"] < 100
    assert file["ratios"]["speakers_vs_pyannote"] > 0
    assert data["aggregate"]["der"]["scores"][0]["ours_pct"] == scores[0]["ours_pct"]
    assert "DER %" in result.output
    for name in ("vad_asr_vs_faster-whisper", "vad_asr_vs_openai-whisper"):
        assert file["ratios"][name] > 0, name
    if senko_failed:
        assert "senko" not in file["baselines"] and f"baseline senko: {senko_failed}" in result.output
        assert file["ratios"]["speakers_vs_senko"] is None and "senko_pct" not in scores[0]
        return
    assert file["baselines"]["senko"]["speakers"] >= 1
    for name, ratio in file["ratios"].items():
        assert ratio is not None and ratio > 0, name
    speakers = file["sequential"]["stages"]["speakers"]["wall_s"]
    assert math.isclose(file["ratios"]["speakers_vs_senko"], speakers / file["baselines"]["senko"]["wall_s"],
                        rel_tol=1e-3)
    for s in scores:
        assert 0 <= s["senko_pct"] < 100
