"""Reference baselines for ``diarize bench``, run on the same decoded audio as ours, each in a child process of
its own (:mod:`diarize.bench.child`: a baseline that crashes costs only its own numbers).

- ``senko``: the senko package's own ``Diarizer`` on the CPU (silero VAD, its CAM++, spectral clustering below
  20 minutes of audio, UMAP + HDBSCAN above). Everything it loads ships inside the senko and silero-vad
  packages; hub access is switched off anyway. It is built with ``warmup=False``: senko's own warm-up
  clusters 4,250 random embeddings with UMAP + HDBSCAN, JIT-compiling numba for minutes, for the code path it
  takes only above 20 minutes; the bench warms it up on a real excerpt instead, like ours.
- ``pyannote``: pyannote.audio's own ``SpeakerDiarization`` pipeline class at its stock settings, on our models
  (segmentation-3.0 and CAM++, on the runtime our speaker stage uses). pyannote's speaker-diarization-3.1
  recipe: a window every 10 % of its length (1 s), embeddings from the frames where a speaker talks alone,
  batches of 32, centroid-linkage agglomerative clustering with clusters of fewer than 12 embeddings merged
  away, gaps inside a speaker's speech kept; its threshold is ours for CAM++ (:func:`pyannote_threshold`: 3.1's
  own was tuned for another embedding). pyannote's per-window embedding path runs (none of our shortcuts
  of :mod:`diarize.speakers.pyannote`), so the ratio to our speaker stage measures what ours changes on the
  same networks. Its turns are cut at the end of the audio (the zero-padded last window can reach past it).
- ``faster-whisper`` and ``openai-whisper``: the model's own ``transcribe`` on the whole recording, without
  voice activity detection, word timestamps on, with the pipeline's model and decoding settings (beam,
  temperatures, thresholds, conditioning), so that the ratio to our VAD + ASR stages measures what VAD and
  window packing change, not a different decoder. faster-whisper uses the pipeline's compute type;
  openai-whisper runs float32 PyTorch.

Each baseline keeps PyTorch at the bench's thread count while it runs.
A reference RTTM next to a media file (same stem, ``.rttm``, optional ``.uem``) lets the bench score ours and
each diarization baseline with :func:`diarize.eval.metrics.der`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from diarize.asr.options import AsrOptions
from diarize.errors import ConfigError, InputError, ModelError
from diarize.eval.metrics import DerScore, der
from diarize.speakers.options import DEFAULT_THRESHOLDS, SpeakerOptions
from diarize.types import Audio, Span, SpeakerTurn

__all__ = [
    "BASELINES",
    "DIARIZERS",
    "Baseline",
    "BaselineOutput",
    "Reference",
    "der_scores",
    "load_baseline",
    "pyannote_threshold",
    "reference_for",
]

logger = logging.getLogger(__name__)

BASELINES: Mapping[str, str] = {
    "senko": "speakers",
    "pyannote": "speakers",
    "faster-whisper": "asr",
    "openai-whisper": "asr",
}
"""Each baseline and the stage of ours it stands beside (``asr`` compares with our VAD + ASR)."""

DIARIZERS: tuple[str, ...] = tuple(name for name, stage in BASELINES.items() if stage == "speakers")
"""The baselines whose speaker turns are scored against a reference, in :data:`BASELINES` order."""

_LANGUAGE_WINDOW = 30.0  # s: Whisper detects the language on its first input window


@dataclass(frozen=True)
class BaselineOutput:
    """What a baseline produced on one recording."""

    turns: tuple[SpeakerTurn, ...] = ()
    """Speaker turns (diarization baselines)."""

    detail: Mapping[str, Any] = field(default_factory=dict)
    """Counts and the baseline's own step timings, for the report."""


class Baseline(Protocol):
    """A reference implementation, loaded, that runs on decoded audio."""

    name: str

    def run(self, audio: Audio) -> BaselineOutput: ...


