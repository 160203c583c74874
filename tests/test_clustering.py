"""Constrained clustering of local speakers, its linkage, short-turn absorption and the oracle floor (model-free)."""

from __future__ import annotations

import numpy as np
import pytest

from diarize.errors import ConfigError
from diarize.speakers.clustering import (
    ClusterRules,
    assign_local_speakers,
    clean_seconds,
    cluster_local_speakers,
    select_seeds,
)
from diarize.speakers.linkage import labels_at, merge_history
from diarize.speakers.options import SpeakerOptions
from diarize.speakers.turns import absorb_short_runs
from diarize.types import SpeakerTurn

FRAME = 0.1  # s per segmentation frame in the synthetic windows below
CHUNK = 1.0  # s between windows


# ----------------------------------------------------------------------------------------------------
# linkage


def test_unconstrained_history_matches_scipy_average_linkage() -> None:
    from scipy.cluster.hierarchy import linkage

    points = np.random.default_rng(1).normal(size=(60, 8))
    history = merge_history(points)
    reference = linkage(points, method="average", metric="cosine")
    np.testing.assert_allclose(np.sort(history.distance), np.sort(reference[:, 2]), atol=1e-5)
    assert not history.forced.any()


def test_points_of_one_group_merge_only_when_nothing_else_is_left() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(40, 6))
    groups = np.arange(40) // 4  # ten groups of four
    history = merge_history(points, groups)
    free = int((~history.forced).sum())
    assert history.forced[free:].all() and not history.forced[:free].any()  # forced merges come last
    labels = labels_at(history, history.size - free)
    for g in np.unique(groups):
        assert len(set(labels[groups == g])) == 4  # no cluster holds two points of one group
    assert len(np.unique(labels_at(history, 1))) == 1
    assert len(np.unique(labels_at(history, 7))) == 7


def test_two_identical_voices_in_one_window_stay_apart() -> None:
    points = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0]])
    history = merge_history(points, groups=np.array([0, 0, 1]))
    assert not history.forced[0]
    assert {int(history.a[0]), int(history.b[0])} != {0, 1}


# ----------------------------------------------------------------------------------------------------
# clustering


def _windows(plan: list[list[tuple[int, int, int]]], voices: np.ndarray, noise: float = 0.05):
    """Synthetic windows: ``plan[c]`` lists ``(voice, first_frame, stop_frame)`` per local speaker."""
    rng = np.random.default_rng(3)
    num_chunks, num_frames, local = len(plan), 30, 3
    binarized = np.zeros((num_chunks, num_frames, local))
    embeddings = np.full((num_chunks, local, voices.shape[1]), np.nan)
    truth = np.full((num_chunks, local), -1)
    for c, speakers in enumerate(plan):
        for s, (voice, a, b) in enumerate(speakers):
            binarized[c, a:b, s] = 1.0
            embeddings[c, s] = voices[voice] + rng.normal(0, noise, voices.shape[1])
            truth[c, s] = voice
    return embeddings, binarized, truth


VOICES = np.eye(6)[:4]


def _same_partition(hard: np.ndarray, truth: np.ndarray) -> bool:
    pairs = {(int(h), int(t)) for h, t in zip(hard[truth >= 0], truth[truth >= 0], strict=True)}
    return len(pairs) == len({h for h, _ in pairs}) == len({t for _, t in pairs})


def test_three_voices_are_found_and_every_local_speaker_is_assigned() -> None:
    plan = [[(0, 0, 20), (1, 20, 30)], [(1, 0, 15), (2, 15, 30)], [(2, 0, 30)], [(0, 0, 12), (2, 14, 30)]] * 3
    embeddings, binarized, truth = _windows(plan, VOICES)
    for cannot_link in (False, True):
        rules = ClusterRules(threshold=0.6, min_clean=1.0, min_speech=1.0, cannot_link=cannot_link)
        clusters = cluster_local_speakers(embeddings, binarized, (FRAME, CHUNK), rules)
        assert clusters.centroids.shape == (3, 6)
        assert _same_partition(clusters.hard, truth)
        assert (clusters.hard[truth < 0] == -2).all()


