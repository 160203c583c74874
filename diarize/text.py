"""Words back to text: :func:`join_words`, the one place that puts transcribed words together; and
:func:`plural` for counts in messages.

A :class:`~diarize.types.Word` holds its text without surrounding blanks. Words are joined with one space, or
with none in the languages written without spaces between words (Chinese, Japanese, Thai, ...), where Whisper's
words are pieces of the running text. A token that is written against the word before it (closing punctuation
alone, a contraction's tail such as ``'s``) takes no space either, and blanks inside or around a word's text
(Whisper's leading space, in results written before it was dropped) collapse to nothing or one space.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from diarize.types import Word

__all__ = ["UNSPACED_LANGUAGES", "attached", "join_words", "plural"]

UNSPACED_LANGUAGES = frozenset({"zh", "yue", "ja", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words."""


_ATTACHED = re.compile(r"^(?:[.,;:!?…%)\]}»”’、，。？！；：]+|['’](?:s|t|re|ve|ll|m|d)\b.*)$", re.IGNORECASE)
"""Tokens written without a blank before them: closing punctuation alone, a contraction's tail (``'s``)."""


def attached(token: str) -> bool:
    """Whether ``token`` is written without a blank before it (closing punctuation, ``'s``)."""
    return bool(_ATTACHED.match(token))


def join_words(words: Iterable[Word], language: str | None = None) -> str:
    """The text of consecutive words: one space between them, none before an :func:`attached` token, and none at
    all in :data:`UNSPACED_LANGUAGES`."""
    separator = "" if language in UNSPACED_LANGUAGES else " "
    text = ""
    for word in words:
        token = " ".join(word.text.split())
        if token:
            text += token if not text or attached(token) else separator + token
    return text


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 speaker``, ``2 speakers``, ``0 speakers`` (``many``: an irregular plural)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
