"""``diarize batch`` without models: discovery, ids, manifest state, archives, resume, retries, kills.

The real-model acceptance tests are in ``test_batch_real.py``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from batch_fakes import FakeTask, write_wav

from diarize.batch import (
    ArchiveLimits,
    BatchOptions,
    OutputStore,
    RunManifest,
    discover,
    final_state,
    input_id,
    read_input_list,
    run_batch,
    worker_config,
)
from diarize.batch.archives import extract_archive, member_problem
from diarize.batch.inputs import sniff_media
from diarize.batch.outputs import MANIFEST_NAME, TMP_PREFIX
from diarize.config import load_pipeline
from diarize.errors import ConfigError, DiarizeError, InputError, OutputError

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def config():
    return load_pipeline("archive")


def _options(**changes) -> BatchOptions:
    return BatchOptions(**{"workers": 1, "retries": 1, "cores": 1, **changes})


def _run(inputs, out, config, task=None, **changes):
    return run_batch([Path(p) for p in inputs], out, config, _options(**changes), task=task or FakeTask())


def _final(out: Path) -> dict[str, dict]:
    return RunManifest(out / MANIFEST_NAME).read()


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]


def _by_name(out: Path) -> dict[str, dict]:
    return {Path(r["path"]).name: r for r in _final(out).values()}


# --- discovery ----------------------------------------------------------------------------------------------


def test_sniff_finds_media_by_signature_not_name(tmp_path):
    wav = write_wav(tmp_path / "a.wav")
    assert sniff_media(wav.read_bytes()[:200])
    assert not sniff_media(b"hello, this is a text file\n" * 8)
    assert not sniff_media(b"")
    assert sniff_media(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 20)
    assert sniff_media(b"fLaC\x00\x00\x00\x22")


def test_discover_walks_folders_and_finds_media_by_probing_signature(tmp_path):
    root = tmp_path / "in"
    write_wav(root / "a.wav")
    (root / "sub").mkdir()
    shutil.copy(write_wav(tmp_path / "b.wav", value=5), root / "sub" / "recording")  # no extension
    (root / "notes.wav").write_text("not audio")  # named like media: an input that will fail to decode
    (root / "readme.txt").write_text("not audio")  # neither named nor shaped like media: ignored
    (root / ".hidden.wav").write_text("x")
    found = discover([root], staging=tmp_path / "staging")
    names = sorted(Path(i.path).name for i in found.inputs)
    assert names == ["a.wav", "notes.wav", "recording"]
    assert found.ignored == 1
    rec = next(i for i in found.inputs if i.path.endswith("recording"))
    assert rec.stem == "recording" and rec.problem is None


def test_ids_depend_on_content_and_relative_path_not_location(tmp_path):
    first = tmp_path / "x" / "in"
    write_wav(first / "a.wav")
    write_wav(first / "b.wav")  # same content, other name: another id
    second = tmp_path / "y" / "in"
    shutil.copytree(first, second)
    ids1 = {Path(i.path).name: i.id for i in discover([first], staging=tmp_path / "s1").inputs}
    ids2 = {Path(i.path).name: i.id for i in discover([second], staging=tmp_path / "s2").inputs}
    assert ids1 == ids2
    assert ids1["a.wav"] != ids1["b.wav"]
    write_wav(second / "a.wav", value=7)  # content changed: new id
    ids3 = {Path(i.path).name: i.id for i in discover([second], staging=tmp_path / "s3").inputs}
    assert ids3["a.wav"] != ids1["a.wav"] and ids3["b.wav"] == ids1["b.wav"]
    assert input_id("in/a.wav", "00") == input_id("in/a.wav", "00") != input_id("in/b.wav", "00")


def test_missing_argument_becomes_a_failed_input(tmp_path):
    found = discover([tmp_path / "nope.wav"], staging=tmp_path / "s")
    assert [i.problem for i in found.inputs] == ["no such file or folder"]


def test_input_list_csv_and_jsonl_with_hints(tmp_path):
    write_wav(tmp_path / "audio" / "a.wav")
    csv_list = tmp_path / "list.csv"
    csv_list.write_text("path,num_speakers,language\naudio/a.wav,2,en\n")
    (entry,) = read_input_list(csv_list)
    assert entry.path == tmp_path / "audio" / "a.wav" and entry.rel == "audio/a.wav"
    assert entry.hints == {"num_speakers": 2, "language": "en"}
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text('{"path": "audio/a.wav", "min_speakers": 1, "max_speakers": 3}\n\n')
    assert read_input_list(jsonl)[0].hints == {"min_speakers": 1, "max_speakers": 3}
    for bad, message in [
        ("path,speakers\na.wav,2\n", "unknown column"),
        ("path,num_speakers\na.wav,two\n", "whole number"),
        ("path,num_speakers,max_speakers\na.wav,2,3\n", "not both"),
        ("num_speakers\n2\n", "missing"),
    ]:
        csv_list.write_text(bad)
        with pytest.raises(ConfigError, match=message):
            read_input_list(csv_list)


# --- manifest state -----------------------------------------------------------------------------------------


def test_final_state_takes_last_line_per_id_and_ignores_torn_lines():
    lines = [
        json.dumps({"id": "a", "status": "failed"}),
        json.dumps({"id": "b", "status": "done"}),
        json.dumps({"id": "a", "status": "done", "n": 2}),
        '{"id": "c", "sta',  # a run killed mid-write
    ]
    state = final_state(lines)
    assert list(state) == ["b", "a"]
    assert state["a"] == {"id": "a", "status": "done", "n": 2}


def test_compaction_rewrites_one_line_per_id(tmp_path):
    manifest = RunManifest(tmp_path / MANIFEST_NAME)
    manifest.append({"id": "a", "status": "failed"})
    manifest.append({"id": "a", "status": "done"})
    manifest.close()
    with (tmp_path / MANIFEST_NAME).open("a") as fh:
        fh.write('{"id": "b"')  # torn
    state = manifest.compact()
    assert state == {"a": {"id": "a", "status": "done"}}
    assert (tmp_path / MANIFEST_NAME).read_text().count("\n") == 1
    manifest.append({"id": "b", "status": "done"})  # appends after compaction land on a fresh line
    assert list(manifest.read()) == ["a", "b"]


def test_output_folder_is_locked_against_a_second_run(tmp_path):
    first = OutputStore(tmp_path / "out")
    first.open()
    try:
        with pytest.raises(OutputError, match="another diarize batch"):
            OutputStore(tmp_path / "out").open()
    finally:
        first.close()
    second = OutputStore(tmp_path / "out")
    second.open()
    second.close()


# --- archives -----------------------------------------------------------------------------------------------


def _zip_with_evil_members(path: Path, good: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("good/clip.wav", good)
        zf.writestr("../evil.wav", good)
        zf.writestr("/tmp/diarize-abs-evil.wav", good)
        link = zipfile.ZipInfo("link.wav")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    return path


def test_member_names_that_escape_are_unsafe():
    assert member_problem("a/b.wav") is None
    assert "absolute" in member_problem("/etc/x")
    assert "absolute" in member_problem("C:\\x.wav")
    assert ".." in member_problem("a/../../x.wav")
    assert ".." in member_problem("..\\x.wav")
    assert member_problem("") is not None


def test_zip_slip_members_are_rejected_and_nothing_lands_outside_out(tmp_path, config):
    good = write_wav(tmp_path / "g.wav").read_bytes()
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    archive = _zip_with_evil_members(inputs / "clips.zip", good)
    out = tmp_path / "work" / "out"
    summary = _run([archive], out, config)
    by_path = {r["path"]: r for r in summary.records}
    done = by_path[f"{archive}/good/clip.wav"]
    assert done["status"] == "done" and done["source"] == "good/clip.wav"
    assert json.loads((out / done["id"] / "clip.json").read_bytes())["source"] == "good/clip.wav"
    rejected = {p.rsplit("/", 1)[-1]: r["error"] for p, r in by_path.items() if r["status"] == "failed"}
    assert "leaves the extraction folder" in rejected["evil.wav"]
    assert "absolute path" in rejected["diarize-abs-evil.wav"]
    assert "symbolic link" in rejected["link.wav"]
    assert not (tmp_path / "work" / "evil.wav").exists() and not (out.parent / "evil.wav").exists()
    assert not Path("/tmp/diarize-abs-evil.wav").exists()
    everything = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*")}
    assert everything == {"g.wav", "inputs", "work"}
    assert not list(out.glob(f"{TMP_PREFIX}*"))  # the extraction folder is gone


def test_tar_links_and_traversal_are_rejected(tmp_path):
    good = write_wav(tmp_path / "g.wav").read_bytes()
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name in ("ok.wav", "../up.wav", "/abs.wav"):
            info = tarfile.TarInfo(name)
            info.size = len(good)
            tf.addfile(info, io.BytesIO(good))
        for name, kind in (("sym.wav", tarfile.SYMTYPE), ("hard.wav", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "ok.wav"
            tf.addfile(info)
    found = extract_archive(archive, tmp_path / "x", ArchiveLimits())
    assert [name for name, _ in found.files] == ["ok.wav"]
    reasons = dict(found.rejected)
    assert set(reasons) == {"../up.wav", "/abs.wav", "sym.wav", "hard.wav"}
    assert reasons["hard.wav"] == "hard link" and reasons["sym.wav"] == "symbolic link"
    assert sorted(p.name for p in (tmp_path / "x").rglob("*")) == ["ok.wav"]


def test_archive_limits(tmp_path):
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zf.writestr(f"m{i}.wav", b"\0" * 100_000)  # compresses to almost nothing: a small bomb
    with pytest.raises(InputError, match="5 members, more than the limit of 4"):
        extract_archive(archive, tmp_path / "a", ArchiveLimits(max_members=4))
    with pytest.raises(InputError, match="more than the limit of 300000"):
        extract_archive(archive, tmp_path / "b", ArchiveLimits(max_total_bytes=300_000))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    found = extract_archive(archive, tmp_path / "c", ArchiveLimits(max_member_bytes=50_000))
    assert found.files == [] and all("more than 50000 bytes" in r for _, r in found.rejected)
    assert list((tmp_path / "c").iterdir()) == []
    with pytest.raises(InputError, match="more than the limit of 2 members"):
        tar = tmp_path / "many.tar"
        with tarfile.open(tar, "w") as tf:
            for i in range(3):
                info = tarfile.TarInfo(f"m{i}.wav")
                tf.addfile(info, io.BytesIO(b""))
        extract_archive(tar, tmp_path / "d", ArchiveLimits(max_members=2))


def test_broken_archive_is_one_failed_input(tmp_path, config):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    summary = _run([tmp_path / "in"], tmp_path / "out", config)
    (record,) = summary.records
    assert record["status"] == "failed" and "not a readable zip archive" in record["error"]


# --- runs with a fake task: retries, timeouts, crashes, resume ----------------------------------------------


def test_retries_crashes_and_timeouts_are_isolated_per_file(tmp_path, config):
    root = tmp_path / "in"
    for name in ("ok", "flaky", "segv", "hang", "bug", "bad"):
        write_wav(root / f"{name}.wav")
    summary = _run([root], tmp_path / "out", config, workers=2, retries=1, timeout=2.0)
    got = {Path(r["path"]).stem: (r["status"], r["attempts"]) for r in summary.records}
    assert got == {
        "ok": ("done", 1), "flaky": ("done", 2), "segv": ("failed", 2), "hang": ("failed", 2),
        "bug": ("failed", 2), "bad": ("failed", 1),
    }
    errors = {Path(r["path"]).stem: r["error"] for r in summary.failed}
    assert errors["segv"] == "worker process died (SIGSEGV)"
    assert errors["hang"] == "timed out after 2 s"
    assert errors["bug"] == "unexpected RuntimeError: boom"
    assert errors["bad"] == "fake decoder says no"
    assert not summary.ok
    final = _by_name(tmp_path / "out")
    assert final["flaky.wav"]["status"] == "done" and final["flaky.wav"]["worker"]["peak_rss_mb"] > 0


def test_no_retries_means_one_attempt(tmp_path, config):
    write_wav(tmp_path / "in" / "flaky.wav")
    summary = _run([tmp_path / "in"], tmp_path / "out", config, retries=0)
    assert [(r["status"], r["attempts"]) for r in summary.records] == [("failed", 1)]


def test_workers_that_cannot_load_models_stop_the_run(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    with pytest.raises(DiarizeError, match="cannot start: model 'x' is missing"):
        _run([tmp_path / "in"], tmp_path / "out", config, task=FakeTask(setup_error="model 'x' is missing"))


def test_resume_skips_done_inputs_and_redoes_damaged_ones(tmp_path, config):
    root, out = tmp_path / "in", tmp_path / "out"
    for name in ("a", "b", "c"):
        write_wav(root / f"{name}.wav", value=ord(name))
    (root / "notes.wav").write_text("text")
    first = _run([root], out, config)
    assert sorted(r["status"] for r in first.records) == ["done", "done", "done", "failed"]
    again = _run([root], out, config)
    assert sorted(r["status"] for r in again.records) == ["failed", "skipped", "skipped", "skipped"]
    records = _by_name(out)
    (out / records["a.wav"]["id"] / "a.json").unlink()  # a lost output
    (out / records["b.wav"]["id"] / "b.json").write_text("{}")  # a changed output
    third = _run([root], out, config)
    statuses = {Path(r["path"]).name: r["status"] for r in third.records}
    assert statuses == {"a.wav": "done", "b.wav": "done", "c.wav": "skipped", "notes.wav": "failed"}
    assert json.loads((out / records["b.wav"]["id"] / "b.json").read_text())["stem"] == "b"
    ids = [r["id"] for r in _lines(out)]
    assert len(ids) == len(set(ids)) == 4  # compacted: one line per id
    no_resume = _run([root], out, config, resume=False)
    assert sorted(r["status"] for r in no_resume.records) == ["done", "done", "done", "failed"]


def test_config_change_is_refused_without_force(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    _run([tmp_path / "in"], out, config)
    other = config.with_hints(language="en")
    with pytest.raises(ConfigError, match="another pipeline configuration.*--force"):
        _run([tmp_path / "in"], out, other)
    forced = _run([tmp_path / "in"], out, other, force=True)
    assert [r["status"] for r in forced.records] == ["done"]
    assert [r["status"] for r in _run([tmp_path / "in"], out, other).records] == ["skipped"]
    # another output format is not a configuration change: that input is simply made again
    assert [r["status"] for r in _run([tmp_path / "in"], out, other, formats=("rttm",)).records] == ["done"]


def test_changed_hints_reprocess_only_that_input(tmp_path, config):
    write_wav(tmp_path / "a.wav", value=1)
    write_wav(tmp_path / "b.wav", value=2)
    listing = tmp_path / "list.csv"
    listing.write_text("path,num_speakers\na.wav,2\nb.wav,\n")
    out = tmp_path / "out"
    run_batch([], out, config, _options(), input_list=listing, task=FakeTask())
    listing.write_text("path,num_speakers\na.wav,3\nb.wav,\n")
    summary = run_batch([], out, config, _options(), input_list=listing, task=FakeTask())
    statuses = {Path(r["path"]).name: r["status"] for r in summary.records}
    assert statuses == {"a.wav": "done", "b.wav": "skipped"}
    record = _by_name(out)["a.wav"]
    assert json.loads((out / record["id"] / "a.json").read_text())["hints"] == {"num_speakers": 3}


def test_orphans_are_removed_and_committed_folders_without_a_line_are_adopted(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    log = tmp_path / "log"
    log.mkdir()
    first = _run([tmp_path / "in"], out, config, task=FakeTask(log_dir=str(log)))
    (out / f"{TMP_PREFIX}deadbeef-1234").mkdir()  # a killed run's work in progress
    (out / MANIFEST_NAME).write_text("")  # killed after the rename, before the manifest line
    summary = _run([tmp_path / "in"], out, config, task=FakeTask(log_dir=str(log)))
    assert [r["status"] for r in summary.records] == ["skipped"]
    assert sum(len(p.read_text().split()) for p in log.iterdir()) == 1  # processed once, in the first run
    assert _final(out)[first.records[0]["id"]]["status"] == "done"
    assert not list(out.glob(f"{TMP_PREFIX}*"))


def test_summary_parquet_and_text(tmp_path, config):
    import pandas as pd

    write_wav(tmp_path / "in" / "a.wav")
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    summary = _run([tmp_path / "in"], tmp_path / "out", config)
    frame = pd.read_parquet(tmp_path / "out" / "summary.parquet")
    assert sorted(frame["status"]) == ["done", "failed"]
    assert frame.loc[frame.status == "failed", "error"].item() == "empty file"
    text = summary.format()
    assert "2 inputs: 1 done, 0 skipped (done earlier), 1 failed" in text
    assert "empty.wav: empty file" in text and "peak memory per worker" in text


def test_worker_threads_share_the_cores(config):
    one = worker_config(config, 1)
    assert (one.asr.cpu_threads, one.speakers.num_threads, one.parallel) == (1, 1, False)
    two = worker_config(config, 2)
    assert (two.asr.cpu_threads, two.speakers.num_threads, two.parallel) == (2, 2, config.parallel)


_KILLABLE_DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from batch_fakes import FakeTask
    from diarize.batch import BatchOptions, run_batch
    from diarize.config import load_pipeline
    run_batch([Path({root!r})], {out!r}, load_pipeline("archive"),
              BatchOptions(workers=1, cores=1), task=FakeTask(delay=1.0, log_dir={log!r}))
""")


