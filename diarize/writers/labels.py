"""Speaker names in outputs: renaming (``--speaker-names SPEAKER_00=Alice,...``) and display forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from diarize.errors import ConfigError
from diarize.types import Result, Segment
from diarize.writers.options import SubtitleOptions

__all__ = ["UNKNOWN_SPEAKER", "display_name", "parse_speaker_names", "rename_speakers", "rttm_safe", "speaker_prefix"]

UNKNOWN_SPEAKER = "UNKNOWN"
"""How text outputs name words that no speaker could be given."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def display_name(speaker: str | None) -> str:
    """The label shown for ``speaker``; :data:`UNKNOWN_SPEAKER` when there is none."""
    return UNKNOWN_SPEAKER if speaker is None else speaker


def speaker_prefix(speaker: str | None, options: SubtitleOptions) -> str:
    """The SRT speaker mark in front of a cue's first line (``"[NAME] "``), or ``""``."""
    return f"[{speaker}] " if options.speaker_labels != "never" and speaker is not None else ""


def rttm_safe(label: str) -> str:
    """An RTTM field has no blanks: every run of whitespace becomes one ``_`` ("Mary Ann" → "Mary_Ann")."""
    return re.sub(r"\s+", "_", label.strip()) or "<NA>"


def parse_speaker_names(spec: str) -> dict[str, str]:
    """Parse ``"SPEAKER_00=Alice,SPEAKER_01=Mary Ann"`` into a mapping; blanks around names are dropped.

    Names cannot contain ``,``. A malformed item, an empty side or a repeated label raises
    :class:`ConfigError`.
    """
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        label, sep, name = item.partition("=")
        label, name = label.strip(), name.strip()
        if not sep or not label or not name:
            raise ConfigError(f"speaker names: expected LABEL=NAME, got {item.strip()!r}")
        if label in mapping:
            raise ConfigError(f"speaker names: {label!r} is named twice")
        mapping[label] = name
    return mapping


def _check(result: Result, mapping: Mapping[str, str]) -> None:
    known = list(result.speakers)
    for label in (*(t.speaker for t in result.turns), *(w.speaker for w in result.words)):
        if label is not None and label not in known:
            known.append(label)
    for label, name in mapping.items():
        if label not in known:
            raise ConfigError(
                f"speaker names: unknown speaker label {label!r}; "
                f"the speakers are {', '.join(known) or 'none'}"
            )
        if not name.strip() or _CONTROL.search(name):
            raise ConfigError(f"speaker names: invalid name {name!r} for {label}")
    final = [mapping.get(label, label) for label in known]
    clashes = sorted({n for n in final if final.count(n) > 1})
    if clashes:
        raise ConfigError(f"speaker names: two speakers would both be called {clashes[0]!r}")


def rename_speakers(result: Result, mapping: Mapping[str, str]) -> Result:
    """A copy of ``result`` with speaker labels renamed everywhere (speakers, turns, segments, words,
    embeddings, scores); labels not in ``mapping`` stay. The mapping is recorded in the provenance under
    ``speaker_names``. An unknown label, an empty name or two speakers ending up with one name raise
    :class:`ConfigError`; ``result`` itself is not changed."""
    if not mapping:
        return result
    _check(result, mapping)

    def rn(label: str | None) -> str | None:
        return None if label is None else mapping.get(label, label)

    def segment(s: Segment) -> Segment:
        return replace(
            s, speaker=rn(s.speaker), words=tuple(replace(w, speaker=rn(w.speaker)) for w in s.words)
        )

    extra = {**result.provenance.extra, "speaker_names": dict(mapping)}
    return replace(
        result,
        speakers=tuple(mapping.get(s, s) for s in result.speakers),
        turns=tuple(replace(t, speaker=mapping.get(t.speaker, t.speaker)) for t in result.turns),
        segments=tuple(segment(s) for s in result.segments),
        provenance=replace(result.provenance, extra=extra),
        embeddings={mapping.get(k, k): v for k, v in result.embeddings.items()},
        speaker_scores={mapping.get(k, k): v for k, v in result.speaker_scores.items()},
    )
