"""One attribution, every output: the real pipeline on real recordings, and all written files agree.

Each word's speaker is a speaker the RTTM turns make active at the word's midpoint (or the nearest turn's when
none is), and JSON, RTTM, SRT, VTT, Markdown, plain text and the word table carry the same speakers, the same
words and the same talk times (on a meeting, the pyannote sample and a talking-head video).
Word speaker error (WDER) and cpWER are held to the values measured on ``simconv_en_text``.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from diarize.types import Result, Word

pytestmark = pytest.mark.slow

FORMATS = ("json", "rttm", "srt", "vtt", "md", "txt", "csv")
_TIME = re.compile(r"^\d\d:\d\d:\d\d[.,]\d\d\d --> ")
_SRT_TAG = re.compile(r"\[(SPEAKER_\d+)\]")
_VTT_TAG = re.compile(r"<v ([^>]+)>")
_MD_LINE = re.compile(r"^\*\*(.+?)\*\*\s*\[[\d:]+\]:\s*(.*)$")
_MD_TALK = re.compile(r"^\| (.+?) \| (\d\d):(\d\d):(\d\d) \| ([\d.]+) % \|$")
_TXT_LINE = re.compile(r"^(.+?) \[[\d:]+\]: (.*)$")
STEMS = ["simconv_en_text", "sample", "WDA_KatieHill_000"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, pyannote_sample: Path) -> dict[str, Path]:
    """Run the default pipeline once per recording (models loaded once) and write every checked format."""
    from diarize.pipeline import Models, run

    models = Models()
    out = tmp_path_factory.mktemp("consistency")
    stems: dict[str, Path] = {}
    video = shared_data / "video" / "WDA_KatieHill_000.mp4"
    for media in (shared_data / "meetings" / "simconv_en_text.wav", pyannote_sample, video):
        run(media, models=models).write(out, FORMATS)
        stems[media.stem] = out / media.stem
    return stems


def _rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def _cues(path: Path, tag: re.Pattern[str]) -> list[tuple[str, list[str]]]:
    """``(speaker, tokens)`` of each speaker's part of each subtitle cue, in order. A part without a speaker
    tag continues the previous part's speaker; a dialogue dash (before or after the tag) is not a word."""
    parts: list[tuple[str, list[str]]] = []
    text: list[str] | None = None  # None: outside a cue
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        if _TIME.match(line):
            text = []
        elif line.strip() and text is not None:
            text.append(line)
        elif not line.strip() and text:
            pieces = tag.split(" ".join(text))  # text, speaker, text, speaker, text...
            speakers = [parts[-1][0] if parts else "", *pieces[1::2]]
            for speaker, piece in zip(speakers, pieces[::2], strict=True):
                tokens = [t for t in re.sub(r"<[^>]*>", " ", piece).split() if t != "-"]  # dialogue dashes
                if tokens:
                    parts.append((speaker, tokens))
            text = None
    return parts


def _active_or_nearest(turns: list[tuple[float, float, str]], word: Word) -> set[str]:
    """The speakers the RTTM shows at ``word``'s midpoint, else during it, else the nearest turns' (times in
    the RTTM are rounded to the millisecond)."""
    mid = 0.5 * (word.start + word.end)
    for lo, hi in ((mid, mid), (word.start, word.end)):
        active = {s for a, b, s in turns if a - 1e-3 <= hi and lo <= b + 1e-3}
        if active:
            return active
    gap = min(max(a - mid, mid - b) for a, b, _ in turns)
    return {s for a, b, s in turns if abs(max(a - mid, mid - b) - gap) < 2e-3}


