"""Named voices: time ranges, the library on disk, one-to-one matching, naming results, and real-audio naming.

The real-audio checks enrol people on single-speaker stretches of one part of a recording (from its reference
RTTM) and name the speakers the speaker stage finds in another part, with voices of strangers in the library
too (``diarize.voices.calibrate``). Measured with CAM++ at the default threshold 0.45 (see the README):
simconv + pyannote sample, 4 cases: 4/4 enrolled speakers named right, 0/3 strangers named.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from diarize.cli.main import cli
from diarize.errors import ConfigError, InputError
from diarize.types import MediaInfo, Provenance, Result, Segment, SpeakerTurn, Word
from diarize.voices.enrol import (
    Clip,
    EnrolmentError,
    gather_voices,
    parse_clip,
    parse_speaker_voice,
    parse_time,
    voice_from_result,
)
from diarize.voices.library import Enrolment, Voice, VoiceLibrary, check_voice_name, default_library_dir
from diarize.voices.naming import DEFAULT_THRESHOLDS, NamingOptions, check_models, match_speakers, name_speakers

# --- helpers ---------------------------------------------------------------------------------------------


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def voice(name: str, *rows: np.ndarray, model: str = "campplus") -> Voice:
    enrolments = tuple(
        Enrolment(
            source=f"{name}.wav",
            start=1.0,
            end=4.5,
            speech=3.2,
            added="2025-01-01T00:00:00+00:00",
            diarize_version="0.1.0",
        )
        for _ in rows
    )
    return Voice(name=name, model=model, embeddings=np.stack(rows), enrolments=enrolments)


def make_result(embeddings: dict[str, np.ndarray], model: str = "campplus") -> Result:
    speakers = tuple(sorted(embeddings))
    turns = tuple(SpeakerTurn(float(i), float(i) + 0.9, s) for i, s in enumerate(speakers))
    segments = tuple(
        Segment(t.start, t.end, " hi", (Word(t.start, t.end, " hi", 0.9, t.speaker),), t.speaker)
        for t in turns
    )
    return Result(
        source=MediaInfo(
            path="m.wav", duration=10.0, sample_rate=16000, channels=1, codec="pcm", container="wav"
        ),
        language="en",
        speakers=speakers,
        turns=turns,
        segments=segments,
        provenance=Provenance(models={"embedding": model}),
        embeddings=embeddings,
    )


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


# --- time ranges and names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("75", 75.0), ("75.5", 75.5), ("1:15.5", 75.5), ("0:01:15.5", 75.5), ("1:00:00", 3600.0), ("2.", 2.0)],
)
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-3", "1:75", "1:2:3:4", "1:-5", "nan", "inf"])
def test_parse_time_rejects(text):
    with pytest.raises(ConfigError, match="mm:ss"):
        parse_time(text)


def test_parse_clip_ranges(tmp_path):
    assert parse_clip("talk.wav") == Clip(Path("talk.wav"))
    assert parse_clip("talk.wav@1:05-1:42.5") == Clip(Path("talk.wav"), 65.0, 102.5)
    assert parse_clip("me@home.wav") == Clip(Path("me@home.wav"))  # an @ without a range is part of the name
    assert str(parse_clip("a.wav@3-7.5")) == "a.wav@3-7.5"
    with pytest.raises(ConfigError, match="START < END"):
        parse_clip("talk.wav@10-5")
    odd = tmp_path / "take@1-2"  # a file whose name looks like a range stays a file
    odd.write_bytes(b"x")
    assert parse_clip(str(odd)) == Clip(odd)


def test_parse_speaker_voice():
    clip, name = parse_speaker_voice("a=b.wav@0:10-0:20=Mary Ann")
    assert clip == Clip(Path("a=b.wav"), 10.0, 20.0) and name == "Mary Ann"
    for bad in ("a.wav", "=Bob", "a.wav=", "a.wav=SPEAKER_01"):
        with pytest.raises(ConfigError):
            parse_speaker_voice(bad)


def test_voice_names():
    assert check_voice_name("  Alice ") == "Alice"
    for bad in ("", "  ", "A,B", "A=B", "SPEAKER_03", "tab\there"):
        with pytest.raises(ConfigError):
            check_voice_name(bad)


# --- storage ---------------------------------------------------------------------------------------------


def test_library_round_trip(tmp_path):
    library = VoiceLibrary(tmp_path / "voices")
    assert library.voices() == []  # a missing folder is an empty library
    rng = np.random.default_rng(0)
    alice = voice("Alice", *rng.normal(size=(2, 192)).astype(np.float32))
    library.add(alice)
    library.add(voice("bob", rng.normal(size=192).astype(np.float32)))
    back = library.get("Alice")
    assert back is not None and back.model == "campplus" and back.dimension == 192
    assert np.array_equal(back.embeddings, alice.embeddings)  # float32 survives JSON exactly
    assert back.enrolments == alice.enrolments
    assert np.allclose(np.linalg.norm(back.embeddings, axis=1), 1.0, atol=1e-6)
    assert library.names() == ["Alice", "bob"]
    files = sorted(p.name for p in (tmp_path / "voices").iterdir())
    assert len(files) == 2 and all(f.endswith(".json") for f in files)
    data = json.loads(library.path("Alice").read_text())
    assert data["format"] == "diarize-voice/1" and data["dimension"] == 192 and len(data["embeddings"]) == 2
    assert data["enrolments"][0]["source"] == "Alice.wav" and data["enrolments"][0]["start"] == 1.0


def test_add_appends_and_remove(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add(voice("Alice", unit(1, 0, 0)))
    merged = library.add(voice("Alice", unit(0, 1, 0)))
    assert len(merged.enrolments) == 2 and np.allclose(merged.vector, unit(1, 1, 0))
    assert library.get("alice") is None  # names are exact
    removed = library.remove("Alice")
    assert removed.name == "Alice" and library.voices() == []
    with pytest.raises(ConfigError, match="no voice 'Alice'"):
        library.remove("Alice")


def test_one_model_per_library(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add(voice("Alice", unit(1, 0, 0)))
    with pytest.raises(ConfigError, match="another --library"):
        library.add(voice("Bob", unit(0, 1, 0), model="ge2e"))
    with pytest.raises(ConfigError, match="dimension|dim"):
        library.add(voice("Alice", unit(0, 1, 0, 0)))


def test_write_is_atomic(tmp_path, monkeypatch):
    library = VoiceLibrary(tmp_path)
    library.add(voice("Alice", unit(1, 0, 0)))
    before = library.path("Alice").read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Exception, match="disk full"):
        library.add(voice("Alice", unit(0, 1, 0)))
    assert library.path("Alice").read_bytes() == before  # the old voice, whole
    assert [p.name for p in tmp_path.iterdir()] == [library.path("Alice").name]  # no temporary left


def test_corrupt_voice_file_names_the_file(tmp_path):
    library = VoiceLibrary(tmp_path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json"):
        library.voices()
    (tmp_path / "broken.json").write_text(
        json.dumps(
            {
                "format": "diarize-voice/1",
                "name": "X",
                "model": "campplus",
                "embeddings": [[1.0, 0.0]],
                "enrolments": [],
            }
        )
    )
    with pytest.raises(ConfigError, match="broken.json.*1 embeddings but 0 enrolments"):
        library.voices()


def test_default_library_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DIARIZE_VOICES", str(tmp_path / "lib"))
    assert default_library_dir() == tmp_path / "lib"
    assert VoiceLibrary().root == tmp_path / "lib"
    monkeypatch.delenv("DIARIZE_VOICES")
    assert default_library_dir().parts[-2:] == ("diarize", "voices")


# --- matching and naming ---------------------------------------------------------------------------------


def test_one_to_one_assignment_with_threshold():
    voices = [voice("Alice", unit(1, 0, 0)), voice("Bob", unit(0, 1, 0))]
    embeddings = {
        "SPEAKER_00": unit(1, 0.3, 0),  # close to Alice (0.96)
        "SPEAKER_01": unit(1, 0.5, 0),  # closer to Alice than to Bob, but Alice is taken: Bob (0.45)
        "SPEAKER_02": unit(0, 0, 1),  # nobody
    }
    matches = {m.speaker: m for m in match_speakers(embeddings, voices, threshold=0.4)}
    assert matches["SPEAKER_00"].name == "Alice" and matches["SPEAKER_00"].score == pytest.approx(
        0.958, abs=1e-3
    )
    assert matches["SPEAKER_01"].name == "Bob" and matches["SPEAKER_01"].scores["Alice"] > 0.85
    assert matches["SPEAKER_02"].name is None and matches["SPEAKER_02"].candidate is None
    strict = {m.speaker: m for m in match_speakers(embeddings, voices, threshold=0.5)}
    assert strict["SPEAKER_00"].name == "Alice"
    assert (
        strict["SPEAKER_01"].name is None and strict["SPEAKER_01"].candidate == "Bob"
    )  # below: stays unnamed


def test_hungarian_beats_greedy():
    # Greedy (best pair first) would give Alice to SPEAKER_00 (0.90) and leave SPEAKER_01 with Bob (0.10).
    voices = [voice("Alice", unit(1, 0)), voice("Bob", unit(0, 1))]
    embeddings = {"SPEAKER_00": unit(0.9, 0.436), "SPEAKER_01": unit(0.8, -0.6)}
    names = {m.speaker: m.name for m in match_speakers(embeddings, voices, threshold=0.3)}
    assert names == {"SPEAKER_00": "Bob", "SPEAKER_01": "Alice"}


def test_missing_or_invalid_centroids_stay_unnamed():
    voices = [voice("Alice", unit(1, 0))]
    embeddings = {
        "SPEAKER_00": np.array([np.nan, 1.0]),
        "SPEAKER_01": np.zeros(2),
        "SPEAKER_02": unit(1, 0.1),
    }
    names = {m.speaker: m.name for m in match_speakers(embeddings, voices, threshold=0.5)}
    assert names == {"SPEAKER_00": None, "SPEAKER_01": None, "SPEAKER_02": "Alice"}


def test_name_speakers_renames_everywhere_and_records_scores():
    result = make_result(
        {"SPEAKER_00": unit(0, 1, 0), "SPEAKER_01": unit(1, 0.1, 0), "SPEAKER_02": unit(0, 0, 1)}
    )
    named = name_speakers(
        result,
        [voice("Alice", unit(1, 0, 0)), voice("Bob", unit(0, 1, 0))],
        NamingOptions(threshold=0.5),
        library="/lib",
    )
    assert named.speakers == ("Bob", "Alice", "SPEAKER_02")
    assert [t.speaker for t in named.turns] == ["Bob", "Alice", "SPEAKER_02"]
    assert [w.speaker for w in named.words] == ["Bob", "Alice", "SPEAKER_02"]
    assert set(named.embeddings) == {"Bob", "Alice", "SPEAKER_02"}
    assert (
        named.speaker_scores["Alice"] == pytest.approx(0.995, abs=1e-3) and named.speaker_scores["Bob"] == 1.0
    )
    record = named.provenance.extra["voices"]
    assert record["threshold"] == 0.5 and record["library"] == "/lib" and record["model"] == "campplus"
    assert {m["speaker"]: m["name"] for m in record["matches"]} == {
        "SPEAKER_00": "Bob",
        "SPEAKER_01": "Alice",
        "SPEAKER_02": None,
    }
    assert named.provenance.extra["speaker_names"] == {"SPEAKER_00": "Bob", "SPEAKER_01": "Alice"}
    again = Result.from_dict(json.loads(json.dumps(named.to_dict())))
    assert again.speaker_scores == named.speaker_scores and again.provenance.extra["voices"] == record
    assert result.speakers == ("SPEAKER_00", "SPEAKER_01", "SPEAKER_02")  # the input is unchanged


def test_fixed_names_win():
    result = make_result({"SPEAKER_00": unit(1, 0), "SPEAKER_01": unit(0, 1)})
    voices = [voice("Alice", unit(1, 0)), voice("Bob", unit(0, 1))]
    named = name_speakers(result, voices, NamingOptions(threshold=0.5), fixed={"SPEAKER_00": "Carol"})
    assert named.speakers == ("Carol", "Bob")
    named = name_speakers(result, voices, NamingOptions(threshold=0.5), fixed={"SPEAKER_01": "Alice"})
    assert named.speakers == ("SPEAKER_00", "Alice")  # Alice is taken by the user's choice


def test_model_mismatch_is_a_clear_error():
    result = make_result({"SPEAKER_00": unit(1, 0, 0)}, model="ge2e")
    with pytest.raises(ConfigError, match=r"enrolled with campplus \(3-dim\).*come from ge2e"):
        name_speakers(result, [voice("Alice", unit(1, 0, 0))], library="lib")
    same_name_other_size = make_result({"SPEAKER_00": unit(1, 0, 0, 0)})
    with pytest.raises(ConfigError, match="4-dim"):
        name_speakers(same_name_other_size, [voice("Alice", unit(1, 0, 0))])
    with pytest.raises(ConfigError, match="models.embedding"):
        name_speakers(replace(result, provenance=Provenance()), [voice("Alice", unit(1, 0, 0))])


def test_library_of_another_model_fails_before_any_work(tmp_path):
    library = VoiceLibrary(tmp_path)
    library.add(voice("Alice", unit(1, 0, 0)))
    from diarize.speakers.options import SpeakerOptions

    with pytest.raises(ConfigError, match="enrolled with campplus.*come from ge2e"):
        gather_voices(tmp_path, [], models=None, speaker_options=SpeakerOptions(embedding_model="ge2e"))
    with pytest.raises(ConfigError, match="no voices in"):
        gather_voices(tmp_path / "empty", [], models=None, speaker_options=SpeakerOptions())
    check_models(library.voices(), "campplus", 3)


def test_default_thresholds_cover_every_model():
    from diarize.speakers.options import EMBEDDING_MODELS

    assert set(DEFAULT_THRESHOLDS) == set(EMBEDDING_MODELS)
    assert NamingOptions().threshold_for("campplus") == DEFAULT_THRESHOLDS["campplus"]
    assert NamingOptions(threshold=0.2).threshold_for("ge2e") == 0.2


def test_voice_from_result():
    result = make_result({"SPEAKER_00": unit(1, 0, 0), "SPEAKER_01": unit(0, 2, 0)})
    v = voice_from_result("Bob", result, "SPEAKER_01", "out/m.json")
    assert v.model == "campplus" and np.allclose(v.vector, unit(0, 1, 0))
    assert v.enrolments[0].kind == "result" and v.enrolments[0].speaker == "SPEAKER_01"
    assert v.enrolments[0].source == "out/m.json" and v.enrolments[0].speech == pytest.approx(0.9)
    with pytest.raises(ConfigError, match="SPEAKER_07.*SPEAKER_00, SPEAKER_01"):
        voice_from_result("Bob", result, "SPEAKER_07", "out/m.json")


# --- command line (no models) ----------------------------------------------------------------------------


def test_cli_add_from_result_list_remove(tmp_path):
    result = make_result({"SPEAKER_00": unit(1, 0, 0), "SPEAKER_01": unit(0, 1, 0)})
    path = tmp_path / "m.json"
    path.write_text(json.dumps(result.to_dict()))
    lib = str(tmp_path / "lib")
    code, out, err = invoke("voices", "list", "--library", lib)
    assert code == 0 and "0 voices" in out
    code, out, err = invoke(
        "voices", "add", "Bob", "--from", str(path), "--speaker", "SPEAKER_01", "--library", lib
    )
    assert code == 0, err
    assert "Bob: 1 enrolment(s), campplus (3-dim)" in out
    code, out, err = invoke("voices", "list", "--library", lib)
    assert code == 0 and "Bob" in out and "campplus/3" in out and "1 voice)" in out
    ge2e = tmp_path / "g.json"
    ge2e.write_text(json.dumps(make_result({"SPEAKER_00": unit(1, 0, 0)}, model="ge2e").to_dict()))
    code, out, err = invoke(
        "voices", "add", "Eve", "--from", str(ge2e), "--speaker", "SPEAKER_00", "--library", lib
    )
    assert code == 1 and err.count("\n") == 1 and "'campplus'" in err and "--library" in err
    code, out, err = invoke("voices", "remove", "Bob", "--library", lib)
    assert code == 0 and "removed Bob" in out
    code, out, err = invoke("voices", "remove", "Bob", "--library", lib)
    assert code == 1 and "no voice 'Bob'" in err


def test_cli_usage_errors(tmp_path):
    code, _, err = invoke("voices", "add", "Bob", "--library", str(tmp_path))
    assert code != 0 and "clips" in err
    code, _, err = invoke("voices", "add", "SPEAKER_01", "x.wav", "--library", str(tmp_path))
    assert code == 1 and "reserved" in err


# --- real audio ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speaker_models():
    from diarize.models.cache import ModelCache
    from diarize.speakers.diarization import SpeakerModels
    from diarize.speakers.options import SpeakerOptions

    cache = ModelCache()
    return SpeakerModels(segmentation=cache.segmentation(), embedding=cache.campplus()), SpeakerOptions()


@pytest.mark.slow
def test_naming_on_real_recordings(shared_data, speaker_models):
    """Enrol on one half of simconv and of pyannote's sample, name the other; strangers in the library."""
    from diarize.voices.calibrate import CASES, run_cases

    models, options = speaker_models
    cases = [c for c in CASES if "simconv" in c.name or "sample" in c.name]
    targets, impostors, counts = run_cases(
        shared_data, models, options, DEFAULT_THRESHOLDS["campplus"], cases
    )
    threshold = DEFAULT_THRESHOLDS["campplus"]
    print(
        f"accuracy {counts.correct}/{counts.enrolled}, false naming {counts.false_named}/{counts.strangers}, "
        f"targets >= {min(targets):.3f}, impostors <= {max(impostors):.3f} ({len(targets)}/{len(impostors)})"
    )
    assert counts.enrolled >= 4 and counts.strangers >= 3
    assert counts.accuracy >= 0.75  # measured 4/4
    assert counts.wrong == 0
    assert counts.false_naming == 0.0  # measured 0/3
    # every trial on the right side of the threshold: measured targets >= 0.48, impostors <= 0.40
    assert min(targets) > threshold + 0.02 and max(impostors) < threshold


