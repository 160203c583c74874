"""diarize.eval.metrics: published numbers (dscore, SpeechBrain/md-eval, meeteval) and hand-made cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from diarize.eval.metrics import (
    CpWerScore,
    DerScore,
    JerScore,
    SpeakerCount,
    WderScore,
    WordErrors,
    cpwer,
    der,
    jer,
    speaker_count,
    tcpwer,
    wder,
    word_errors,
)
from diarize.eval.scoring import load_rttm, load_seglst, load_stm
from diarize.types import Segment, Span, SpeakerTurn

# --------------------------------------------------------------------------------------------------
# dscore (nryant/dscore scorelib/tests): DER 26.39309 %, JER 33.24631 % at collar 0
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dscore(shared_data: Path) -> dict:
    folder = shared_data / "scoring" / "dscore"
    return {
        "ref": load_rttm(folder / "ref.rttm")["FILE1"],
        "sys": load_rttm(folder / "sys.rttm")["FILE1"],
        "expected": json.loads((folder / "expected.json").read_text()),
    }


def test_dscore_der_exact(dscore: dict) -> None:
    # dscore scored FILE1 over 0-43 s (test_score.py's UEM); its test_metrics.py passes no UEM, and dscore
    # then scores the extent of ref + sys turns (0-41.046 s). No turn lies outside, so both give this DER.
    # test_load.uem is a loader fixture, not what scored this: dscore's load_uem keeps ONE region per file
    # (the last line, 25-30.4 s), while diarize keeps every region (0-15 s and 25-30.4 s), as NIST UEMs allow.
    expected = dscore["expected"]
    assert expected["uem"] == "FILE1 1 0.000 43.000" and expected["collar"] == 0.0
    for uem in ([Span(0.0, 43.0)], None):
        score = der(dscore["ref"], dscore["sys"], uem=uem, collar=0.0)
        assert round(100 * score.der, 5) == expected["expected_dscore"]["DER"] == 26.39309
        assert score.missed == pytest.approx(3.726, abs=1e-9)
        assert score.false_alarm == pytest.approx(1.043, abs=1e-9)
        assert score.confusion == pytest.approx(3.425, abs=1e-9)
        assert score.total == pytest.approx(31.046, abs=1e-9)
    two_regions = der(dscore["ref"], dscore["sys"], uem=[Span(0, 15), Span(25, 30.4)], collar=0.0)
    assert round(100 * two_regions.der, 2) == 9.67  # a different scored region, a different number


def _dscore_frames(turns: list[SpeakerTurn], end: float, step: float = 0.01) -> list[SpeakerTurn]:
    """Turns snapped to dscore's 10 ms frames: frame t is active when onset <= t < offset (score.py)."""
    times = step * np.arange(int(end / step))
    out = []
    for t in turns:
        first, stop = np.searchsorted(times, [t.start, t.end])
        if stop > first:
            out.append(SpeakerTurn(first * step, stop * step, t.speaker))
    return out


def test_dscore_jer_differs_only_by_frame_quantisation(dscore: dict) -> None:
    # pyannote.metrics scores JER on exact times: 33.21709 %. dscore builds its JER contingency matrix on
    # 10 ms frames, so each boundary moves up to the next frame; JER on the quantised turns is dscore's
    # 33.24631 %. (The speaker mapping is the same here: 2 x 2 speakers, both criteria pick the diagonal.)
    uem = [Span(0.0, 43.0)]
    exact = jer(dscore["ref"], dscore["sys"], uem=uem)
    assert exact.speakers == 2
    assert round(100 * exact.jer, 5) == 33.21709
    framed = jer(_dscore_frames(dscore["ref"], 43.0), _dscore_frames(dscore["sys"], 43.0), uem=uem)
    assert round(100 * framed.jer, 5) == dscore["expected"]["expected_dscore"]["JER"] == 33.24631