def _wait_for_done_line(out: Path, process: subprocess.Popen, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        manifest = out / MANIFEST_NAME
        if manifest.exists() and '"status": "done"' in manifest.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"the batch ended before it was killed: {process.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("no file finished in time")


def test_killed_driver_loses_only_files_in_flight(tmp_path, config):
    root, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    log.mkdir()
    for i in range(5):
        write_wav(root / f"slow{i}.wav", value=i)
    script = _KILLABLE_DRIVER.format(tests=str(TESTS), root=str(root), out=str(out), log=str(log))
    process = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    _wait_for_done_line(out, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(1.5)  # a surviving worker would finish its file meanwhile
    worker_pids = [int(p.stem) for p in log.iterdir()]
    assert all(not _alive(pid) for pid in worker_pids), "a worker outlived its driver"
    done_before = {i for i, r in _final(out).items() if r["status"] == "done"}
    assert 1 <= len(done_before) < 5
    summary = _run([root], out, config, task=FakeTask(log_dir=str(log)))
    assert sorted(r["status"] for r in summary.records).count("skipped") == len(done_before)
    final = _final(out)
    assert len(final) == 5 and all(r["status"] == "done" for r in final.values())
    ids = [r["id"] for r in _lines(out)]
    assert len(ids) == len(set(ids))
    assert not list(out.glob(f"{TMP_PREFIX}*"))
    assert all((out / i / f"{Path(r['path']).stem}.json").is_file() for i, r in final.items())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_ray_engine_retries_crashes_and_timeouts(tmp_path, config, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    root = tmp_path / "in"
    for name in ("ok", "flaky", "segv", "hang", "bad"):
        write_wav(root / f"{name}.wav")
    summary = _run([root], tmp_path / "out", config, engine="ray", workers=2, cores=2, retries=1, timeout=3.0,
                   ray_object_store_bytes=200 * 2**20)
    got = {Path(r["path"]).stem: (r["status"], r["attempts"]) for r in summary.records}
    assert got == {"ok": ("done", 1), "flaky": ("done", 2), "segv": ("failed", 2), "hang": ("failed", 2),
                   "bad": ("failed", 1)}
    errors = {Path(r["path"]).stem: r["error"] for r in summary.failed}
    assert errors["segv"].startswith("worker process died") and errors["hang"] == "timed out after 3 s"


def test_cli_reports_failures_with_exit_status(tmp_path):
    from click.testing import CliRunner

    from diarize.cli import cli
    from diarize.cli_tools import BATCH_SOME_FAILED

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    (tmp_path / "in" / "notes.wav").write_text("text")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "in"), "-o", str(out), "--pipeline", "archive"])
    assert result.exit_code == BATCH_SOME_FAILED, result.output
    assert "2 inputs: 0 done, 0 skipped (done earlier), 2 failed" in result.output
    assert "empty.wav: empty file" in result.output
    assert CliRunner().invoke(cli, ["batch", "-o", str(out)]).exit_code == 2  # nothing to do: usage error
    other = CliRunner().invoke(cli, ["batch", str(tmp_path / "in"), "-o", str(out), "--pipeline", "meeting"])
    assert other.exit_code == BATCH_SOME_FAILED, other.output  # failed inputs pin no configuration
