"""``diarize batch`` without models: discovery, ids, manifest state, archives, resume, retries, kills.

The real-model acceptance tests are in ``test_batch_real.py``.
"""

from __future__ import annotations

import dataclasses
import hashlib
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
from diarize.batch.archives import ArchiveError, MemberExtractor, UnpackBudget, member_problem, scan_archive
from diarize.batch.inputs import sniff_media
from diarize.batch.outputs import MANIFEST_NAME, TMP_PREFIX
from diarize.config import load_pipeline
from diarize.errors import ConfigError, DiarizeError, OutputError

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def config():
    return load_pipeline("archive")


def _options(**changes) -> BatchOptions:
    workers = changes.get("workers", 1)
    return BatchOptions(**{"workers": 1, "retries": 1, "cores": workers, **changes})  # one core per worker


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
    found = discover([root])
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
    ids1 = {Path(i.path).name: i.id for i in discover([first]).inputs}
    ids2 = {Path(i.path).name: i.id for i in discover([second]).inputs}
    assert ids1 == ids2
    assert ids1["a.wav"] != ids1["b.wav"]
    write_wav(second / "a.wav", value=7)  # content changed: new id
    ids3 = {Path(i.path).name: i.id for i in discover([second]).inputs}
    assert ids3["a.wav"] != ids1["a.wav"] and ids3["b.wav"] == ids1["b.wav"]
    assert input_id("in/a.wav", "00") == input_id("in/a.wav", "00") != input_id("in/b.wav", "00")


def test_missing_argument_becomes_a_failed_input(tmp_path):
    found = discover([tmp_path / "nope.wav"])
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


def _scan(archive: Path, limits: ArchiveLimits | None = None):
    return scan_archive(archive, UnpackBudget(limits or ArchiveLimits()), lambda name, head: True)


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
    listing = _scan(archive)
    assert [m.name for m in listing.members] == ["ok.wav"]
    assert listing.members[0].digest == hashlib.sha256(good).hexdigest()
    reasons = dict(listing.rejected)
    assert set(reasons) == {"../up.wav", "/abs.wav", "sym.wav", "hard.wav"}
    assert reasons["hard.wav"] == "archive member rejected: hard link"
    assert reasons["sym.wav"] == "archive member rejected: symbolic link"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "g.wav"]  # listing writes nothing
    extractor = MemberExtractor(tmp_path / "x", ArchiveLimits())
    (tmp_path / "x").mkdir()
    unpacked = extractor.extract(listing.members[0], "k")
    assert unpacked == tmp_path / "x" / "k" / "ok.wav" and unpacked.read_bytes() == good
    extractor.remove("k")
    extractor.close()
    assert list((tmp_path / "x").iterdir()) == []


def _bomb(path: Path, members: int = 5, size: int = 100_000) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            zf.writestr(f"m{i}.wav", bytes([i]) * size)  # compresses to almost nothing: a small bomb
    return path


def test_archive_limits_name_the_option_in_mib_without_the_path(tmp_path):
    archive = _bomb(tmp_path / "many.zip")
    with pytest.raises(ArchiveError) as caught:
        _scan(archive, ArchiveLimits(max_members=4))
    assert caught.value.problem == "holds 5 members, over the limit of 4 (raise it with --archive-max-members)"
    listing = _scan(archive, ArchiveLimits(max_member_bytes=50_000))
    assert listing.members == [] and len(listing.rejected) == 5
    assert dict(listing.rejected)["m0.wav"] == (
        "unpacks to 0.095 MiB, over the 0.048 MiB limit for one archive member (raise it with --archive-max-mib)")
    tar = tmp_path / "many.tar"
    with tarfile.open(tar, "w") as tf:
        for i in range(3):
            tf.addfile(tarfile.TarInfo(f"m{i}.wav"), io.BytesIO(b""))
    with pytest.raises(ArchiveError) as caught:
        _scan(tar, ArchiveLimits(max_members=2))
    assert caught.value.problem == "holds more than 2 members, over the limit (raise it with --archive-max-members)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.tar", "many.zip"]