# --------------------------------------------------------------------------------------------------
# SpeechBrain's DER docstring (md-eval-22 on AMI ES2014c): collar here is pyannote's (0.5 = 0.25 s each side)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("collar", "skip_overlap", "md_eval", "pyannote"),
    [(0.5, True, 7.17, 7.1692), (0.0, False, 19.47, 19.4682), (0.5, False, 10.39, 10.3932)],
)
def test_speechbrain_der(
    shared_data: Path, collar: float, skip_overlap: bool, md_eval: float, pyannote: float
) -> None:
    folder = shared_data / "scoring" / "speechbrain_der"
    expected = json.loads((folder / "expected.json").read_text())["results"]
    row = next(
        r for r in expected if r["collar_each_side"] == collar / 2 and r["skip_overlap"] == skip_overlap
    )
    assert row["md-eval-22"] == md_eval
    ref = load_rttm(folder / "ref_ES2014c.rttm")["ES2014c"]  # SPKR-INFO lines are skipped
    sys = load_rttm(folder / "sys_ES2014c.rttm")["ES2014c"]
    score = der(ref, sys, collar=collar, skip_overlap=skip_overlap)
    assert round(100 * score.der, 2) == md_eval
    assert round(100 * score.der, 4) == pyannote
    if skip_overlap:  # SpeechBrain's own breakdown: all of it is speaker error
        assert score.missed == score.false_alarm == 0.0
        assert 100 * score.confusion / score.total == pytest.approx(7.16923618, abs=1e-6)


# --------------------------------------------------------------------------------------------------
# meeteval 0.4.3 example files: cpWER 27.17 % (25/92), tcpWER (collar 5 s) the same
# --------------------------------------------------------------------------------------------------


def _check_cp(score: CpWerScore, expected: dict) -> None:
    assert score.errors == expected["errors"]
    assert score.reference_words == expected["length"]
    assert (score.insertions, score.deletions, score.substitutions) == (
        expected["insertions"],
        expected["deletions"],
        expected["substitutions"],
    )
    assert score.missed_speakers == expected["missed_speaker"]
    assert score.falarm_speakers == expected["falarm_speaker"]
    assert score.scored_speakers == expected["scored_speaker"]
    assert score.wer == pytest.approx(expected["error_rate"], abs=1e-12)
    if expected["assignment"] is not None:
        assert [list(pair) for pair in score.assignment] == expected["assignment"]


@pytest.mark.parametrize(("metric", "name"), [(cpwer, "cpwer"), (tcpwer, "tcpwer")])
@pytest.mark.parametrize(
    "ref_name,hyp_name", [("ref.stm", "hyp.stm"), ("ref.seglst.json", "hyp.seglst.json")]
)
def test_meeteval_cpwer_and_tcpwer(
    shared_data: Path, metric, name: str, ref_name: str, hyp_name: str
) -> None:
    folder = shared_data / "scoring" / "meeteval"
    load = load_stm if ref_name.endswith(".stm") else load_seglst
    ref, hyp = load(folder / ref_name), load(folder / hyp_name)
    expected_dir = folder / "expected_meeteval-0.4.3"
    per_file = json.loads((expected_dir / f"hyp_{name}_per_reco.json").read_text())
    assert sorted(ref) == sorted(hyp) == sorted(per_file) == ["recordingA", "recordingB"]
    total = None
    for file_id in sorted(ref):
        score = metric(ref[file_id], hyp[file_id])  # no normaliser: the expected numbers use none
        _check_cp(score, per_file[file_id])
        total = score if total is None else total + score
    _check_cp(total, json.loads((expected_dir / f"hyp_{name}.json").read_text()))
    assert (total.errors, total.reference_words) == (25, 92)
    assert round(100 * total.wer, 2) == 27.17


def test_tcpwer_collar_matters() -> None:
    ref = [Segment(0.0, 1.0, "hello world", speaker="A")]
    near = [Segment(0.5, 1.5, "hello world", speaker="x")]
    far = [Segment(20.0, 21.0, "hello world", speaker="x")]
    assert tcpwer(ref, near, collar=1.0).errors == 0
    assert tcpwer(ref, far, collar=1.0).errors == 4  # two deletions, two insertions
    assert cpwer(ref, far).errors == 0  # cpWER ignores time


