"""``diarize run`` on a matrix of bad, odd and merely unusual inputs, through the real console entry point.

Every case either gives a correct result (its outputs written, with sane content) or exactly one line on stderr
naming the file and the problem, a non-zero exit, no traceback, no warning text and no partial output file. The
command runs in a child process whose peak resident memory is measured (``RUSAGE_CHILDREN`` of a fresh wrapper
process that runs nothing else) and must stay under :data:`RSS_BOUND`.

Cases that fail at the door (probe, before any model loads) run one command each. The cases whose media is valid
run the models: they go through one ``diarize run`` with the ``archive`` pipeline (models loaded once), and each
input is judged by its own status line or error line. Set ``DIARIZE_MATRIX_REPORT=PATH`` to have the table of
(case, exit status, stderr line, peak memory) written to ``PATH`` as Markdown.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from diarize.writers.structured import EMBEDDINGS_SUFFIX, read_embeddings

RSS_BOUND = 3 << 30
"""Bytes of peak resident memory any one ``diarize run`` may take."""

FORMATS = "json,rttm,csv"
SUFFIXES = (".json", ".rttm", ".words.csv")
RATE = 16_000
JFK_WORDS = r"(?i)\b(fell\w*|americ\w*|country)\b"
ANY_WORD = r"\w"
REPO = Path(__file__).resolve().parent.parent

_MEASURED = """
import json, resource, subprocess, sys
code = subprocess.run(sys.argv[2:]).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
with open(sys.argv[1], "w") as fh:
    json.dump({"rc": code, "peak": peak}, fh)
