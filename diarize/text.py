"""Words back to text: :func:`join_words`, the one place that puts transcribed words together; and
:func:`plural` for counts in messages.

A :class:`~diarize.types.Word` holds its text without surrounding blanks. Words are joined with one space, or
with none in the languages written without spaces between words (Chinese, Japanese, Thai, ...), where Whisper's
words are pieces of the running text.
"""

from __future__ import annotations

from collections.abc import Iterable

from diarize.types import Word

__all__ = ["UNSPACED_LANGUAGES", "join_words", "plural"]

UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words."""


def join_words(words: Iterable[Word], language: str | None = None) -> str:
    """The text of consecutive words: their texts joined by one space (none in :data:`UNSPACED_LANGUAGES`)."""
    separator = "" if language in UNSPACED_LANGUAGES else " "
    return separator.join(w.text for w in words if w.text)


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 speaker``, ``2 speakers``, ``0 speakers`` (``many``: an irregular plural)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