@pytest.mark.slow
def test_multi_speaker_clip_is_rejected(shared_data, tmp_path):
    clip = shared_data / "meetings/simconv_en_text.wav"
    code, _, err = invoke("voices", "add", "Somebody", str(clip), "--library", str(tmp_path))
    assert code == 1
    assert (
        err.count("\n") == 1 and str(clip) in err and f"{clip}@START-END" in err and "speakers found" in err
    )
    assert VoiceLibrary(tmp_path).voices() == []


@pytest.mark.slow
def test_single_speaker_clip_and_range(shared_data, speaker_models):
    from diarize.audio import load_audio
    from diarize.voices.enrol import embed_clip

    models, options = speaker_models
    jfk = shared_data / "speech/jfk.flac"
    whole, enrolment = embed_clip(load_audio(jfk), Clip(jfk), models, options)
    assert enrolment.speaker == "SPEAKER_00" and enrolment.speech > 5.0
    simconv = shared_data / "meetings/simconv_en_text.wav"
    audio = load_audio(simconv)
    part, enrolment = embed_clip(audio, parse_clip(f"{simconv}@0:13.9-0:24.5"), models, options)
    assert enrolment.start == 13.9 and enrolment.end == 24.5 and enrolment.speaker is None
    other, _ = embed_clip(audio, parse_clip(f"{simconv}@0.8-7.9"), models, options)
    assert float(whole @ part) > float(whole @ other) + 0.3  # JFK is JFK, the reader is not
    with pytest.raises(EnrolmentError, match="outside the clip"):
        embed_clip(audio, parse_clip(f"{simconv}@40-50"), models, options)
    with pytest.raises(EnrolmentError, match="speech"):
        embed_clip(audio, parse_clip(f"{simconv}@31.0-31.2"), models, options)
    assert issubclass(EnrolmentError, InputError)


