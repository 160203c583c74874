"""The package's shared helpers: interval merging, progress hooks, signal wording, versions, ``diarize dev``."""

from __future__ import annotations

import signal
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner

from diarize import supervise
from diarize.cli.main import cli
from diarize.hooks import Hooks, no_hook
from diarize.spans import merge_spans
from diarize.versions import versions


def test_merge_spans_merges_overlapping_and_touching_intervals_in_order() -> None:
    spans = [(5.0, 6.0), (0.0, 1.0), (1.0, 2.0), (1.5, 1.8), (2.5, 3.0)]
    assert merge_spans(spans) == [(0.0, 2.0), (2.5, 3.0), (5.0, 6.0)]


def test_merge_spans_gap_bridges_only_spaces_shorter_than_it() -> None:
    runs = [(0, 3), (5, 8), (11, 12)]
    assert merge_spans(runs, gap=3) == [(0, 8), (11, 12)]  # space 2 < 3 merges, space 3 does not
    assert merge_spans(runs, gap=4) == [(0, 12)]


def test_merge_spans_can_keep_touching_intervals_apart() -> None:
    spans = [(0.0, 1.0), (1.0, 2.0), (1.5, 3.0)]
    assert merge_spans(spans, touching=False) == [(0.0, 1.0), (1.0, 3.0)]
    assert merge_spans([]) == []


def test_hooks_send_each_report_to_every_hook_in_order() -> None:
    seen: list[tuple[str, str, int, int]] = []
    first = lambda s, c, t: seen.append(("first", s, c, t))  # noqa: E731
    second = lambda s, c, t: seen.append(("second", s, c, t))  # noqa: E731
    hooks = Hooks(first, None, second)
    hooks("asr", 1, 4)
    no_hook("asr", 2, 4)
    assert seen == [("first", "asr", 1, 4), ("second", "asr", 1, 4)]


def test_signal_wording_and_exit_statuses() -> None:
    assert supervise.interrupted_line(signal.SIGINT) == "diarize: interrupted"
    assert supervise.interrupted_line(signal.SIGTERM) == "diarize: interrupted (SIGTERM)"
    assert [supervise.exit_status(s) for s in supervise.STOP_SIGNALS] == [130, 143]
    assert supervise.exit_reason(-signal.SIGKILL) == "SIGKILL"
    assert supervise.exit_reason(-200) == "signal 200"
    assert supervise.exit_reason(3) == "exit status 3"


def test_install_and_restore_handlers_put_the_previous_ones_back() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def handler(signum: int, frame: object) -> None:
        return None

    previous = supervise.install_handlers(handler)
    assert signal.getsignal(signal.SIGTERM) is handler and signal.getsignal(signal.SIGINT) is handler
    supervise.restore_handlers(previous)
    assert signal.getsignal(signal.SIGTERM) is before


def test_versions_name_diarize_and_only_installed_packages() -> None:
    found = versions()
    assert found["diarize"] and found["python"].count(".") == 2
    assert all(isinstance(v, str) and v for v in found.values())
    assert "numpy" in found


def test_dev_tune_concat_repeats_whole_recordings_with_their_reference(tmp_path: Path) -> None:
    from diarize.models.registry import sample_path

    if not sample_path().is_file():
        pytest.skip("the sample recording is not installed")
    out = tmp_path / "long.wav"
    result = CliRunner().invoke(
        cli, ["dev", "tune", "concat", "--data", str(tmp_path / "absent"), "--minutes", "0.6", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as f:
        seconds = f.getnframes() / f.getframerate()
    with wave.open(str(sample_path())) as f:
        clip = f.getnframes() / f.getframerate()
    assert seconds == pytest.approx(2 * clip)  # whole clips until 36 s are reached: the sample twice
    reference = [line for line in sample_path(".rttm").read_text().splitlines() if line.startswith("SPEAKER")]
    lines = out.with_suffix(".rttm").read_text().splitlines()
    assert len(lines) == 2 * len(reference)
    assert float(lines[len(reference)].split()[3]) >= clip  # the second copy's turns are shifted by one clip
    assert out.with_suffix(".uem").read_text() == f"long NA 0.000 {2 * clip:.3f}\n"


def test_dev_tune_rejects_an_unknown_subcommand() -> None:
    result = CliRunner().invoke(cli, ["dev", "tune", "bogus"])
    assert result.exit_code == 2