"""
_WARNING_TEXT = re.compile(r"Traceback|Warning|warnings\.warn|^\s+File \"", re.MULTILINE)


# --- building the inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speech:
    """jfk.flac as mono float32 at its own rate (44.1 kHz), resampled on demand."""

    samples: np.ndarray
    rate: int

    def cut(self, start: float, length: float, rate: int = RATE) -> np.ndarray:
        from scipy.signal import resample_poly

        piece = self.samples[int(start * self.rate) : int((start + length) * self.rate)]
        g = math.gcd(rate, self.rate)
        return resample_poly(piece, rate // g, self.rate // g).astype(np.float32)


def _tone(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)


def _wav(path: Path, samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_16") -> Path:
    sf.write(path, samples, rate, subtype=subtype)
    return path


def _lying_wav(path: Path, **fields: int) -> Path:
    """A 60 s 16 kHz tone (1.9 MB) whose ``fmt `` fields (``channels``, ``sample_rate``) or data chunk length
    (``data_size``) are overwritten."""
    data = bytearray(_wav(path, _tone(60.0)).read_bytes())
    fmt = data.index(b"fmt ") + 8
    offsets = {"channels": (2, "<H"), "sample_rate": (4, "<I"), "data_size": (data.index(b"data") + 4 - fmt, "<I")}
    for name, value in fields.items():
        offset, code = offsets[name]
        struct.pack_into(code, data, fmt + offset, value)
    path.write_bytes(bytes(data))
    return path


def _encode(path: Path, samples: np.ndarray | None, fmt: str, codec: str = "", *, codec_rate: int = RATE,
            video: int | None = None, options: dict[str, str] | None = None) -> Path:
    """``samples`` (16 kHz mono, or no audio stream) encoded with ``codec`` into container ``fmt``, after a
    64x64 H.264 stream of ``video`` frames at 10 fps when ``video`` is not ``None`` (0: a stream without frames)."""
    import av

    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        picture = None if video is None else out.add_stream("libx264", rate=10)
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = 64, 64, "yuv420p"
        sound = None if samples is None else out.add_stream(codec, rate=codec_rate, layout="mono")
        out.start_encoding()
        for i in range(video or 0):
            image = np.full((64, 64, 3), i * 25 % 256, dtype=np.uint8)
            out.mux(picture.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        if picture is not None:
            out.mux(picture.encode(None))
        if sound is not None and samples is not None:
            for start in range(0, len(samples), 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start : start + 1024], format="flt", layout="mono")
                frame.sample_rate, frame.pts = RATE, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))
    return path


def _cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _channels(speech: Speech, n: int, seconds: float = 5.0) -> np.ndarray:
    """The speech in ``n`` channels at gains from 1 down to 0.5, each with its own faint noise."""
    mono = speech.cut(0.0, seconds)
    gains = np.linspace(1.0, 0.5, n, dtype=np.float32)
    noise = np.random.default_rng(n).normal(0.0, 1e-3, (len(mono), n)).astype(np.float32)
    return mono[:, None] * gains[None, :] + noise


def _poisoned(samples: np.ndarray) -> np.ndarray:
    """``samples`` with a NaN, an infinity of each sign and a huge value every 4000 samples (float WAV only)."""
    poisoned = samples.copy()
    for offset, value in enumerate((np.nan, np.inf, -np.inf, 1e30)):
        poisoned[1000 + offset :: 4000] = value
    return poisoned


def _folder_with_audio(path: Path) -> Path:
    path.mkdir()
    _wav(path / "inside.wav", _tone(2.0))
    return path


Builder = Callable[[Path, Any], Path]


@dataclass(frozen=True)
class Case:
    """One input and what it must give. ``expect``: ``ok`` (outputs), ``error`` (one line matching ``problem``)
    or ``any`` (either, each checked). ``door``: it fails before any model loads, so it runs on its own."""

    name: str
    suffix: str
    build: Builder
    expect: str
    problem: str = ""
    words: str = ""
    silent: bool = False
    duration: float | None = None
    rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    """Video frames the JSON must report; 0: no video at all."""
    door: bool = False
    speech: bool = False
    out_is_file: bool = False
    args: tuple[str, ...] = ()
    """More ``diarize run`` options (door cases only)."""


def _door(name: str, suffix: str, build: Builder, problem: str, **kw: Any) -> Case:
    return Case(name, suffix, build, "error", problem=problem, door=True, **kw)


def _speech(name: str, suffix: str, build: Builder, duration: float, words: str = JFK_WORDS, expect: str = "ok",
            **kw: Any) -> Case:
    return Case(name, suffix, build, expect, words=words, duration=duration, speech=True, **kw)


def _clip(length: float) -> Case:
    words = JFK_WORDS if length >= 2.0 else ANY_WORD
    return _speech(f"clip_{length:g}s", ".wav", lambda p, s: _wav(p, s.cut(0.3, length)), length, words)


CASES: tuple[Case, ...] = (
    _door("empty", ".wav", lambda p, s: (p.write_bytes(b""), p)[1], r"empty"),
    Case("silent", ".wav", lambda p, s: _wav(p, np.zeros(3 * RATE, np.float32)), "any", silent=True, duration=3.0),
    Case("noise_only", ".wav", lambda p, s: _wav(p, np.random.default_rng(1).normal(0, 0.1, 5 * RATE)), "any",
         duration=5.0),
    _door("text_named_wav", ".wav", lambda p, s: (p.write_text("minutes of the meeting\n" * 200), p)[1],
          r"cannot be decoded|not a media file"),
    _door("random_bytes_mp3", ".mp3", lambda p, s: (p.write_bytes(np.random.default_rng(2).bytes(65_536)), p)[1],
          r"cannot be decoded|not a media file|corrupt"),
    _door("truncated_wav", ".wav", lambda p, s: _cut_in_half(_wav(p, _tone(10.0))), r"truncated"),
    _door("truncated_mp4", ".mp4", lambda p, s: _cut_in_half(_encode(p, _tone(10.0), "mp4", "aac", video=100)),
          r"truncated|corrupt|cannot be decoded"),
    Case("truncated_mp4_faststart", ".mp4", lambda p, s: _cut_in_half(
        _encode(p, _tone(10.0), "mp4", "aac", video=100, options={"movflags": "faststart"})),
        "error", problem=r"truncated|corrupt"),
    _door("video_no_audio", ".mp4", lambda p, s: _encode(p, None, "mp4", video=30), r"no audio stream"),
    _door("video_zero_frames_no_audio", ".mp4", lambda p, s: _encode(p, None, "mp4", video=0),
          r"no audio stream|cannot be decoded"),
    _speech("video_zero_frames", ".mkv", lambda p, s: _encode(p, s.cut(0.0, 5.0), "matroska", "aac", video=0), 5.0,
            frames=0),
    _speech("rate_8k", ".wav", lambda p, s: _wav(p, s.cut(0.0, 5.0, 8_000), 8_000), 5.0, rate=8_000),
    _speech("rate_96k_24bit", ".wav", lambda p, s: _wav(p, s.cut(0.0, 5.0, 96_000), 96_000, "PCM_24"), 5.0,
            rate=96_000),
    *(_speech(f"channels_{n}", ".wav", lambda p, s, n=n: _wav(p, _channels(s, n)), 5.0, channels=n)
      for n in (6, 9, 32, 64)),
    *(_clip(length) for length in (0.3, 0.5, 1.0, 2.0, 3.0)),
    _door("header_rate_1hz", ".wav", lambda p, s: _lying_wav(p, sample_rate=1), r"1 Hz.*implausible"),
    _door("header_rate_4ghz", ".wav", lambda p, s: _lying_wav(p, sample_rate=4_000_000_000),
          r"4000000000 Hz.*implausible"),
    _door("header_data_too_long", ".wav", lambda p, s: _lying_wav(p, data_size=0x7FFF_0000), r"truncated"),
    _door("header_data_too_short", ".wav", lambda p, s: _lying_wav(p, data_size=16_000), r"length field"),
    _door("header_zero_channels", ".wav", lambda p, s: _lying_wav(p, channels=0), r"0 audio channels"),
    _speech("speech_mp3", ".mp3", lambda p, s: _encode(p, s.cut(0.0, 5.0), "mp3", "libmp3lame"), 5.0),
    _speech("speech_opus", ".ogg", lambda p, s: _encode(p, s.cut(0.0, 5.0), "ogg", "libopus", codec_rate=48_000),
            5.0),
    _speech("speech_aac", ".m4a", lambda p, s: _encode(p, s.cut(0.0, 5.0), "ipod", "aac"), 5.0),
    _speech("speech_flac", ".flac", lambda p, s: _wav(p, s.cut(0.0, 11.0), subtype="PCM_16"), 11.0),
    _speech("speech_webm", ".webm", lambda p, s: _encode(p, s.cut(0.0, 5.0), "webm", "libopus",
                                                         codec_rate=48_000), 5.0),
    _speech("speech_mp4_video", ".mp4", lambda p, s: _encode(p, s.cut(0.0, 5.0), "mp4", "aac", video=50), 5.0,
            frames=50),
    _speech("speech_pcm_u8", ".wav", lambda p, s: _wav(p, s.cut(0.0, 5.0), subtype="PCM_U8"), 5.0),
    _speech("float_nan_inf", ".wav", lambda p, s: _wav(p, _poisoned(s.cut(0.0, 5.0)), subtype="FLOAT"), 5.0,
            expect="any"),
    Case("tiny_10ms", ".wav", lambda p, s: _wav(p, _tone(0.01)), "any", duration=0.01),
    _speech("réunion d'équipe 会议", ".wav", lambda p, s: _wav(p, s.cut(0.0, 5.0)), 5.0),
    _door("directory", "", lambda p, s: _folder_with_audio(p), r"is a directory"),
    _door("missing", ".wav", lambda p, s: p, r"no such file"),
    _door("missing_channel", ".wav", lambda p, s: _wav(p, np.stack([_tone(2.0)] * 2, axis=1)),
          r"has 2 audio channels \(channels 0–1\): there is no channel 5", args=("--channels", "5")),
    _door("too_many_channels_to_split", ".wav", lambda p, s: _wav(p, np.stack([_tone(2.0)] * 9, axis=1)),
          r"has 9 audio channels; at most 8 can be split", args=("--channels", "split")),
    _door("output_is_a_file", ".wav", lambda p, s: _wav(p, _tone(2.0)), r"output path exists and is not a folder",
          out_is_file=True),
)

DOOR = [c for c in CASES if c.door]
MODELS = [c for c in CASES if not c.door]


# --- running the command, measured -------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    rc: int
    stdout: str
    stderr: str
    peak: int
    """Peak resident bytes of the command's process tree."""