def test_cpwer_with_an_empty_side() -> None:
    ref = [Segment(0, 1, "a b", speaker="A"), Segment(1, 2, "c", speaker="B")]
    nothing = cpwer(ref, [])
    assert (nothing.deletions, nothing.insertions, nothing.reference_words) == (3, 0, 3)
    assert nothing.missed_speakers == 2 and nothing.wer == 1.0
    spurious = tcpwer([], [Segment(0, 1, "x y", speaker="s")])
    assert (spurious.insertions, spurious.reference_words, spurious.falarm_speakers) == (2, 0, 1)
    assert math.isinf(spurious.wer)


def test_cpwer_normaliser_is_applied_to_both_sides() -> None:
    ref = [Segment(0, 1, "Hello, World!", speaker="A")]
    hyp = [Segment(0, 1, "hello world", speaker="x")]
    assert cpwer(ref, hyp).errors == 2
    assert cpwer(ref, hyp, normalizer=lambda t: t.lower().replace(",", "").replace("!", "")).errors == 0


# --------------------------------------------------------------------------------------------------
# WER and WDER on hand-made cases
# --------------------------------------------------------------------------------------------------


def test_word_errors_counts() -> None:
    score = word_errors(["a", "b", "c", "d"], ["a", "x", "c", "d", "e"])
    assert (score.hits, score.substitutions, score.deletions, score.insertions) == (3, 1, 0, 1)
    assert score.wer == pytest.approx(2 / 4)
    assert word_errors([], []).wer == 0.0
    assert word_errors(["a"], []).deletions == 1
    assert word_errors([], ["a"]).insertions == 1
    with pytest.raises(ValueError, match="whitespace"):
        word_errors(["a b"], ["a"])


def test_wder_perfect_and_relabelled() -> None:
    ref = [("a", "A"), ("b", "A"), ("c", "B"), ("d", "B")]
    assert wder(ref, ref).wder == 0.0
    relabelled = [("a", "spk1"), ("b", "spk1"), ("c", "spk0"), ("d", "spk0")]
    score = wder(ref, relabelled)
    assert (score.scored, score.wrong) == (4, 0)
    assert score.mapping == {"spk1": "A", "spk0": "B"}


def test_wder_word_without_reference_speaker_is_not_scored() -> None:
    ref = [("a", "A"), ("b", None), ("c", "B")]
    hyp = [("a", "x"), ("b", "y"), ("c", "y")]
    score = wder(ref, hyp)
    # "b" is a hit but has no reference speaker: it is neither scored nor an error.
    assert (score.scored, score.wrong) == (2, 0)
    assert score.mapping == {"x": "A", "y": "B"}


def test_wder_substituted_word_counts_only_when_asked() -> None:
    ref = [("a", "A"), ("b", "A"), ("c", "B"), ("d", "B")]
    hyp = [
        ("a", "x"),
        ("b", "x"),
        ("c", "y"),
        ("e", "x"),
    ]  # d -> e substituted, and given to the wrong speaker
    hits_only = wder(ref, hyp)
    assert (hits_only.scored, hits_only.wrong) == (3, 0)
    with_subs = wder(ref, hyp, include_substitutions=True)  # Shafey et al. (2019): (S_IS + C_IS) / (S + C)
    assert (with_subs.scored, with_subs.wrong) == (4, 1)
    assert with_subs.wder == pytest.approx(0.25)


def test_wder_ignores_insertions_and_deletions_and_penalises_missing_speakers() -> None:
    ref = [("a", "A"), ("b", "A"), ("c", "B"), ("d", "B")]
    hyp = [("zz", "y"), ("a", "x"), ("b", None), ("d", "y")]  # insertion, hit without speaker, deletion of c
    score = wder(ref, hyp)
    assert score.scored == 3  # a, b, d
    assert score.wrong == 1  # b: no hypothesised speaker
    assert score.wder == pytest.approx(1 / 3)