class SenkoBaseline:
    """senko's ``Diarizer`` on the CPU."""

    name = "senko"

    def __init__(self, threads: int) -> None:
        from diarize.models.offline import offline_environment, quiet_imports
        from diarize.models.threads import torch_threads

        offline_environment()
        self.threads = threads
        with torch_threads(threads), quiet_imports():  # senko sets torch's threads to os.cpu_count()
            try:
                import senko
            except ImportError as exc:
                raise ModelError("the senko baseline needs senko: run `pip install senko==0.2.2`") from exc
            self._diarizer = senko.Diarizer(
                device="cpu", vad="silero", clustering="cpu", warmup=False, quiet=True
            )
        self._diarizer.logical_cores = threads  # the count senko restores after its one-thread VAD

    def run(self, audio: Audio) -> BaselineOutput:
        from diarize.models.threads import torch_threads

        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)  # shape: (num_samples,)
        with torch_threads(self.threads):
            out = self._diarizer.diarize_samples(samples, sample_rate=audio.sample_rate)
        if out is None:  # senko found no speech
            return BaselineOutput(detail={"speakers": 0})
        turns = tuple(
            SpeakerTurn(float(s["start"]), float(s["end"]), str(s["speaker"]))
            for s in out["merged_segments"]
            if s["end"] > s["start"]
        )
        steps = {k.removesuffix("_time"): float(v) for k, v in out["timing_stats"].items()}
        speakers = len({t.speaker for t in turns})
        return BaselineOutput(turns=turns, detail={"speakers": speakers, "steps_s": steps})


_PYANNOTE_RECIPE: Mapping[str, Any] = {
    "segmentation_step": 0.1,  # of the window: one every second
    "embedding_exclude_overlap": True,
    "clustering": "AgglomerativeClustering",
    "embedding_batch_size": 32,
    "segmentation_batch_size": 32,
}
"""pyannote's speaker-diarization-3.1 pipeline settings (its ``config.yaml``), less the models."""

_PYANNOTE_MIN_CLUSTER_SIZE = 12
"""speaker-diarization-3.1's ``min_cluster_size`` (pyannote lowers it to 10 % of the embeddings on short files)."""


def pyannote_threshold(options: SpeakerOptions) -> float:
    """The clustering threshold of the ``pyannote`` baseline: the threshold of our pipeline when it clusters
    CAM++ agglomeratively itself, else our measured agglomerative default for CAM++ (:data:`DEFAULT_THRESHOLDS`).

    speaker-diarization-3.1's own threshold, 0.7046, was tuned for its WeSpeaker ResNet34 embeddings, not for
    CAM++; both are Euclidean distances between centroids of unit embeddings.
    """
    if options.embedding_model == "campplus" and options.clustering_method == "agglomerative":
        return options.cluster_threshold
    return DEFAULT_THRESHOLDS[("campplus", "agglomerative")]


class PyannoteBaseline:
    """pyannote.audio's own ``SpeakerDiarization`` at speaker-diarization-3.1's settings, on our models.

    ``segmentation`` is our segmentation-3.0 and ``embedding`` our CAM++ as a pyannote ``Model``
    (:func:`diarize.speakers.embeddings.speaker_embedding`); ``threshold`` is :func:`pyannote_threshold`'s. The
    plain pyannote class runs, not our subclass, so pyannote's own per-window embedding path is timed. pyannote
    4 insists on a PLDA even for agglomerative clustering, which never uses it: it gets the stand-in
    :func:`~diarize.speakers.pyannote.identity_plda`.
    """

    name = "pyannote"

    def __init__(self, segmentation: Any, embedding: Any, threshold: float, threads: int) -> None:
        from diarize.models.offline import offline_environment, quiet_imports

        offline_environment()
        self.threads = threads
        with quiet_imports():
            from pyannote.audio.pipelines import SpeakerDiarization

            from diarize.speakers.pyannote import identity_plda

            self.pipeline = SpeakerDiarization(
                segmentation=segmentation, embedding=embedding, plda=identity_plda(embedding.dimension),
                **_PYANNOTE_RECIPE,
            )
        self.pipeline.instantiate(
            {
                "segmentation": {"min_duration_off": 0.0},
                "clustering": {
                    "method": "centroid", "min_cluster_size": _PYANNOTE_MIN_CLUSTER_SIZE, "threshold": threshold,
                },
            }
        )

    def run(self, audio: Audio) -> BaselineOutput:
        from pyannote.audio.pipelines.speaker_diarization import DiarizeOutput

        from diarize.models.offline import offline_environment
        from diarize.models.threads import torch_threads
        from diarize.speakers.diarization import waveform_tensor

        file = {"waveform": waveform_tensor(audio), "sample_rate": audio.sample_rate}
        offline_environment()  # pyannote reads its telemetry switch on every run
        with torch_threads(self.threads):
            output = self.pipeline(file)
        if not isinstance(output, DiarizeOutput):  # pyannote 3, or 4 built with legacy=True: an Annotation
            raise ModelError(f"pyannote.audio returned a {type(output).__name__}, not pyannote.audio 4's DiarizeOutput")
        turns = []  # from its overlap-aware diarization
        for segment, _, label in output.speaker_diarization.itertracks(yield_label=True):
            end = min(float(segment.end), audio.duration)
            if end > segment.start:
                turns.append(SpeakerTurn(float(segment.start), end, str(label)))
        return BaselineOutput(turns=tuple(turns), detail={"speakers": len({t.speaker for t in turns})})