def diarize_run(inputs: list[Path], out: Path, timeout: float, options: tuple[str, ...] = ()) -> Outcome:
    """``diarize run INPUTS -o OUT --pipeline archive -f json,rttm,csv [OPTIONS]`` in a fresh process tree."""
    report = out.parent / f".{out.name}.rusage.json"
    args = [str(p) for p in inputs] + ["-o", str(out), "--pipeline", "archive", "-f", FORMATS, *options]
    command = [sys.executable, "-c", _MEASURED, str(report), sys.executable, "-m", "diarize", "run", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONWARNINGS"))}
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env,
                             start_new_session=True, encoding="utf-8", errors="replace")
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        pytest.fail(f"diarize run did not finish within {timeout:.0f} s")
    measured = json.loads(report.read_text())
    report.unlink()
    return Outcome(measured["rc"], stdout, stderr, measured["peak"])


# --- the table of outcomes ---------------------------------------------------------------------------------

_TABLE: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module", autouse=True)
def matrix_report() -> Any:
    """Writes the table to ``$DIARIZE_MATRIX_REPORT`` when set, once the module's tests are done."""
    yield
    target = os.environ.get("DIARIZE_MATRIX_REPORT")
    if not target or not _TABLE:
        return
    lines = ["| case | run | exit | stderr line (stdout status line when it succeeded) | peak RSS MiB | verdict |",
             "|---|---|---|---|---|---|"]
    for name in [c.name for c in CASES if c.name in _TABLE]:
        row = _TABLE[name]
        text = row["line"].replace("|", "\\|")
        lines.append(f"| {name} | {row['run']} | {row['rc']} | {text} | {row['peak'] / 2**20:.0f} | {row['verdict']} |")
    Path(target).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _record(case: Case, run: str, outcome: Outcome, line: str, folder: Path) -> dict[str, Any]:
    """The case's row, marked broken until its checks pass; paths are shown relative to ``folder``."""
    line = line.replace(f"{folder}{os.sep}", "")
    row = {"run": run, "rc": outcome.rc, "line": line, "peak": outcome.peak, "verdict": "BROKEN"}
    _TABLE[case.name] = row
    return row