def test_speaker_hints_pick_another_cut_of_the_same_history() -> None:
    plan = [[(0, 0, 20), (1, 20, 30)], [(1, 0, 15), (2, 15, 30)], [(2, 0, 30)], [(0, 0, 12), (2, 14, 30)]] * 3
    embeddings, binarized, _ = _windows(plan, VOICES)
    for lo, hi in ((2, 2), (4, 4), (1, 2)):
        rules = ClusterRules(threshold=0.6, min_clean=1.0, min_speech=0.0)
        clusters = cluster_local_speakers(embeddings, binarized, (FRAME, CHUNK), rules, bounds=(lo, hi))
        assert lo <= len(clusters.centroids) <= hi


def test_short_clean_speech_does_not_seed_but_is_assigned() -> None:
    # voice 3 talks alone for only 0.5 s per window: it never seeds, and joins the nearest seeded voice
    plan = [[(0, 0, 25), (3, 25, 30)], [(1, 0, 30)], [(0, 0, 30)], [(1, 0, 25), (3, 25, 30)]]
    embeddings, binarized, truth = _windows(plan, VOICES)
    seeds = select_seeds(embeddings, binarized, FRAME, CHUNK, min_clean=1.0)
    assert 3 not in truth[seeds.chunk, seeds.speaker]
    clusters = cluster_local_speakers(embeddings, binarized, (FRAME, CHUNK), ClusterRules())
    assert len(clusters.centroids) == 2
    assert (clusters.hard[truth == 3] >= 0).all()


def test_clean_seconds_count_only_frames_without_overlap() -> None:
    binarized = np.zeros((1, 10, 3))
    binarized[0, 0:6, 0] = 1
    binarized[0, 4:10, 1] = 1
    np.testing.assert_allclose(clean_seconds(binarized, FRAME), [[0.4, 0.4, 0.0]])


def test_local_speakers_of_one_window_go_to_different_speakers() -> None:
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    embeddings = np.array([[[1.0, 0.1], [1.0, 0.3], [np.nan, np.nan]]])  # both closer to speaker 0
    hard = assign_local_speakers(embeddings, np.array([[True, True, False]]), centroids)
    assert hard.tolist() == [[0, 1, -2]]


def test_constrained_options_are_checked() -> None:
    assert SpeakerOptions().clustering_method == "constrained"
    assert SpeakerOptions(embedding_model="ge2e").clustering_method == "agglomerative"
    with pytest.raises(ConfigError):
        SpeakerOptions(min_clean=-1.0)
    with pytest.raises(ConfigError):
        SpeakerOptions(min_duration_on=-0.1)


# ----------------------------------------------------------------------------------------------------
# short turns


def test_short_run_between_two_turns_joins_the_more_active_neighbour() -> None:
    active = np.zeros((12, 3), dtype=bool)
    active[0:5, 0] = True
    active[5:7, 1] = True  # a 2-frame blip of speaker 1 between speaker 0 and speaker 2
    active[7:12, 2] = True
    activations = np.ones((12, 3))
    activations[5:7, 2] = 3.0
    out = absorb_short_runs(active, activations, min_frames=3)
    assert not out[:, 1].any()
    assert out[5:7, 2].all() and not out[5:7, 0].any()
    assert out.sum(axis=1).tolist() == [1] * 12  # no frame lost or doubled


def test_isolated_blip_is_dropped_but_a_speaker_the_hints_need_is_kept() -> None:
    active = np.zeros((20, 2), dtype=bool)
    active[0:10, 0] = True
    active[15:16, 1] = True  # one frame alone in silence
    activations = np.ones((20, 2))
    assert not absorb_short_runs(active, activations, min_frames=3)[:, 1].any()
    kept = absorb_short_runs(active, activations, min_frames=3, min_speakers=2)
    assert kept[15, 1]
    np.testing.assert_array_equal(absorb_short_runs(active, activations, min_frames=1), active)


# ----------------------------------------------------------------------------------------------------
# oracle floor