def test_total_limit_spans_every_archive_of_the_run(tmp_path):
    (tmp_path / "in").mkdir()
    first = _bomb(tmp_path / "in" / "one.zip", members=3)
    _bomb(tmp_path / "in" / "two.zip", members=3)
    limits = ArchiveLimits(max_total_bytes=450_000)  # 4 of the 6 members of 100 000 bytes
    found = discover([tmp_path / "in"], limits=limits)
    ok = [i.path for i in found.inputs if i.problem is None]
    refused = {i.path: i.problem for i in found.inputs if i.problem is not None}
    assert ok == [f"{first}/m0.wav", f"{first}/m1.wav", f"{first}/m2.wav", f"{tmp_path}/in/two.zip/m0.wav"]
    assert sorted(refused) == [f"{tmp_path}/in/two.zip/m1.wav", f"{tmp_path}/in/two.zip/m2.wav"]
    for problem in refused.values():
        assert "--archive-total-mib" in problem and "0.43 MiB limit in total" in problem
        assert str(tmp_path) not in problem and "two.zip" not in problem and "\n" not in problem


def _wav_archives(root: Path, tmp_path: Path, seconds: float = 3.0) -> list[str]:
    """A zip and a tar.gz holding three WAV members each (about 96 kB each); returns their member names."""
    names = []
    with zipfile.ZipFile(root / "a.zip", "w") as zf:
        for i in range(3):
            zf.writestr(f"rec/slow{i}.wav", write_wav(tmp_path / f"z{i}.wav", seconds, value=i).read_bytes())
            names.append(f"slow{i}.wav")
    with tarfile.open(root / "b.tar.gz", "w:gz") as tf:
        for i in range(3):
            tf.add(write_wav(tmp_path / f"t{i}.wav", seconds, value=10 + i), arcname=f"slow-t{i}.wav")
            names.append(f"slow-t{i}.wav")
    return names


class _SmallDisk:
    """``shutil.disk_usage`` of a disk with ``free`` bytes less what lies unpacked under ``out``."""

    def __init__(self, out: Path, free: int) -> None:
        self.out, self.free = out, free

    def __call__(self, path):
        used = sum(p.stat().st_size for p in self.out.glob(f"{TMP_PREFIX}extract-*/**/*") if p.is_file())
        return shutil._ntuple_diskusage(10 * self.free, 0, self.free - used)


@pytest.mark.parametrize("workers, disk", [(1, None), (2, 150_000)])
def test_archive_members_are_unpacked_one_at_a_time(tmp_path, config, monkeypatch, workers, disk):
    root, out, log = tmp_path / "in", tmp_path / "out", tmp_path / "log"
    root.mkdir()
    log.mkdir()
    names = _wav_archives(root, tmp_path)
    if disk is not None:  # room for one member, not two: the second waits for the first
        monkeypatch.setattr("diarize.batch.archives.shutil.disk_usage", _SmallDisk(out, disk))
    limits = ArchiveLimits(max_total_bytes=10 * 2**20, min_free_bytes=0)
    task = FakeTask(delay=0.3, log_dir=str(log), watch=str(out))
    summary = _run([root], out, config, task=task, workers=workers, archive_limits=limits)
    assert sorted(Path(r["path"]).name for r in summary.records) == sorted(names)
    assert all(r["status"] == "done" for r in summary.records), summary.failure_lines()
    seen = [json.loads(line) for p in log.glob("*.staged") for line in p.read_text().splitlines()]
    assert len(seen) == 6
    for call in seen:  # on disk while a worker ran: its own member, nothing else
        (staged,) = call["staged"]
        assert call["file"] == str(out / staged) and staged.endswith(Path(call["file"]).name)
    assert not list(out.glob(f"{TMP_PREFIX}*"))
    again = _run([root], out, config, task=task, workers=workers, archive_limits=limits)
    assert [r["status"] for r in again.records] == ["skipped"] * 6  # members keep their ids across runs


