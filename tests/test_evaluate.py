"""diarize.eval.scoring and ``diarize eval``: reading, id matching, report totals, the command line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from diarize import errors
from diarize.cli.main import cli, main
from diarize.errors import DiarizeError, InputError
from diarize.eval.scoring import (
    EvalOptions,
    FileIdError,
    Hypothesis,
    References,
    evaluate,
    evaluate_files,
    load_hypotheses,
    load_rttm,
    load_seglst,
    load_stm,
    load_uem,
    report_rows,
)
from diarize.types import Segment, Span, SpeakerTurn


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _result_json(path: Path, source: str, segments: list[dict], turns: list[dict] | None = None) -> Path:
    """A minimal diarize/1 result: words carry speakers; turns default to one per segment."""
    if turns is None:
        turns = [{"start": s["start"], "end": s["end"], "speaker": s["speaker"]} for s in segments]
    data = {
        "schema": "diarize/1",
        "source": {"path": source, "duration": 60.0, "sample_rate": 16000},
        "language": "en",
        "speakers": sorted({t["speaker"] for t in turns}),
        "turns": turns,
        "segments": segments,
        "provenance": {},
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _segment(start: float, end: float, speaker: str, text: str) -> dict:
    """A segment whose words share its span evenly and carry its speaker."""
    words = text.split()
    step = (end - start) / max(len(words), 1)
    return {
        "start": start,
        "end": end,
        "speaker": speaker,
        "text": " " + text,
        "words": [
            {
                "start": start + i * step,
                "end": start + (i + 1) * step,
                "word": " " + w,
                "probability": 0.9,
                "speaker": speaker,
            }
            for i, w in enumerate(words)
        ],
    }


# --------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------


def test_load_rttm_several_ids_and_skips_other_lines(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "x.rttm",
        "SPKR-INFO a 1 <NA> <NA> <NA> unknown A <NA>\n"
        "SPEAKER a 1 0.5 1.0 <NA> <NA> A <NA> <NA>\n"
        ";; comment\n\n"
        "SPEAKER b 1 2 0.25 <NA> <NA> B <NA> <NA>\n",
    )
    assert load_rttm(path) == {"a": (SpeakerTurn(0.5, 1.5, "A"),), "b": (SpeakerTurn(2.0, 2.25, "B"),)}
    bad = _write(tmp_path / "bad.rttm", "SPEAKER a 1 zero 1.0 <NA> <NA> A <NA> <NA>\n")
    with pytest.raises(InputError, match=r"bad.rttm:1: 'zero' is not a number"):
        load_rttm(bad)
    with pytest.raises(InputError, match="no such file"):
        load_rttm(tmp_path / "missing.rttm")


def test_load_uem_keeps_every_region(shared_data: Path) -> None:
    uem = load_uem(shared_data / "scoring" / "dscore" / "test_load.uem")
    assert uem == {"FILE1": (Span(0, 15), Span(25, 30.4)), "FILE2": (Span(4.5, 13.24),)}


def test_load_stm_and_seglst_agree(shared_data: Path) -> None:
    folder = shared_data / "meetings"
    stm, seglst = (
        load_stm(folder / "simconv_en_text.stm"),
        load_seglst(folder / "simconv_en_text.seglst.json"),
    )
    assert list(stm) == list(seglst) == ["simconv_en_text"]
    assert [(s.speaker, s.text) for s in stm["simconv_en_text"]] == [
        (s.speaker, s.text) for s in seglst["simconv_en_text"]
    ]
    assert stm["simconv_en_text"][1] == Segment(11.47, 13.0, "EIGHT THE PRESS YARD", speaker="LJ")


def test_load_stm_tags_and_empty_text(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "r.stm",
        "f 1 A 0 1 <o,f0,male> hello there\nf 1 B 1 2\nf 1 x 2 3 IGNORE_TIME_SEGMENT_IN_SCORING\n",
    )
    assert load_stm(path) == {
        "f": (Segment(0, 1, "hello there", speaker="A"), Segment(1, 2, "", speaker="B"))
    }


def test_load_seglst_rejects_missing_fields(tmp_path: Path) -> None:
    path = _write(tmp_path / "r.json", json.dumps([{"session_id": "f", "speaker": "A", "start_time": 0}]))
    with pytest.raises(InputError, match="segment 0 lacks a valid 'end_time' field"):
        load_seglst(path)


def test_json_hypothesis_file_id(tmp_path: Path) -> None:
    seg = [_segment(0, 1, "SPEAKER_00", "hi")]
    renamed = _result_json(tmp_path / "output.json", "/media/meeting_01.wav", seg)
    (hyp,) = load_hypotheses([renamed], reference_ids=["meeting_01"])
    assert hyp.file_id == "meeting_01"  # the source's stem
    (hyp,) = load_hypotheses([renamed], reference_ids=["output"])
    assert hyp.file_id == "output"  # the source's stem is unknown, the file's stem is known
    assert hyp.turns == (SpeakerTurn(0, 1, "SPEAKER_00"),) and hyp.segments is not None
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "diarize/9", "turns": []}))
    with pytest.raises(InputError, match="schema"):
        load_hypotheses([other])
    listing = _write(tmp_path / "list.json", "[]")
    with pytest.raises(InputError, match="not a diarize result"):
        load_hypotheses([listing])


# --------------------------------------------------------------------------------------------------
# Matching ids
# --------------------------------------------------------------------------------------------------


def _annotation(turns: tuple[SpeakerTurn, ...]):
    from pyannote.core import Annotation
    from pyannote.core import Segment as PSegment

    annotation = Annotation()
    for i, t in enumerate(turns):
        annotation[PSegment(t.start, t.end), i] = t.speaker
    return annotation


def _turns(speaker: str = "A") -> tuple[SpeakerTurn, ...]:
    return (SpeakerTurn(0, 1, speaker),)


def test_unknown_hypothesis_id_is_an_error() -> None:
    refs = References(turns={"a": _turns()})
    with pytest.raises(FileIdError, match=r"not in the reference RTTM: b \(b.rttm\); its ids are: a"):
        evaluate(refs, [Hypothesis("b", "b.rttm", _turns())])


def test_id_missing_from_uem_is_an_error() -> None:
    refs = References(turns={"a": _turns(), "b": _turns()}, uem={"a": (Span(0, 2),)})
    with pytest.raises(FileIdError, match="not in the UEM: b"):
        evaluate(refs, [Hypothesis("a", "h.rttm", _turns()), Hypothesis("b", "h.rttm", _turns())])


def test_duplicate_hypothesis_id_is_an_error() -> None:
    refs = References(turns={"a": _turns()})
    with pytest.raises(FileIdError, match="'a' is in both x.rttm and y.json"):
        evaluate(refs, [Hypothesis("a", "x.rttm", _turns()), Hypothesis("a", "y.json", _turns())])


def test_reference_without_hypothesis_is_a_warning_not_a_zero() -> None:
    refs = References(turns={"a": _turns(), "b": _turns()}, uem={"a": (Span(0, 2),), "b": (Span(0, 2),)})
    report = evaluate(refs, [Hypothesis("a", "h.rttm", _turns("x"))])
    assert [f.file_id for f in report.files] == ["a"]
    assert report.warnings == (
        "reference RTTM id(s) without a hypothesis, not scored: b",
        "UEM id(s) without a hypothesis, not scored: b",
    )


def test_text_reference_must_cover_hypotheses_with_words() -> None:
    words = (Segment(0, 1, "hi", speaker="x"),)
    refs = References(turns={"a": _turns()}, text={"z": (Segment(0, 1, "hi", speaker="A"),)})
    with pytest.raises(FileIdError, match="not in the text reference: a"):
        evaluate(refs, [Hypothesis("a", "a.json", _turns("x"), words)])
    report = evaluate(refs, [Hypothesis("a", "a.rttm", _turns("x"))])  # an RTTM has no words: warned, skipped
    assert report.files[0].wer is None
    assert any("word metrics skipped: a" in w for w in report.warnings)


# --------------------------------------------------------------------------------------------------
# Totals and text metrics
# --------------------------------------------------------------------------------------------------


def test_total_sums_components_over_files(shared_data: Path, tmp_path: Path) -> None:
    from pyannote.core import Segment as PSegment
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    # Two files of very different lengths in one reference RTTM, hypotheses in two RTTM files.
    scoring = shared_data / "scoring"
    hyps = [scoring / "dscore" / "sys.rttm", scoring / "speechbrain_der" / "sys_ES2014c.rttm"]
    refs = [scoring / "dscore" / "ref.rttm", scoring / "speechbrain_der" / "ref_ES2014c.rttm"]
    reference = _write(tmp_path / "all.rttm", "".join(p.read_text() for p in refs))
    report = evaluate_files(reference, hyps)
    assert [f.file_id for f in report.files] == ["ES2014c", "FILE1"]
    ref, hyp = load_rttm(reference), {k: v for p in hyps for k, v in load_rttm(p).items()}
    for i, collar in enumerate(report.options.collars):
        der_metric, jer_metric = DiarizationErrorRate(collar=collar), JaccardErrorRate(collar=collar)
        for file_id in ref:
            turns = [*ref[file_id], *hyp[file_id]]
            region = Timeline([PSegment(min(t.start for t in turns), max(t.end for t in turns))])
            der_metric(_annotation(ref[file_id]), _annotation(hyp[file_id]), uem=region)
            jer_metric(_annotation(ref[file_id]), _annotation(hyp[file_id]), uem=region)
        assert report.total.der[i].der == pytest.approx(abs(der_metric), abs=1e-12)
        assert report.total.jer[i].jer == pytest.approx(abs(jer_metric), abs=1e-12)
        assert report.total.der[i].total == pytest.approx(sum(f.der[i].total for f in report.files))
        per_file = [f.der[i].der for f in report.files]
        assert abs(report.total.der[i].der - sum(per_file) / len(per_file)) > 0.01  # not a mean of rates


def test_text_metrics_from_a_result_json(shared_data: Path, tmp_path: Path) -> None:
    # The meeteval hypothesis STM turned into two diarize results (words spread evenly over each line).
    folder = shared_data / "scoring" / "meeteval"
    hyp_stm = load_stm(folder / "hyp.stm")
    paths = [
        _result_json(
            tmp_path / f"{file_id}.json",
            f"/audio/{file_id}.wav",
            [_segment(s.start, s.end, s.speaker or "", s.text) for s in segments],
        )
        for file_id, segments in hyp_stm.items()
    ]
    options = EvalOptions(normalizer="none")
    report = evaluate_files(folder / "ref.rttm", paths, stm=folder / "ref.stm", options=options)
    total = report.total
    assert (total.cpwer.errors, total.cpwer.reference_words) == (25, 92)
    assert round(100 * total.cpwer.wer, 2) == 27.17
    assert (total.tcpwer.errors, total.tcpwer.reference_words) == (25, 92)
    by_id = {f.file_id: f for f in report.files}
    assert (by_id["recordingA"].cpwer.errors, by_id["recordingB"].cpwer.errors) == (2, 23)
    assert total.wer.reference_words == 92 and total.wder is not None
    # Whisper's normaliser expands "you're", "all-hands" and twice "let's" in the reference: 92 + 4 words.
    normalised = evaluate_files(folder / "ref.rttm", paths, stm=folder / "ref.stm")
    assert normalised.total.cpwer.reference_words == normalised.total.wer.reference_words == 96


def test_perfect_and_mislabelled_hypothesis_on_simconv(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "meetings"
    stm = load_stm(folder / "simconv_en_text.stm")["simconv_en_text"]
    ref_turns = load_rttm(folder / "simconv_en_text.rttm")["simconv_en_text"]
    names = {s: f"SPEAKER_{i:02d}" for i, s in enumerate(dict.fromkeys(t.speaker for t in ref_turns))}
    turns = [{"start": t.start, "end": t.end, "speaker": names[t.speaker]} for t in ref_turns]
    segments = [_segment(s.start, s.end, names[s.speaker], s.text.lower()) for s in stm]
    perfect = _result_json(tmp_path / "simconv_en_text.json", "simconv_en_text.wav", segments, turns)
    args = dict(uem=folder / "simconv_en_text.uem", stm=folder / "simconv_en_text.stm")
    report = evaluate_files(folder / "simconv_en_text.rttm", [perfect], **args)
    (scores,) = report.files
    assert all(d.der == 0.0 for d in scores.der) and scores.speakers.error == 0
    assert scores.wer.errors == scores.cpwer.errors == scores.tcpwer.errors == scores.wder.wrong == 0
    assert scores.wder.scored == scores.wer.reference_words > 50
    # Give JFK's words to LJ's label too. That label now holds 22 JFK words and LJ's 6 ("8 the press yard",
    # "in 1813"), so the optimal one-to-one mapping maps it onto JFK, and LJ's 6 words are the wrong ones.
    jfk = next(i for i, s in enumerate(stm) if s.speaker == "JFK")
    segments[jfk] = _segment(stm[jfk].start, stm[jfk].end, names["LJ"], stm[jfk].text.lower())
    wrong = _result_json(tmp_path / "simconv_en_text.json", "simconv_en_text.wav", segments, turns)
    scores = evaluate_files(folder / "simconv_en_text.rttm", [wrong], **args).files[0]
    assert scores.wder.mapping[names["LJ"]] == "JFK" and names["JFK"] not in scores.wder.mapping
    assert scores.wder.wrong == 6 and scores.wer.errors == 0
    assert scores.cpwer.errors == 2 * 6  # LJ's words: deleted from LJ's stream, inserted into JFK's


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------


def test_cli_table_matches_pyannote(shared_data: Path, tmp_path: Path) -> None:
    from pyannote.core import Annotation, Timeline
    from pyannote.core import Segment as PSegment
    from pyannote.metrics.diarization import DiarizationErrorRate, JaccardErrorRate

    folder = shared_data / "scoring" / "dscore"
    uem = _write(tmp_path / "all.uem", "FILE1 1 0.000 43.000\n")
    out_json, out_csv = tmp_path / "report.json", tmp_path / "report.csv"
    args = ["eval", "--ref", str(folder / "ref.rttm"), "--uem", str(uem), str(folder / "sys.rttm")]
    result = CliRunner().invoke(cli, [*args, "--json", str(out_json), "--csv", str(out_csv)])
    assert result.exit_code == 0, result.output
    assert "pyannote collar=0.5 is dscore/md-eval --collar 0.25" in result.output

    def annotation(path: Path) -> Annotation:
        a = Annotation()
        for i, line in enumerate(path.read_text().splitlines()):
            f = line.split()
            a[PSegment(float(f[3]), float(f[3]) + float(f[4])), i] = f[7]
        return a

    ref, hyp, region = (
        annotation(folder / "ref.rttm"),
        annotation(folder / "sys.rttm"),
        Timeline([PSegment(0, 43)]),
    )
    report = json.loads(out_json.read_text())
    for collar in (0.0, 0.5):
        d = DiarizationErrorRate(collar=collar)(ref, hyp, uem=region, detailed=True)
        j = JaccardErrorRate(collar=collar)(ref, hyp, uem=region)
        row = re.search(rf"^FILE1\s+{collar:g}\s+(.*)$", result.output, re.M).group(1).split()
        expected = [
            d["total"],
            100 * d["missed detection"] / d["total"],
            100 * d["false alarm"] / d["total"],
            100 * d["confusion"] / d["total"],
            100 * d["diarization error rate"],
            100 * j,
        ]
        assert row == [f"{v:.2f}" for v in expected]
        (item,) = [x for x in report["files"][0]["diarization"] if x["collar"] == collar]
        assert item["der_pct"] == 100 * d["diarization error rate"]
        assert item["confusion_s"] == d["confusion"] and item["jer_pct"] == 100 * j
    assert report["total"]["diarization"][0]["der_pct"] == pytest.approx(26.39309, abs=5e-6)
    import pandas as pd

    table = pd.read_csv(out_csv)
    assert list(table["file"]) == ["FILE1", "TOTAL"]
    assert table["der_pct_c0"].iloc[-1] == pytest.approx(26.393094, abs=1e-6)


def test_cli_collars_and_skip_overlap(shared_data: Path) -> None:
    folder = shared_data / "scoring" / "speechbrain_der"
    args = [
        "eval",
        "--ref",
        str(folder / "ref_ES2014c.rttm"),
        "--collar",
        "0.5",
        "--skip-overlap",
        str(folder / "sys_ES2014c.rttm"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "overlap not scored" in result.output
    diarization_table = result.output.split("\n\n")[0]
    rows = re.findall(r"^ES2014c\s+(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)", diarization_table, re.M)
    assert rows == [("0.5", "7.17")]


def test_cli_bad_input_is_a_diarize_error(tmp_path: Path, shared_data: Path) -> None:
    folder = shared_data / "scoring"
    runner = CliRunner()
    sys_rttm = str(folder / "dscore/sys.rttm")
    missing = runner.invoke(cli, ["eval", "--ref", str(tmp_path / "none.rttm"), sys_rttm])
    assert missing.exit_code == 1
    assert f"diarize: error: {tmp_path / 'none.rttm'}: no such file" in missing.output
    with pytest.raises(InputError, match="no such file"):
        evaluate_files(tmp_path / "none.rttm", [Path(sys_rttm)])
    mismatch = runner.invoke(cli, ["eval", "--ref", str(folder / "meeteval/ref.rttm"), sys_rttm])
    assert mismatch.exit_code == 1
    assert "diarize: error: hypothesis file id(s) not in the reference RTTM: FILE1" in mismatch.output
    with pytest.raises(FileIdError, match="FILE1"):
        evaluate_files(folder / "meeteval/ref.rttm", [Path(sys_rttm)])
    no_hyp = runner.invoke(
        cli, ["eval", "--ref", str(folder / "meeteval/ref.rttm"), str(tmp_path / "h.json")]
    )
    assert no_hyp.exit_code == 1 and "h.json: no such file" in no_hyp.output
    both = runner.invoke(cli, ["eval", "--ref", "r", "--stm", "a", "--seglst", "b", "h"])
    assert both.exit_code == 2 and "not both" in both.output


def test_main_prints_one_line_and_exits_1(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = shared_data / "scoring"
    argv = ["diarize", "eval", "--ref", str(folder / "meeteval/ref.rttm"), str(folder / "dscore/sys.rttm")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "diarize: error: hypothesis file id(s) not in the reference RTTM: "
        f"FILE1 ({folder / 'dscore/sys.rttm'}); its ids are: recordingA, recordingB"
    ]
    assert issubclass(FileIdError, InputError) and issubclass(FileIdError, DiarizeError)
    assert FileIdError is errors.FileIdError  # one class, whether imported from evaluate or errors


def test_report_rows_flat(shared_data: Path) -> None:
    folder = shared_data / "scoring" / "meeteval"
    report = evaluate_files(folder / "ref.rttm", [folder / "hyp.rttm"], options=EvalOptions(collars=(0.25,)))
    rows = report_rows(report)
    assert [r["file"] for r in rows] == ["recordingA", "recordingB", "TOTAL"]
    assert "der_pct_c0.25" in rows[0] and "der_pct_c0" not in rows[0]
    assert rows[-1]["speakers_reference"] == 3 and rows[-1]["wer_pct"] is None
