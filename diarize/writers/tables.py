"""Word tables: ``<stem>.words.csv`` and ``<stem>.words.parquet`` (pandas is imported only here, when used).

One row per word, in transcript order, with the columns of :data:`WORD_COLUMNS`. ``word`` is the word's text
without surrounding blanks; ``speaker`` is empty (CSV) or null (Parquet) for a word without speaker.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from diarize.types import Result
from diarize.writers.base import TextWriter, Writer, register_writer
from diarize.writers.options import WriterOptions

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["WORD_COLUMNS", "CsvWriter", "ParquetWriter", "to_frame"]

WORD_COLUMNS = ("segment", "start", "end", "word", "probability", "speaker", "overlap")
"""Columns of the word table: segment index (0-based, in ``Result.segments``), times (s), text, ASR
probability, speaker, and whether the word lies in overlapped speech."""


def to_frame(result: Result) -> pd.DataFrame:
    """The words of ``result`` as a DataFrame with :data:`WORD_COLUMNS` (typed even when empty)."""
    import pandas as pd

    rows = [(i, w) for i, s in enumerate(result.segments) for w in s.words]
    return pd.DataFrame(
        {
            "segment": pd.array([i for i, _ in rows], dtype="int64"),
            "start": pd.array([w.start for _, w in rows], dtype="float64"),
            "end": pd.array([w.end for _, w in rows], dtype="float64"),
            "word": pd.array([w.text.strip() for _, w in rows], dtype="string"),
            "probability": pd.array([w.probability for _, w in rows], dtype="float64"),
            "speaker": pd.array([w.speaker for _, w in rows], dtype="string"),
            "overlap": pd.array([w.overlap for _, w in rows], dtype="bool"),
        },
        columns=list(WORD_COLUMNS),
    )


@register_writer
class CsvWriter(TextWriter):
    """The word table as UTF-8 CSV with a header row."""

    format = "csv"
    order = 70
    suffix = ".words.csv"

    def render_text(self, result: Result, stem: str, options: WriterOptions) -> str:
        return str(to_frame(result).to_csv(index=False, lineterminator="\n"))


@register_writer
class ParquetWriter(Writer):
    """The word table as Parquet (pyarrow)."""

    format = "parquet"
    order = 80
    suffix = ".words.parquet"

    def render(self, result: Result, stem: str, options: WriterOptions) -> bytes:
        buffer = io.BytesIO()
        to_frame(result).to_parquet(buffer, engine="pyarrow", index=False)
        return buffer.getvalue()
