"""Enrolling voices: one speaker's embedding from a clip of audio, or from a speaker of an earlier result.

A clip is a media file, optionally with a time range: ``talk.wav@1:05-1:42`` (seconds, ``mm:ss`` or
``h:mm:ss``).

* Without a range the speaker stage runs on the clip (the same segmentation and embedding network as at run
  time) and the clip must hold one dominant speaker: another voice talking alone for more than
  ``EnrolOptions.max_other_seconds`` and ``EnrolOptions.max_other_share`` of the speech rejects it with an
  :class:`EnrolmentError` that names the clip and suggests ``CLIP@START-END``. The dominant speaker's
  own speech is embedded.
* With a range the user vouches for one speaker: the speech WebRTC's VAD finds in the range is embedded
  (the speaker stage is not reliable on stretches of a few seconds).

The embedding is the network's embedding of that speaker's speech frames gathered into one utterance (the
same "gather" pooling the speaker stage uses), L2-normalised. It is comparable with the centroids the
speaker stage stores in :attr:`Result.embeddings` (see :mod:`diarize.voices.naming`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from diarize import __version__
from diarize.errors import ConfigError, InputError
from diarize.speakers.diarization import SpeakerModels, diarize
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, Diarization, Result
from diarize.voices.library import Enrolment, Voice, VoiceLibrary, check_voice_name
from diarize.voices.naming import check_models, result_model

__all__ = [
    "Clip",
    "EnrolOptions",
    "EnrolmentError",
    "embed_clip",
    "enrol_clips",
    "gather_voices",
    "parse_clip",
    "parse_speaker_voice",
    "parse_time",
    "voice_from_result",
]

logger = logging.getLogger(__name__)

_TIME = r"\d+(?::\d+){0,2}(?:\.\d*)?"
_RANGE = re.compile(rf"^(?P<path>.+)@(?P<start>{_TIME})-(?P<end>{_TIME})$")
_FRAME_RATE = 100  # Hz: the speech mask handed to the embedding network (its features are 10 ms frames)


class EnrolmentError(InputError):
    """A clip cannot be enrolled: several speakers, too little speech, or a range outside the clip."""


@dataclass(frozen=True)
class EnrolOptions:
    """How a clip is checked and embedded."""

    min_speech: float = 1.0
    """Fewest seconds of the speaker's speech a clip must hold; below, the embedding is too noisy to trust."""

    max_other_seconds: float = 1.0
    """A clip without a range is rejected when another speaker talks (alone) longer than this (s) ..."""

    max_other_share: float = 0.1
    """... and for more than this share of the clip's speech. Both must be exceeded: the speaker stage may
    hand a second or so of one voice to a spurious second speaker."""

    def __post_init__(self) -> None:
        if self.min_speech < 0 or self.max_other_seconds < 0 or not 0.0 <= self.max_other_share <= 1.0:
            raise ConfigError(
                "enrolment options: min_speech and max_other_seconds >= 0, max_other_share in [0, 1]"
            )


@dataclass(frozen=True)
class Clip:
    """A media file, or the ``[start, end)`` seconds of it."""

    path: Path
    start: float | None = None
    end: float | None = None

    def __str__(self) -> str:
        if self.start is None or self.end is None:
            return str(self.path)
        return f"{self.path}@{self.start:g}-{self.end:g}"


def parse_time(text: str) -> float:
    """Seconds from ``"75.5"``, ``"1:15.5"`` or ``"0:01:15.5"``; :class:`ConfigError` when malformed."""
    parts = text.strip().split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(f"invalid time {text!r}: use seconds (75.5), mm:ss (1:15.5) or h:mm:ss") from None
    if (
        len(values) > 3
        or any(v < 0 or not math.isfinite(v) for v in values)
        or any(v >= 60 for v in values[1:])
    ):
        raise ConfigError(f"invalid time {text!r}: use seconds (75.5), mm:ss (1:15.5) or h:mm:ss")
    seconds = 0.0
    for value in values:
        seconds = seconds * 60 + value
    return seconds


def parse_clip(spec: str) -> Clip:
    """``"a.wav"`` or ``"a.wav@START-END"`` → :class:`Clip`.

    A path that itself ends like a range (and exists) is taken as a path. Raises :class:`ConfigError` for a
    range that is empty or reversed.
    """
    match = _RANGE.match(spec)
    if match is None or (Path(spec).exists() and not Path(match["path"]).exists()):
        return Clip(Path(spec))
    start, end = parse_time(match["start"]), parse_time(match["end"])
    if end <= start:
        raise ConfigError(f"{spec}: the range ends before it starts; write CLIP@START-END with START < END")
    return Clip(Path(match["path"]), start, end)


