"""The pipeline: decode → VAD → ASR ∥ speakers → word attribution, for one media file at a time.

Models are loaded once per process by :class:`Models` and reused for every file. Transcription and the speaker
stage do not depend on each other; with ``config.parallel`` they run side by side, one core each, which on a
two-core machine beats running them one after the other with two threads each (CTranslate2 and PyTorch both
scale poorly from one thread to two on these models; see the README's measurements).

Progress goes through ``hook(stage, completed, total)``; the CLI turns it into a progress bar. Stopping: a run
given a ``cancel`` event raises :class:`~diarize.cli.progress.Cancelled` at the first progress report (every ASR
window, every segmentation and embedding batch) or stage boundary after the event is set; a stage that fails
stops the other one the same way, so that no thread goes on working for a result nobody will read.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from diarize.asr.options import AsrOptions
from diarize.asr.transcription import transcribe, warm_up
from diarize.assign import attribute
from diarize.audio import load_audio
from diarize.cli.progress import Cancelled
from diarize.config import PipelineConfig, load_pipeline
from diarize.frames import FrameOptions, align, with_frames
from diarize.hooks import Hook, no_hook
from diarize.models.cache import ModelCache
from diarize.profiling import Meter
from diarize.speakers.diarization import SpeakerModels, diarize
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, Diarization, Provenance, Result, Transcript, VideoInfo
from diarize.vad import detect_speech
from diarize.versions import versions

__all__ = ["Cancelled", "Hook", "Models", "run"]

logger = logging.getLogger(__name__)


class Models:
    """The models a pipeline needs, loaded on first use and kept for the life of the process."""

    def __init__(self, cache: ModelCache | None = None) -> None:
        self.cache = cache or ModelCache()
        self._lock = threading.Lock()

    def asr(self, options: AsrOptions) -> Any:
        """The Whisper model ``options`` ask for (faster-whisper or openai-whisper), warmed up."""
        with self._lock:
            if options.backend == "faster":
                model = self.cache.faster_whisper(options.model_size, options.compute_type, options.cpu_threads)
            else:
                model = self.cache.openai_whisper(options.model_size)
            warm_up(model, options)
            return model

    def speakers(self, options: SpeakerOptions) -> SpeakerModels:
        with self._lock:
            embedding = self.cache.campplus() if options.embedding_model == "campplus" else self.cache.ge2e()
            return SpeakerModels(segmentation=self.cache.segmentation(), embedding=embedding)

    def load(self, config: PipelineConfig) -> None:
        """Load everything ``config`` needs now (so that per-file timings exclude model loading)."""
        self.asr(_stage_options(config)[0])
        self.speakers(_stage_options(config)[1])

    @staticmethod
    def names(config: PipelineConfig) -> dict[str, str]:
        asr = config.asr
        asr_name = f"whisper-{asr.model_size}" + ("-openai" if asr.backend == "openai" else "")
        return {
            "asr": f"{asr_name} ({asr.backend}, {asr.compute_type if asr.backend == 'faster' else 'float32'})",
            "segmentation": "segmentation-3.0",
            "embedding": config.speakers.embedding_model,
        }


def _stage_options(config: PipelineConfig) -> tuple[AsrOptions, SpeakerOptions]:
    """The ASR and speaker options as run: one thread each when the two stages run side by side."""
    if not _runs_parallel(config):
        return config.asr, config.speakers
    return (
        dataclasses.replace(config.asr, cpu_threads=1),
        dataclasses.replace(config.speakers, num_threads=1),
    )


def _runs_parallel(config: PipelineConfig) -> bool:
    # openai-whisper runs on PyTorch, whose thread count is process-wide: it cannot share with the speaker stage.
    return config.parallel and config.asr.backend == "faster"


class _Stop:
    """Stops the stages of one run: the caller's ``cancel`` event, or a stage that failed."""

    def __init__(self, cancel: threading.Event | None) -> None:
        self.cancel = cancel
        self.failed = threading.Event()

    def check(self) -> None:
        if self.failed.is_set() or (self.cancel is not None and self.cancel.is_set()):
            raise Cancelled()

    def guard(self, hook: Hook) -> Hook:
        """``hook`` that first raises :class:`Cancelled` when the run must stop."""

        def guarded(stage: str, completed: int, total: int) -> None:
            self.check()
            hook(stage, completed, total)

        return guarded


