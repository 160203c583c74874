"""Speaker diarization stage: option checks, turn building (model-free), and real-audio accuracy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from diarize.errors import ConfigError, ModelError
from diarize.speaker_turns import FrameGrid, exclusive_frames, frames_to_turns, label_in_order, top_speakers
from diarize.speakers import SpeakerModels, SpeakerOptions, _build, diarize
from diarize.types import Audio, Diarization, MediaInfo

# ---------------------------------------------------------------------------------------------------------------
# options


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_speakers": 3, "max_speakers": 2},
        {"num_speakers": 5, "max_speakers": 4},
        {"num_speakers": 1, "min_speakers": 2},
        {"num_speakers": 0},
        {"embedding_model": "xvector"},
        {"clustering": "spectral"},
        {"exclusive_rule": "loudest"},
        {"linkage": "nearest"},
        {"step": 0.0},
        {"step": 12.0},
        {"embedding_batch_size": 0},
    ],
)
def test_contradictory_or_unknown_options_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        SpeakerOptions(**kwargs)


def test_speaker_bounds_and_cluster_size_follow_the_options() -> None:
    assert SpeakerOptions().speaker_bounds == (1, float("inf"))
    assert SpeakerOptions(num_speakers=3, min_speakers=2, max_speakers=4).speaker_bounds == (3, 3)
    assert SpeakerOptions(min_speakers=2, max_speakers=2).speaker_bounds == (2, 2)
    assert SpeakerOptions(step=1.0).cluster_size == 12
    assert SpeakerOptions(step=2.0).cluster_size == 6
    assert SpeakerOptions(step=2.0, min_cluster_size=4).cluster_size == 4


def test_mismatched_embedding_network_is_a_model_error() -> None:
    import torch

    audio = Audio(samples=np.zeros(16000, dtype=np.float32), info=MediaInfo("x.wav", 1.0, 16000, 1, "pcm", "wav"))
    models = SpeakerModels(segmentation=None, embedding=torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="campplus"):
        diarize(audio, SpeakerOptions(), models)


# ---------------------------------------------------------------------------------------------------------------
# turn building on synthetic frame activity (no models)

GRID = FrameGrid(start=0.0, step=0.1, duration=0.1)  # frame i is stamped at i * 0.1 + 0.05


def _rounded(turns: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    return [(round(s, 6), round(e, 6), k) for s, e, k in turns]


def test_top_speakers_keeps_the_count_most_active_and_never_silence() -> None:
    activations = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    count = np.array([1, 2, 1, 1])
    active = top_speakers(activations, count)
    expected = np.array([[1, 0, 0], [1, 0, 1], [0, 0, 0], [1, 0, 0]], dtype=bool)  # tie → lower index
    np.testing.assert_array_equal(active, expected)
    # a count above the number of active speakers never invents one
    assert top_speakers(np.array([[1.0, 0.0]]), np.array([2])).tolist() == [[True, False]]


def test_frames_to_turns_uses_frame_middles_and_fills_short_gaps() -> None:
    active = np.zeros((20, 2), dtype=bool)
    active[2:6, 0] = True  # 0.25 → 0.65
    active[7:9, 0] = True  # gap of one frame (0.1 s)
    active[4:12, 1] = True
    active[15:, 1] = True  # runs to the last frame: ends at its middle
    turns = _rounded(frames_to_turns(active, GRID))
    assert turns == [(0.25, 0.65, 0), (0.45, 1.25, 1), (0.75, 0.95, 0), (1.55, 1.95, 1)]
    merged = _rounded(frames_to_turns(active, GRID, min_duration_off=0.15, end=1.9))
    assert merged == [(0.25, 0.95, 0), (0.45, 1.25, 1), (1.55, 1.9, 1)]


def test_exclusive_view_has_one_speaker_wherever_anybody_speaks() -> None:
    active = np.zeros((10, 2), dtype=bool)
    active[0:6, 0] = True  # A talks 0–6
    active[3:9, 1] = True  # B joins at 3, stays to 9
    activations = np.where(active, 1.0, 0.0)
    activations[3:6, 1] = 2.0  # B is louder during the overlap
    confident = exclusive_frames(active, activations, "confident")
    keep = exclusive_frames(active, activations, "keep")
    for view in (confident, keep):
        assert (view.sum(axis=1) == active.any(axis=1)).all()
        assert not (view & ~active).any()
    assert confident[:, 1].tolist() == [False] * 3 + [True] * 6 + [False]
    assert keep[:, 0].tolist() == [True] * 6 + [False] * 4  # A keeps the floor until they stop
    with pytest.raises(ValueError):
        exclusive_frames(active, activations, "loudest")


def test_labels_follow_first_appearance() -> None:
    names = label_in_order([(5.0, 6.0, 0), (1.0, 2.0, 2), (3.0, 4.0, 1), (0.5, 0.7, 2)])
    assert names == {2: "SPEAKER_00", 1: "SPEAKER_01", 0: "SPEAKER_02"}


def test_build_names_turns_and_normalises_centroids() -> None:
    active = np.zeros((30, 3), dtype=bool)
    active[10:20, 0] = True
    active[2:8, 1] = True
    active[15:25, 1] = True
    activations = active * np.array([1.0, 2.0, 5.0])  # cluster 2 never speaks
    count = active.sum(axis=1)
    centroids = np.array([[3.0, 4.0], [0.0, 2.0], [1.0, 1.0]])
    result = _build(activations, count, centroids, GRID, duration=3.0, options=SpeakerOptions())
    assert result.speakers == ("SPEAKER_00", "SPEAKER_01")
    assert [t.speaker for t in result.turns] == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_00"]
    assert result.turns[0].start == pytest.approx(0.25)
    np.testing.assert_allclose(result.centroids["SPEAKER_00"], [0.0, 1.0])
    np.testing.assert_allclose(result.centroids["SPEAKER_01"], [0.6, 0.8])
    # exclusive: in the overlap 1.55–2.0 the more active cluster 1 (SPEAKER_00) wins
    overlap = [t for t in result.exclusive if t.start < 1.9 and t.end > 1.6]
    assert [t.speaker for t in overlap] == ["SPEAKER_00"]
    assert result.embedding_model == "campplus"


def test_enforce_bounds_reclusters_with_one_cluster_per_window_speaker() -> None:
    from diarize._pyannote import enforce_bounds

    rng = np.random.default_rng(0)
    voices = np.eye(4)[:3] * 10  # three well separated speakers in 4-D
    speaker_of = np.array([[0, 1, -1], [0, 2, -1], [1, 2, -1], [2, 0, -1], [1, 0, 2]])
    active = speaker_of >= 0
    embeddings = np.full((5, 3, 4), np.nan)
    embeddings[active] = voices[speaker_of[active]] + rng.normal(0, 0.5, (active.sum(), 4))
    merged = np.where(active, np.where(speaker_of == 2, 1, speaker_of), -2)  # 2 clusters found
    hard, centroids = enforce_bounds(merged, np.zeros((2, 4)), embeddings, active, lo=3, hi=3)
    assert centroids.shape == (3, 4)
    mapping = {int(s): int(h) for s, h in zip(speaker_of[active], hard[active])}
    assert sorted(mapping.values()) == [0, 1, 2]
    assert all(mapping[int(s)] == int(h) for s, h in zip(speaker_of[active], hard[active]))
    # already within bounds: left alone
    same, _ = enforce_bounds(merged, np.zeros((2, 4)), embeddings, active, lo=1, hi=4)
    np.testing.assert_array_equal(same, merged)
