"""Score system outputs against references: the library behind ``diarize eval``.

Reads references (RTTM turns, optional UEM scored regions, optional STM or SegLST speaker-attributed text) and
hypotheses (diarize JSON or RTTM), matches them by file id, and scores each file with :mod:`diarize.eval.metrics`.

File ids are read as :mod:`diarize.eval.io` describes. Every hypothesis id must be in the reference (and in
the UEM / text reference when those are given): otherwise a :class:`~diarize.errors.FileIdError`. Reference
ids without a hypothesis are warnings and not scored.

Text metrics (WER, cpWER, tcpWER, WDER) need a text reference and a hypothesis with words (diarize JSON).
Both sides are normalised the same way: each reference segment's text, and each hypothesis *run* (consecutive
words of one speaker inside one segment) — so WER and WDER share one alignment, and cpWER and tcpWER see the
same words. With a UEM, only reference segments and hypothesis words whose midpoint lies in it are scored.

Reading lives in :mod:`diarize.eval.io` and rendering in :mod:`diarize.eval.report`; both are re-exported
here, so ``diarize.eval.scoring`` stays the one import for scoring.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diarize.errors import ConfigError, FileIdError, InputError
from diarize.eval.io import Hypothesis, load_hypotheses, load_rttm, load_seglst, load_stm, load_uem
from diarize.eval.metrics import (
    CpWerScore,
    DerScore,
    JerScore,
    LabelledWord,
    SpeakerCount,
    WderScore,
    WordErrors,
    cpwer,
    der,
    jer,
    speaker_count,
    tcpwer,
    wder,
    word_errors,
)
from diarize.eval.report import (
    COLLAR_CONVENTION,
    file_scores_dict,
    format_table,
    report_dict,
    report_rows,
    write_report,
)
from diarize.text import join_words
from diarize.types import Segment, Span, SpeakerTurn

__all__ = [
    "COLLAR_CONVENTION",
    "EvalOptions",
    "EvalReport",
    "FileIdError",
    "FileScores",
    "Hypothesis",
    "References",
    "evaluate",
    "evaluate_files",
    "file_scores_dict",
    "format_table",
    "load_hypotheses",
    "load_rttm",
    "load_seglst",
    "load_stm",
    "load_uem",
    "report_dict",
    "report_rows",
    "write_report",
]

logger = logging.getLogger(__name__)

NORMALIZERS = ("whisper", "basic", "none")


@dataclass(frozen=True)
class EvalOptions:
    """How ``diarize eval`` scores."""

    collars: tuple[float, ...] = (0.0, 0.5)
    """DER/JER collars in pyannote's convention (total width: ``c/2`` s each side of a reference boundary)."""
    skip_overlap: bool = False
    """Leave regions where several reference speakers overlap unscored (DER, JER)."""
    tcp_collar: float = 5.0
    """tcpWER collar (s) around hypothesis words, meeteval's convention and recommended value."""
    normalizer: str = "whisper"
    """Text normaliser for all word metrics: ``whisper`` (EnglishTextNormalizer), ``basic`` (Whisper's
    BasicTextNormalizer, any language) or ``none`` (whitespace split only)."""
    wder_substitutions: bool = False
    """Also score substituted words in WDER (Shafey et al. 2019); by default only exact hits are scored."""


@dataclass(frozen=True)
class References:
    """Reference turns per file id, with optional scored regions (UEM) and speaker-attributed text."""

    turns: Mapping[str, tuple[SpeakerTurn, ...]]
    uem: Mapping[str, tuple[Span, ...]] | None = None
    text: Mapping[str, tuple[Segment, ...]] | None = None


@dataclass(frozen=True)
class FileScores:
    """Scores of one file, or (``file_id == "TOTAL"``) the components summed over files."""

    file_id: str
    hypothesis: str
    der: tuple[DerScore, ...]
    jer: tuple[JerScore, ...]
    speakers: SpeakerCount
    wer: WordErrors | None = None
    cpwer: CpWerScore | None = None
    tcpwer: CpWerScore | None = None
    wder: WderScore | None = None


