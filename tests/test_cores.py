"""The cores diarize may use (affinity, cgroup quotas) and how a run and a batch share them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from diarize import cores
from diarize.config import load_pipeline
from diarize.cores import (
    ThreadBudget,
    ThreadPlan,
    available_cores,
    batch_workers,
    cgroup_quota,
    config_plan,
    cpu_info,
    current_budget,
    plan_threads,
    with_threads,
)


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """A fake machine: ``machine(affinity, cgroup_lines, files)`` sets the affinity, /proc/self/cgroup and the
    files under the cgroup root."""
    root = tmp_path / "cgroup"
    root.mkdir()
    proc = tmp_path / "proc_self_cgroup"
    monkeypatch.setattr(cores, "CGROUP_ROOT", root)
    monkeypatch.setattr(cores, "PROC_SELF_CGROUP", proc)

    def make(affinity: int, lines: str = "0::/\n", files: dict[str, str] | None = None) -> Path:
        monkeypatch.setattr(cores.os, "sched_getaffinity", lambda pid: set(range(affinity)), raising=False)
        proc.write_text(lines)
        for name, text in (files or {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return root

    return make


def test_affinity_counts_when_no_quota_is_set(machine):
    machine(6, files={"cpu.max": "max 100000\n"})
    assert cgroup_quota() is None
    assert available_cores() == 6


def test_cgroup_v2_quota_lowers_the_cores_rounded_down(machine):
    machine(8, lines="0::/job/slice\n", files={"job/slice/cpu.max": "250000 100000\n"})
    assert cgroup_quota() == 2
    assert available_cores() == 2


def test_a_quota_below_one_core_still_leaves_one(machine):
    machine(4, files={"cpu.max": "50000 100000"})
    assert available_cores() == 1


def test_cgroup_v1_quota_and_its_unlimited_value(machine):
    machine(16, lines="4:cpu,cpuacct:/box\n1:memory:/box\n",
            files={"cpu,cpuacct/box/cpu.cfs_quota_us": "300000", "cpu,cpuacct/box/cpu.cfs_period_us": "100000"})
    assert available_cores() == 3
    (cores.CGROUP_ROOT / "cpu,cpuacct/box/cpu.cfs_quota_us").write_text("-1\n")
    assert cgroup_quota() is None
    assert available_cores() == 16


def test_affinity_below_the_quota_wins(machine):
    machine(1, files={"cpu.max": "400000 100000"})
    assert available_cores() == 1


def test_unreadable_or_garbled_cgroup_files_mean_no_quota(machine):
    machine(3, files={"cpu.max": "lots of cpu"})
    assert cgroup_quota() is None and available_cores() == 3


@pytest.mark.parametrize(
    "budget, asr, speakers",
    [(2, 1, 1), (3, 1, 2), (4, 1, 3), (6, 2, 4), (16, 5, 11)],
)
def test_side_by_side_the_speaker_stage_gets_two_thirds(budget, asr, speakers):
    plan = plan_threads(0, 0, parallel=True, budget=budget)
    assert plan == ThreadPlan(budget, asr, speakers, parallel=True)
    assert plan.asr + plan.speakers == budget


def test_one_core_runs_the_stages_one_after_the_other():
    assert plan_threads(0, 0, parallel=True, budget=1) == ThreadPlan(1, 1, 1, parallel=False)


def test_one_after_the_other_each_automatic_stage_gets_every_core():
    assert plan_threads(0, 0, parallel=False, budget=4) == ThreadPlan(4, 4, 4, parallel=False)
    assert plan_threads(2, 0, parallel=False, budget=4) == ThreadPlan(4, 2, 4, parallel=False)


def test_explicit_counts_win_and_the_other_stage_gets_the_rest():
    assert plan_threads(3, 0, parallel=True, budget=4) == ThreadPlan(4, 3, 1, parallel=True)
    assert plan_threads(0, 2, parallel=True, budget=6) == ThreadPlan(6, 4, 2, parallel=True)
    assert plan_threads(5, 1, parallel=True, budget=2) == ThreadPlan(2, 5, 1, parallel=True)
    assert plan_threads(4, 0, parallel=True, budget=4) == ThreadPlan(4, 4, 1, parallel=True)


def test_counts_that_both_stages_name_are_the_plan(machine):
    machine(1)
    assert plan_threads(1, 3, parallel=True) == ThreadPlan(4, 1, 3, parallel=True)
    assert plan_threads(2, 4, parallel=False) == ThreadPlan(4, 2, 4, parallel=False)


def test_the_plan_sizes_from_the_machine_without_a_budget(machine):
    machine(3)
    assert plan_threads(0, 0, parallel=True) == ThreadPlan(3, 1, 2, parallel=True)


def test_openai_whisper_never_runs_side_by_side():
    config = load_pipeline("meeting").with_hints(asr_backend="openai")
    assert config_plan(config, 4) == ThreadPlan(4, 4, 4, parallel=False)


def test_with_threads_writes_the_plan_into_the_config():
    config = load_pipeline("meeting")
    sized = with_threads(config, 3)
    assert (sized.asr.cpu_threads, sized.speakers.num_threads, sized.parallel) == (1, 2, True)
    assert config_plan(sized) == config_plan(config, 3)  # explicit now: the same plan, whatever the machine
    assert config_plan(with_threads(config, 1)) == ThreadPlan(1, 1, 1, parallel=False)


@pytest.mark.parametrize(
    "workers, threads, cores_, expected",
    [(1, None, 4, (1, 4)), (2, None, 4, (2, 2)), (3, None, 4, (3, 1)), (8, None, 2, (2, 1)),
     (2, 2, 2, (1, 2)), (1, 8, 2, (1, 8)), (4, 2, 8, (4, 2))],
)
def test_batch_workers_times_threads_never_exceed_the_cores(workers, threads, cores_, expected):
    got = batch_workers(workers, threads, cores_)
    assert got == expected
    assert got[0] == 1 or got[0] * got[1] <= cores_


def test_cpu_info_names_the_model_and_the_flags_that_matter(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse avx2 fma avx512f\n"
                       "processor\t: 1\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse avx2 fma avx512f\n")
    monkeypatch.setattr(cores, "PROC_CPUINFO", cpuinfo)
    info = cpu_info()
    assert info["model"] == "Test CPU 9000"
    assert info["flags"] == ["avx2", "avx512f", "fma"]
    assert info["cores_available"] >= 1


def test_thread_budget_grows_and_is_never_lowered() -> None:
    budget = ThreadBudget(1)
    assert budget.threads == 1
    budget.raise_to(3)
    assert budget.threads == 3
    budget.raise_to(2)
    assert budget.threads == 3
    assert ThreadBudget(0).threads == 1


def test_bound_budget_is_seen_only_where_it_is_bound() -> None:
    budget = ThreadBudget(1)
    assert current_budget() is None
    seen: list[int | None] = []

    def stage() -> None:  # the speaker stage's thread binds it and reads it between batches
        with budget.bound():
            seen.append(None if current_budget() is None else current_budget().threads)
            started.set()
            raised.wait()
            seen.append(current_budget().threads)
        seen.append(None if current_budget() is None else -1)

    started, raised = threading.Event(), threading.Event()
    worker = threading.Thread(target=stage)
    worker.start()
    started.wait()
    budget.raise_to(2)  # the other stage finished, from another thread
    assert current_budget() is None  # not bound here
    raised.set()
    worker.join()
    assert seen == [1, 2, None]


@pytest.mark.parametrize(
    ("plan", "waiting", "expected"),
    [
        (ThreadPlan(cores=4, asr=1, speakers=3, parallel=True), "speakers", [3, 4]),
        (ThreadPlan(cores=2, asr=1, speakers=1, parallel=True), "asr", [1, 2]),
    ],
)
def test_the_stage_left_running_takes_the_cores_of_the_one_that_finished(
    plan: ThreadPlan, waiting: str, expected: list[int]
) -> None:
    from diarize.pipeline import _side_by_side, _Stop

    started = threading.Event()
    seen: list[int] = []

    def waits() -> str:
        budget = current_budget()
        assert budget is not None
        seen.append(budget.threads)
        started.set()
        for _ in range(10_000):  # until the other stage hands its cores over (a bounded wait, not a timing)
            if budget.threads != seen[0]:
                break
            threading.Event().wait(0.001)
        seen.append(budget.threads)
        return waiting

    def finishes() -> str:
        started.wait()
        return "done"

    asr, speakers = (waits, finishes) if waiting == "asr" else (finishes, waits)
    result = _side_by_side(asr, speakers, _Stop(None), plan)  # type: ignore[arg-type]
    assert result == (("asr", "done") if waiting == "asr" else ("done", "speakers"))
    assert seen == expected
    assert current_budget() is None


def test_transcription_has_a_model_replica_per_share_of_the_budget() -> None:
    assert ThreadPlan(2, 1, 1, parallel=True).asr_workers == 2
    assert ThreadPlan(6, 2, 4, parallel=True).asr_workers == 3
    assert ThreadPlan(2, 2, 2, parallel=False).asr_workers == 1


def test_windows_are_decoded_in_order_one_at_a_time_without_a_budget() -> None:
    from diarize.asr.concurrency import decode_windows

    threads: set[str] = set()
    finished: list[int] = []

    def decode(window: int) -> int:
        threads.add(threading.current_thread().name)
        return window * 10

    assert decode_windows(decode, [1, 2, 3], 4, 1, finished.append) == [10, 20, 30]
    assert finished == [0, 1, 2] and threads == {threading.current_thread().name}


def test_windows_are_decoded_side_by_side_once_the_budget_grows() -> None:
    from diarize.asr.concurrency import decode_windows

    budget = ThreadBudget(1)
    lock = threading.Lock()
    running, most = [0], [0]
    pair = threading.Barrier(2, timeout=10)  # windows 3 and 4 only pass it when they run at the same time

    def decode(window: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        if window >= 3:
            pair.wait()
        with lock:
            running[0] -= 1
        return -window

    def done(index: int) -> None:
        if index == 2:
            assert most[0] == 1  # one replica's worth of threads so far
            budget.raise_to(2)  # the speaker stage finished

    with budget.bound():
        assert decode_windows(decode, [0, 1, 2, 3, 4], 2, 1, done) == [0, -1, -2, -3, -4]
    assert most[0] == 2


def test_a_failing_window_stops_the_others_and_raises() -> None:
    from diarize.asr.concurrency import decode_windows

    started: list[int] = []

    def decode(window: int) -> int:
        started.append(window)
        if window == 1:
            raise ValueError("window 1 is broken")
        return window

    with ThreadBudget(2).bound(), pytest.raises(ValueError, match="window 1"):
        decode_windows(decode, list(range(20)), 2, 1, lambda index: None)
    assert len(started) < 20
