"""Split channels: each channel of a recording is its own party, transcribed on its own (rules 4–9 of
:mod:`diarize.channels`).

Every channel goes, after cross-talk suppression (:mod:`diarize.channels.bleed`), through VAD and ASR (and,
with ``channels.diarize``, the speaker stage); its words are attributed to the channel's speaker, and the
channels' sentences, turns and speakers are merged into one attribution on the recording's timeline.
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from diarize.asr.language import label_languages
from diarize.asr.options import AsrOptions
from diarize.asr.transcription import transcribe
from diarize.assign import AssignOptions, Attribution, AttributionStats, attribute, overlap_regions
from diarize.channels.bleed import suppress_bleed
from diarize.channels.options import ChannelOptions
from diarize.hooks import Hook
from diarize.profiling import Meter
from diarize.spans import merge_spans
from diarize.speakers.diarization import SpeakerModels, diarize
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, Diarization, Segment, Span, SpeakerTurn, Transcript, Word
from diarize.vad import detect_speech

if TYPE_CHECKING:
    from diarize.config import PipelineConfig

__all__ = [
    "ChannelRun",
    "StageModels",
    "channel_label",
    "merge_channels",
    "on_channel",
    "split_channels",
    "without_bleed",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageModels:
    """The loaded models each channel runs through, with the options they run with."""

    asr: Any
    asr_options: AsrOptions
    speakers: SpeakerModels
    speaker_options: SpeakerOptions


@dataclass(frozen=True)
class ChannelRun:
    """What the channels gave together: every channel's speech spans, the channels' ASR segments (each with its
    ``channel``) in time order with the language of the channel that said most, and the merged attribution."""

    spans: tuple[Span, ...]
    transcript: Transcript
    attribution: Attribution


def channel_label(channel: int) -> str:
    """Rule 5: the speaker of channel ``channel`` (``CH0``, ``CH1``, …)."""
    return f"CH{channel}"


def without_bleed(channels: Sequence[Audio], options: ChannelOptions) -> tuple[Audio, ...]:
    """Rules 1–3: each channel with the other parties' cross-talk silenced (all cut to the shortest)."""
    if len(channels) < 2:
        return tuple(channels)
    length = min(len(a.samples) for a in channels)
    signals = [a.samples[:length] for a in channels]  # views: the channels are not copied
    cleaned = suppress_bleed(signals, channels[0].sample_rate, options.frame, options.within_db)
    return tuple(replace(a, samples=cleaned[c]) for c, a in enumerate(channels))


def split_channels(
    channels: Sequence[Audio], config: PipelineConfig, models: StageModels, hook: Hook, meter: Meter
) -> ChannelRun:
    """Transcribe and attribute every channel of one recording on its own and merge them (rules 1–9)."""
    with meter.stage("channels"):
        cleaned = without_bleed(channels, config.channels)
    parts = [_one_channel(c, audio, config, models, hook, meter) for c, audio in enumerate(cleaned)]
    spans = tuple(s for part in parts for s in part[0])
    asr_segments = sorted((s for part in parts for s in part[1].segments), key=_order)
    talker = max(parts, key=lambda part: len(part[1].words))[1]
    transcript = Transcript(tuple(asr_segments), talker.language, talker.language_probability)
    return ChannelRun(spans, transcript, merge_channels([part[2] for part in parts], config.assign))


def _one_channel(
    channel: int, audio: Audio, config: PipelineConfig, models: StageModels, hook: Hook, meter: Meter
) -> tuple[list[Span], Transcript, Attribution]:
    """Rules 4–6 for one channel: its speech, its transcript (segments tagged with the channel), its
    attribution (speakers labelled with the channel)."""
    hook("vad", 0, 1)
    with meter.stage("vad"):
        spans = detect_speech(audio, config.vad)
    hook("vad", 1, 1)
    with meter.stage("asr"):
        transcript = transcribe(audio, spans, models.asr, models.asr_options, hook)
    transcript = replace(transcript, segments=tuple(replace(s, channel=channel) for s in transcript.segments))
    label = channel_label(channel)
    if config.channels.diarize:
        with meter.stage("speakers"):
            diarization = diarize(audio, models.speaker_options, models.speakers, hook)
    else:
        diarization = _word_turns(transcript, label, config.assign.sentence_pause)
    with meter.stage("assign"):
        attribution = attribute(transcript, diarization, config.assign)
        attribution = replace(attribution, segments=label_languages(attribution.segments, transcript.segments))
    if config.channels.diarize:
        attribution = _relabel(attribution, f"{label}_")
    logger.info("channel %d: %d words, %d speaker(s)", channel, len(transcript.words),
                len(attribution.diarization.speakers))
    return spans, transcript, on_channel(attribution, channel)


