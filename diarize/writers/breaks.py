"""Where a subtitle's text is broken: line layout inside a cue and the cut between two cues.

A person breaks a line after punctuation first, else before a conjunction or preposition, and never leaves an
article or short function word dangling at a line's end or a single word alone on a line; the two lines of a
cue are balanced (a longer bottom line is fine). The same preferences rank the places where a full cue is cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from diarize.text import join_words
from diarize.types import Word

__all__ = ["SENTENCE_END", "clean", "cut_rank", "is_function_word", "layout", "wrap"]

SENTENCE_END = ".?!。？！…"
_CLAUSE_END = ",;:、，；：—–"
_CLOSERS = "\"'”’)]}»」』"

_BREAK_WORDS = (
    "and but or nor so yet because although though while whereas if unless until when where which who whom "
    "whose that than as of to in on at for with by from into onto about after before over under through "
    "between without during against &"
)
_BREAK_BEFORE = frozenset(_BREAK_WORDS.split())
"""Words a line (or cue) may start with: conjunctions and prepositions."""

_DANGLING_WORDS = "a an the my your his her its our their this these those i we you he she it they not no very just"
_DANGLING = _BREAK_BEFORE | frozenset(_DANGLING_WORDS.split())
"""Words that must not end a line: articles, short function words, subject pronouns."""


def clean(text: str) -> str:
    """``text`` on one line, blanks collapsed."""
    return " ".join(text.split()) if any(c in text for c in "\r\n\t") else text.strip()


def _token(word: Word) -> str:
    return word.text.strip().rstrip(_CLOSERS)


def is_function_word(word: Word) -> bool:
    """Whether ``word`` must not end a line (an article, a preposition, a conjunction, ...)."""
    return _token(word).lower() in _DANGLING


def cut_rank(before: Word, after: Word | None) -> int:
    """How good a break between ``before`` and ``after`` is: 3 sentence end, 2 clause mark, 1 before a
    conjunction or preposition, 0 plain, -1 after a function word (a dangling article)."""
    token = _token(before)
    if token and token[-1] in SENTENCE_END:
        return 3
    if token and token[-1] in _CLAUSE_END:
        return 2
    if is_function_word(before):
        return -1
    return 1 if after is not None and _token(after).lower() in _BREAK_BEFORE else 0


_RANK_BONUS = {3: -24.0, 2: -16.0, 1: -8.0, 0: 0.0, -1: 30.0}
_UNACCEPTABLE = 28.0  # a split this costly strands a function word or a lone word


def _split_cost(words: Sequence[Word], k: int, top: int, bottom: int) -> float:
    cost = 0.5 * (top - bottom) if top >= bottom else 0.25 * (bottom - top)  # balanced, bottom-heavy is fine
    if k > 0:
        cost += _RANK_BONUS[cut_rank(words[k - 1], words[k])]
    if len(words) >= 3 and (k == 1 or k == len(words) - 1):
        cost += 60.0  # a one-word line
    return cost


def layout(words: Sequence[Word], prefix: int, width: int, max_lines: int, *, strict: bool = False) -> list[str] | None:
    """The cue's lines (``prefix`` characters of speaker mark before the first), or None when the words do not
    fit ``max_lines`` lines of ``width``. A text that fits one line stays on one line. ``strict``: two lines
    must not strand a function word at the top line's end nor leave a word alone on a line."""
    whole = join_words(words)
    if prefix + len(whole) <= width:
        return [whole]
    if max_lines == 1:
        return None
    if max_lines == 2:
        best: tuple[float, list[str]] | None = None
        for k in range(0 if prefix else 1, len(words)):  # k = 0: the speaker mark alone on the top line
            top, bottom = join_words(words[:k]), join_words(words[k:])
            a, b = prefix + len(top), len(bottom)
            if a <= width and b <= width:
                cost = _split_cost(words, k, a, b) + (100.0 if k == 0 else 0.0)
                if strict and cost >= _UNACCEPTABLE:
                    continue
                if best is None or cost < best[0]:
                    best = (cost, [top, bottom])
        return None if best is None else best[1]
    lines = wrap(words, prefix, width)
    fits = len(lines) <= max_lines and all(
        len(line) + (prefix if i == 0 else 0) <= width for i, line in enumerate(lines)
    )
    return lines if fits else None


def wrap(words: Sequence[Word], prefix: int, width: int) -> list[str]:
    """Greedy wrap; a word longer than a line gets a line of its own, and a first word that does not fit
    after the speaker mark goes to the second line. A function word that would end a line moves down."""
    lines: list[list[Word]] = [[]]
    for word in words:
        trial = join_words([*lines[-1], word])
        over = len(trial) + (prefix if len(lines) == 1 else 0) > width
        if over and (lines[-1] or (len(lines) == 1 and prefix)):
            carry: list[Word] = []
            last = lines[-1][-1] if lines[-1] else None
            if len(lines[-1]) > 2 and last and is_function_word(last) and len(join_words([last, word])) <= width:
                carry = [lines[-1].pop()]
            lines.append(carry)
        lines[-1].append(word)
    return [join_words(line) for line in lines]