class WhisperBaseline:
    """A Whisper model's own ``transcribe`` on the whole recording (no VAD), word timestamps on."""

    def __init__(self, name: str, backend: str, model: Any, options: AsrOptions, threads: int) -> None:
        from diarize.asr.backends import make_backend
        from diarize.asr.transcription import decode_settings

        self.name = name
        self.threads = threads
        self.language = options.language
        # the model's own transcribe, without our cap on tokens per pass and our stop at a run-away loop
        self._backend = make_backend(backend, model, dataclasses.replace(decode_settings(options), loop_guard=False))
        if self.language is None and not self._backend.multilingual:
            self.language = "en"

    def run(self, audio: Audio) -> BaselineOutput:
        from diarize.models.threads import torch_threads

        samples = np.ascontiguousarray(audio.samples, dtype=np.float32)  # shape: (num_samples,)
        with torch_threads(self.threads):
            language = self.language
            if language is None:
                first = samples[: round(_LANGUAGE_WINDOW * audio.sample_rate)]
                language, _ = self._backend.detect_language(first)
            segments = self._backend.decode(samples, language)
        words = sum(len(s.words) for s in segments)
        return BaselineOutput(detail={"words": words, "segments": len(segments), "language": language})


def load_baseline(name: str, asr: AsrOptions, speakers: SpeakerOptions, cache: Any, threads: int) -> Baseline:
    """Load baseline ``name`` (:data:`BASELINES`) from ``cache``, with ``threads`` CPU threads. Whisper baselines
    use ``asr``'s model size and settings (faster-whisper its compute type); ``pyannote`` runs our models on
    ``speakers``' runtime, with :func:`pyannote_threshold`."""
    if name == "senko":
        return SenkoBaseline(threads)
    if name == "pyannote":
        from diarize.speakers.embeddings import speaker_embedding

        segmentation = cache.segmentation(speakers.runtime)
        # items of a batch embedded side by side, one thread each, as our stage does with its cores
        embedding = speaker_embedding(cache.campplus(speakers.runtime), "campplus", workers=threads)
        return PyannoteBaseline(segmentation, embedding, pyannote_threshold(speakers), threads)
    if name == "faster-whisper":
        model = cache.faster_whisper(asr.model_size, asr.compute_type, threads)
        return WhisperBaseline(name, "faster", model, asr, threads)
    if name == "openai-whisper":
        from diarize.asr.backends import warm_up_openai

        model = cache.openai_whisper(asr.model_size)
        warm_up_openai()
        return WhisperBaseline(name, "openai", model, asr, threads)
    raise ConfigError(f"unknown baseline {name!r}: use one of {', '.join(BASELINES)}")


# ----------------------------------------------------------------------------------------------------
# Reference diarization next to a media file
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A file's reference speaker turns and scored regions."""

    rttm: Path
    turns: tuple[SpeakerTurn, ...]
    uem: tuple[Span, ...] | None = None


def _one_id(table: Mapping[str, Any], stem: str, path: Path) -> Any:
    if stem in table:
        return table[stem]
    if len(table) == 1:
        return next(iter(table.values()))
    raise InputError(f"{path}: holds several file ids ({', '.join(sorted(table))}) and none is {stem!r}")


def reference_for(media: Path) -> Reference | None:
    """The reference next to ``media`` (``<stem>.rttm`` and, if present, ``<stem>.uem``), or ``None``."""
    from diarize.eval.io import load_rttm, load_uem

    media = Path(media)
    rttm, uem = media.with_suffix(".rttm"), media.with_suffix(".uem")
    if not rttm.is_file():
        return None
    turns = load_rttm(rttm)
    if not turns:
        raise InputError(f"{rttm}: no SPEAKER lines; a reference must be an RTTM file")
    regions = _one_id(load_uem(uem), media.stem, uem) if uem.is_file() else None
    return Reference(rttm=rttm, turns=_one_id(turns, media.stem, rttm), uem=regions)


def der_scores(
    reference: Reference, hypothesis: Sequence[SpeakerTurn], collars: Sequence[float]
) -> list[DerScore]:
    """DER components of ``hypothesis`` at each collar (pyannote's convention, overlap scored)."""
    return [der(reference.turns, hypothesis, reference.uem, collar) for collar in collars]