@pytest.mark.parametrize("stem", ["simconv_en_text", "sample"])  # several speakers: every cue is labelled
def test_every_output_tells_the_same_attribution(outputs: dict[str, Path], stem: str) -> None:
    base = outputs[stem]
    result = Result.from_json(base.with_suffix(".json"))
    words = result.words
    tokens = [t for s in result.segments for t in s.text.split()]
    spoken = [(s.speaker, t) for s in result.segments for t in s.text.split()]  # who says each token
    assert words and all(w.speaker for w in words)
    speakers = set(result.speakers)
    turns = _rttm(base.with_suffix(".rttm"))
    assert {s for _, _, s in turns} == speakers
    assert {t.speaker for t in result.turns} == speakers
    for w in words:
        assert w.speaker in _active_or_nearest(turns, w), f"{w.text!r} at {w.start:.2f} s: {w.speaker}"
    with base.with_name(f"{stem}.words.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["speaker"] for r in rows] == [w.speaker for w in words]
    assert len(rows) == len(words)
    for ext, tag in (("srt", _SRT_TAG), ("vtt", _VTT_TAG)):
        cues = _cues(base.with_suffix(f".{ext}"), tag)
        assert {c[0] for c in cues} == speakers, ext
        assert sum(len(c[1]) for c in cues) == len(tokens), ext
        assert [(speaker, t) for speaker, cue in cues for t in cue] == spoken, ext
    lines = base.with_suffix(".md").read_text(encoding="utf-8").splitlines()
    md = [m for line in lines if (m := _MD_LINE.match(line.strip()))]
    assert {m.group(1) for m in md} == speakers
    assert sum(len(m.group(2).split()) for m in md) == len(tokens)
    assert [(m.group(1), t) for m in md for t in m.group(2).split()] == spoken


def _union(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for a, b in sorted(spans):
        a = max(a, reach)
        if b > a:
            total, reach = total + b - a, b
    return total


@pytest.mark.parametrize("stem", STEMS)
def test_every_output_tells_the_same_talk_times_speakers_and_word_counts(outputs: dict[str, Path], stem: str) -> None:
    from diarize.talk import talk_seconds

    base = outputs[stem]
    data = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
    records = {r["label"]: r for r in data["speakers"]}
    speakers = set(records)
    words = [w for s in data["segments"] for w in s["words"]]
    assert words and all(w["word"] == w["word"].strip() for w in words)  # no leading blanks
    # RTTM: the same speakers, and each talk time is the union of its turns
    turns = _rttm(base.with_suffix(".rttm"))
    assert {s for _, _, s in turns} == speakers
    for label, record in records.items():
        assert record["talk_time"] == pytest.approx(_union([(a, b) for a, b, s in turns if s == label]), abs=2e-3)
        assert record["turns"] == sum(1 for *_, s in turns if s == label)
    assert sum(r["share"] for r in records.values()) == pytest.approx(1.0, abs=1e-3)
    # Markdown: the talk-time table shows the same seconds, rounded by the one rule
    md = base.with_suffix(".md").read_text(encoding="utf-8").splitlines()
    table = {m[1]: (3600 * int(m[2]) + 60 * int(m[3]) + int(m[4]), float(m[5])) for line in md
             if (m := _MD_TALK.match(line))}
    assert table == {k: (talk_seconds(r["talk_time"]), pytest.approx(100 * r["share"], abs=0.051))
                     for k, r in records.items()}
    # word counts: JSON words = table rows = Markdown tokens = plain-text tokens = subtitle tokens
    with base.with_name(f"{stem}.words.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["word"] for r in rows] == [w["word"] for w in words]
    assert {r["speaker"] for r in rows} == speakers
    txt = [m for line in base.with_suffix(".txt").read_text(encoding="utf-8").splitlines()
           if (m := _TXT_LINE.match(line))]
    assert {m[1] for m in txt} == speakers
    assert sum(len(m[2].split()) for m in txt) == len(words)
    paragraphs = [m for line in md if (m := _MD_LINE.match(line.strip()))]
    assert sum(len(m[2].split()) for m in paragraphs) == len(words)
    for ext, tag in (("srt", _SRT_TAG), ("vtt", _VTT_TAG)):
        assert sum(len(tokens) for _, tokens in _cues(base.with_suffix(f".{ext}"), tag)) == len(words), ext


def test_word_speaker_errors_hold(outputs: dict[str, Path], shared_data: Path) -> None:
    """simconv_en_text: 2 of 81 words on the wrong speaker (WDER 2.47 %, cpWER 4.94 %; the speaker stage
    itself labels "In 1813." as another voice); with the turns alone it was 4 (4.94 %, 9.88 %)."""
    from diarize.eval.scoring import evaluate_files

    meetings = shared_data / "meetings"
    report = evaluate_files(
        meetings / "simconv_en_text.rttm",
        [outputs["simconv_en_text"].with_suffix(".json")],
        uem=meetings / "simconv_en_text.uem",
        stm=meetings / "simconv_en_text.stm",
    )
    scores = report.files[0]
    assert scores.wder is not None and scores.cpwer is not None
    assert scores.wder.scored >= 75
    assert scores.wder.wder <= 0.04
    assert scores.cpwer.wer <= 0.07


def test_sample_words_follow_the_reference_turns(outputs: dict[str, Path], pyannote_sample: Path) -> None:
    """The sample has no reference text: a word counts as right when its speaker, mapped one-to-one onto the
    reference speakers, talks in the reference RTTM at the word's midpoint (1 of 73 wrong, the opening
    "Hello." that the speaker stage gives to the other voice)."""
    from scipy.optimize import linear_sum_assignment

    words = Result.from_json(outputs["sample"].with_suffix(".json")).words
    reference = _rttm(pyannote_sample.with_suffix(".rttm"))

    def talking(time: float) -> set[str]:
        return {s for a, b, s in reference if a <= time < b}

    hyp = sorted({w.speaker for w in words if w.speaker})
    ref = sorted({s for _, _, s in reference})
    votes = np.zeros((len(hyp), len(ref)))
    for w in words:
        for s in talking(0.5 * (w.start + w.end)):
            votes[hyp.index(str(w.speaker)), ref.index(s)] += 1
    rows, cols = linear_sum_assignment(-votes)
    mapping = {hyp[i]: ref[j] for i, j in zip(rows, cols, strict=True)}
    scored = [w for w in words if talking(0.5 * (w.start + w.end))]
    wrong = [w.text for w in scored if mapping.get(str(w.speaker)) not in talking(0.5 * (w.start + w.end))]
    assert len(scored) >= 65
    assert len(wrong) <= 3, wrong