def _speaker_frames(binarized: np.ndarray):
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from diarize.speakers.pyannote import SpeakerFrames

    num_chunks, num_frames, _ = binarized.shape
    chunks = SlidingWindow(start=0.0, duration=num_frames * FRAME, step=CHUNK)
    grid = SlidingWindow(start=0.0, duration=FRAME, step=FRAME)
    total = int(round((num_chunks - 1) * CHUNK / FRAME)) + num_frames
    count = np.zeros((total, 1))
    for c in range(num_chunks):
        off = int(round(c * CHUNK / FRAME))
        count[off : off + num_frames, 0] = np.maximum(count[off : off + num_frames, 0], binarized[c].sum(axis=1))
    return SpeakerFrames(
        segmentations=SlidingWindowFeature(binarized, chunks),
        binarized=SlidingWindowFeature(binarized, chunks),
        count=SlidingWindowFeature(count, grid),
    )


def test_oracle_maps_local_speakers_to_the_reference_and_rebuilds_its_turns() -> None:
    from diarize.eval.metrics import der
    from diarize.eval.oracle import oracle_assignment, oracle_diarization, reference_activity
    from diarize.types import Span

    # reference: A speaks 0–2 s, B 2–4 s; each 3 s window (step 1 s) sees them as local speakers
    reference = [SpeakerTurn(0.0, 2.0, "A"), SpeakerTurn(2.0, 4.0, "B")]
    num_chunks, num_frames = 2, 30
    binarized = np.zeros((num_chunks, num_frames, 3))
    for c in range(num_chunks):
        middles = c * CHUNK + FRAME * (np.arange(num_frames) + 0.5)
        binarized[c, :, 1] = middles < 2.0  # local speaker 1 is A, 2 is B: ids unrelated to the reference
        binarized[c, :, 2] = middles >= 2.0
    frames = _speaker_frames(binarized)
    labels, activity = reference_activity(frames, reference)
    assert labels == ["A", "B"]
    hard = oracle_assignment(binarized, activity)
    assert hard.tolist() == [[-2, 0, 1], [-2, 0, 1]]
    embeddings = np.random.default_rng(0).normal(size=(num_chunks, 3, 4))
    floor = oracle_diarization(frames, embeddings, reference, 4.0, SpeakerOptions(min_duration_on=0.0))
    assert len(floor.speakers) == 2
    assert der(reference, floor.turns, (Span(0.0, 4.0),), collar=0.0).der < 0.05


@pytest.mark.parametrize("step", [1.0, 2.0, 0.9])
def test_stitching_window_by_window_gives_pyannotes_aggregate_exactly(step: float) -> None:
    from pyannote.audio import Inference
    from pyannote.core import SlidingWindow, SlidingWindowFeature

    from diarize.speakers.pyannote import _stitch

    rng = np.random.default_rng(7)
    num_chunks, num_frames, num_clusters = 40, 589, 5
    scores = rng.random((num_chunks, num_frames, 3)).astype(np.float32)
    hard = rng.integers(-2, num_clusters, size=(num_chunks, 3))
    hard[3] = [1, 1, -2]  # two local speakers of one window in one cluster: the higher score counts
    chunks = SlidingWindow(start=0.0, duration=10.0, step=step)
    frames = SlidingWindow(start=0.0, duration=0.0619375, step=0.016875)  # segmentation-3.0's receptive field
    stacked = np.full((num_chunks, num_frames, num_clusters), np.nan, dtype=np.float32)
    for c in range(num_chunks):
        for k in {k for k in hard[c].tolist() if k >= 0}:
            stacked[c, :, k] = scores[c][:, hard[c] == k].max(axis=1)
    expected = Inference.aggregate(
        SlidingWindowFeature(stacked, chunks), frames, hamming=False, missing=0.0, skip_average=True
    )
    stitched = _stitch(SlidingWindowFeature(scores, chunks), hard, frames)
    np.testing.assert_array_equal(stitched.data, expected.data)
    assert stitched.sliding_window.start == expected.sliding_window.start
    assert stitched.sliding_window.step == expected.sliding_window.step