@dataclass(frozen=True)
class EvalReport:
    """Per-file scores, their total, and what was noticed on the way (unscored reference ids, …)."""

    options: EvalOptions
    files: tuple[FileScores, ...]
    total: FileScores
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------------
# Matching file ids
# ----------------------------------------------------------------------------------------------------


def _ids(ids: Iterable[str]) -> str:
    ids = sorted(ids)
    return ", ".join(ids[:8]) + (f" … ({len(ids)} in all)" if len(ids) > 8 else "")


def _match(references: References, hypotheses: Sequence[Hypothesis]) -> list[str]:
    """Raise :class:`FileIdError` for hypotheses that cannot be scored; return warnings for the rest."""
    if not hypotheses:
        raise FileIdError("no hypothesis to score")
    seen: dict[str, str] = {}
    for h in hypotheses:
        if h.file_id in seen:
            raise FileIdError(f"file id {h.file_id!r} is in both {seen[h.file_id]} and {h.path}")
        seen[h.file_id] = h.path
    required: list[tuple[str, Mapping[str, Any] | None]] = [
        ("reference RTTM", references.turns),
        ("UEM", references.uem),
    ]
    for name, table in required:
        if table is not None and (missing := set(seen) - set(table)):
            where = "; ".join(f"{i} ({seen[i]})" for i in sorted(missing))
            raise FileIdError(f"hypothesis file id(s) not in the {name}: {where}; its ids are: {_ids(table)}")
    warnings = []
    for name, table in [*required, ("text reference", references.text)]:
        if table is not None and (extra := set(table) - set(seen)):
            warnings.append(f"{name} id(s) without a hypothesis, not scored: {_ids(extra)}")
    if references.text is not None:
        with_words = {h.file_id for h in hypotheses if h.segments is not None}
        if missing := with_words - set(references.text):
            raise FileIdError(f"hypothesis file id(s) not in the text reference: {_ids(missing)}")
        if without := set(seen) - with_words:
            warnings.append(f"no words in the hypothesis (RTTM), word metrics skipped: {_ids(without)}")
    return warnings


# ----------------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------------


def _normalizer(name: str) -> Callable[[str], str]:
    if name == "none":
        return lambda text: text
    if name == "whisper":
        from whisper.normalizers import EnglishTextNormalizer

        return EnglishTextNormalizer()
    if name == "basic":
        from whisper.normalizers import BasicTextNormalizer

        return BasicTextNormalizer()
    raise ConfigError(f"unknown text normaliser {name!r}; use one of {', '.join(NORMALIZERS)}")


def _inside(uem: Sequence[Span] | None, start: float, end: float) -> bool:
    middle = (start + end) / 2
    return uem is None or any(s.start <= middle < s.end for s in uem)


def _runs(segments: Sequence[Segment], uem: Sequence[Span] | None) -> list[Segment]:
    """Hypothesis runs: consecutive words of one speaker inside one segment (a word's speaker, else its
    segment's); a segment without words is one run."""
    runs: list[Segment] = []
    for segment in segments:
        if not segment.words:
            if segment.text.strip() and _inside(uem, segment.start, segment.end):
                runs.append(Segment(segment.start, segment.end, segment.text, speaker=segment.speaker))
            continue
        words = [w for w in segment.words if _inside(uem, w.start, w.end)]
        speakers = [w.speaker if w.speaker is not None else segment.speaker for w in words]
        first = 0
        for i in range(1, len(words) + 1):
            if i == len(words) or speakers[i] != speakers[first]:
                text = join_words(words[first:i])
                runs.append(Segment(words[first].start, words[i - 1].end, text, speaker=speakers[first]))
                first = i
    return sorted(runs, key=lambda r: r.start)


def _labelled(segments: Sequence[Segment], normalize: Callable[[str], str]) -> list[LabelledWord]:
    return [(token, s.speaker) for s in segments for token in normalize(s.text).split()]


