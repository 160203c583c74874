"""Short and silent input end to end: any speech, however short, gives its words and one speaker.

The full pipeline (``archive``) runs on cuts of ``jfk.flac`` from 0.3 to 3 s. pyannote trusts a speaker
embedding only when the speaker talks alone for 20 % of its 10 s window (2 s), so the shorter cuts have none:
their one speaker is assumed, gets no embedding, and the provenance says so. No cut may let a NaN or an
infinity into any output, nor raise a numpy ``RuntimeWarning``.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from diarize.types import Audio, MediaInfo, Provenance, Result, Segment, SpeakerTurn, Word

CLIP_START = 0.3
"""Seconds into jfk.flac where the speech starts ("And so my fellow Americans, ...")."""

LENGTHS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 3.0)

EMBEDDABLE = 1.5
"""Clips shorter than this hold less clean speech than the clustering trusts (``SpeakerOptions.min_clean``, 1 s,
once the clip's leading and trailing silence is counted out)."""

SPEAKER = "SPEAKER_00"
_TEXT_SUFFIXES = (".json", ".rttm", ".srt", ".vtt", ".txt", ".md", ".words.csv")
_NON_FINITE = re.compile(rb"\b(nan|inf|infinity)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def pipeline() -> tuple[Any, Any]:
    """The ``archive`` pipeline and its models, loaded once for the module."""
    from diarize.config import load_pipeline
    from diarize.pipeline import Models

    config = load_pipeline("archive")
    models = Models()
    models.load(config)
    return config, models


@pytest.fixture(scope="module")
def jfk(shared_data: Path) -> Audio:
    from diarize.audio import load_audio

    return load_audio(shared_data / "speech" / "jfk.flac")


def _cut(audio: Audio, start: float, length: float) -> Audio:
    samples = np.array(audio.slice(start, start + length), dtype=np.float32)
    return Audio(samples=samples, info=replace(audio.info, duration=len(samples) / audio.sample_rate))


def _run(audio: Audio, pipeline: tuple[Any, Any]) -> tuple[Result, dict[str, bytes]]:
    """The result and every output file (rendered, not written), with numpy's RuntimeWarnings as errors."""
    from diarize.pipeline import run
    from diarize.writers import render

    config, models = pipeline
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = run(audio, config, models=models)
        files = dict(render(result, "all"))
    return result, files


def _numbers(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list | tuple):
        return [x for v in value for x in _numbers(v)]
    return []


def _assert_all_finite(result: Result, files: dict[str, bytes]) -> None:
    assert all(math.isfinite(x) for x in _numbers(result.to_dict()))
    for name, data in files.items():
        if name.endswith(_TEXT_SUFFIXES):
            assert not _NON_FINITE.search(data), name
    (json_file,) = (data for name, data in files.items() if name.endswith(".json"))
    json.loads(json_file, parse_constant=lambda token: pytest.fail(f"JSON holds {token}"))


def _note(result: Result) -> str:
    return str(result.provenance.extra.get("speakers", {}).get("note", ""))


def _assert_one_speaker(result: Result, files: dict[str, bytes]) -> None:
    assert result.speakers == (SPEAKER,)
    assert all(w.speaker == SPEAKER for w in result.words)
    assert all(s.speaker == SPEAKER for s in result.segments)
    assert result.turns and {t.speaker for t in result.turns} == {SPEAKER}
    assert all(0.0 <= t.start < t.end <= result.duration + 1e-6 for t in result.turns)
    (rttm,) = (data for name, data in files.items() if name.endswith(".rttm"))
    assert len(rttm.decode().splitlines()) == len(result.turns)
    # an embedding exactly when no note says there is none, and a unit vector when there is
    assert bool(result.embeddings) == (not _note(result))
    for vector in result.embeddings.values():
        assert np.isfinite(vector).all() and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("length", LENGTHS)
def test_short_speech_gives_its_words_and_one_speaker(
    length: float, jfk: Audio, pipeline: tuple[Any, Any]
) -> None:
    result, files = _run(_cut(jfk, CLIP_START, length), pipeline)
    assert result.words, "no words transcribed"
    _assert_one_speaker(result, files)
    _assert_all_finite(result, files)
    if length < EMBEDDABLE:
        assert _note(result).startswith("too little speech to embed reliably (")
        assert _note(result).endswith("one speaker assumed")
        assert result.embeddings == {} and "embeddings" not in result.to_dict()


@pytest.mark.slow
def test_speech_the_speaker_stage_misses_still_gets_a_speaker(jfk: Audio, pipeline: tuple[Any, Any]) -> None:
    # measured: in the first 0.5 s segmentation-3.0 hears nobody, while the ASR transcribes "And"
    result, files = _run(_cut(jfk, 0.0, 0.5), pipeline)
    assert result.words
    _assert_one_speaker(result, files)
    _assert_all_finite(result, files)
    assert _note(result).startswith("the speaker stage heard no speech; one speaker assumed")
    first, last = result.words[0], result.words[-1]
    assert any(t.start <= first.start and last.end <= t.end for t in result.turns)


@pytest.mark.slow
def test_speech_without_words_keeps_its_speaker(jfk: Audio, pipeline: tuple[Any, Any]) -> None:
    # measured: 3.0-3.3 s holds the start of "ask": the speaker stage hears 0.2 s of it, the ASR no word
    result, files = _run(_cut(jfk, 3.0, 0.3), pipeline)
    _assert_one_speaker(result, files)
    _assert_all_finite(result, files)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["digital silence", "faint noise"])
def test_silence_gives_no_speaker_and_no_word(kind: str, pipeline: tuple[Any, Any]) -> None:
    samples = np.zeros(32_000, dtype=np.float32)
    if kind == "faint noise":
        samples = np.random.default_rng(0).normal(0.0, 1e-4, samples.shape).astype(np.float32)
    audio = Audio(samples=samples, info=MediaInfo("silence.wav", 2.0, 16_000, 1, "pcm_s16le", "wav"))
    result, files = _run(audio, pipeline)
    assert (result.speakers, result.turns, result.words, result.embeddings) == ((), (), (), {})
    assert _note(result) == ""
    assert files["silence.rttm"] == b""
    _assert_all_finite(result, files)


# ------------------------------------------------------------------------------------------------------
# a speaker without an embedding, through the JSON form, naming and enrolment (no models)


def _result_without_embedding() -> Result:
    word = Word(0.1, 0.4, " Hi", 0.9, speaker=SPEAKER)
    return Result(
        source=MediaInfo("hi.wav", 0.6, 16_000, 1, "pcm_s16le", "wav"),
        language="en",
        speakers=(SPEAKER,),
        turns=(SpeakerTurn(0.05, 0.5, SPEAKER),),
        segments=(Segment(0.1, 0.4, "Hi", (word,), speaker=SPEAKER),),
        provenance=Provenance(
            models={"embedding": "campplus"},
            extra={"speakers": {"note": "too little speech to embed reliably (0.4 s); one speaker assumed"}},
        ),
    )


def test_a_speaker_without_embedding_round_trips_through_json() -> None:
    from diarize.writers import RESULT_SCHEMA, result_to_json

    result = _result_without_embedding()
    data = json.loads(result_to_json(result))
    assert "embeddings" not in data
    assert data["provenance"]["speakers"]["note"].startswith("too little speech")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, RESULT_SCHEMA)
    back = Result.from_dict(data)
    assert back.speakers == (SPEAKER,) and back.embeddings == {}


def test_a_speaker_without_embedding_stays_unnamed_and_cannot_be_enrolled_from() -> None:
    from diarize.errors import ConfigError
    from diarize.voices.enrol import voice_from_result
    from diarize.voices.library import Enrolment, Voice
    from diarize.voices.naming import name_speakers

    result = _result_without_embedding()
    voice = Voice("Ann", "campplus", np.eye(192, dtype=np.float32)[:1], (Enrolment("ann.wav", "clip"),))
    named = name_speakers(result, [voice])
    assert named.speakers == (SPEAKER,)
    assert all(w.speaker == SPEAKER for w in named.words)
    with pytest.raises(ConfigError, match="no embedding stored for speaker 'SPEAKER_00'"):
        voice_from_result("Ann", result, SPEAKER, "hi.json")