def run(
    media: str | Path | Audio,
    config: PipelineConfig | None = None,
    *,
    models: Models | None = None,
    hook: Hook | None = None,
    meter: Meter | None = None,
    cancel: threading.Event | None = None,
) -> Result:
    """Transcribe ``media`` and attribute every word to a speaker.

    ``media`` is a path (decoded here) or already decoded :class:`Audio`. Raises
    :class:`~diarize.errors.MediaError` for unusable input, :class:`~diarize.errors.ConfigError` for options
    that contradict each other, and :class:`Cancelled` soon after ``cancel`` is set (no stage thread is left
    running when it returns).
    """
    config = config or load_pipeline()
    models = models or Models()
    meter = meter or Meter()
    stop = _Stop(cancel)
    hook = stop.guard(hook or no_hook)
    asr_options, speaker_options = _stage_options(config)
    with meter.stage("load_models"):
        asr_model = models.asr(asr_options)
        stop.check()
        speaker_models = models.speakers(speaker_options)
    stop.check()
    audio = media if isinstance(media, Audio) else _decode(Path(media), hook, meter)
    hook("vad", 0, 1)
    with meter.stage("vad"):
        spans = detect_speech(audio, config.vad)
    hook("vad", 1, 1)

    def asr_stage() -> Transcript:
        with meter.stage("asr"):
            return transcribe(audio, spans, asr_model, asr_options, hook)

    def speaker_stage() -> Diarization:
        with meter.stage("speakers"):
            return diarize(audio, speaker_options, speaker_models, hook)

    if _runs_parallel(config):
        transcript, diarization = _side_by_side(asr_stage, speaker_stage, stop)
    else:
        transcript = asr_stage()
        diarization = speaker_stage()

    hook("assign", 0, 1)
    with meter.stage("assign"):
        attribution = attribute(transcript, diarization, config.assign)
        diarization = attribution.diarization  # one speaker assumed where the speaker stage heard none
    hook("assign", 1, 1)
    provenance = Provenance(
        versions=versions(),
        models=Models.names(config),
        options=config.to_dict(),
        timings=meter.timings(),
        extra={
            "speech": {"spans": len(spans), "seconds": round(sum(s.duration for s in spans), 3)},
            "attribution": attribution.stats.to_dict(),
            "parallel": _runs_parallel(config),
            **({"speakers": {"note": diarization.note}} if diarization.note else {}),
        },
    )
    result = Result(
        source=audio.info,
        language=transcript.language,
        speakers=diarization.speakers,
        turns=diarization.turns,
        segments=attribution.segments,
        provenance=provenance,
        embeddings=dict(diarization.centroids),
    )
    if audio.info.video is not None:
        result = _align_frames(result, audio.info.video, config.frames, meter)
    return result


def _side_by_side(
    asr_stage: Callable[[], Transcript], speaker_stage: Callable[[], Diarization], stop: _Stop
) -> tuple[Transcript, Diarization]:
    """Transcription here, the speaker stage in a worker thread; whichever fails first stops the other.

    The first real error wins over the :class:`Cancelled` it causes in the other stage.
    """

    def speakers() -> Diarization:
        try:
            return speaker_stage()
        except BaseException:
            stop.failed.set()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speakers") as pool:
        future: Future[Diarization] = pool.submit(speakers)
        try:
            transcript = asr_stage()
        except BaseException as exc:
            stop.failed.set()  # the speaker stage leaves at its next progress report
            wait([future])
            error = future.exception()
            if isinstance(exc, Cancelled) and error is not None and not isinstance(error, Cancelled):
                raise error from None
            raise
        return transcript, future.result()


def _align_frames(result: Result, video: VideoInfo, options: FrameOptions, meter: Meter) -> Result:
    """Video inputs: each turn's frame range, and the sync check and frame summary in the provenance."""
    with meter.stage("frames"):
        result = with_frames(result, align(result, video, options))
    provenance = dataclasses.replace(result.provenance, timings=meter.timings())
    return dataclasses.replace(result, provenance=provenance)


def _decode(path: Path, hook: Hook, meter: Meter) -> Audio:
    hook("decode", 0, 1)
    with meter.stage("decode"):
        audio = load_audio(path)
    hook("decode", 1, 1)
    logger.info("%s: %.1f s of audio", path, audio.duration)
    return audio
