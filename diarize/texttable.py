"""Plain-text tables for the terminal: text columns left-aligned, number columns right-aligned."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["grid"]


def grid(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> list[str]:
    """The lines of a table whose columns are as wide as their widest cell; the first ``text_columns`` are
    left-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < text_columns else c.rjust(w) for i, (c, w) in pairs).rstrip()

    return [line(header), *(line(r) for r in rows)]
