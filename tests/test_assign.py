"""Stage 4: word → speaker attribution, overlap marking, sentences and the smoothing rule (model-free)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from diarize.assign import AssignOptions, attribute, join_words, overlap_regions
from diarize.errors import ConfigError
from diarize.types import Diarization, Segment, Span, SpeakerActivity, SpeakerTurn, Transcript, Word


def words_of(*items: tuple[float, float, str]) -> tuple[Word, ...]:
    return tuple(Word(start, end, text, 0.9) for start, end, text in items)


def transcript(*items: tuple[float, float, str]) -> Transcript:
    ws = words_of(*items)
    return Transcript(segments=(Segment(ws[0].start, ws[-1].end, join_words(ws), ws),), language="en")


def turns(*items: tuple[float, float, str]) -> tuple[SpeakerTurn, ...]:
    return tuple(SpeakerTurn(start, end, speaker) for start, end, speaker in items)


def diarization(
    overlap_aware: tuple[SpeakerTurn, ...], exclusive: tuple[SpeakerTurn, ...] | None = None
) -> Diarization:
    speakers = tuple(dict.fromkeys(t.speaker for t in sorted(overlap_aware, key=lambda t: t.start)))
    return Diarization(
        turns=overlap_aware, exclusive=overlap_aware if exclusive is None else exclusive, speakers=speakers
    )


def speakers_of(result_segments: tuple[Segment, ...]) -> list[str | None]:
    return [w.speaker for s in result_segments for w in s.words]


# --- the speaker of a word -------------------------------------------------------------------------------


def test_word_takes_the_speaker_it_overlaps_most() -> None:
    d = diarization(turns((0.0, 1.3, "A"), (1.3, 3.0, "B")))
    out = attribute(transcript((0.2, 0.6, " one"), (1.0, 2.0, " two"), (1.25, 1.5, " three")), d)
    assert speakers_of(out.segments) == ["A", "B", "B"]  # 0.7 s of B beats 0.3 s of A; 0.2 s beats 0.05 s
    assert out.stats.in_turn == 3


def test_exclusive_view_decides_overlapped_words() -> None:
    # overlap-aware: A 0-4 and B 1-3 overlap; the exclusive view gives 1-3 to B
    aware = turns((0.0, 4.0, "A"), (1.0, 3.0, "B"))
    exclusive = turns((0.0, 1.0, "A"), (1.0, 3.0, "B"), (3.0, 4.0, "A"))
    out = attribute(transcript((1.5, 2.0, " hey")), diarization(aware, exclusive))
    assert speakers_of(out.segments) == ["B"]


def test_ties_go_to_overlap_aware_then_label_order() -> None:
    # exclusive: a tie (0.5 s each); the overlap-aware turns give B more
    exclusive = turns((0.0, 1.0, "A"), (1.0, 2.0, "B"))
    aware = turns((0.0, 1.0, "A"), (0.8, 2.0, "B"))
    out = attribute(transcript((0.5, 1.5, " tie")), diarization(aware, exclusive))
    assert speakers_of(out.segments) == ["B"]
    # a full tie in both views: first in Diarization.speakers
    d = Diarization(turns=exclusive, exclusive=exclusive, speakers=("B", "A"))
    assert speakers_of(attribute(transcript((0.5, 1.5, " tie")), d).segments) == ["B"]


def test_word_in_no_turn_takes_nearest_within_tolerance() -> None:
    d = diarization(turns((0.0, 5.0, "A"), (6.0, 7.0, "B")))
    out = attribute(transcript((5.2, 5.5, " near"), (5.6, 5.9, " nearB")), d)
    assert speakers_of(out.segments) == ["A", "B"]
    assert (out.stats.nearest, out.stats.unassigned) == (2, 0)


def test_nearest_tie_prefers_the_turn_before() -> None:
    d = diarization(turns((0.0, 5.0, "A"), (6.0, 7.0, "B")))
    out = attribute(transcript((5.3, 5.7, " mid")), d)  # 0.3 s from both
    assert speakers_of(out.segments) == ["A"]


def test_word_beyond_tolerance_gets_no_speaker() -> None:
    d = diarization(turns((0.0, 4.0, "A"), (4.0, 9.0, "B")))
    t = transcript((10.0, 10.5, " far"))
    out = attribute(t, d)
    assert speakers_of(out.segments) == [None]
    assert out.segments[0].speaker is None
    assert out.stats.unassigned == 1
    wider = attribute(t, d, AssignOptions(nearest_tolerance=1.0))
    assert speakers_of(wider.segments) == ["B"]


def test_word_beyond_tolerance_takes_the_only_speaker() -> None:
    d = diarization(turns((0.0, 9.0, "A")))
    t = transcript((10.0, 10.5, " far"), (10.6, 11.0, " away"))
    out = attribute(t, d)
    assert speakers_of(out.segments) == ["A", "A"]
    assert (out.stats.sole, out.stats.unassigned, out.stats.words) == (2, 0, 2)
    assert out.diarization is d
    off = attribute(t, d, AssignOptions(single_speaker_fallback=False))
    assert speakers_of(off.segments) == [None, None]


def test_zero_length_word_inside_a_turn() -> None:
    d = diarization(turns((0.0, 1.0, "A"), (1.0, 2.0, "B")))
    out = attribute(transcript((1.5, 1.5, " blip"), (2.5, 2.5, " late")), d)
    assert speakers_of(out.segments) == ["B", "B"]  # inside B; 0.5 s after B (nearest)
    assert (out.stats.in_turn, out.stats.nearest) == (1, 1)
    # turns are half-open: an instant on the boundary belongs to the turn that starts there
    assert speakers_of(attribute(transcript((1.0, 1.0, " edge")), d).segments) == ["B"]


def test_words_without_any_speaker_turn_get_one_assumed_speaker() -> None:
    t = transcript((0.2, 0.5, " hi"), (0.6, 0.9, " there"), (2.5, 2.8, " again"), (2.8, 2.8, " now"))
    empty = Diarization(turns=(), exclusive=(), speakers=(), embedding_model="campplus")
    out = attribute(t, empty)
    assert speakers_of(out.segments) == ["SPEAKER_00"] * 4
    assert {s.speaker for s in out.segments} == {"SPEAKER_00"}
    assumed = out.diarization
    assert assumed.speakers == ("SPEAKER_00",)
    # one turn per run of words without a pause of sentence_pause (1 s) or more, in both views
    assert [(x.start, x.end, x.speaker) for x in assumed.turns] == [(0.2, 0.9, "SPEAKER_00"), (2.5, 2.8, "SPEAKER_00")]
    assert assumed.exclusive == assumed.turns
    assert assumed.centroids == {} and assumed.embedding_model == "campplus"
    assert assumed.note == "the speaker stage heard no speech; one speaker assumed for 4 words"
    # the instant 2.8 s lies at the half-open end of its run's turn: the nearest turn's speaker
    assert (out.stats.in_turn, out.stats.nearest, out.stats.unassigned) == (3, 1, 0)
    assert empty.turns == () and empty.note == ""  # the input is not modified


def test_assumed_speaker_covers_a_segment_without_word_timings() -> None:
    t = Transcript(segments=(Segment(1.0, 2.0, "hello"),), language="en")
    out = attribute(t, Diarization(turns=(), exclusive=(), speakers=()))
    assert out.segments[0].speaker == "SPEAKER_00"
    assert [(x.start, x.end) for x in out.diarization.turns] == [(1.0, 2.0)]


def test_no_words_and_no_speaker_stay_empty() -> None:
    empty = Diarization(turns=(), exclusive=(), speakers=())
    out = attribute(Transcript(segments=(), language="en"), empty)
    assert out.segments == () and out.diarization is empty


def test_no_diarization_leaves_words_without_speaker_when_the_fallback_is_off() -> None:
    out = attribute(
        transcript((0.0, 0.5, " hi")),
        Diarization(turns=(), exclusive=(), speakers=()),
        AssignOptions(single_speaker_fallback=False),
    )
    assert speakers_of(out.segments) == [None]
    assert out.diarization.speakers == ()


def test_exclusive_missing_falls_back_to_turns() -> None:
    aware = turns((0.0, 1.0, "A"), (1.0, 2.0, "B"))
    d = Diarization(turns=aware, exclusive=(), speakers=("A", "B"))
    assert speakers_of(attribute(transcript((1.2, 1.6, " x")), d).segments) == ["B"]


# --- overlap marking -------------------------------------------------------------------------------------


def test_overlap_regions_need_two_distinct_speakers() -> None:
    regions = overlap_regions(
        turns(
            (0.0, 4.0, "A"),
            (2.0, 3.0, "B"),
            (3.0, 5.0, "B"),
            (4.5, 6.0, "A"),
            (5.5, 7.0, "A"),
            (7.0, 8.0, "C"),
        )
    )
    # A+B 2-4 (B's two touching turns count as one), A+B 4.5-5; A with itself never; A|C touch at 7
    assert regions == (Span(2.0, 4.0), Span(4.5, 5.0))


def test_words_in_overlapped_speech_are_marked() -> None:
    aware = turns((0.0, 4.0, "A"), (2.0, 3.0, "B"))
    exclusive = turns((0.0, 2.0, "A"), (2.0, 3.0, "B"), (3.0, 4.0, "A"))
    t = transcript((0.5, 1.0, " solo"), (2.1, 2.6, " both"), (2.8, 3.4, " edge"), (3.0, 3.0, " point"))
    out = attribute(t, diarization(aware, exclusive))
    assert [w.overlap for w in out.words] == [False, True, False, False]
    assert [w.speaker for w in out.words] == ["A", "B", "A", "A"]
    assert out.stats.overlap == 1
    # "edge" has 0.2 of 0.6 s in overlap: marked once the threshold drops to a third
    looser = attribute(t, diarization(aware, exclusive), AssignOptions(overlap_fraction=0.3))
    assert [w.overlap for w in looser.words] == [False, True, True, False]


# --- sentences and segments ------------------------------------------------------------------------------


def test_sentences_end_at_punctuation_and_long_pauses() -> None:
    t = transcript(
        (0.0, 0.3, " Hello"),
        (0.3, 0.6, " Mr."),
        (0.6, 0.9, " Smith."),
        (1.0, 1.3, ' Ready?"'),
        (1.4, 1.7, " yes"),
        (3.0, 3.3, " later"),
        (3.3, 3.6, " 東京。"),
        (3.6, 3.9, " done"),
    )
    out = attribute(t, diarization(turns((0.0, 4.0, "A"))))
    assert [s.text for s in out.segments] == ["Hello Mr. Smith.", 'Ready?"', "yes", "later 東京。", "done"]
    assert all(s.speaker == "A" for s in out.segments)
    assert [(s.start, s.end) for s in out.segments][:2] == [(0.0, 0.9), (1.0, 1.3)]


def test_a_segment_never_mixes_speakers() -> None:
    rng = random.Random(7)
    items, spk_turns, t = [], [], 0.0
    for i in range(300):
        start, end = t, t + rng.uniform(0.1, 0.6)
        items.append((round(start, 3), round(end, 3), f" w{i}" + rng.choice(["", "", "", ".", ","])))
        t = end + rng.choice([0.0, 0.05, 0.3, 1.2])
    t = 0.0
    while t < items[-1][1]:
        length = rng.uniform(0.2, 5.0)
        spk_turns.append((round(t, 3), round(t + length, 3), rng.choice("ABC")))
        t += length + rng.choice([0.0, 0.0, 0.8])
    out = attribute(transcript(*items), diarization(turns(*spk_turns)))
    assert len(out.words) == 300
    assert [w.text for w in out.words] == [i[2].strip() for i in items]  # every word once, in order
    for seg in out.segments:
        assert {w.speaker for w in seg.words} == {seg.speaker}
        assert (seg.start, seg.end) == (seg.words[0].start, seg.words[-1].end)
        assert seg.text == join_words(seg.words)


def test_asr_segment_without_words_is_attributed_whole() -> None:
    t = Transcript(
        segments=(
            Segment(0.0, 1.0, " Hi there.", words_of((0.0, 0.4, " Hi"), (0.4, 1.0, " there."))),
            Segment(2.0, 4.0, " no word times", avg_logprob=-0.3),
        ),
        language="en",
    )
    out = attribute(t, diarization(turns((0.0, 1.5, "A"), (1.8, 4.0, "B"))))
    assert [(s.text, s.speaker) for s in out.segments] == [("Hi there.", "A"), (" no word times", "B")]
    assert out.segments[1].avg_logprob == -0.3


# --- smoothing -------------------------------------------------------------------------------------------

SENTENCE = (
    (0.0, 0.3, " I"),
    (0.3, 0.6, " think"),
    (0.6, 0.9, " that"),
    (0.9, 1.2, " we"),
    (1.2, 1.5, " go."),
)


def test_stray_word_inside_a_sentence_is_smoothed() -> None:
    # B's 0.4 s fragment in the exclusive view, inside A's overlap-aware turn
    exclusive = turns((0.0, 0.85, "A"), (0.85, 1.25, "B"), (1.25, 2.0, "A"))
    d = diarization(turns((0.0, 2.0, "A"), (0.85, 1.25, "B")), exclusive)
    out = attribute(transcript(*SENTENCE), d)
    assert [(s.speaker, s.text) for s in out.segments] == [("A", "I think that we go.")]
    assert out.stats.smoothed == 1
    off = attribute(transcript(*SENTENCE), d, AssignOptions(smooth_max_words=0))
    assert [s.speaker for s in off.segments] == ["A", "B", "A"]


def test_smoothing_never_gives_a_word_to_a_speaker_silent_there() -> None:
    # B's fragment is all the turns show around "we": A does not talk there, so "we" stays B's
    d = diarization(turns((0.0, 0.85, "A"), (0.85, 1.25, "B"), (1.25, 2.0, "A")))
    out = attribute(transcript(*SENTENCE), d)
    assert [s.speaker for s in out.segments] == ["A", "B", "A"]
    assert out.stats.smoothed == 0


def test_run_in_a_clearly_separate_turn_is_kept() -> None:
    # B has a turn of 1.2 s around "we": a real interjection, not a stray label
    aware = turns((0.0, 0.9, "A"), (0.4, 1.6, "B"), (1.2, 2.0, "A"))
    exclusive = turns((0.0, 0.9, "A"), (0.9, 1.2, "B"), (1.2, 2.0, "A"))
    out = attribute(transcript(*SENTENCE), diarization(aware, exclusive))
    assert [(s.speaker, s.text) for s in out.segments] == [("A", "I think that"), ("B", "we"), ("A", "go.")]
    assert out.stats.smoothed == 0


def test_runs_too_long_or_at_the_sentence_edge_are_kept() -> None:
    long_b = diarization(turns((0.0, 0.3, "A"), (0.3, 1.2, "B"), (1.2, 2.0, "A")))  # 3 words of B
    assert [s.speaker for s in attribute(transcript(*SENTENCE), long_b).segments] == ["A", "B", "A"]
    edge = diarization(turns((0.0, 0.3, "B"), (0.3, 2.0, "A")))  # "I" by B: a neighbour on one side only
    assert [s.text for s in attribute(transcript(*SENTENCE), edge).segments] == ["I", "think that we go."]


def test_smoothing_needs_the_same_speaker_on_both_sides() -> None:
    d = diarization(turns((0.0, 0.6, "A"), (0.6, 0.9, "B"), (0.9, 1.2, "C"), (1.2, 2.0, "A")))
    assert [s.speaker for s in attribute(transcript(*SENTENCE), d).segments] == ["A", "B", "C", "A"]
    # X Y X Y X: both stray runs go to X (left to right, against the labels smoothed so far)
    d2 = diarization(
        turns((0.0, 0.3, "A"), (0.3, 0.6, "B"), (0.6, 0.9, "A"), (0.9, 1.2, "B"), (1.2, 2.0, "A"))
    )
    assert [s.speaker for s in attribute(transcript(*SENTENCE), d2).segments] == ["A"]


def test_word_without_speaker_inside_a_sentence_is_smoothed() -> None:
    # a hole in the diarization around "that" (0.1 s from both turns, beyond a 0.05 s tolerance)
    d = diarization(turns((0.0, 0.5, "A"), (1.0, 2.0, "A"), (5.0, 6.0, "B")))
    out = attribute(transcript(*SENTENCE), d, AssignOptions(nearest_tolerance=0.05))
    assert [(s.speaker, s.text) for s in out.segments] == [("A", "I think that we go.")]
    assert (out.stats.unassigned, out.stats.smoothed) == (1, 1)


def test_smoothing_does_not_cross_sentences() -> None:
    t = transcript((0.0, 0.3, " Go."), (0.3, 0.6, " Yes."), (0.6, 0.9, " Now."))
    d = diarization(turns((0.0, 0.3, "A"), (0.3, 0.6, "B"), (0.6, 1.0, "A")))
    assert [s.speaker for s in attribute(t, d).segments] == ["A", "B", "A"]


# --- contracts -------------------------------------------------------------------------------------------


def test_inputs_are_not_modified_and_results_are_deterministic() -> None:
    t = transcript(*SENTENCE)
    d = diarization(turns((0.0, 0.85, "A"), (0.85, 1.25, "B"), (1.25, 2.0, "A")))
    before_t, before_turns = t.to_dict(), [x.to_dict() for x in d.turns]
    first, second = attribute(t, d), attribute(t, d)
    assert t.to_dict() == before_t and [x.to_dict() for x in d.turns] == before_turns
    assert all(w.speaker is None and not w.overlap for w in t.words)
    assert [s.to_dict() for s in first.segments] == [s.to_dict() for s in second.segments]
    assert first.stats == second.stats


@pytest.mark.parametrize(
    "kwargs",
    [
        {"nearest_tolerance": -1.0},
        {"overlap_fraction": 0.0},
        {"overlap_fraction": 1.5},
        {"smooth_max_words": -1},
        {"sentence_pause": 0.0},
    ],
)
def test_invalid_options_raise_config_error(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        AssignOptions(**kwargs)  # type: ignore[arg-type]


# --- frame-level activity -----------------------------------------------------------------------------------


def with_activity(
    d: Diarization, columns: dict[str, list[tuple[float, float, float]]], step: float = 0.01
) -> Diarization:
    """``d`` with frame activity: per speaker, ``(start, end, strength)`` spans on a ``step`` grid from 0."""
    num_frames = int(round(3.0 / step))
    names = tuple(columns)
    strength = np.zeros((num_frames, len(names)), dtype=np.float32)
    middles = np.arange(num_frames) * step  # frame middles: a grid starting half a frame early
    for k, name in enumerate(names):
        for start, end, value in columns[name]:
            strength[(middles >= start - 1e-9) & (middles < end - 1e-9), k] = value
    active = strength > 0
    exclusive = np.zeros_like(active)
    exclusive[np.flatnonzero(active.any(axis=1)), np.argmax(strength, axis=1)[active.any(axis=1)]] = True
    activity = SpeakerActivity(
        start=-0.5 * step, step=step, duration=step, speakers=names, active=active, exclusive=exclusive,
        strength=strength,
    )
    return replace(d, activity=activity)


def test_activity_frames_line_up_with_turn_times() -> None:
    d = with_activity(diarization(turns((0.5, 1.0, "A"))), {"A": [(0.5, 1.0, 1.0)]})
    assert d.activity is not None
    first, stop, seconds = d.activity.frame_range(0.25, 0.75)
    assert float(seconds.sum()) == pytest.approx(0.5)
    assert float(seconds @ d.activity.active[first:stop, 0]) == pytest.approx(0.25)


def test_straddling_word_goes_to_who_voices_most_of_it() -> None:
    # the exclusive turns put the change at 1.0 (A 0.6 s, B 0.4 s of the word), but A is silent after 0.7:
    # B voices 0.4 s of it alone, A only 0.3 s
    aware = turns((0.0, 1.0, "A"), (1.0, 2.0, "B"))
    d = diarization(aware)
    t = transcript((0.4, 1.4, " straddle"))
    assert [w.speaker for w in attribute(t, d).words] == ["A"]
    framed = with_activity(d, {"A": [(0.0, 0.7, 1.0)], "B": [(1.0, 2.0, 1.0)]})
    assert [w.speaker for w in attribute(t, framed).words] == ["B"]


def test_talking_alone_outweighs_overlapped_speech() -> None:
    # the word: A alone for 0.3 s, then A and B together for 0.7 s, B the louder there
    aware = turns((1.0, 2.0, "A"), (1.3, 2.0, "B"))
    d = diarization(aware, turns((1.0, 1.3, "A"), (1.3, 2.0, "B")))
    t = transcript((1.0, 2.0, " word"))
    assert [w.speaker for w in attribute(t, d).words] == ["B"]  # the exclusive turns alone
    framed = with_activity(d, {"A": [(1.0, 2.0, 1.0)], "B": [(1.3, 2.0, 9.0)]})
    # A: 0.3 + 0.5 * 0.7 * 0.1 = 0.335 s; B: 0.5 * 0.7 * 0.9 = 0.315 s
    assert [w.speaker for w in attribute(t, framed).words] == ["A"]
    # overlapped seconds counted in full: B 0.63 s, A 0.37 s
    assert [w.speaker for w in attribute(t, framed, AssignOptions(overlap_weight=1.0)).words] == ["B"]


def test_word_over_silent_frames_falls_back_to_the_turns() -> None:
    d = diarization(turns((0.0, 1.0, "A"), (1.2, 2.0, "B")))
    framed = with_activity(d, {"A": [(0.0, 1.0, 1.0)], "B": [(1.2, 2.0, 1.0)]})
    t = transcript((1.05, 1.15, " gap"), (1.5, 1.5, " point"))
    assert [w.speaker for w in attribute(t, framed).words] == ["A", "B"]


def test_overlap_weight_must_be_a_fraction() -> None:
    with pytest.raises(ConfigError, match="overlap_weight"):
        AssignOptions(overlap_weight=1.5)


# --- sentence edges -------------------------------------------------------------------------------------------


def test_turn_that_spills_over_a_sentence_start_is_a_flicker() -> None:
    # A's turn runs 0.3 s into B's sentence "I'm Sheila here." while B already talks: "I'm" is B's
    aware = turns((0.0, 1.6, "A"), (1.3, 3.0, "B"))
    exclusive = turns((0.0, 1.6, "A"), (1.6, 3.0, "B"))
    t = transcript((0.2, 1.0, " Jersey."), (1.3, 1.6, " I'm"), (1.6, 2.0, " Sheila"), (2.0, 2.4, " here."))
    out = attribute(t, diarization(aware, exclusive))
    assert [(s.speaker, s.text) for s in out.segments] == [("A", "Jersey."), ("B", "I'm Sheila here.")]
    assert out.stats.smoothed == 1


def test_overlapped_sentence_start_in_a_turn_of_its_own_is_kept() -> None:
    # A's overlapped turn starts after the previous sentence: a real change at the first word
    aware = turns((0.0, 1.0, "B"), (1.3, 1.6, "A"), (1.3, 3.0, "B"))
    exclusive = turns((0.0, 1.0, "B"), (1.3, 1.6, "A"), (1.6, 3.0, "B"))
    t = transcript((0.2, 1.0, " so."), (1.3, 1.6, " Yes"), (1.6, 2.0, " we"), (2.0, 2.4, " go."))
    out = attribute(t, diarization(aware, exclusive))
    assert [s.speaker for s in out.segments] == ["B", "A", "B"]