@pytest.mark.slow
def test_run_names_speakers_in_every_output(shared_data, tmp_path):
    """`diarize run --speaker CLIP=NAME`: names in JSON, RTTM and text, scores in the JSON; then feedback:
    enrol a speaker of that result with `voices add --from`."""
    media = shared_data / "meetings/simconv_en_text.wav"
    out = tmp_path / "out"
    code, stdout, err = invoke(
        "run",
        str(media),
        "-o",
        str(out),
        "-f",
        "json,rttm,txt",
        "--model",
        "tiny.en",
        "--speaker",
        f"{media}@13.9-24.5=John Kennedy",
        "--speaker",
        f"{media}@0.8-7.9=Reader",
    )
    assert code == 0, err
    data = json.loads((out / "simconv_en_text.json").read_text())
    assert {"John Kennedy", "Reader"} <= {s["label"] for s in data["speakers"]}
    assert data["speaker_scores"]["John Kennedy"] > DEFAULT_THRESHOLDS["campplus"]
    assert data["provenance"]["voices"]["threshold"] == DEFAULT_THRESHOLDS["campplus"]
    assert "John_Kennedy" in (out / "simconv_en_text.rttm").read_text()
    assert "John Kennedy" in (out / "simconv_en_text.txt").read_text()
    jfk_words = [w["word"] for s in data["segments"] for w in s["words"] if w["speaker"] == "John Kennedy"]
    assert "country" in " ".join(jfk_words).lower()
    lib = tmp_path / "lib"
    code, _, err = invoke(
        "voices",
        "add",
        "JFK",
        "--from",
        str(out / "simconv_en_text.json"),
        "--speaker",
        "John Kennedy",
        "--library",
        str(lib),
    )
    assert code == 0, err
    stored = VoiceLibrary(lib).get("JFK")
    assert stored is not None and stored.enrolments[0].kind == "result"
    code, _, err = invoke(
        "run",
        str(media),
        "-o",
        str(tmp_path / "again"),
        "-f",
        "json",
        "--model",
        "tiny.en",
        f"--voices={lib}",
    )
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "simconv_en_text.json").read_text())
    labels = [s["label"] for s in again["speakers"]]
    assert "JFK" in labels and sum(label.startswith("SPEAKER_") for label in labels) >= 1
    assert again["provenance"]["voices"]["library"] == str(lib)
