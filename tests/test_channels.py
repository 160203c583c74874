"""Channels: mix, pick one, or split them into one party each (``--channels mix|split|N``).

Model-free checks of the cross-talk mask on synthetic signals, of the multi-channel decoder and of merging the
channels' attributions; then the real pipeline on the shared stereo recording (one speaker per channel) and on a
two-channel call built here from two shared recordings with 10 % cross-talk of each into the other.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from diarize.assign import AssignOptions, Attribution, attribute
from diarize.channels import ChannelOptions, dominance, parse_channel_use, suppress_bleed
from diarize.channels.bleed import frame_energies
from diarize.channels.split import channel_label, merge_channels, on_channel
from diarize.errors import ConfigError, MediaError
from diarize.types import Diarization, Result, Segment, SpeakerTurn, Transcript, Word

RATE = 16_000
FRAME = 0.02


@pytest.fixture(autouse=True)
def _numeric_warnings_are_errors() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _burst(seconds: float, start: float, end: float, seed: int, level: float = 0.3) -> np.ndarray:
    """Speech-like noise (amplitude-modulated at 4 Hz) in ``[start, end)`` of ``seconds`` of silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4.0 * t)
    signal = level * envelope * rng.normal(0.0, 1.0, len(t))
    signal[(t < start) | (t >= end)] = 0.0
    np.clip(signal, -0.9, 0.9, out=signal)
    return signal.astype(np.float32)


def _call(bleed: float = 0.1) -> np.ndarray:
    """Party A talks 0–1 s on channel 0, party B 0.5–1.5 s on channel 1, each heard at ``bleed`` on the other
    channel: shape ``(2, samples)``."""
    a, b = _burst(2.0, 0.0, 1.0, seed=1), _burst(2.0, 0.5, 1.5, seed=2)
    return np.stack([a + bleed * b, b + bleed * a])


def _frames(start: float, end: float) -> slice:
    return slice(int(round(start / FRAME)), int(round(end / FRAME)))


# --- the cross-talk mask ----------------------------------------------------------------------------------


def test_each_party_dominates_its_own_channel_and_both_in_overlap() -> None:
    mixed = _call()
    mask = dominance(mixed, RATE, FRAME, within_db=12.0)  # shape: (2, frames)
    assert mask.shape == (2, 100)
    assert mask[0, _frames(0.0, 0.5)].all() and not mask[1, _frames(0.0, 0.5)].any()  # A alone: B's is bleed
    assert mask[:, _frames(0.5, 1.0)].all()  # both talk: both channels count
    assert mask[1, _frames(1.0, 1.5)].all() and not mask[0, _frames(1.0, 1.5)].any()  # B alone
    assert mask[:, _frames(1.5, 2.0)].all()  # silent everywhere: every channel counts (nothing to silence)


def test_the_threshold_is_the_level_difference_to_the_loudest_channel() -> None:
    loud = _burst(1.0, 0.0, 1.0, seed=3)
    for db, kept in ((11.0, True), (13.0, False)):
        quiet = loud * np.float32(10 ** (-db / 20))
        mask = dominance(np.stack([loud, quiet]), RATE, FRAME, within_db=12.0)
        assert mask[0].all()
        assert bool(mask[1].all()) is kept and bool(mask[1].any()) is kept, db


def test_suppression_silences_cross_talk_and_keeps_each_party() -> None:
    mixed = _call()
    before = mixed.copy()
    out = suppress_bleed(mixed, RATE, FRAME, within_db=12.0)
    assert out.shape == mixed.shape and out.dtype == np.float32
    np.testing.assert_array_equal(mixed, before)  # the input is not modified
    assert np.all(np.abs(out) <= np.abs(mixed) + 1e-7)  # gains lie in [0, 1]
    ramp = int(FRAME * RATE)  # the gain moves over one frame at each change
    b_alone_on_a = slice(int(1.0 * RATE) + ramp, int(1.5 * RATE) - ramp)
    a_alone_on_b = slice(ramp, int(0.5 * RATE) - ramp)
    assert not out[0, b_alone_on_a].any() and not out[1, a_alone_on_b].any()
    own = slice(ramp, int(1.0 * RATE) - ramp)
    np.testing.assert_array_equal(out[0, own], mixed[0, own])
    overlap = slice(int(0.5 * RATE) + ramp, int(1.5 * RATE) - ramp)
    np.testing.assert_array_equal(out[1, overlap], mixed[1, overlap])
    residual = float(np.sum(out[1, : int(0.5 * RATE)] ** 2)) / float(np.sum(mixed[1, : int(0.5 * RATE)] ** 2))
    assert residual < 0.05, residual


