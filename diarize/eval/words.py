"""Word metrics: WER and WDER (jiwer alignment), cpWER and tcpWER (meeteval).

- **WER** is Levenshtein word error over whitespace tokens (``jiwer``), after an optional text normaliser
  (Whisper's ``EnglishTextNormalizer`` by default in :mod:`diarize.eval.scoring`).
- **cpWER** and **tcpWER** come from ``meeteval``.
- **WDER** (word diarization error rate) is computed here: see :func:`wder`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from diarize.eval.scores import CpWerScore, LabelledWord, WderScore, WordErrors
from diarize.types import Segment

__all__ = ["Normalizer", "cpwer", "tcpwer", "wder", "word_errors"]

Normalizer = Callable[[str], str]
"""A text normaliser applied to each segment's text before scoring."""


# ----------------------------------------------------------------------------------------------------
# Words: WER, WDER (jiwer alignment)
# ----------------------------------------------------------------------------------------------------


def _alignment(reference: Sequence[str], hypothesis: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """Levenshtein alignment chunks ``(kind, ref_start, ref_end, hyp_start, hyp_end)`` from jiwer."""
    if not reference or not hypothesis:
        chunks = []
        if reference:
            chunks.append(("delete", 0, len(reference), 0, 0))
        if hypothesis:
            chunks.append(("insert", 0, 0, 0, len(hypothesis)))
        return chunks
    import jiwer

    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
    return [
        (c.type, c.ref_start_idx, c.ref_end_idx, c.hyp_start_idx, c.hyp_end_idx) for c in out.alignments[0]
    ]


def _check_tokens(words: Iterable[str]) -> None:
    for word in words:
        if not word or word.split() != [word]:
            raise ValueError(f"words must be non-empty and free of whitespace, got {word!r}")


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> WordErrors:
    """Word alignment counts of two token sequences (already normalised and split)."""
    _check_tokens(reference)
    _check_tokens(hypothesis)
    counts = {"equal": 0, "substitute": 0, "delete": 0, "insert": 0}
    for kind, r0, r1, h0, h1 in _alignment(reference, hypothesis):
        counts[kind] += max(r1 - r0, h1 - h0)
    return WordErrors(
        reference_words=len(reference),
        hits=counts["equal"],
        substitutions=counts["substitute"],
        deletions=counts["delete"],
        insertions=counts["insert"],
    )


def _optimal_mapping(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """One-to-one hypothesis -> reference speaker mapping that maximises the number of agreeing pairs."""
    from scipy.optimize import linear_sum_assignment

    refs = sorted({r for r, _ in pairs})
    hyps = sorted({h for _, h in pairs})
    counts = np.zeros((len(refs), len(hyps)))  # shape: (num_ref_speakers, num_hyp_speakers)
    for r, h in pairs:
        counts[refs.index(r), hyps.index(h)] += 1
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return {hyps[c]: refs[r] for r, c in zip(rows, cols, strict=True) if counts[r, c] > 0}


def wder(
    reference: Sequence[LabelledWord], hypothesis: Sequence[LabelledWord], include_substitutions: bool = False
) -> WderScore:
    """Word diarization error rate of one file.

    The reference and hypothesis words (in time order, normalised, one token each) are aligned with the
    Levenshtein alignment used for WER. Scored are the aligned pairs — hits only by default; with
    ``include_substitutions`` also substituted words, as in Shafey et al. (2019) — whose reference word has
    a speaker (a reference word without a speaker cannot be judged and is left out). Hypothesis speakers are
    then mapped one-to-one onto reference speakers with the Hungarian algorithm, maximising the number of
    scored words whose speakers agree (so WDER is the lowest over all one-to-one mappings). A scored word is
    wrong when its hypothesised speaker is missing, unmapped, or mapped to another reference speaker.
    Deleted and inserted words are WER's business and never count here.
    """
    ref_words = [w for w, _ in reference]
    hyp_words = [w for w, _ in hypothesis]
    _check_tokens(ref_words)
    _check_tokens(hyp_words)
    kinds = ("equal", "substitute") if include_substitutions else ("equal",)
    pairs: list[tuple[str, str | None]] = []
    for kind, r0, r1, h0, h1 in _alignment(ref_words, hyp_words):
        if kind in kinds:
            for i, j in zip(range(r0, r1), range(h0, h1), strict=True):
                ref_speaker = reference[i][1]
                if ref_speaker is not None:
                    pairs.append((ref_speaker, hypothesis[j][1]))
    mapping = _optimal_mapping([(r, h) for r, h in pairs if h is not None])
    wrong = sum(1 for r, h in pairs if h is None or mapping.get(h) != r)
    return WderScore(scored=len(pairs), wrong=wrong, mapping=mapping)


# ----------------------------------------------------------------------------------------------------
# Speaker-attributed words: cpWER, tcpWER (meeteval)
# ----------------------------------------------------------------------------------------------------


def _normalised(segments: Sequence[Segment], normalizer: Normalizer | None) -> list[tuple[Segment, str]]:
    """Each segment with its normalised, whitespace-collapsed text."""
    out = []
    for s in segments:
        text = normalizer(s.text) if normalizer is not None else s.text
        out.append((s, " ".join(text.split())))
    return out


def _seglst(segments: list[tuple[Segment, str]]) -> Any:
    from meeteval.io import SegLST

    return SegLST(
        [
            {
                "session_id": "f",
                "speaker": s.speaker if s.speaker is not None else "<none>",
                "start_time": s.start,
                "end_time": s.end,
                "words": text,
            }
            for s, text in segments
        ]
    )


def _one_side_empty(
    reference: list[tuple[Segment, str]], hypothesis: list[tuple[Segment, str]]
) -> CpWerScore:
    """cpWER when one side has no words (meeteval refuses it): everything is deleted or inserted."""

    def speakers(segments: list[tuple[Segment, str]]) -> int:
        return len({s.speaker for s, text in segments if text})

    n_ref = sum(len(text.split()) for _, text in reference)
    n_hyp = sum(len(text.split()) for _, text in hypothesis)
    return CpWerScore(
        reference_words=n_ref,
        deletions=n_ref,
        insertions=n_hyp,
        missed_speakers=speakers(reference),
        falarm_speakers=speakers(hypothesis),
        scored_speakers=speakers(reference),
    )


def _has_words(segments: list[tuple[Segment, str]]) -> bool:
    return any(text for _, text in segments)


def _cp_score(result: Any) -> CpWerScore:
    return CpWerScore(
        reference_words=int(result.length),
        hits=int(result.length - result.substitutions - result.deletions),
        substitutions=int(result.substitutions),
        deletions=int(result.deletions),
        insertions=int(result.insertions),
        missed_speakers=int(result.missed_speaker),
        falarm_speakers=int(result.falarm_speaker),
        scored_speakers=int(result.scored_speaker),
        assignment=tuple(tuple(pair) for pair in (result.assignment or ())),
    )


def cpwer(
    reference: Sequence[Segment], hypothesis: Sequence[Segment], normalizer: Normalizer | None = None
) -> CpWerScore:
    """Concatenated minimum-permutation WER of one file (``meeteval.wer.cpwer``).

    ``reference`` and ``hypothesis`` are speaker-attributed text segments (``Segment.speaker``,
    ``Segment.text``; a segment without a speaker counts as speaker ``"<none>"``). ``normalizer`` is applied
    to each segment's text before scoring.
    """
    ref, hyp = _normalised(reference, normalizer), _normalised(hypothesis, normalizer)
    if not (_has_words(ref) and _has_words(hyp)):
        return _one_side_empty(ref, hyp)
    import meeteval

    return _cp_score(meeteval.wer.cpwer(_seglst(ref), _seglst(hyp))["f"])


def tcpwer(
    reference: Sequence[Segment],
    hypothesis: Sequence[Segment],
    collar: float = 5.0,
    normalizer: Normalizer | None = None,
) -> CpWerScore:
    """Time-constrained cpWER of one file (``meeteval.wer.tcpwer``).

    A hypothesis word may only match a reference word when their times overlap once the hypothesis word is
    widened by ``collar`` seconds on each side (meeteval's convention; it recommends 5 s). Word times inside a
    segment are meeteval's defaults: character-based pseudo-timings for the reference, character-based points
    for the hypothesis.
    """
    ref, hyp = _normalised(reference, normalizer), _normalised(hypothesis, normalizer)
    if not (_has_words(ref) and _has_words(hyp)):
        return _one_side_empty(ref, hyp)
    import meeteval

    return _cp_score(meeteval.wer.tcpwer(_seglst(ref), _seglst(hyp), collar=collar)["f"])
