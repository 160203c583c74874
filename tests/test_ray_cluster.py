"""``diarize batch --engine ray --address`` on a real two-node Ray cluster on this machine (loopback only).

A head node and a separate worker node are started with ``ray start --block`` (one CPU each, a temp folder
each), every process of a node in its own process group, so that the test stops exactly the nodes it started
(and kills the worker node mid-run) without touching any other Ray on the machine. Ray turns a node address of
``127.0.0.1`` into the machine's outward address, so the nodes use ``127.0.0.2`` and ``127.0.0.3``: still
loopback, and two distinct node addresses.

A run on the cluster must give the same outputs as the local engine (JSON compared without its timings), with
work done on both nodes; a run whose worker node is killed mid-run must still finish every input exactly once,
by retrying the lost file on the head node, or on resuming.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from batch_fakes import comparable_outputs

from diarize.batch import RunManifest
from diarize.batch.outputs import MANIFEST_NAME

pytestmark = pytest.mark.slow

RAY = Path(sys.executable).with_name("ray")
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
COMMON = ["--pipeline", "archive", "--workers", "2", "--threads", "1"]
FILES = ("ami_trn00", "ami_trn01", "ami_trn03", "ami_trn04", "ami_trn05", "ami_trn06", "ami_trn08", "ami_trn09")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HEAD_IP, 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    """Nodes and driver alike: no usage reports, and no token authentication (a token file that a private
    Ray left in the home folder would otherwise switch some processes to it and not others)."""
    return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled", "OMP_WAIT_POLICY": "PASSIVE"}


@dataclass
class _Node:
    process: subprocess.Popen
    log: Path

    def wait_started(self, limit: float = 120.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "Ray runtime started" in text:
                return
            if self.process.poll() is not None:
                pytest.skip(f"ray start failed: {text.strip().splitlines()[-1:] or ['no output']}")
            time.sleep(0.2)
        pytest.skip("ray start did not finish in time")

    def pids(self) -> set[int]:
        """Every live process of this node: its process group and their descendants (Ray's workers run in
        process groups of their own, as children of the node's raylet)."""
        parents, groups = {}, {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                pid = int(stat.parent.name)
                parents[pid], groups[pid] = int(fields[1]), int(fields[2])
        found = {pid for pid, group in groups.items() if group == self.process.pid}
        grew = True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in found} - found
            found |= more
            grew = bool(more)
        return found

    def kill(self) -> None:
        """SIGKILL every process of this node, as a machine that dies would stop them."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)


def _start_node(args: list[str], log: Path) -> _Node:
    with log.open("w") as out:
        process = subprocess.Popen([str(RAY), "start", *args, "--block"], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, env=_env())
    return _Node(process, log)


@dataclass
class _Cluster:
    address: str
    head: _Node
    worker: _Node


@pytest.fixture
def cluster() -> Iterator[_Cluster]:
    if not RAY.exists():
        pytest.skip("the ray command is not installed")
    port = _free_port()
    root = Path(tempfile.mkdtemp(prefix="dz-ray-"))  # short: Ray's socket paths must fit in 107 bytes
    nodes: list[_Node] = []
    try:
        head = _start_node(["--head", "--node-ip-address", HEAD_IP, "--port", str(port), "--num-cpus", "1",
                            "--include-dashboard", "false", "--disable-usage-stats",
                            "--ray-client-server-port", str(_free_port()), "--temp-dir", str(root / "head")],
                           root / "head.log")
        nodes.append(head)
        head.wait_started()
        worker = _start_node(["--address", f"{HEAD_IP}:{port}", "--node-ip-address", WORKER_IP, "--num-cpus", "1",
                              "--temp-dir", str(root / "worker")], root / "worker.log")
        nodes.append(worker)
        worker.wait_started()
        yield _Cluster(f"{HEAD_IP}:{port}", head, worker)
    finally:
        for node in reversed(nodes):
            node.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def media_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import soundfile as sf

    root = tmp_path_factory.mktemp("cluster") / "in"
    root.mkdir()
    for name in FILES:  # the first 10 s of each keep the run short
        samples, rate = sf.read(shared_data / "meetings" / f"{name}.wav", frames=160_000, dtype="float32")
        sf.write(root / f"{name}.wav", samples, rate, subtype="PCM_16")
    return root


def _batch(media: Path, out: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "diarize", "batch", str(media), "-o", str(out), *COMMON, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())


def _finish(process: subprocess.Popen, limit: float = 600.0) -> str:
    try:
        stdout, stderr = process.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the batch did not finish in time")
    assert process.returncode == 0, stdout + stderr
    return stdout


def _lines(out: Path) -> list[dict]:
    """The manifest's complete lines (none while it does not exist)."""
    try:
        text = (out / MANIFEST_NAME).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]


@pytest.fixture(scope="module")
def local_run(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("local") / "out"
    _finish(_batch(media_dir, out))
    return out


def test_cluster_run_matches_the_local_engine_and_uses_both_nodes(
    cluster: _Cluster, media_dir: Path, local_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = _batch(media_dir, out, "--engine", "ray", "--address", cluster.address)
    worker_pids: set[int] = set()
    while process.poll() is None:  # the worker node's actor exits with the run: note its pid while it lives
        worker_pids |= cluster.worker.pids()
        time.sleep(0.2)
    output = _finish(process)
    assert f"{len(FILES)} inputs: {len(FILES)} done" in output
    records = RunManifest(out / MANIFEST_NAME).read().values()
    assert {r["status"] for r in records} == {"done"} and all(r["engine"] == "ray" for r in records)
    used = {r["worker"]["pid"] for r in records}
    assert used & worker_pids, "no input ran on the worker node"
    assert used - worker_pids, "no input ran on the head node"
    assert comparable_outputs(out) == comparable_outputs(local_run)


def test_worker_node_killed_mid_run_loses_and_duplicates_nothing(
    cluster: _Cluster, media_dir: Path, local_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = _batch(media_dir, out, "--engine", "ray", "--address", cluster.address)
    seen: set[int] = set()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        seen |= cluster.worker.pids()
        if any(r["worker"].get("pid") in seen for r in _lines(out)):  # the worker node has finished one input
            break
        time.sleep(0.1)
    assert process.poll() is None, "the batch ended before the worker node could be killed"
    finished_before = len(_lines(out))
    assert finished_before < len(FILES)
    cluster.worker.kill()
    try:
        _, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail("the batch did not finish after its worker node died")
    if process.returncode != 0:  # the run may give up; a resumed run on the head node alone must finish it
        sys.stderr.write(f"the run stopped when its worker node died; resuming:\n{stderr}\n")
        _finish(_batch(media_dir, out, "--engine", "ray", "--address", cluster.address))
    assert cluster.worker.pids() == set()
    lines = _lines(out)
    if process.returncode == 0:  # the file lost with the worker node was retried on the head node
        assert [r for r in lines if r["attempts"] == 2], stderr
    assert len(lines) == len({r["id"] for r in lines}) == len(FILES)  # one line per input: none lost, none twice
    assert {r["status"] for r in lines} == {"done"}
    assert comparable_outputs(out) == comparable_outputs(local_run)
    folders = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(folders) == len(FILES)
    shutil.rmtree(out)