def test_gain_changes_without_a_step() -> None:
    mixed = _call()
    out = suppress_bleed(mixed, RATE, FRAME, within_db=12.0)
    gain = np.divide(out[1], mixed[1], out=np.ones_like(out[1]), where=np.abs(mixed[1]) > 1e-4)
    edge = slice(int(0.5 * RATE) - 2 * int(FRAME * RATE), int(0.5 * RATE) + 2 * int(FRAME * RATE))
    steps = np.abs(np.diff(gain[edge][np.abs(mixed[1, edge]) > 1e-4]))
    assert steps.max() < 0.05  # a linear ramp over one frame, not a jump from 0 to 1


def test_energies_of_silence_and_a_partial_last_frame_are_finite() -> None:
    signals = np.zeros((3, 1000), dtype=np.float32)
    signals[2, 960:] = 0.5  # the last, partial frame (40 samples)
    energies = frame_energies(signals, RATE, FRAME)
    assert energies.shape == (3, 4) and np.isfinite(energies).all()
    assert energies[2, -1] == pytest.approx(10 * math.log10(0.25))
    assert energies[0].max() == pytest.approx(-100.0)
    out = suppress_bleed(signals, RATE, FRAME, within_db=12.0)
    np.testing.assert_array_equal(out[2, 980:], signals[2, 980:])
    assert not out[:2].any()


def test_one_channel_dominates_alone_and_long_signals_are_done_in_blocks() -> None:
    mixed = np.stack([_burst(70.0, 0.0, 70.0, seed=4), 0.05 * _burst(70.0, 0.0, 70.0, seed=5)])
    out = suppress_bleed(mixed, RATE, FRAME, within_db=12.0)
    np.testing.assert_array_equal(out[0], mixed[0])
    assert not out[1].any()


# --- options -----------------------------------------------------------------------------------------------


def test_channel_options_validate_with_the_field_named() -> None:
    assert ChannelOptions().use == "mix" and ChannelOptions().channel is None
    assert ChannelOptions(use=1).channel == 1 and ChannelOptions(use="split").split
    for bad, pattern in (("left", r"channels\.use"), (-1, r"channels\.use.*-1"), (True, r"channels\.use")):
        with pytest.raises(ConfigError, match=pattern):
            ChannelOptions(use=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"channels\.within_db"):
        ChannelOptions(within_db=0.0)
    with pytest.raises(ConfigError, match=r"channels\.max_split"):
        ChannelOptions(max_split=0)
    assert [parse_channel_use(t) for t in ("mix", "SPLIT", "0", "3")] == ["mix", "split", 0, 3]
    with pytest.raises(ConfigError, match=r"'-1' is not mix, split or a channel number"):
        parse_channel_use("-1")


