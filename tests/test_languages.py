"""Language per speech region: the rules of diarize.asr.language on fake probabilities, the transcription
stage on a fake model, the outputs, and (slow) a real conversation in five languages."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from diarize.asr.language import (
    Detection,
    choose,
    label_languages,
    region_speakers,
    settle_by_speaker,
    settle_in_time,
)
from diarize.asr.options import AsrOptions
from diarize.asr.transcription import pack_by_language, pack_spans, settle_speaker_languages, transcribe
from diarize.errors import ConfigError
from diarize.types import (
    Audio,
    LanguageRegion,
    MediaInfo,
    Provenance,
    Result,
    Segment,
    Span,
    Word,
)

SR = 16_000
log = logging.getLogger(__name__)


def det(start: float, end: float, **probabilities: float) -> Detection:
    return Detection(Span(start, end), probabilities)


def languages(regions: list[LanguageRegion]) -> list[str]:
    return [r.language for r in regions]


# ---------------------------------------------------------------- rules 2 to 4: in time


def test_confident_regions_keep_their_language() -> None:
    regions = settle_in_time([det(0, 3, de=0.9, en=0.1), det(3.5, 6, fr=0.7, it=0.3)], 0.6, 1.0, "en")
    assert languages(regions) == ["de", "fr"]
    assert [r.confident for r in regions] == [True, True]


def test_unconfident_region_takes_the_context_language_it_finds_plausible() -> None:
    # far-field English read as Welsh 0.48 between confident English: English 5 * 0.45 wins
    regions = settle_in_time(
        [det(0, 4, en=0.9), det(4.5, 6, cy=0.48, en=0.45), det(6.5, 9, de=0.95)], 0.6, 1.0, "de"
    )
    assert languages(regions) == ["en", "en", "de"]
    assert not regions[1].confident and regions[1].context == ("en", "de")


def test_weak_but_clear_language_is_kept() -> None:
    # French 0.55, Italian 0.01: the Italian neighbour (5 * 0.01) does not take it over
    regions = settle_in_time([det(0, 4, fr=0.55, ro=0.2, it=0.01), det(4.7, 9, it=0.99)], 0.6, 1.0, "en")
    assert languages(regions) == ["fr", "it"]


def test_region_without_confident_neighbours_leans_to_the_file_language() -> None:
    # Russian 0.32 vs English 0.10 (far-field English) with the nearest region 5 s away: English
    regions = settle_in_time([det(0, 4, en=0.9), det(9, 11, ru=0.32, en=0.10)], 0.6, 1.0, "en")
    assert languages(regions) == ["en", "en"]


def test_pause_longer_than_the_limit_ends_the_run() -> None:
    detections = [det(0, 4, de=0.9), det(5.5, 7, cy=0.4, de=0.3, en=0.3)]
    near = settle_in_time(detections, 0.6, 2.0, "en")  # one run: German is in the context
    far = settle_in_time(detections, 0.6, 1.0, "en")  # two runs: only the file's English
    assert languages(near) == ["de", "de"] and languages(far) == ["de", "en"]


def test_region_too_short_to_judge_takes_the_nearest_confident_region() -> None:
    detections = [det(0, 3, de=0.9), det(3.4, 3.9), det(4.0, 8, es=0.9), det(20, 20.6)]
    regions = settle_in_time(detections, 0.6, 1.0, "en")
    assert languages(regions) == ["de", "es", "es", "en"]  # 0.1 s from Spanish; alone: the file's
    assert regions[1].probabilities == {} and not regions[1].confident


def test_context_languages_count_five_times_and_win_ties() -> None:
    assert choose({"cy": 0.5, "en": 0.1}, ["en"]) == "en"  # 0.5 against 0.5: the context wins
    assert choose({"cy": 0.6, "en": 0.1}, ["en"]) == "cy"
    assert choose({"en": 0.4, "de": 0.3}, ["de", "en"]) == "en"  # both context: 2.0 beats 1.5
    assert choose({"fr": 0.3}, ["de"]) == "fr"  # a context language the region never heard scores 0


# ---------------------------------------------------------------- rule 5: speakers


def region(start: float, end: float, language: str, confident: bool, **probabilities: float) -> LanguageRegion:
    return LanguageRegion(start, end, language, probabilities, confident)


def test_speakers_language_goes_to_their_unconfident_regions_only() -> None:
    regions = [
        region(0, 5, "de", True, de=0.9),
        region(6, 8, "en", False, en=0.4, de=0.2),  # A's: German 5 * 0.2 beats English 0.4
        region(10, 15, "fr", True, fr=0.8),
        region(16, 17, "en", False),  # too short to judge: takes B's French
        region(20, 22, "en", True, en=0.7),  # A's, confident: a speaker may switch on purpose
        region(23, 25, "it", False, it=0.5, de=0.01),  # A's, but clearly not German
        region(26, 27, "en", False, en=0.3),  # nobody's
    ]
    settled = settle_by_speaker(regions, ["A", "A", "B", "B", "A", "A", None])
    assert languages(settled) == ["de", "de", "fr", "fr", "en", "it", "en"]


def test_a_speaker_without_confident_regions_changes_nothing() -> None:
    regions = [region(0, 2, "en", False, en=0.4, cy=0.3), region(3, 4, "en", False)]
    assert settle_by_speaker(regions, ["A", "A"]) == regions


def word(start: float, end: float, speaker: str | None, text: str = " w") -> Word:
    return Word(start, end, text, 0.9, speaker)


def test_a_region_belongs_to_the_speaker_of_most_of_its_word_time() -> None:
    regions = [region(0, 4, "en", True), region(5, 9, "de", True), region(10, 11, "en", False)]
    segments = [
        Segment(0, 3, "", (word(0, 1, "A"), word(1, 1.5, "B"), word(1.5, 3, "A"))),
        Segment(5, 9, "", (word(5, 6, "A"), word(6, 9, "B"))),
    ]
    assert region_speakers(regions, segments) == ["A", "B", None]


def test_sentences_are_labelled_with_the_language_of_most_of_their_words() -> None:
    decoded = [
        Segment(0, 2, "", (word(0, 1, None), word(1, 2, None)), language="en"),
        Segment(2.5, 6, "", (word(2.5, 6, None),), language="de"),
    ]
    sentences = [
        Segment(0, 2, "", (word(0, 1, "A"), word(1, 2, "A"))),
        Segment(1, 6, "", (word(1, 2, "B"), word(2.5, 6, "B"))),
    ]
    assert [s.language for s in label_languages(sentences, decoded)] == ["en", "de"]
    assert label_languages(sentences, [dataclasses.replace(s, language=None) for s in decoded]) == tuple(
        sentences
    )


# ---------------------------------------------------------------- rule 6: windows


def test_windows_never_mix_languages_and_one_language_packs_as_before() -> None:
    spans = [Span(0, 5), Span(5.5, 9), Span(9.5, 14), Span(15, 20)]
    options = AsrOptions()
    one = [region(s.start, s.end, "en", True) for s in spans]
    before = pack_spans(spans, options, SR)
    packed = pack_by_language(one, spans, options, SR)
    assert [(w.speech, w.language) for w in packed] == [(w.speech, "en") for w in before]
    mixed = [dataclasses.replace(r, language=lang) for r, lang in zip(one, ["en", "de", "de", "en"], strict=True)]
    windows = pack_by_language(mixed, spans, options, SR)
    assert [(len(w.speech), w.language) for w in windows] == [(1, "en"), (2, "de"), (1, "en")]


# ---------------------------------------------------------------- the stage on a fake faster-whisper model


@dataclass
class FakeSegment:
    start: float
    end: float
    text: str
    words: list[Any]
    avg_logprob: float = -0.2
    no_speech_prob: float = 0.01
    compression_ratio: float = 1.2
    tokens: tuple[int, ...] = (1, 2, 3)


@dataclass
class FakeModel:
    """Enough of faster-whisper's ``WhisperModel``: each region's audio is a constant, its "features" carry
    that constant, and ``probabilities`` maps it to the language probabilities detection returns."""

    probabilities: Mapping[float, Mapping[str, float]]
    multilingual: bool = True
    calls: list[dict[str, Any]] = field(default_factory=list)
    encoded: list[int] = field(default_factory=list)  # frames of every detection's input
    batches: list[int] = field(default_factory=list)  # regions of every encoder call
    loops: frozenset[str] = frozenset()  # languages the decoder loops in

    def __post_init__(self) -> None:
        self.model = SimpleNamespace(num_workers=1, is_multilingual=self.multilingual, detect_language=self._detect)
        self.feature_extractor = lambda samples: np.full((80, len(samples) // 160), samples[0], np.float32)

    def encode(self, features: np.ndarray) -> np.ndarray:  # a batch: (regions, n_mels, frames)
        self.encoded += [features.shape[-1]] * len(features)
        self.batches.append(len(features))
        return features

    def _detect(self, features: np.ndarray) -> list[list[tuple[str, float]]]:
        batch = features if features.ndim == 3 else features[None]
        found = [self.probabilities[round(float(one[0, 0]), 3)] for one in batch]
        return [[(f"<|{k}|>", p) for k, p in sorted(f.items(), key=lambda kv: -kv[1])] for f in found]

    def detect_language(self, audio: np.ndarray) -> tuple[str, float, list[tuple[str, float]]]:
        found = self._detect(audio[None, :1])[0]
        return found[0][0][2:-2], found[0][1], [(k[2:-2], p) for k, p in found]

    def transcribe(self, samples: np.ndarray, **kw: Any) -> tuple[Iterator[FakeSegment], Any]:
        self.calls.append({"samples": len(samples), "value": round(float(samples[0]), 3), **kw})
        text = f" {kw['language']}" * (40 if kw["language"] in self.loops else 1)
        w = SimpleNamespace(start=0.1, end=0.4, word=text, probability=0.9)
        return iter([FakeSegment(0.1, 0.4, w.word, [w])]), None


def conversation(values: list[float], seconds: float = 4.0, pause: float = 3.0) -> tuple[Audio, list[Span]]:
    """Regions of ``seconds`` each, ``pause`` apart (a window each with the default bridge of 2 s when pauses
    are not silenced), region ``k`` filled with ``values[k]``."""
    step = seconds + pause
    samples = np.zeros(round(step * len(values) * SR), np.float32)
    spans = []
    for k, value in enumerate(values):
        start = k * step
        samples[round(start * SR) : round((start + seconds) * SR)] = value
        spans.append(Span(start, start + seconds))
    info = MediaInfo(path="synthetic", duration=len(samples) / SR, sample_rate=SR, channels=1, codec="", container="")
    return Audio(samples=samples, info=info), spans


PROBABILITIES = {0.1: {"en": 0.9, "de": 0.1}, 0.2: {"de": 0.95, "en": 0.05}, 0.3: {"fr": 0.8, "en": 0.2}}


def test_each_region_is_decoded_in_its_own_language() -> None:
    audio, spans = conversation([0.1, 0.2, 0.1, 0.3, 0.1])
    model = FakeModel(PROBABILITIES)
    transcript = transcribe(audio, spans, model, AsrOptions())
    assert [c["language"] for c in model.calls] == ["en", "de", "en", "fr", "en"]
    assert [c["value"] for c in model.calls] == [0.1, 0.2, 0.1, 0.3, 0.1]
    assert [s.language for s in transcript.segments] == ["en", "de", "en", "fr", "en"]
    assert transcript.language == "en" and transcript.language_probability == pytest.approx((3 * 0.9 + 0.05 + 0.2) / 5)
    assert model.encoded == [1000] * 5  # each region on its own 4 s, padded to 10 s (not 30 s), in batches
    assert [r.language for r in transcript.regions] == ["en", "de", "en", "fr", "en"]


def test_regions_are_judged_on_their_first_10_s_a_few_per_encoder_pass() -> None:
    audio, spans = conversation([0.1, 0.2, 0.1, 0.2, 0.1, 0.2], seconds=15.0)
    model = FakeModel(PROBABILITIES)
    progress: list[tuple[str, int, int]] = []
    transcript = transcribe(audio, spans, model, AsrOptions(cpu_threads=4), hook=lambda *p: progress.append(p))
    assert model.encoded == [1000] * 6 and model.batches == [4, 2]  # as many regions as threads per pass
    assert [r.language for r in transcript.regions] == ["en", "de"] * 3
    assert [p for p in progress if p[0] == "language"] == [("language", 0, 6), ("language", 4, 6), ("language", 6, 6)]


def test_detection_hears_one_region_even_when_regions_share_a_window() -> None:
    audio, spans = conversation([0.1, 0.2, 0.2], pause=0.5)  # one window in the per-file mode
    model = FakeModel(PROBABILITIES)
    transcribe(audio, spans, model, AsrOptions())
    assert [(c["language"], c["samples"]) for c in model.calls] == [("en", 4 * SR), ("de", round(8.5 * SR))]


def test_a_window_that_loops_in_its_regions_language_is_decoded_in_the_files() -> None:
    # far-field English heard as Welsh (0.72, confident) loops; the file is English
    probabilities = {0.1: {"en": 0.9}, 0.2: {"cy": 0.72, "en": 0.27}, 0.3: {"en": 0.9}}
    audio, spans = conversation([0.1, 0.2, 0.3])
    model = FakeModel(probabilities, loops=frozenset({"cy"}))
    transcript = transcribe(audio, spans, model, AsrOptions())
    assert [(c["language"], c["value"]) for c in model.calls] == [("en", 0.1), ("cy", 0.2), ("en", 0.2), ("en", 0.3)]
    assert [(s.language, s.text) for s in transcript.segments] == [("en", "en")] * 3
    # a language that loops everywhere: the first decoding stays (its loop is dropped), nothing is kept twice
    stuck = FakeModel(probabilities, loops=frozenset({"cy", "en"}))
    assert transcribe(audio, spans, stuck, AsrOptions()).segments == ()
    assert [c["language"] for c in stuck.calls] == ["en", "cy", "en", "en"]


def test_forced_language_and_english_only_models_detect_nothing() -> None:
    audio, spans = conversation([0.1, 0.2])
    forced = FakeModel(PROBABILITIES)
    transcript = transcribe(audio, spans, forced, AsrOptions(language="es", silence_pauses=False))
    assert forced.encoded == [] and [c["language"] for c in forced.calls] == ["es", "es"]
    assert [s.language for s in transcript.segments] == [None, None] and transcript.regions == ()
    english = FakeModel(PROBABILITIES, multilingual=False)
    transcript = transcribe(audio, spans, english, AsrOptions(model_size="tiny.en", silence_pauses=False))
    assert [c["language"] for c in english.calls] == ["en", "en"]
    assert [s.language for s in transcript.segments] == [None, None] and transcript.language == "en"


def test_file_mode_detects_once_and_forces_one_language() -> None:
    audio, spans = conversation([0.1, 0.2, 0.1])
    model = FakeModel(PROBABILITIES)
    transcript = transcribe(audio, spans, model, AsrOptions(language_mode="file", silence_pauses=False))
    assert [c["language"] for c in model.calls] == ["en"] * 3 and model.encoded == []
    assert [s.language for s in transcript.segments] == ["en"] * 3 and transcript.regions == ()


def test_regions_that_take_their_speakers_language_are_decoded_again() -> None:
    # the file's language is French; the unsure English region is A's, who speaks German (5 * 0.15 > 0.5)
    probabilities = {0.1: {"de": 0.9}, 0.2: {"en": 0.5, "de": 0.15}, 0.3: {"fr": 0.9}, 0.4: {"fr": 0.9}}
    audio, spans = conversation([0.1, 0.2, 0.3, 0.4])
    model = FakeModel(probabilities)
    options = AsrOptions(silence_pauses=False)  # a window per region
    transcript = transcribe(audio, spans, model, options)
    assert [s.language for s in transcript.segments] == ["de", "en", "fr", "fr"] and transcript.language == "fr"
    attributed = [dataclasses.replace(s, words=tuple(dataclasses.replace(w, speaker=who) for w in s.words))
                  for s, who in zip(transcript.segments, ["A", "A", "B", "B"], strict=True)]
    settled = settle_speaker_languages(audio, transcript, attributed, model, options)
    assert [s.language for s in settled.segments] == ["de", "de", "fr", "fr"]
    assert [(c["language"], c["value"]) for c in model.calls[4:]] == [("de", 0.2)]  # only that window again
    assert [r.language for r in settled.regions] == ["de", "de", "fr", "fr"]
    assert settled.language == "de"  # 8 s of each: the first heard
    unchanged = settle_speaker_languages(audio, settled, attributed, model, options)
    assert unchanged is settled and len(model.calls) == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"language_mode": "auto"}, {"language_threshold": 1.5}, {"language_pause": -1.0}, {"language_min_speech": 31.0}],
)
def test_invalid_language_options_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="language_"):
        AsrOptions(**kwargs)


# ---------------------------------------------------------------- outputs


def _result(segments: list[Segment]) -> Result:
    info = MediaInfo(path="call.wav", duration=30.0, sample_rate=SR, channels=1, codec="pcm", container="wav")
    return Result(source=info, language="en", speakers=("A", "B"), turns=(), segments=tuple(segments),
                  provenance=Provenance())


def _said(start: float, speaker: str, text: str, language: str | None) -> Segment:
    return Segment(start, start + 2, text, (Word(start, start + 2, " " + text, 0.9, speaker),), speaker,
                   language=language)


def test_json_carries_each_segments_and_speakers_languages() -> None:
    result = _result([_said(0, "A", "hello", "en"), _said(3, "B", "hallo", "de"), _said(6, "B", "ciao", "it"),
                      _said(9, "B", "tschüss", "de")])
    data = result.to_dict()
    assert [s["language"] for s in data["segments"]] == ["en", "de", "it", "de"]
    assert data["speaker_languages"] == {"A": ["en"], "B": ["de", "it"]}
    assert [s.language for s in Result.from_dict(data).segments] == ["en", "de", "it", "de"]
    jsonschema = pytest.importorskip("jsonschema")
    from diarize.writers.schema import RESULT_SCHEMA

    segment_schema = {**RESULT_SCHEMA["$defs"]["segment"], "$defs": RESULT_SCHEMA["$defs"]}
    for segment in data["segments"]:
        jsonschema.validate(segment, segment_schema)
    jsonschema.validate(data["speaker_languages"], RESULT_SCHEMA["properties"]["speaker_languages"])
    forced = _result([_said(0, "A", "hello", None)]).to_dict()
    assert "language" not in forced["segments"][0] and "speaker_languages" not in forced


def test_markdown_names_the_language_where_it_changes(tmp_path: Path) -> None:
    result = _result([_said(0, "A", "hello", "en"), _said(3, "B", "hallo", "de"), _said(6, "B", "wie", "de"),
                      _said(9, "B", "ciao", "it"), _said(12, "A", "bye", "it"), _said(15, "A", "ok", "en")])
    (path,) = result.write(tmp_path, "md")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("**")]
    assert lines == [
        "**A** [00:00:00]: hello",
        "**B** [de] [00:00:03]: hallo wie",
        "**B** [it] [00:00:09]: ciao",
        "**A** [00:00:12]: bye",
        "**A** [en] [00:00:15]: ok",
    ]


# ---------------------------------------------------------------- real speech (slow)

ENGLISH = [
    ("meetings/simconv_en_text.wav", 0.6, 11.4, "LS2412",
     "If the reader will excuse me I will say nothing of my antecedents nor of the circumstances which led me"
     " to leave my native country the narrative would be tedious to him and painful to myself"),
    ("speech/jfk.flac", 0.0, 11.1, "JFK",
     "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your"
     " country."),
    ("speech/ami_ES2011a_headset_40-46s.wav", 0.0, 6.0, "FEE041", "Um I'm Abigail Claflin. You can call me Abbie."),
]
SYNTHESISED = [
    ("de", "Guten Morgen zusammen. Heute sprechen wir über den neuen Zeitplan für das Projekt und die nächsten"
     " Schritte."),
    ("es", "Buenos días a todos. Creo que deberíamos terminar el informe antes del viernes por la tarde."),
    ("fr", "Bonjour à tous. Je pense que nous devons parler du budget et des nouvelles idées pour la réunion."),
    ("it", "Buongiorno a tutti. Oggi dobbiamo decidere chi prepara la presentazione per il cliente."),
]


@dataclass(frozen=True)
class Turn:
    language: str
    start: float
    end: float
    speaker: str
    text: str


@pytest.fixture(scope="module")
def meeting(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Audio, list[Turn]]:
    """English speech (three real speakers) alternating with German, Spanish, French and Italian from
    espeak-ng, 0.8 s apart."""
    from diarize.audio import load_audio

    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    folder = tmp_path_factory.mktemp("languages")
    clips: list[tuple[str, np.ndarray, str, str]] = []
    for k, (language, text) in enumerate(SYNTHESISED):
        path = folder / f"{language}.wav"
        subprocess.run([espeak, "-v", language, "-s", "150", "-w", str(path), text], check=True)
        if k < len(ENGLISH):
            name, a, b, speaker, english = ENGLISH[k]
            clips.append(("en", load_audio(shared_data / name).slice(a, b), speaker, english))
        clips.append((language, load_audio(path).samples, "espeak", text))
    parts, turns, time = [], [], 0.0
    for language, samples, speaker, text in clips:
        turns.append(Turn(language, time, time + len(samples) / SR, speaker, text))
        parts += [samples, np.zeros(round(0.8 * SR), np.float32)]
        time += len(samples) / SR + 0.8
    samples = np.concatenate(parts)
    info = MediaInfo(path="meeting.wav", duration=len(samples) / SR, sample_rate=SR, channels=1, codec="",
                     container="")
    return Audio(samples=samples, info=info), turns


def _score(result: Result, turns: list[Turn]) -> tuple[float, float, dict[str, float]]:
    """Per-segment language accuracy, cpWER and WER per language (Whisper's basic normaliser)."""
    from whisper.normalizers import BasicTextNormalizer

    from diarize.eval.words import cpwer, word_errors

    normalise = BasicTextNormalizer()

    def truth(segment: Segment) -> Turn | None:
        middle = 0.5 * (segment.start + segment.end)
        return next((t for t in turns if t.start - 0.5 <= middle <= t.end + 0.5), None)

    right = [getattr(truth(s), "language", None) == s.language for s in result.segments]
    reference = [Segment(t.start, t.end, t.text, speaker=t.speaker) for t in turns]
    cp = cpwer(reference, result.segments, normalizer=normalise)
    errors: dict[str, list[int]] = {}
    for t in turns:
        heard = " ".join(s.text for s in result.segments if truth(s) == t)
        e = word_errors(normalise(t.text).split(), normalise(heard).split())
        total = errors.setdefault(t.language, [0, 0])
        total[0] += e.substitutions + e.deletions + e.insertions
        total[1] += e.reference_words
    wer = {language: n / max(1, words) for language, (n, words) in errors.items()}
    return sum(right) / max(1, len(right)), cp.substitutions + cp.deletions + cp.insertions, wer


@pytest.mark.slow
def test_a_meeting_in_five_languages(meeting: tuple[Audio, list[Turn]]) -> None:
    from diarize.config import load_pipeline
    from diarize.pipeline import Models, run

    audio, turns = meeting
    config = load_pipeline()
    models = Models()
    results = {}
    for mode in ("segment", "file"):
        asr = dataclasses.replace(config.asr, language_mode=mode)
        results[mode] = run(audio, dataclasses.replace(config, asr=asr), models=models)
    words = sum(len(t.text.split()) for t in turns)
    scores = {mode: _score(result, turns) for mode, result in results.items()}
    for mode, (accuracy, cp_errors, wer) in scores.items():
        log.warning("%s mode: language accuracy %.0f %%, cpWER %.1f %%, WER per language %s", mode,
                    100 * accuracy, 100 * cp_errors / words, {k: round(100 * v, 1) for k, v in wer.items()})
    accuracy, cp_errors, wer = scores["segment"]
    assert accuracy >= 0.9
    assert cp_errors < scores["file"][1]
    assert all(wer[language] <= 0.4 for language in ("en", "de", "es", "fr", "it")), wer
    assert max(scores["file"][2][language] for language in ("de", "es", "fr", "it")) >= 0.5  # per file: lost
    speaking = results["segment"].speaker_languages
    assert {"de", "es", "fr", "it"} <= {lang for langs in speaking.values() for lang in langs}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["speech/jfk.flac", "meetings/simconv_en_text.wav"])
def test_one_language_gives_the_words_of_the_per_file_mode(shared_data: Path, name: str) -> None:
    from diarize.audio import load_audio
    from diarize.models.cache import ModelCache
    from diarize.vad import detect_speech

    audio = load_audio(shared_data / name)
    spans = detect_speech(audio)
    model = ModelCache().faster_whisper("base", "int8", 2)
    per_file = transcribe(audio, spans, model, AsrOptions(language_mode="file"))
    per_region = transcribe(audio, spans, model, AsrOptions(language_mode="segment"))
    assert {r.language for r in per_region.regions} == {"en"}
    assert [(w.text, w.start, w.end) for w in per_region.words] == [(w.text, w.start, w.end) for w in per_file.words]
