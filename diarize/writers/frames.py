"""Frame tables of video inputs: ``<stem>.frames.csv`` and ``<stem>.frames.parquet`` from the one ``frames``
format (pandas is imported only here, when used).

One row per video frame with the columns of :data:`FRAME_COLUMNS`; the rules (exact frame rates, the feature
window, clamping, overlap) are in :mod:`diarize.frames`. ``speaker`` and ``turn_id`` join several values with
``|`` where turns overlap (``SPEAKER_00|SPEAKER_01``, ``3|4``, in the same order); they and ``word`` are empty
(CSV) or null (Parquet) where nobody speaks. The Parquet file also carries the table's summary (frame rate,
``time_source`` ``pts`` or ``frame_rate``, window, sync check) as JSON under the schema metadata key
``diarize.frames``.

``all`` does not include ``frames``: ``all`` is the set of formats every input can have, and a frame table
needs a picture. Ask for it by name (``-f all,frames``); for an input without video it is a
:class:`~diarize.errors.ConfigError`.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from diarize.frames import FrameTable, frame_table
from diarize.types import Result
from diarize.writers.base import Writer, register_writer
from diarize.writers.options import WriterOptions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FRAME_COLUMNS", "FramesWriter", "frames_to_frame"]

FRAME_COLUMNS = (
    "frame",
    "time",
    "center_idx",
    "window_first",
    "window_last",
    "in_audio",
    "is_speech",
    "n_speakers",
    "speaker",
    "turn_id",
    "word",
)
"""Columns of the frame table: frame index, presentation time (s), Whisper feature index of the frame and
its clamped window (first and last index, inclusive), whether the frame lies in the audio and in speech, how
many speakers speak, who (``|``-joined), which turns (indices into the JSON ``turns``), and the word being
spoken."""

METADATA_KEY = b"diarize.frames"


def frames_to_frame(table: FrameTable) -> pd.DataFrame:
    """``table`` as a DataFrame with :data:`FRAME_COLUMNS` (typed even when empty)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "frame": pd.array(table.frame, dtype="int64"),
            "time": pd.array(table.time, dtype="float64"),
            "center_idx": pd.array(table.center_idx, dtype="int64"),
            "window_first": pd.array(table.window_first, dtype="int64"),
            "window_last": pd.array(table.window_last, dtype="int64"),
            "in_audio": pd.array(table.in_audio, dtype="bool"),
            "is_speech": pd.array(table.is_speech, dtype="bool"),
            "n_speakers": pd.array([len(s) for s in table.speakers], dtype="int64"),
            "speaker": pd.array(table.speaker, dtype="string"),
            "turn_id": pd.array(table.turn_id, dtype="string"),
            "word": pd.array(table.words, dtype="string"),
        },
        columns=list(FRAME_COLUMNS),
    )


def _parquet(table: FrameTable) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(frames_to_frame(table), preserve_index=False)
    metadata = dict(arrow.schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps(table.summary()).encode("utf-8")
    buffer = io.BytesIO()
    pq.write_table(arrow.replace_schema_metadata(metadata), buffer)
    return buffer.getvalue()


@register_writer
class FramesWriter(Writer):
    """The frame table as CSV (``.frames.csv``) and Parquet (``.frames.parquet``)."""

    format = "frames"
    order = 90
    suffix = ".frames.csv"
    in_all = False

    def render(self, result: Result, stem: str, options: WriterOptions) -> bytes:
        """The CSV file (the Parquet one comes from :meth:`outputs`)."""
        text = frames_to_frame(frame_table(result)).to_csv(index=False, lineterminator="\n")
        return str(text).encode("utf-8")

    def outputs(self, result: Result, stem: str, options: WriterOptions) -> list[tuple[str, bytes]]:
        table = frame_table(result)
        csv = str(frames_to_frame(table).to_csv(index=False, lineterminator="\n")).encode("utf-8")
        return [(".frames.csv", csv), (".frames.parquet", _parquet(table))]