def test_pipeline_files_take_a_channels_section(tmp_path: Path) -> None:
    from diarize.config import load_pipeline

    path = tmp_path / "calls.yaml"
    path.write_text("channels: {use: split, within_db: 10}\n", encoding="utf-8")
    config = load_pipeline(path)
    assert config.channels == ChannelOptions(use="split", within_db=10.0)
    assert load_pipeline().channels == ChannelOptions()
    path.write_text("channels: {use: 2}\n", encoding="utf-8")
    assert load_pipeline(path).channels.channel == 2
    path.write_text("channels: {use: both}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"calls\.yaml\.channels\.use: 'both'"):
        load_pipeline(path)


def test_segments_and_turns_carry_their_channel_through_json() -> None:
    word = Word(0.0, 0.5, " hi", 0.9, "CH1")
    segment = Segment(0.0, 0.5, "hi", (word,), speaker="CH1", channel=1)
    turn = SpeakerTurn(0.0, 0.5, "CH1", channel=1)
    assert segment.to_dict()["channel"] == 1 and Segment.from_dict(segment.to_dict()) == segment
    assert turn.to_dict()["channel"] == 1 and SpeakerTurn.from_dict(turn.to_dict()) == turn
    assert "channel" not in Segment(0.0, 0.5, "hi").to_dict()
    assert "channel" not in SpeakerTurn(0.0, 0.5, "A").to_dict()


# --- decoding channels -------------------------------------------------------------------------------------


def _stereo(path: Path, subtype: str = "PCM_16") -> np.ndarray:
    left, right = _burst(1.0, 0.0, 0.6, seed=6), _burst(1.0, 0.4, 1.0, seed=7, level=0.2)
    samples = np.stack([left, right], axis=1)
    sf.write(path, samples, RATE, subtype=subtype)
    data, _ = sf.read(path, dtype="float32")
    return data


def test_the_command_line_refuses_an_unknown_channel_use(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from diarize.cli.main import cli

    path = tmp_path / "call.wav"
    _stereo(path)
    outcome = CliRunner().invoke(cli, ["run", str(path), "-o", str(tmp_path / "out"), "--channels", "left"])
    assert outcome.exit_code == 2
    assert "Invalid value for '--channels': 'left' is not mix, split or a channel number (from 0)" in outcome.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT", "PCM_U8"])
def test_one_channel_or_each_is_decoded_alone(tmp_path: Path, subtype: str) -> None:
    from diarize.audio import load_audio, load_channels

    path = tmp_path / "call.wav"
    data = _stereo(path, subtype)
    tolerance = 1e-2 if subtype == "PCM_U8" else 1e-6
    left, right = load_audio(path, channel=0), load_audio(path, channel=1)
    np.testing.assert_allclose(left.samples, data[:, 0], atol=tolerance)
    np.testing.assert_allclose(right.samples, data[:, 1], atol=tolerance)
    mixed = load_audio(path)
    np.testing.assert_allclose(mixed.samples, (left.samples + right.samples) / 2, atol=1e-6)
    each = load_channels(path)
    assert len(each) == 2 and each[0].info == left.info and left.info.channels == 2
    np.testing.assert_array_equal(each[0].samples, left.samples)
    np.testing.assert_array_equal(each[1].samples, right.samples)


def test_planar_compressed_channels_are_decoded_alone(tmp_path: Path) -> None:
    """AAC decodes to planar float frames at 44.1 kHz: each channel is resampled on its own."""
    import av

    from diarize.audio import load_audio, load_channels

    rate, t = 44_100, np.arange(44_100 * 2) / 44_100
    left = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    right = np.zeros_like(left)
    path = tmp_path / "call.m4a"
    with av.open(str(path), "w", format="ipod") as out:
        stream = out.add_stream("aac", rate=rate, layout="stereo")
        for start in range(0, len(t), 1024):
            block = np.stack([left[start : start + 1024], right[start : start + 1024]])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = rate, start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    each = load_channels(path)
    assert len(each) == 2 and each[0].sample_rate == RATE
    inner = slice(RATE // 4, RATE + RATE // 2)
    assert np.sqrt(np.mean(each[0].samples[inner] ** 2)) == pytest.approx(0.3 / math.sqrt(2), rel=0.05)
    assert np.sqrt(np.mean(each[1].samples[inner] ** 2)) < 1e-3
    np.testing.assert_array_equal(load_audio(path, channel=1).samples, each[1].samples)


def test_a_missing_channel_or_too_many_to_split_is_one_clear_error(tmp_path: Path) -> None:
    from diarize.audio import load_audio, load_channels

    path = tmp_path / "call.wav"
    _stereo(path)
    with pytest.raises(MediaError, match=r"call\.wav: has 2 audio channels \(channels 0–1\): there is no channel 5"):
        load_audio(path, channel=5)
    wide = tmp_path / "wide.wav"
    sf.write(wide, np.zeros((RATE, 9), dtype=np.float32), RATE)
    with pytest.raises(MediaError, match=r"wide\.wav: has 9 audio channels; at most 8 can be split"):
        load_channels(wide)
    assert len(load_channels(wide, max_channels=9)) == 9


# --- merging the channels ----------------------------------------------------------------------------------


def _channel(channel: int, words: list[tuple[float, float, str]]) -> Attribution:
    """One channel's attribution: its words as one ASR segment, one speaker talking across them."""
    label = channel_label(channel)
    ws = tuple(Word(a, b, f" {text}", 0.9) for a, b, text in words)
    segment = Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws), ws)
    turn = SpeakerTurn(ws[0].start, ws[-1].end, label)
    diarization = Diarization(turns=(turn,), exclusive=(turn,), speakers=(label,))
    return on_channel(attribute(Transcript((segment,), "en"), diarization, AssignOptions()), channel)


def test_merged_channels_keep_each_party_and_report_true_overlap() -> None:
    a = _channel(0, [(0.0, 0.4, "one"), (0.5, 0.9, "two"), (1.0, 1.4, "three."), (1.5, 1.9, "four")])
    b = _channel(1, [(1.2, 1.6, "yes"), (1.7, 2.4, "indeed.")])
    merged = merge_channels([a, b], AssignOptions())
    assert merged.diarization.speakers == ("CH0", "CH1")
    turns = merged.diarization.turns
    assert [(t.speaker, t.channel, t.start, t.end) for t in turns] == [("CH0", 0, 0.0, 1.9), ("CH1", 1, 1.2, 2.4)]
    assert [(s.speaker, s.channel, s.text) for s in merged.segments] == [
        ("CH0", 0, "one two three."), ("CH1", 1, "yes indeed."), ("CH0", 0, "four")]
    overlapped = {w.text.strip(): w.overlap for s in merged.segments for w in s.words}
    assert overlapped == {"one": False, "two": False, "three.": True, "four": True, "yes": True, "indeed.": False}
    assert merged.stats.words == 6 and merged.stats.overlap == 3


# --- the real pipeline -------------------------------------------------------------------------------------

JFK_TEXT = ("And so my fellow Americans, ask not what your country can do for you, ask what you can do for your "
            "country.")
CALL_OFFSET = 7.0
"""Seconds into JFK's speech at which the other party starts talking on channel 1."""
CALL_RMS = 0.08
"""Level (RMS) of each party on its own line, as a call's gain control leaves them (the sources differ by 16 dB)."""


@pytest.fixture(scope="module")
def call(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A two-channel call: JFK on channel 0 from 0 s, the AMI headset speaker on channel 1 from
    :data:`CALL_OFFSET`, overlapping for about 3.5 s; ``clean`` as recorded, ``bleed`` with each party also
    heard at amplitude 0.1 on the other's channel. Both sources decoded to 16 kHz by the project's decoder and
    brought to the same level."""
    from diarize.audio import load_audio

    jfk = load_audio(shared_data / "speech" / "jfk.flac").samples
    ami = load_audio(shared_data / "speech" / "ami_ES2011a_headset_40-46s.wav").samples
    offset = int(CALL_OFFSET * RATE)
    length = max(len(jfk), offset + len(ami))
    parties = np.zeros((2, length), dtype=np.float32)
    parties[0, : len(jfk)] = jfk * (CALL_RMS / np.sqrt(np.mean(jfk**2)))  # each line at the same level
    parties[1, offset : offset + len(ami)] = ami * (CALL_RMS / np.sqrt(np.mean(ami**2)))
    folder = tmp_path_factory.mktemp("call")
    files = {"clean": parties, "bleed": parties + 0.1 * parties[::-1]}
    for name, signals in files.items():
        assert np.abs(signals).max() < 1.0
        sf.write(folder / f"{name}.wav", signals.T, RATE, subtype="PCM_16")
    return {name: folder / f"{name}.wav" for name in files}


@pytest.fixture(scope="module")
def runs(shared_data: Path, call: dict[str, Path]) -> dict[str, Result]:
    """The ``archive`` pipeline (tiny.en), models loaded once: the stereo recording split (also with the speaker
    stage inside each channel) and each of its channels alone, the call with cross-talk split and each clean
    channel alone."""
    from diarize.config import load_pipeline
    from diarize.pipeline import Models, run

    models = Models()
    config = load_pipeline("archive")
    stereo = shared_data / "meetings" / "stereo_diarization.wav"
    split = ChannelOptions(use="split")
    jobs = {
        "stereo": (stereo, split), "stereo0": (stereo, ChannelOptions(use=0)),
        "stereo1": (stereo, ChannelOptions(use=1)), "within": (stereo, ChannelOptions(use="split", diarize=True)),
        "call": (call["bleed"], split), "call0": (call["clean"], ChannelOptions(use=0)),
        "call1": (call["clean"], ChannelOptions(use=1)),
    }
    return {
        name: run(path, dataclasses.replace(config, channels=options), models=models)
        for name, (path, options) in jobs.items()
    }


def _normalize(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return str(EnglishTextNormalizer()(text))


def _tokens(text: str) -> list[str]:
    return _normalize(text).split()


def _errors(reference: str, result: Result) -> int:
    """Word errors of ``result``'s whole text against ``reference`` (both normalised)."""
    from diarize.eval.words import word_errors

    return word_errors(_tokens(reference), _tokens(" ".join(s.text for s in result.segments))).errors


def _cp_errors(reference: list[Segment], result: Result) -> int:
    from diarize.eval.words import cpwer

    score = cpwer(reference, list(result.segments), normalizer=_normalize)
    assert score.missed_speakers == 0 and score.falarm_speakers == 0
    return score.errors


def _overlap_seconds(result: Result) -> float:
    from diarize.assign import overlap_regions

    return sum(r.duration for r in overlap_regions(result.turns))


def _stereo_reference(shared_data: Path) -> dict[str, Segment]:
    from diarize.eval.io import load_stm

    segments = load_stm(shared_data / "meetings" / "stereo_diarization.stm")["stereo_diarization"]
    by_speaker = {s.speaker: s for s in segments}
    return {"CH0": replace_speaker(by_speaker["left"], "CH0"), "CH1": replace_speaker(by_speaker["right"], "CH1")}


def replace_speaker(segment: Segment, speaker: str) -> Segment:
    return dataclasses.replace(segment, speaker=speaker)


def _text_of(result: Result, speaker: str) -> str:
    return " ".join(s.text for s in result.segments if s.speaker == speaker)


@pytest.mark.slow
def test_split_stereo_puts_each_channel_on_its_own_speaker(runs: dict[str, Result], shared_data: Path) -> None:
    """stereo_diarization.wav (one speaker per channel, 100 % overlap when mixed): split gives two speakers,
    each with their channel's words, cpWER no worse than each channel transcribed alone, and their overlap
    (0.33–2.70 s in the reference) as overlapping turns and overlapped words."""
    reference = _stereo_reference(shared_data)
    split = runs["stereo"]
    assert split.speakers == ("CH0", "CH1")
    assert {s.channel for s in split.segments if s.speaker == "CH0"} == {0}
    assert {s.channel for s in split.segments if s.speaker == "CH1"} == {1}
    assert {(t.speaker, t.channel) for t in split.turns} == {("CH0", 0), ("CH1", 1)}
    assert "wizard" in _text_of(split, "CH0").lower() and "horizon" in _text_of(split, "CH1").lower()
    assert "horizon" not in _text_of(split, "CH0").lower() and "wizard" not in _text_of(split, "CH1").lower()
    alone = _errors(reference["CH0"].text, runs["stereo0"]) + _errors(reference["CH1"].text, runs["stereo1"])
    assert _cp_errors(list(reference.values()), split) <= alone + 1
    overlap = _overlap_seconds(split)
    assert 1.5 <= overlap <= 2.9, overlap  # reference: 2.37 s
    for speaker in ("CH0", "CH1"):
        overlapped = [w for w in split.words if w.speaker == speaker and w.overlap]
        assert overlapped and all(w.start < 2.9 for w in overlapped), speaker
    assert not any(w.overlap for w in split.words if w.start > 3.0)  # only CH0 talks after 2.7 s


@pytest.mark.slow
def test_one_channel_gives_only_its_text(runs: dict[str, Result], shared_data: Path) -> None:
    reference = _stereo_reference(shared_data)
    for name, own, other in (("stereo0", "CH0", "CH1"), ("stereo1", "CH1", "CH0")):
        result = runs[name]
        hyp = _tokens(" ".join(s.text for s in result.segments))
        assert not set(hyp) & (set(_tokens(reference[other].text)) - set(_tokens(reference[own].text))), hyp
        assert _errors(reference[own].text, result) <= 2, hyp
        assert {s.channel for s in result.segments} == {int(own[-1])}
        assert result.source.channels == 2
    assert _overlap_seconds(runs["stereo1"]) == 0.0


@pytest.mark.slow
def test_split_call_with_cross_talk_gives_each_party_its_clean_words(
    runs: dict[str, Result], shared_data: Path
) -> None:
    """10 % cross-talk of each party into the other's channel: split gives each speaker the words its clean
    channel gives alone, no word of the other party, and the overlap where both talk."""
    from diarize.eval.io import load_stm
    from diarize.eval.words import word_errors

    ami = load_stm(shared_data / "speech" / "ami_ES2011a_headset_40-46s.stm")
    ami_text = " ".join(s.text for segments in ami.values() for s in segments)
    reference = [Segment(0.0, 11.0, JFK_TEXT, speaker="CH0"),
                 Segment(CALL_OFFSET, CALL_OFFSET + 4.4, ami_text, speaker="CH1")]
    split = runs["call"]
    assert split.speakers == ("CH0", "CH1")
    alone = _errors(JFK_TEXT, runs["call0"]) + _errors(ami_text, runs["call1"])
    assert _cp_errors(reference, split) <= alone + 1
    for speaker, text, clean in (("CH0", JFK_TEXT, runs["call0"]), ("CH1", ami_text, runs["call1"])):
        own = word_errors(_tokens(text), _tokens(_text_of(split, speaker)))
        assert own.errors <= _errors(text, clean) + 1, (speaker, own)
        same = word_errors(_tokens(" ".join(s.text for s in clean.segments)), _tokens(_text_of(split, speaker)))
        assert same.insertions == 0 and same.deletions == 0, (speaker, same)  # no word added or lost
    jfk_only = set(_tokens(JFK_TEXT)) - set(_tokens(ami_text))
    ami_only = set(_tokens(ami_text)) - set(_tokens(JFK_TEXT))
    assert not set(_tokens(_text_of(split, "CH1"))) & jfk_only
    assert not set(_tokens(_text_of(split, "CH0"))) & ami_only
    overlap = _overlap_seconds(split)
    assert 2.0 <= overlap <= 4.5, overlap
    ch1 = [t for t in split.turns if t.speaker == "CH1"]
    assert ch1 and min(t.start for t in ch1) >= CALL_OFFSET - 0.3
    assert any(w.overlap for w in split.words if w.speaker == "CH0")
    assert any(w.overlap for w in split.words if w.speaker == "CH1")


@pytest.mark.slow
def test_speakers_inside_each_channel_are_named_with_it(runs: dict[str, Result]) -> None:
    """``channels.diarize``: the speaker stage runs on each channel; one talker each here."""
    within = runs["within"]
    assert within.speakers == ("CH0_SPEAKER_00", "CH1_SPEAKER_00")
    assert set(within.embeddings) == set(within.speakers)
    for segment in within.segments:
        assert segment.speaker == f"CH{segment.channel}_SPEAKER_00"
        assert all(w.speaker == segment.speaker for w in segment.words)
    assert [s.text for s in within.segments] == [s.text for s in runs["stereo"].segments]
    assert 1.5 <= _overlap_seconds(within) <= 2.9