def parse_speaker_voice(spec: str) -> tuple[Clip, str]:
    """``"CLIP=NAME"`` (``--speaker``) → ``(clip, name)``; the clip may carry a range."""
    clip, sep, name = spec.rpartition("=")
    if not sep or not clip.strip():
        raise ConfigError(
            f"--speaker {spec!r}: expected CLIP=NAME, e.g. alice.wav=Alice or talk.wav@0:10-0:40=Bob"
        )
    return parse_clip(clip.strip()), check_voice_name(name)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _cut(audio: Audio, clip: Clip) -> Audio:
    if clip.start is None or clip.end is None:
        return audio
    if clip.start >= audio.duration or clip.end > audio.duration + 0.05:
        raise EnrolmentError(
            f"{clip}: the range lies outside the clip ({audio.duration:.2f} s long); give a range inside it"
        )
    return replace(audio, samples=np.array(audio.slice(clip.start, clip.end), dtype=np.float32))


def _talk_times(diarization: Diarization) -> dict[str, float]:
    """Seconds each speaker talks alone (the exclusive view), largest first."""
    totals = dict.fromkeys(diarization.speakers, 0.0)
    for turn in diarization.exclusive:
        totals[turn.speaker] = totals.get(turn.speaker, 0.0) + turn.duration
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _check_single(clip: Clip, talk: Mapping[str, float], options: EnrolOptions) -> str:
    """The clip's dominant speaker; :class:`EnrolmentError` when another one talks too much."""
    speakers = list(talk)
    total = sum(talk.values())
    others = [
        s
        for s in speakers[1:]
        if talk[s] > options.max_other_seconds and talk[s] > options.max_other_share * total
    ]
    if others:
        found = ", ".join(f"{talk[s]:.1f} s" for s in speakers)
        raise EnrolmentError(
            f"{clip}: {len(speakers)} speakers found ({found} of speech), a voice needs one: "
            f"give the time range of one speaker as {clip.path}@START-END (seconds or mm:ss)"
        )
    return speakers[0]


def _speech_mask(diarization: Diarization, speaker: str | None, duration: float) -> np.ndarray:
    """``(frames,)`` booleans at 100 Hz: where ``speaker`` talks alone (``None``: where anyone talks)."""
    mask = np.zeros(max(1, math.ceil(duration * _FRAME_RATE)), dtype=bool)
    turns = diarization.exclusive if speaker is not None else diarization.turns
    for turn in turns:
        if speaker is None or turn.speaker == speaker:
            mask[int(turn.start * _FRAME_RATE) : math.ceil(turn.end * _FRAME_RATE)] = True
    return mask


def _vad_mask(audio: Audio) -> np.ndarray:
    """``(frames,)`` booleans at 100 Hz: where WebRTC's VAD finds speech."""
    from diarize.vad import VadOptions, detect_speech

    mask = np.zeros(max(1, math.ceil(audio.duration * _FRAME_RATE)), dtype=bool)
    for span in detect_speech(audio, VadOptions(speech_pad=0.1)):
        mask[int(span.start * _FRAME_RATE) : math.ceil(span.end * _FRAME_RATE)] = True
    return mask


