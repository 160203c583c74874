"""Voice activity detection: options, merging, padding, blips and chunking on synthetic audio; real speech."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from diarize.errors import ConfigError
from diarize.types import Audio, MediaInfo, Span
from diarize.vad import VadOptions, detect_speech

SR = 16_000
NO_PAD = VadOptions(speech_pad=0.0)


def _audio(samples: np.ndarray) -> Audio:
    info = MediaInfo(
        path="synthetic", duration=len(samples) / SR, sample_rate=SR, channels=1, codec="", container=""
    )
    return Audio(samples=samples.astype(np.float32), info=info)


def _tone(seconds: float, freq: float = 1000.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SR), dtype=np.float32)


def _bursts(total: float, bursts: list[tuple[float, float]]) -> np.ndarray:
    """Digital silence of ``total`` seconds with 1 kHz tone bursts at ``(start, end)`` seconds."""
    x = _silence(total)
    for start, end in bursts:
        a = round(start * SR)
        x[a : a + round((end - start) * SR)] = _tone(end - start)
    return x


def _check_well_formed(spans: list[Span], duration: float, max_span: float) -> None:
    assert all(0.0 <= s.start < s.end <= duration for s in spans)
    assert all(a.end <= b.start for a, b in pairwise(spans))
    assert all(s.duration <= max_span + 1e-9 for s in spans)


def test_silence_and_empty_audio_have_no_speech() -> None:
    assert detect_speech(_audio(_silence(5.0))) == []
    assert detect_speech(_audio(_silence(0.0))) == []
    assert detect_speech(_audio(_silence(0.005))) == []


def test_a_burst_is_found_where_it_is() -> None:
    spans = detect_speech(_audio(_bursts(4.0, [(1.0, 2.0)])), NO_PAD)
    assert len(spans) == 1
    # Frame-aligned onset; WebRTC's hangover may carry the end a few frames past the burst.
    assert 0.97 <= spans[0].start <= 1.0
    assert 2.0 <= spans[0].end <= 2.25


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_every_frame_size_finds_the_burst(frame_ms: int) -> None:
    spans = detect_speech(_audio(_bursts(3.0, [(1.0, 2.0)])), VadOptions(frame_ms=frame_ms, speech_pad=0.0))
    assert len(spans) == 1
    assert 1.0 - frame_ms / 1000 <= spans[0].start <= 1.0
    # Spans of unpadded frames start on a frame border.
    assert round(spans[0].start * SR) % (SR * frame_ms // 1000) == 0


def test_padding_widens_and_clamps_to_the_audio() -> None:
    audio = _audio(_bursts(3.0, [(0.1, 1.0), (2.0, 2.95)]))
    bare = detect_speech(audio, NO_PAD)
    padded = detect_speech(audio, VadOptions(speech_pad=0.3))
    assert len(bare) == len(padded) == 2
    assert padded[0].start == 0.0  # 0.09 - 0.3 clamps to the start
    assert padded[1].start == pytest.approx(bare[1].start - 0.3)
    assert padded[1].end == 3.0  # clamps to the end
    assert padded[0].end == pytest.approx(bare[0].end + 0.3)


def test_padding_that_makes_regions_meet_merges_them() -> None:
    audio = _audio(_bursts(4.0, [(0.5, 1.0), (1.6, 2.0)]))
    assert len(detect_speech(audio, VadOptions(speech_pad=0.0, min_silence=0.1))) == 2
    merged = detect_speech(audio, VadOptions(speech_pad=0.4, min_silence=0.1))
    assert len(merged) == 1 and merged[0].start <= 0.1 and merged[0].end >= 2.4


def test_short_gaps_merge_long_gaps_split() -> None:
    audio = _audio(_bursts(5.0, [(0.5, 1.5), (2.2, 3.5)]))  # 0.7 s apart (less WebRTC's hangover)
    assert len(detect_speech(audio, VadOptions(speech_pad=0.0, min_silence=1.0))) == 1
    assert len(detect_speech(audio, VadOptions(speech_pad=0.0, min_silence=0.2))) == 2


def test_blips_shorter_than_min_speech_are_dropped() -> None:
    audio = _audio(_bursts(4.0, [(0.5, 0.56), (2.0, 3.0)]))
    kept = detect_speech(audio, VadOptions(speech_pad=0.0, min_speech=0.03, min_silence=0.1))
    dropped = detect_speech(audio, VadOptions(speech_pad=0.0, min_speech=0.5, min_silence=0.1))
    assert len(kept) == 2
    assert len(dropped) == 1 and dropped[0].start >= 1.9


def test_long_speech_is_cut_at_the_quiet_points() -> None:
    # 70 s of tone with three 0.15 s silent dips: too short to split the region (min_silence 0.3 s) but
    # the quietest places to cut it.
    dips = [12.0, 22.0, 45.0]
    x = _tone(70.0)
    for d in dips:
        x[round(d * SR) : round((d + 0.15) * SR)] = 0.0
    spans = detect_speech(_audio(x), VadOptions(speech_pad=0.0, max_span=30.0))
    _check_well_formed(spans, 70.0, 30.0)
    assert len(spans) == 3
    assert spans[0].start < 0.05 and spans[-1].end > 69.9
    assert all(a.end == b.start for a, b in pairwise(spans))  # chunks of one region touch
    # The search covers the second half of each chunk: 12 s is too early, 22 s and 45 s are the cuts.
    assert 22.0 <= spans[0].end <= 22.15
    assert 45.0 <= spans[1].end <= 45.15


def test_uniform_speech_is_cut_into_long_enough_chunks() -> None:
    spans = detect_speech(_audio(_tone(100.0)), VadOptions(speech_pad=0.0, max_span=20.0))
    _check_well_formed(spans, 100.0, 20.0)
    assert len(spans) >= 5
    assert all(s.duration >= 10.0 for s in spans[:-1])
    assert spans[0].start < 0.05 and spans[-1].end > 99.9


def test_noise_bursts_give_well_formed_spans() -> None:
    rng = np.random.default_rng(1)
    x = _silence(120.0)
    for start in rng.uniform(0, 118, size=40):
        a = round(start * SR)
        n = round(rng.uniform(0.05, 2.0) * SR)
        x[a : a + n] = (rng.standard_normal(len(x[a : a + n])) * 0.1).astype(np.float32)
    for options in (VadOptions(), VadOptions(frame_ms=10, aggressiveness=0, max_span=5.0, speech_pad=0.5)):
        spans = detect_speech(_audio(x), options)
        assert spans
        _check_well_formed(spans, 120.0, options.max_span)


def test_loud_white_noise_is_not_speech_at_high_aggressiveness() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(10 * SR) * 10 ** (-30 / 20)).astype(np.float32)  # -30 dBFS RMS
    assert detect_speech(_audio(noise), VadOptions(aggressiveness=3)) == []
    assert detect_speech(_audio(noise), VadOptions(aggressiveness=0)) != []


def test_input_is_not_modified() -> None:
    x = _bursts(3.0, [(1.0, 2.0)])
    audio = _audio(x)
    before = audio.samples.copy()
    detect_speech(audio)
    assert np.array_equal(audio.samples, before)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frame_ms": 25},
        {"aggressiveness": 4},
        {"aggressiveness": -1},
        {"speech_pad": -0.1},
        {"min_silence": -1.0},
        {"min_speech": 11.0},
        {"max_span": 0.5},
        {"energy_window": 0.0},
        {"energy_window": 10.0},
    ],
)
def test_invalid_options_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        VadOptions(**kwargs)


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        VadOptions().aggressiveness = 1  # type: ignore[misc]


def test_real_speech(shared_data: Path) -> None:
    from diarize.audio import load_audio

    jfk = load_audio(shared_data / "speech" / "jfk.flac")
    spans = detect_speech(jfk)
    _check_well_formed(spans, jfk.duration, 30.0)
    assert sum(s.duration for s in spans) > 0.8 * jfk.duration
    meeting = load_audio(shared_data / "meetings" / "ami_trn05.wav")
    spans = detect_speech(meeting, VadOptions(max_span=10.0))
    _check_well_formed(spans, meeting.duration, 10.0)
    # The reference has speech 0-2.1 s and 5.9-30 s, silence in between.
    assert spans[0].start < 0.5
    assert not any(s.start < 4.0 and s.end > 5.0 for s in spans)
    assert sum(s.duration for s in spans if s.start >= 8.0) > 15.0