def test_wder_mapping_is_one_to_one() -> None:
    # Two system speakers both speak for A: only one may map onto A, the other's words are wrong.
    ref = [("a", "A"), ("b", "A"), ("c", "A"), ("d", "B")]
    hyp = [("a", "x"), ("b", "x"), ("c", "y"), ("d", "z")]
    score = wder(ref, hyp)
    assert score.mapping == {"x": "A", "z": "B"}
    assert (score.scored, score.wrong) == (4, 1)


# --------------------------------------------------------------------------------------------------
# Aggregation, speaker count, DER basics
# --------------------------------------------------------------------------------------------------


def test_totals_are_ratios_of_sums() -> None:
    short = DerScore(0.0, False, total=10.0, missed=5.0)  # 50 %
    long = DerScore(0.0, False, total=90.0, confusion=9.0)  # 10 %
    total = short + long
    assert total.der == pytest.approx(14 / 100)  # not (50 + 10) / 2
    assert (JerScore(0.0, False, 0.5, 1) + JerScore(0.0, False, 0.9, 3)).jer == pytest.approx(1.4 / 4)
    assert (WordErrors(10, 9, 1) + WordErrors(90, 90)).wer == pytest.approx(1 / 100)
    assert (WderScore(10, 5, {"x": "A"}) + WderScore(30, 0)).wder == pytest.approx(5 / 40)
    with pytest.raises(ValueError, match="collar"):
        short + DerScore(0.5, False)


def test_der_components_and_collar_convention() -> None:
    ref = [SpeakerTurn(0.0, 10.0, "A"), SpeakerTurn(10.0, 20.0, "B")]
    hyp = [SpeakerTurn(0.0, 10.4, "s1"), SpeakerTurn(10.4, 20.0, "s2")]
    exact = der(ref, hyp, uem=[Span(0, 20)])
    assert exact.confusion == pytest.approx(0.4) and exact.total == pytest.approx(20.0)
    # pyannote collar 1.0 removes 0.5 s on each side of every boundary: the 0.4 s error vanishes.
    forgiven = der(ref, hyp, uem=[Span(0, 20)], collar=1.0)
    assert forgiven.der == 0.0
    assert forgiven.total == pytest.approx(
        20.0 - 3 * 1.0 + 0.5 + 0.5
    )  # boundaries at 0, 10, 20; edges clipped
    # pyannote collar 0.5 removes only 0.25 s each side: 0.15 s of error stay.
    assert der(ref, hyp, uem=[Span(0, 20)], collar=0.5).confusion == pytest.approx(0.15)


def test_skip_overlap_and_empty_reference() -> None:
    ref = [SpeakerTurn(0, 10, "A"), SpeakerTurn(5, 10, "B")]
    hyp = [SpeakerTurn(0, 10, "s")]
    assert der(ref, hyp).missed == pytest.approx(5.0)
    skipped = der(ref, hyp, skip_overlap=True)
    assert skipped.missed == 0.0 and skipped.total == pytest.approx(5.0)
    empty = der([], hyp, uem=[Span(0, 10)])
    assert empty.false_alarm == pytest.approx(10.0) and math.isinf(empty.der)
    assert der([], [], uem=[Span(0, 10)]).der == 0.0
    assert math.isnan(jer([], hyp, uem=[Span(0, 10)]).jer)  # no reference speaker: JER is undefined


def test_speaker_count_inside_uem() -> None:
    ref = [SpeakerTurn(0, 1, "A"), SpeakerTurn(2, 3, "B"), SpeakerTurn(8, 9, "C")]
    hyp = [SpeakerTurn(0, 3, "s1"), SpeakerTurn(8, 9, "s2"), SpeakerTurn(8.5, 9, "s3")]
    everything = speaker_count(ref, hyp)
    assert (everything.reference, everything.hypothesis, everything.error) == (3, 3, 0)
    first = speaker_count(ref, hyp, uem=[Span(0, 5)])
    assert (first.reference, first.hypothesis, first.error, first.abs_error) == (2, 1, -1, 1)
    both = first + SpeakerCount(2, 4, 2)
    assert (both.error, both.abs_error) == (1, 3)