def _word_turns(transcript: Transcript, label: str, pause: float) -> Diarization:
    """Rule 5: one speaker, ``label``, talking in every run of the channel's words without a pause of
    ``pause`` or more (a segment without word timings counts as one word)."""
    times = [(w.start, w.end) for w in transcript.words]
    times += [(s.start, s.end) for s in transcript.segments if not s.words]
    turns = tuple(SpeakerTurn(start, end, label) for start, end in merge_spans(times, gap=pause) if end > start)
    return Diarization(turns=turns, exclusive=turns, speakers=(label,) if turns else ())


def _relabel(attribution: Attribution, prefix: str) -> Attribution:
    """Rule 6: every speaker of a channel's own diarization named with the channel (``CH1_SPEAKER_00``)."""

    def name(speaker: str | None) -> str | None:
        return None if speaker is None else prefix + speaker

    segments = tuple(
        replace(s, speaker=name(s.speaker), words=tuple(replace(w, speaker=name(w.speaker)) for w in s.words))
        for s in attribution.segments
    )
    d = attribution.diarization
    diarization = replace(
        d,
        turns=tuple(replace(t, speaker=prefix + t.speaker) for t in d.turns),
        exclusive=tuple(replace(t, speaker=prefix + t.speaker) for t in d.exclusive),
        speakers=tuple(prefix + s for s in d.speakers),
        centroids={prefix + k: v for k, v in d.centroids.items()},
        activity=None,
    )
    return replace(attribution, segments=segments, diarization=diarization)


def on_channel(attribution: Attribution, channel: int | None) -> Attribution:
    """``attribution`` with every segment and turn marked as heard on ``channel`` (unchanged for ``None``)."""
    if channel is None:
        return attribution
    d = attribution.diarization
    diarization = replace(
        d,
        turns=tuple(replace(t, channel=channel) for t in d.turns),
        exclusive=tuple(replace(t, channel=channel) for t in d.exclusive),
    )
    segments = tuple(replace(s, channel=channel) for s in attribution.segments)
    return replace(attribution, segments=segments, diarization=diarization)


def merge_channels(parts: Sequence[Attribution], options: AssignOptions) -> Attribution:
    """Rules 7–8: the channels' attributions as one (``parts[c]`` is channel ``c``'s, its segments and turns
    marked with it by :func:`on_channel`), sentences in time order, overlap marked across channels."""
    turns = tuple(sorted((t for p in parts for t in p.diarization.turns), key=_order))
    regions = overlap_regions(turns)
    segments = tuple(
        replace(s, words=tuple(_marked(w, regions, options.overlap_fraction) for w in s.words))
        for s in sorted((s for p in parts for s in p.segments), key=_order)
    )
    notes = [f"{channel_label(c)}: {p.diarization.note}" for c, p in enumerate(parts) if p.diarization.note]
    diarization = Diarization(
        turns=turns,
        exclusive=turns,  # each channel's own view; the channels' speakers may talk at once
        speakers=tuple(s for p in parts for s in p.diarization.speakers),
        centroids={k: v for p in parts for k, v in p.diarization.centroids.items()},
        embedding_model=next((p.diarization.embedding_model for p in parts if p.diarization.centroids), ""),
        note="; ".join(notes),
    )
    counts = {f.name: sum(getattr(p.stats, f.name) for p in parts) for f in dataclasses.fields(AttributionStats)}
    counts["overlap"] = sum(w.overlap for s in segments for w in s.words)
    return Attribution(segments=segments, diarization=diarization, stats=AttributionStats(**counts))


def _order(item: Segment | SpeakerTurn) -> tuple[float, int]:
    return item.start, -1 if item.channel is None else item.channel


def _marked(word: Word, regions: Sequence[Span], fraction: float) -> Word:
    """Rule 8: ``word`` marked ``overlap`` when at least ``fraction`` of it (a zero-length word: its instant)
    lies where speakers of different channels talk at once, unmarked otherwise."""
    first = max(0, bisect.bisect_right(regions, word.start, key=lambda r: r.start) - 1)
    if word.end <= word.start:
        overlap = any(r.start <= word.start < r.end for r in regions[first : first + 1])
    else:
        shared = 0.0
        for region in regions[first:]:
            if region.start >= word.end:
                break
            shared += max(0.0, min(region.end, word.end) - max(region.start, word.start))
        overlap = shared >= fraction * (word.end - word.start)
    return word if word.overlap == overlap else replace(word, overlap=overlap)
