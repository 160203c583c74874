"""``diarize batch`` acceptance tests on real recordings with the real models (the fast ``archive`` pipeline).

One folder of six short real recordings (one without an extension, in a subfolder), a corrupt, an empty and a
text file posing as WAV, and a README that is not media. A clean run with the local engine is the reference;
a run killed midway and resumed, and a run on Ray, must end in the same manifest states and the same outputs
(JSON compared without its timings).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_fakes import comparable_outputs
from click.testing import CliRunner

from diarize.batch import RunManifest
from diarize.batch.outputs import MANIFEST_NAME, MARKER_NAME, TMP_PREFIX
from diarize.cli.main import cli
from diarize.cli.tools import BATCH_SOME_FAILED
from diarize.config import load_pipeline
from diarize.cores import available_cores, config_plan

pytestmark = pytest.mark.slow

WORKERS = "2"
COMMON = ["--pipeline", "archive", "--workers", WORKERS]


@pytest.fixture(scope="module")
def media_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    root = tmp_path_factory.mktemp("batch") / "in"
    (root / "sub").mkdir(parents=True)
    shutil.copy(shared_data / "speech" / "jfk.flac", root)
    shutil.copy(shared_data / "speech" / "ami_ES2011a_headset_40-46s.wav", root)
    shutil.copy(shared_data / "video" / "WDA_KatieHill_000.mp4", root)
    shutil.copy(shared_data / "meetings" / "stereo_diarization.wav", root / "sub" / "stereo_diarization")
    for name in ("simconv_en_text.wav", "ami_trn05.wav"):  # the first 10 s keep the run short
        samples, rate = sf.read(shared_data / "meetings" / name, frames=160_000, dtype="float32")
        sf.write(root / name, samples, rate, subtype="PCM_16")
    whole = (shared_data / "speech" / "ami_ES2011a_headset_40-46s.wav").read_bytes()
    (root / "corrupt.wav").write_bytes(whole[:50_000])  # the data chunk is cut short
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("minutes of the meeting\n")
    (root / "README.txt").write_text("not media: ignored\n")
    return root


def _batch(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["batch", *args], catch_exceptions=False)
    return result.exit_code, result.output


def _final(out: Path) -> dict[str, dict]:
    return RunManifest(out / MANIFEST_NAME).read()


def _statuses(out: Path) -> dict[str, str]:
    return {r["path"].split("/in/", 1)[-1]: r["status"] for r in _final(out).values()}


@pytest.fixture(scope="module")
def clean_run(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "out"
    code, output = _batch(str(media_dir), "-o", str(out), *COMMON)
    assert code == BATCH_SOME_FAILED, output
    return out


def test_folder_with_real_and_broken_files(clean_run: Path, media_dir: Path) -> None:
    statuses = _statuses(clean_run)
    assert statuses == {
        "jfk.flac": "done", "ami_ES2011a_headset_40-46s.wav": "done", "WDA_KatieHill_000.mp4": "done",
        "sub/stereo_diarization": "done", "simconv_en_text.wav": "done", "ami_trn05.wav": "done",
        "corrupt.wav": "failed", "empty.wav": "failed", "notes.wav": "failed",
    }
    errors = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in _final(clean_run).values() if r["error"]}
    assert errors["empty.wav"] == "empty file"
    assert errors["notes.wav"].startswith("cannot be decoded: not a media file")
    assert errors["corrupt.wav"].startswith("truncated")
    jfk = next(r for r in _final(clean_run).values() if r["path"].endswith("jfk.flac"))
    assert sorted(o["file"] for o in jfk["outputs"]) == ["jfk.json", "jfk.rttm", "jfk.speakers.npz", "jfk.words.csv"]
    result = json.loads((clean_run / jfk["id"] / "jfk.json").read_text())
    words = " ".join(w["word"].strip() for s in result["segments"] for w in s["words"]).lower()
    assert "ask not what your country can do for you" in words
    assert result["source"]["path"] == str(media_dir / "jfk.flac")
    # the cores shared by the two workers (on two cores: one each, each worker's stages one after the other)
    share = max(1, available_cores() // int(WORKERS))
    assert result["provenance"]["threads"] == config_plan(load_pipeline("archive"), share).to_dict()
    assert 0 < jfk["rtf"] < 20 and jfk["worker"]["peak_rss_mb"] > 100 and jfk["worker"]["threads"] == 1
    assert (clean_run / "summary.parquet").is_file()


def _wait_for_first_done(out: Path, process: subprocess.Popen, limit: float = 600.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        manifest = out / MANIFEST_NAME
        if manifest.exists() and '"status": "done"' in manifest.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"the batch ended before it was killed:\n{process.stderr.read()}")
        time.sleep(0.1)
    process.kill()
    pytest.fail("no file finished in time")


def _dead(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def test_killed_and_resumed_run_matches_a_clean_run(clean_run: Path, media_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "diarize", "batch", str(media_dir), "-o", str(out), *COMMON]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    _wait_for_first_done(out, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_state = _final(out)
    pids = {r["worker"]["pid"] for r in killed_state.values() if r["worker"]}
    time.sleep(1.0)
    assert pids and all(_dead(pid) for pid in pids), "workers outlived the killed driver"
    assert sum(r["status"] == "done" for r in killed_state.values()) < 6
    for folder in out.iterdir():  # whatever reached its final name is complete
        if folder.is_dir() and not folder.name.startswith("."):
            assert (folder / MARKER_NAME).is_file()

    code, output = _batch(str(media_dir), "-o", str(out), *COMMON)
    assert code == BATCH_SOME_FAILED, output
    jfk = next(r for r in _final(out).values() if r["path"].endswith("jfk.flac"))
    (out / jfk["id"] / "jfk.rttm").unlink()  # a lost output is made again
    code, output = _batch(str(media_dir), "-o", str(out), *COMMON)
    assert "1 done, 5 skipped (done earlier), 3 failed" in output

    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert len(lines) == len({r["id"] for r in lines}) == 9  # final state, one line per input
    assert _statuses(out) == _statuses(clean_run)
    assert not list(out.glob(f"{TMP_PREFIX}*"))
    assert comparable_outputs(out) == comparable_outputs(clean_run)


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_and_resumed_run_matches_a_clean_run(
    clean_run: Path, media_dir: Path, tmp_path: Path, signum: int, status: int
) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "diarize", "batch", str(media_dir), "-o", str(out), *COMMON]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    _wait_for_first_done(out, process)
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=120)  # generous: the run stops within seconds
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the batch did not stop")
    assert process.returncode == status, stderr
    assert stderr.splitlines()[-1].startswith(f"diarize: interrupted by {signal.Signals(signum).name}: ")
    assert "Traceback" not in stderr
    state = _final(out)
    pids = {r["worker"]["pid"] for r in state.values() if r["worker"]}
    assert pids and all(_dead(pid) for pid in pids), "workers outlived the interrupted driver"
    assert not list(out.glob(f"{TMP_PREFIX}*"))
    lines = (out / MANIFEST_NAME).read_text().splitlines()
    assert len(lines) == len(state)  # compacted on the way out

    code, output = _batch(str(media_dir), "-o", str(out), *COMMON)
    assert code == BATCH_SOME_FAILED, output
    done_before = sum(r["status"] == "done" for r in state.values())
    assert f"{6 - done_before} done, {done_before} skipped (done earlier), 3 failed" in output
    lines = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    assert len(lines) == len({r["id"] for r in lines}) == 9
    assert _statuses(out) == _statuses(clean_run)
    assert comparable_outputs(out) == comparable_outputs(clean_run)


def test_ray_engine_matches_local(clean_run: Path, media_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "out"
    code, output = _batch(str(media_dir), "-o", str(out), *COMMON, "--engine", "ray")
    assert code == BATCH_SOME_FAILED, output
    assert _statuses(out) == _statuses(clean_run)
    assert {r["engine"] for r in _final(out).values()} == {"ray"}
    assert comparable_outputs(out) == comparable_outputs(clean_run)