def _score_text(
    reference: Sequence[Segment],
    hypothesis: Sequence[Segment],
    uem: Sequence[Span] | None,
    options: EvalOptions,
    normalize: Callable[[str], str],
) -> dict[str, Any]:
    ref = sorted((s for s in reference if _inside(uem, s.start, s.end)), key=lambda s: (s.start, s.end))
    hyp = _runs(hypothesis, uem)
    ref_words, hyp_words = _labelled(ref, normalize), _labelled(hyp, normalize)
    return {
        "wer": word_errors([w for w, _ in ref_words], [w for w, _ in hyp_words]),
        "wder": wder(ref_words, hyp_words, include_substitutions=options.wder_substitutions),
        "cpwer": cpwer(ref, hyp, normalizer=normalize),
        "tcpwer": tcpwer(ref, hyp, collar=options.tcp_collar, normalizer=normalize),
    }


def _score_file(
    h: Hypothesis, references: References, options: EvalOptions, normalize: Callable[[str], str] | None
) -> FileScores:
    ref = references.turns[h.file_id]
    uem = references.uem[h.file_id] if references.uem is not None else None
    if uem is None:
        logger.info("%s: no UEM, scoring the extent of reference and hypothesis together", h.file_id)
    text: dict[str, Any] = {}
    if normalize is not None and references.text is not None and h.segments is not None:
        text = _score_text(references.text[h.file_id], h.segments, uem, options, normalize)
    return FileScores(
        file_id=h.file_id,
        hypothesis=h.path,
        der=tuple(der(ref, h.turns, uem, c, options.skip_overlap) for c in options.collars),
        jer=tuple(jer(ref, h.turns, uem, c, options.skip_overlap) for c in options.collars),
        speakers=speaker_count(ref, h.turns, uem),
        **text,
    )


def _sum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    total = present[0]
    for value in present[1:]:
        total = total + value
    return total


def _total(files: Sequence[FileScores]) -> FileScores:
    """Sum of components over files (rates of the total are ratios of sums, never means of rates)."""
    return FileScores(
        file_id="TOTAL",
        hypothesis="",
        der=tuple(_sum(scores) for scores in zip(*(f.der for f in files), strict=True)),
        jer=tuple(_sum(scores) for scores in zip(*(f.jer for f in files), strict=True)),
        speakers=_sum(f.speakers for f in files),
        wer=_sum(f.wer for f in files),
        cpwer=_sum(f.cpwer for f in files),
        tcpwer=_sum(f.tcpwer for f in files),
        wder=_sum(f.wder for f in files),
    )


def evaluate(
    references: References, hypotheses: Sequence[Hypothesis], options: EvalOptions | None = None
) -> EvalReport:
    """Score every hypothesis against its reference; see the module docstring for the matching rules."""
    options = options or EvalOptions()
    if not options.collars:
        raise ConfigError("give at least one collar")
    warnings = _match(references, hypotheses)
    for warning in warnings:
        logger.warning("%s", warning)
    wants_text = references.text is not None and any(h.segments is not None for h in hypotheses)
    normalize = _normalizer(options.normalizer) if wants_text else None
    files = tuple(
        _score_file(h, references, options, normalize) for h in sorted(hypotheses, key=lambda h: h.file_id)
    )
    return EvalReport(options=options, files=files, total=_total(files), warnings=tuple(warnings))


def evaluate_files(
    reference: Path,
    hypotheses: Sequence[Path],
    uem: Path | None = None,
    stm: Path | None = None,
    seglst: Path | None = None,
    options: EvalOptions | None = None,
) -> EvalReport:
    """Load the files and :func:`evaluate`; the text reference is ``stm`` or ``seglst`` (not both)."""
    if stm is not None and seglst is not None:
        raise ConfigError("give an STM or a SegLST text reference, not both")
    turns = load_rttm(Path(reference))
    if not turns:
        raise InputError(f"{reference}: no SPEAKER lines; the reference must be an RTTM file")
    text = (
        load_stm(Path(stm)) if stm is not None else load_seglst(Path(seglst)) if seglst is not None else None
    )
    references = References(turns=turns, uem=load_uem(Path(uem)) if uem is not None else None, text=text)
    return evaluate(references, load_hypotheses(hypotheses, turns), options)
