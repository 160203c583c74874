"""Oracle clustering: the best DER the speaker stage could reach with perfect clustering.

The speaker stage segments the audio in overlapping windows, finds up to three *local* speakers per window,
then clusters them into global speakers (:mod:`diarize.speakers.diarization`). Replacing the clustering by the reference
gives the floor the segmentation leaves to clustering:

1. the reference turns are sampled on each window's segmentation frames (a frame is active for a reference
   speaker when its middle lies inside one of that speaker's turns): :func:`reference_activity`;
2. every active local speaker is mapped to a reference speaker by the frames they share
   (:func:`oracle_assignment`): ``"hungarian"`` (default) maps the local speakers of one window one-to-one,
   maximising the shared frames (pyannote's ``OracleClustering`` rule); ``"majority"`` maps each local speaker
   to the reference speaker it overlaps most, so two local speakers of one window may share a speaker. A local
   speaker overlapping no reference speech goes to the first reference speaker (its frames are false alarms
   whatever its label);
3. the mapped windows are stitched, counted and turned into turns exactly as after clustering
   (:func:`diarize.speakers.pyannote.assemble`, the stage's turn building): :func:`oracle_diarization`.

The difference between a system's DER and this floor is what better clustering (speaker counting included)
can still win; the floor itself is segmentation error (mostly missed speech in overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from diarize.types import Diarization, SpeakerTurn

if TYPE_CHECKING:
    from diarize.speakers.options import SpeakerOptions
    from diarize.speakers.pyannote import SpeakerFrames

__all__ = ["OracleMode", "oracle_assignment", "oracle_diarization", "reference_activity"]

OracleMode = Literal["hungarian", "majority"]


def reference_activity(frames: SpeakerFrames, reference: Sequence[SpeakerTurn]) -> tuple[list[str], np.ndarray]:
    """Reference speakers and their activity on every window's frames.

    Returns ``(labels, activity)`` with ``activity`` of shape ``(num_chunks, num_frames, num_labels)`` (bool):
    ``activity[c, f, r]`` when the middle of frame ``f`` of window ``c`` lies in a turn of ``labels[r]``.
    """
    chunks = frames.binarized.sliding_window
    grid = frames.count.sliding_window
    num_chunks, num_frames, _ = frames.binarized.data.shape
    labels = sorted({turn.speaker for turn in reference})
    starts = chunks.start + chunks.step * np.arange(num_chunks)
    # shape: (num_chunks, num_frames), frame middles in seconds
    middles = starts[:, None] + grid.start + grid.step * np.arange(num_frames)[None, :] + 0.5 * grid.duration
    activity = np.zeros((num_chunks, num_frames, len(labels)), dtype=bool)
    index = {label: r for r, label in enumerate(labels)}
    for turn in reference:
        r = index[turn.speaker]
        activity[:, :, r] |= (middles >= turn.start) & (middles < turn.end)
    return labels, activity


def oracle_assignment(binarized: np.ndarray, activity: np.ndarray, mode: OracleMode = "hungarian") -> np.ndarray:
    """Map each local speaker to a reference speaker: ``hard`` of shape ``(num_chunks, local_speakers)``.

    ``binarized`` ``(num_chunks, num_frames, local_speakers)`` is the segmentation's 0/1 activity,
    ``activity`` ``(num_chunks, num_frames, num_labels)`` the reference's (:func:`reference_activity`).
    Silent local speakers get ``-2`` (pyannote's "inactive" value); see the module docstring for ``mode``.
    """
    num_chunks, _, num_local = binarized.shape
    hard = np.full((num_chunks, num_local), -2, dtype=np.int64)
    if activity.shape[-1] == 0:
        return hard
    local = np.nan_to_num(binarized).astype(np.float64)
    # shape: (num_chunks, local_speakers, num_labels), frames shared
    shared = np.einsum("cfs,cfr->csr", local, activity.astype(np.float64))
    for c in range(num_chunks):
        speakers = np.flatnonzero(local[c].sum(axis=0) > 0)
        if len(speakers) == 0:
            continue
        if mode == "majority":
            hard[c, speakers] = np.argmax(shared[c, speakers], axis=1)
            continue
        rows, cols = linear_sum_assignment(shared[c, speakers], maximize=True)
        hard[c, speakers[rows]] = cols
        for s in np.setdiff1d(np.arange(len(speakers)), rows):  # more local than reference speakers
            hard[c, speakers[s]] = int(np.argmax(shared[c, speakers[s]]))
    return hard


def oracle_diarization(
    frames: SpeakerFrames,
    embeddings: np.ndarray,
    reference: Sequence[SpeakerTurn],
    duration: float,
    options: SpeakerOptions,
    mode: OracleMode = "hungarian",
) -> Diarization:
    """The diarization the speaker stage would output had its clustering followed the reference.

    ``frames`` and ``embeddings`` (``(num_chunks, local_speakers, dimension)``, used only for the centroids)
    are the stage's segmentation and embeddings; turns are built with ``options`` like the stage's own, with
    the speaker count taken from the reference.
    """
    from diarize.speakers.diarization import build_diarization
    from diarize.speakers.pyannote import assemble, overlap_speakers

    labels, activity = reference_activity(frames, reference)
    hard = oracle_assignment(frames.binarized.data, activity, mode)
    centroids = np.zeros((max(len(labels), 1), embeddings.shape[-1]))
    for k in range(len(labels)):
        members = embeddings[hard == k]
        members = members[~np.isnan(members).any(axis=1)]
        if len(members):
            centroids[k] = members.mean(axis=0)
    lo = overlap_speakers(frames.count, options.overlap_evidence)  # as the stage itself does
    clustered = assemble(frames, hard, centroids, (lo, float("inf")))
    return build_diarization(clustered, duration, options)