def embed_clip(
    audio: Audio,
    clip: Clip,
    models: SpeakerModels,
    speaker_options: SpeakerOptions,
    options: EnrolOptions | None = None,
) -> tuple[np.ndarray, Enrolment]:
    """The L2-normalised embedding ``(dimension,)`` of the one speaker in ``clip`` (``audio`` is its decoded
    file), and its provenance. Raises :class:`EnrolmentError` for several speakers (without a range) or too
    little speech; ``speaker_options`` name the embedding model (speaker-count hints are ignored)."""
    options = options or EnrolOptions()
    part = _cut(audio, clip)
    if clip.start is not None:  # the user vouches for one speaker: the range's speech, found by the VAD
        speaker, found = None, 1
        mask = _vad_mask(part)
    else:
        hints_free = replace(speaker_options, num_speakers=None, min_speakers=None, max_speakers=None)
        diarization = diarize(part, hints_free, models)
        talk = _talk_times(diarization)
        speaker = _check_single(clip, talk, options) if talk else None
        found = len(talk)
        mask = _speech_mask(diarization, speaker, part.duration)
    speech = float(mask.sum()) / _FRAME_RATE
    if speech < options.min_speech:
        raise EnrolmentError(
            f"{clip}: only {speech:.1f} s of speech found, at least {options.min_speech:g} s are needed: "
            "give a longer clip or range"
        )
    with torch.inference_mode():
        from diarize.speakers.embeddings import embed

        waveform = torch.from_numpy(np.ascontiguousarray(part.samples, dtype=np.float32))
        vector = embed(models.embedding, waveform, torch.from_numpy(mask.astype(np.float32))).numpy()
    norm = float(np.linalg.norm(vector))
    if not math.isfinite(norm) or norm == 0.0:
        raise EnrolmentError(f"{clip}: no usable speech found; give a longer clip or range")
    enrolment = Enrolment(
        source=str(clip.path),
        kind="clip",
        start=clip.start,
        end=clip.end,
        speaker=speaker,
        speech=round(speech, 2),
        added=_now(),
        diarize_version=__version__,
    )
    logger.info("%s: %.1f s of speech embedded (%d speakers found)", clip, speech, found)
    return (vector / norm).astype(np.float32), enrolment


def enrol_clips(
    name: str,
    clips: Sequence[Clip],
    models: SpeakerModels,
    speaker_options: SpeakerOptions,
    options: EnrolOptions | None = None,
) -> Voice:
    """A voice called ``name`` with one embedding per clip (decoded with :func:`diarize.audio.load_audio`)."""
    from diarize.audio import load_audio

    if not clips:
        raise ConfigError(f"voice {name!r}: give at least one clip")
    rows, enrolments = [], []
    for clip in clips:
        vector, enrolment = embed_clip(load_audio(clip.path), clip, models, speaker_options, options)
        rows.append(vector)
        enrolments.append(enrolment)
    return Voice(
        name=check_voice_name(name),
        model=speaker_options.embedding_model,
        embeddings=np.stack(rows),
        enrolments=tuple(enrolments),
    )


def voice_from_result(name: str, result: Result, speaker: str, source: str) -> Voice:
    """A voice called ``name`` from ``speaker``'s stored centroid in ``result`` (read from ``source``)."""
    vector = result.embeddings.get(speaker)
    if vector is None:
        known = ", ".join(sorted(result.embeddings)) or "none"
        raise ConfigError(
            f"{source}: no embedding stored for speaker {speaker!r} (speakers with one: {known})"
        )
    vector = np.asarray(vector, dtype=np.float32)
    if vector.ndim != 1 or not np.isfinite(vector).all() or not np.any(vector):
        raise ConfigError(
            f"{source}: the embedding of {speaker!r} is empty or invalid; enrol from audio instead"
        )
    talk = sum(t.duration for t in result.turns if t.speaker == speaker)
    enrolment = Enrolment(
        source=source,
        kind="result",
        speaker=speaker,
        speech=round(talk, 2),
        added=_now(),
        diarize_version=__version__,
    )
    return Voice(
        name=check_voice_name(name),
        model=result_model(result, source),
        embeddings=vector[None],
        enrolments=(enrolment,),
    )


def gather_voices(
    library: Path | None,
    inline: Sequence[tuple[Clip, str]],
    models: SpeakerModels,
    speaker_options: SpeakerOptions,
) -> list[Voice]:
    """The voices a run names speakers with: ``library``'s (when given) and ``inline`` ones enrolled now
    (``--speaker CLIP=NAME``, not saved; they replace a library voice of the same name).

    Raises :class:`ConfigError` when the library is empty or was enrolled with another embedding model than
    ``speaker_options.embedding_model``, before any media is processed.
    """
    voices: dict[str, Voice] = {}
    if library is not None:
        stored = VoiceLibrary(library).voices()
        if not stored and not inline:
            raise ConfigError(f"no voices in {library}: enrol some with `diarize voices add NAME CLIP...`")
        check_models(stored, speaker_options.embedding_model, None, f"voice library {library}")
        voices = {v.name: v for v in stored}
    enrolled: dict[str, Voice] = {}
    for clip, name in inline:
        voice = enrol_clips(name, [clip], models, speaker_options)
        enrolled[name] = (
            enrolled[name].extended(voice.embeddings, voice.enrolments) if name in enrolled else voice
        )
    for name in enrolled:
        if name in voices:
            logger.info("voice %r: the clip given with --speaker replaces the library's", name)
    return list({**voices, **enrolled}.values())