def test_member_that_cannot_fit_on_the_disk_fails_alone(tmp_path, config, monkeypatch):
    root, out = tmp_path / "in", tmp_path / "out"
    root.mkdir()
    _wav_archives(root, tmp_path)
    monkeypatch.setattr("diarize.batch.archives.shutil.disk_usage", _SmallDisk(out, 50 * 2**20))
    limits = ArchiveLimits(min_free_bytes=50 * 2**20)
    summary = _run([root], out, config, archive_limits=limits)
    assert len(summary.failed) == 6
    assert {r["error"] for r in summary.failed} == {
        "unpacks to 0.092 MiB, but the disk of the output folder has 50 MiB free and 50 MiB must stay free; "
        "free some space and run again"
    }
    assert {r["attempts"] for r in summary.failed} == {0}


def test_member_changed_since_discovery_is_not_processed(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.wav", b"one")
    (member,) = _scan(archive).members
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.wav", b"two")
    (tmp_path / "x").mkdir()
    with pytest.raises(ArchiveError, match="changed since the run started"):
        MemberExtractor(tmp_path / "x", ArchiveLimits(min_free_bytes=0)).extract(member, "k")
    assert list((tmp_path / "x").iterdir()) == []


def test_leftover_extraction_folders_are_removed_at_start(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    leftover = out / f"{TMP_PREFIX}extract-0badf00d" / "1234abcd"
    leftover.mkdir(parents=True)
    (leftover / "big.wav").write_bytes(b"\0" * 1000)
    summary = _run([tmp_path / "in"], out, config)
    assert [r["status"] for r in summary.records] == ["done"]
    assert not list(out.glob(f"{TMP_PREFIX}*"))


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
    assert "peak memory per worker" in text and "empty" not in text
    assert summary.failure_lines() == [f"failed: {tmp_path / 'in' / 'empty.wav'}: empty file"]


def test_output_folders_and_files_follow_the_umask(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    out = tmp_path / "out"
    old = os.umask(0o022)
    try:
        (record,) = _run([tmp_path / "in"], out, config).records
    finally:
        os.umask(old)
    folder = out / record["id"]
    assert oct(folder.stat().st_mode & 0o777) == oct(0o755)
    assert {oct(p.stat().st_mode & 0o777) for p in folder.iterdir()} == {oct(0o644)}
    assert oct((out / MANIFEST_NAME).stat().st_mode & 0o777) == oct(0o644)


def test_worker_threads_share_the_cores(config):
    one = worker_config(config, 1)
    assert (one.asr.cpu_threads, one.speakers.num_threads, one.parallel) == (1, 1, False)
    two = worker_config(config, 2)
    assert (two.asr.cpu_threads, two.speakers.num_threads, two.parallel) == (1, 1, True)
    six = worker_config(config, 6)
    assert (six.asr.cpu_threads, six.speakers.num_threads, six.parallel) == (2, 4, True)
    named = dataclasses.replace(config, asr=dataclasses.replace(config.asr, cpu_threads=3))
    assert worker_config(named, 6).asr.cpu_threads == 3  # the pipeline's own count is kept ...
    assert worker_config(named, 6, override=True).asr.cpu_threads == 2  # ... unless --threads says otherwise


def test_workers_never_take_more_threads_than_cores(tmp_path, config):
    write_wav(tmp_path / "in" / "a.wav")
    summary = run_batch([tmp_path / "in"], tmp_path / "out", config, BatchOptions(workers=4, cores=2),
                        task=FakeTask())
    assert (summary.workers, summary.threads) == (2, 1)
    summary = run_batch([tmp_path / "in"], tmp_path / "out2", config,
                        BatchOptions(workers=2, cores=2, threads=2), task=FakeTask())
    assert (summary.workers, summary.threads) == (1, 2)


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


_CLI_WITH_FAKE_TASK = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from batch_fakes import FakeTask
    import diarize.batch.runner as runner
    runner.PipelineTask = lambda config, formats, threads, cache_dir: FakeTask(threads, 1.0, log_dir={log!r})
    from diarize.cli.main import main
    sys.argv = ["diarize", "batch", {root!r}, "-o", {out!r}, "--pipeline", "archive", "--workers", "2"]
    main()
""")


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_the_batch_and_a_resumed_run_completes_each_input_once(tmp_path, config, signum, status):
    root, out, log, log2 = tmp_path / "in", tmp_path / "out", tmp_path / "log", tmp_path / "log2"
    for folder in (root, log, log2):
        folder.mkdir()
    _wav_archives(root, tmp_path, seconds=0.5)
    for i in range(3):
        write_wav(root / f"slow-file{i}.wav", value=20 + i)
    script = _CLI_WITH_FAKE_TASK.format(tests=str(TESTS), root=str(root), out=str(out), log=str(log))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    _wait_for_done_line(out, process)
    process.send_signal(signum)
    try:
        _, stderr = process.communicate(timeout=60)  # generous: the run stops in about a second
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the batch did not stop")
    assert process.returncode == status, stderr
    (line,) = stderr.splitlines()
    assert line.startswith(f"diarize: interrupted by {signal.Signals(signum).name}: ") and "resume" in line
    worker_pids = {int(p.stem) for p in log.iterdir()}
    assert worker_pids and all(not _alive(pid) for pid in worker_pids), "a worker outlived the interrupt"
    assert not list(out.glob(f"{TMP_PREFIX}*"))  # unpacked members and work in progress are gone
    lines = _lines(out)  # compacted: whole lines, one per id
    assert len(lines) == len({r["id"] for r in lines}) and all(r["status"] == "done" for r in lines)
    done_before = {r["id"] for r in lines}
    assert 1 <= len(done_before) < 9
    for record in lines:
        assert OutputStore(out).intact(record)

    summary = _run([root], out, config, task=FakeTask(log_dir=str(log2)), workers=2)
    processed = [i for p in log2.iterdir() for i in p.read_text().split()]
    assert len(processed) == len(set(processed)) == 9 - len(done_before)
    assert set(processed).isdisjoint(done_before)
    assert sorted(r["status"] for r in summary.records) == ["done"] * len(processed) + ["skipped"] * len(
        done_before)
    final = _final(out)
    assert len(final) == 9 and all(r["status"] == "done" for r in final.values())
    assert len(_lines(out)) == 9


def test_a_signal_inside_a_held_section_waits_for_its_end():
    from diarize.batch.interrupts import SignalStop, Stop

    previous = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(Stop), SignalStop() as stop:
        with stop.held():
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the signal")
        steps.append("after the section")
    assert steps == ["after the signal"] and stop.signum == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is previous


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

    from diarize.cli.main import cli
    from diarize.cli.tools import BATCH_SOME_FAILED

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    (tmp_path / "in" / "notes.wav").write_text("text")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "in"), "-o", str(out), "--pipeline", "archive"])
    assert result.exit_code == BATCH_SOME_FAILED, result.output
    assert "2 inputs: 0 done, 0 skipped (done earlier), 2 failed" in result.stdout
    assert "failed" not in result.stdout.split("\n", 1)[1]  # the failures themselves go to stderr
    failures = sorted(result.stderr.splitlines())
    assert failures[0] == f"failed: {tmp_path / 'in' / 'empty.wav'}: empty file"
    assert failures[1].startswith(f"failed: {tmp_path / 'in' / 'notes.wav'}: cannot be decoded") and len(failures) == 2
    assert CliRunner().invoke(cli, ["batch", "-o", str(out)]).exit_code == 2  # nothing to do: usage error
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.wav", b"\0" * (3 * 2**20))
        zf.writestr("small.wav", b"\0" * 2**20)
    result = CliRunner().invoke(cli, ["batch", str(tmp_path / "bomb.zip"), "-o", str(tmp_path / "out2"),
                                      "--pipeline", "archive", "--archive-max-mib", "2", "--archive-total-mib", "2"])
    assert result.exit_code == BATCH_SOME_FAILED, result.output
    big, small = sorted(result.stderr.splitlines())
    assert big == (f"failed: {tmp_path / 'bomb.zip'}/big.wav: unpacks to 3 MiB, over the 2 MiB limit for one "
                   "archive member (raise it with --archive-max-mib)")
    assert small.startswith(f"failed: {tmp_path / 'bomb.zip'}/small.wav: cannot be decoded")  # unpacked, probed
    other = CliRunner().invoke(cli, ["batch", str(tmp_path / "in"), "-o", str(out), "--pipeline", "meeting"])
    assert other.exit_code == BATCH_SOME_FAILED, other.output  # failed inputs pin no configuration