def _load_speech(request: pytest.FixtureRequest) -> Speech | None:
    """jfk.flac, or ``None`` when ../shared/data is absent."""
    try:
        shared_data = request.getfixturevalue("shared_data")
    except pytest.skip.Exception:
        return None
    samples, rate = sf.read(shared_data / "speech" / "jfk.flac", dtype="float32", always_2d=True)
    return Speech(samples.mean(axis=1), rate)


# --- checks ------------------------------------------------------------------------------------------------


def _assert_error_line(line: str, path: Path, case: Case) -> None:
    assert line.startswith(f"diarize: error: {path}"), line
    assert re.search(case.problem, line), f"{line!r} does not say {case.problem!r}"


def _assert_clean(stderr: str) -> None:
    assert not _WARNING_TEXT.search(stderr), stderr


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


def _assert_outputs(out: Path, stem: str, case: Case) -> None:
    """The three outputs of ``stem`` are there and agree with each other and with the input."""
    from diarize.writers import RESULT_SCHEMA

    data = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"),
                      parse_constant=lambda token: pytest.fail(f"JSON holds {token}"))
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, RESULT_SCHEMA)
    assert _finite(data)
    source, duration = data["source"], data["source"]["duration"]
    if case.duration is not None:
        assert duration == pytest.approx(case.duration, abs=0.15)
    assert case.rate is None or source["sample_rate"] == case.rate
    assert case.channels is None or source["channels"] == case.channels
    if case.frames is not None:
        assert (source["video"] or {}).get("n_frames", 0) == case.frames, source["video"]
    words = [w for s in data["segments"] for w in s["words"]]
    speakers = {s["label"] for s in data["speakers"]}
    assert all(w["speaker"] in speakers for w in words)
    assert all(0.0 <= w["start"] <= w["end"] <= duration + 0.05 for w in words)
    assert all(0.0 <= t["start"] < t["end"] <= duration + 0.05 and t["speaker"] in speakers for t in data["turns"])
    rttm = (out / f"{stem}.rttm").read_text(encoding="utf-8").splitlines()
    assert len(rttm) == len(data["turns"])
    with (out / f"{stem}.words.csv").open(encoding="utf-8", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == len(words)
    text = " ".join(w["word"] for w in words)
    if case.silent:
        assert (speakers, words, data["turns"]) == (set(), [], []), text
    if case.words:
        assert re.search(case.words, text), f"{text!r} does not match {case.words!r}"


# --- the cases that fail at the door: one command each ------------------------------------------------------


@pytest.mark.parametrize("case", DOOR, ids=[c.name for c in DOOR])
def test_unusable_input_gives_one_line(case: Case, tmp_path: Path) -> None:
    path = case.build(tmp_path / f"{case.name}{case.suffix}", None)
    out = tmp_path / "out"
    if case.out_is_file:
        out.write_text("keep me")
    outcome = diarize_run([path], out, timeout=600, options=case.args)
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    row = _record(case, "alone", outcome, " / ".join(lines), tmp_path)
    assert outcome.rc != 0, outcome.stdout
    assert len(lines) == 1, outcome.stderr
    _assert_error_line(lines[0], out if case.out_is_file else path, case)
    _assert_clean(outcome.stderr)
    assert outcome.peak < RSS_BOUND
    if case.out_is_file:
        assert out.read_text() == "keep me"
    else:
        assert not out.exists() or not any(out.iterdir()), sorted(out.iterdir())
    row["verdict"] = "ok"


# --- the cases with valid media: one command for all of them, judged per input ------------------------------


@dataclass(frozen=True)
class GroupRun:
    inputs: dict[str, Path]
    out: Path
    outcome: Outcome


@pytest.fixture(scope="module")
def group_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> GroupRun:
    folder = tmp_path_factory.mktemp("matrix")
    speech = _load_speech(request)
    inputs = {c.name: c.build(folder / f"{c.name}{c.suffix}", speech) for c in MODELS if speech or not c.speech}
    out = folder / "out"
    return GroupRun(inputs, out, diarize_run(list(inputs.values()), out, timeout=1800))


@pytest.mark.slow
@pytest.mark.parametrize("case", MODELS, ids=[c.name for c in MODELS])
def test_valid_media_gives_its_outputs_or_one_line(case: Case, group_run: GroupRun) -> None:
    if case.name not in group_run.inputs:
        pytest.skip("../shared/data is not present")
    path, out, outcome = group_run.inputs[case.name], group_run.out, group_run.outcome
    errors = [line for line in outcome.stderr.splitlines() if line.startswith(f"diarize: error: {path}: ")]
    statuses = [line for line in outcome.stdout.splitlines() if line.startswith(f"{path}: ")]
    run = f"with {len(group_run.inputs) - 1} others"
    line = " / ".join(errors) or " / ".join(statuses) or outcome.stderr.strip()[-300:]
    row = _record(case, run, outcome, line, path.parent)
    assert outcome.peak < RSS_BOUND
    assert "Traceback" not in outcome.stderr, outcome.stderr
    written = sorted(p.name for p in out.iterdir() if p.name.startswith(f"{case.name}.")) if out.is_dir() else []
    if errors:
        assert case.expect in ("error", "any"), errors
        assert len(errors) == 1 and not statuses and written == [], (errors, statuses, written)
        _assert_error_line(errors[0], path, case)
        assert outcome.rc != 0
    else:
        assert case.expect in ("ok", "any"), f"no error line for {path}: {outcome.stderr}"
        assert len(statuses) == 1, outcome.stdout
        # the speaker embeddings file comes with every result whose speakers were embedded (not too-short clips)
        npz = f"{case.name}{EMBEDDINGS_SUFFIX}"
        assert written == sorted([f"{case.name}{s}" for s in SUFFIXES] + ([npz] if npz in written else []))
        if npz in written:
            labels = {s["label"] for s in json.loads((out / f"{case.name}.json").read_text())["speakers"]}
            assert set(read_embeddings(out / npz)) and set(read_embeddings(out / npz)) <= labels
        _assert_outputs(out, case.name, case)
    row["verdict"] = "ok"


@pytest.mark.slow
def test_valid_media_run_leaves_only_error_lines_on_stderr(group_run: GroupRun) -> None:
    """Besides one error line per failed input and the summary, nothing: no warning, log or progress text."""
    outcome = group_run.outcome
    paths = [str(p) for p in group_run.inputs.values()]
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    failed = [line for line in lines if any(line.startswith(f"diarize: error: {p}: ") for p in paths)]
    summary = [line for line in lines if re.fullmatch(r"diarize: \d+ of \d+ inputs done, \d+ failed", line)]
    # stderr is a pipe here, so progress comes as plain lines, each naming its input: "[3/25] clip.wav: vad done; …"
    names = "|".join(re.escape(p.name) for p in group_run.inputs.values())
    progress = [line for line in lines if re.match(rf"\[\d+/{len(paths)}\] (?:{names}): ", line)]
    assert [line for line in lines if line not in failed + summary + progress] == [], outcome.stderr
    assert summary == ([f"diarize: {len(paths) - len(failed)} of {len(paths)} inputs done, {len(failed)} failed"]
                       if failed else [])
    assert outcome.rc == (1 if failed else 0)
    leftovers = sorted(p.name for p in group_run.out.iterdir() if not p.name.endswith((*SUFFIXES, EMBEDDINGS_SUFFIX)))
    assert leftovers == [], leftovers


# --- unusable Whisper models: one line naming the model, before any input is read ---------------------------


def _model_dir_without(path: Path, missing: str) -> Path:
    path.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        if name != missing:
            (path / name).write_text("{}")
    return path


MODEL_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...], str]] = {
    "missing_dir": (lambda p: p / "no-such-model", (), r"no such model directory or checkpoint file"),
    "dir_without_model_bin": (lambda p: _model_dir_without(p / "ct2", "model.bin"), (),
                              r"not a CTranslate2 Whisper model, model\.bin is missing"),
    "corrupt_checkpoint": (lambda p: (p / "broken.pt").write_bytes(b"PK\x03\x04 not a zip") and p / "broken.pt",
                           ("--asr-backend", "openai"), r"not a readable openai-whisper checkpoint"),
    "checkpoint_on_faster": (lambda p: (p / "broken.pt").write_bytes(b"x") and p / "broken.pt", (),
                             r"runs on --asr-backend openai"),
    "unknown_name": (lambda p: Path("whisper-nonexistent-size"), (), r"no such Whisper model here.*downloads nothing"),
}


@pytest.mark.parametrize("name", list(MODEL_CASES))
def test_unusable_model_gives_one_line(name: str, tmp_path: Path) -> None:
    build, flags, problem = MODEL_CASES[name]
    model = build(tmp_path)
    audio = _wav(tmp_path / "tone.wav", _tone(2.0))
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONWARNINGS"))}
    env.update(HF_HUB_CACHE=str(tmp_path / "hub"), XDG_CACHE_HOME=str(tmp_path / "xdg"))
    done = subprocess.run([sys.executable, "-m", "diarize", "run", str(audio), "-o", str(out), "--model", str(model),
                           *flags], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"diarize: error: {model}"), lines[0]
    assert re.search(problem, lines[0]), lines[0]
    _assert_clean(done.stderr)
    assert not out.exists() or not any(out.iterdir())
