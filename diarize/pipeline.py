"""The pipeline: decode → VAD → ASR ∥ speakers → word attribution, for one media file at a time.

Models are loaded once per process by :class:`Models` and reused for every file. Transcription and the speaker
stage do not depend on each other; with ``config.parallel`` they run side by side, sharing the cores by their
cost (:mod:`diarize.cores`: one core each on two cores), which on a two-core machine beats running them one
after the other with two threads each (CTranslate2 and PyTorch both scale poorly from one thread to two on
these models; see the README's measurements). The thread plan is logged and recorded in the provenance.

Progress goes through ``hook(stage, completed, total)``; the CLI turns it into a progress bar. Stopping: a run
given a ``cancel`` event raises :class:`~diarize.cli.progress.Cancelled` at the first progress report (every ASR
window, every segmentation and embedding batch) or stage boundary after the event is set; a stage that fails
stops the other one the same way, so that no thread goes on working for a result nobody will read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from diarize.asr.language import label_languages
from diarize.asr.options import SHIPPED_MODELS, AsrOptions
from diarize.asr.transcription import settle_speaker_languages, transcribe, warm_up
from diarize.assign import Attribution, attribute
from diarize.audio import load_audio, load_channels
from diarize.channels.split import StageModels, on_channel, split_channels
from diarize.cli.progress import Cancelled
from diarize.config import PipelineConfig, load_pipeline
from diarize.cores import ThreadBudget, ThreadPlan, config_plan
from diarize.errors import ConfigError
from diarize.frames import FrameOptions, align, with_frames
from diarize.hooks import Hook, no_hook
from diarize.models.cache import ModelCache
from diarize.models.sources import check_task
from diarize.models.threads import torch_threads
from diarize.profiling import Meter
from diarize.speakers.diarization import SpeakerModels, diarize
from diarize.speakers.options import SpeakerOptions
from diarize.types import Audio, Diarization, MediaInfo, Provenance, Result, Transcript, VideoInfo
from diarize.vad import detect_speech
from diarize.versions import versions

__all__ = ["Cancelled", "Hook", "Models", "run"]

logger = logging.getLogger(__name__)


class Models:
    """The models a pipeline needs, loaded on first use and kept for the life of the process."""

    def __init__(self, cache: ModelCache | None = None) -> None:
        self.cache = cache or ModelCache()
        self._lock = threading.Lock()

    def asr(self, options: AsrOptions, workers: int = 1) -> Any:
        """The Whisper model ``options`` ask for (faster-whisper or openai-whisper), warmed up; faster-whisper
        with ``workers`` replicas (:attr:`~diarize.cores.ThreadPlan.asr_workers`)."""
        with self._lock:
            source, _ = self.cache.whisper_source(options.model_size, options.backend)
            check_task(source, options.language, options.task)
            if options.backend == "faster":
                model = self.cache.faster_whisper(
                    options.model_size, options.compute_type, options.cpu_threads, workers
                )
            else:
                model = self.cache.openai_whisper(options.model_size)
            warm_up(model, options)
            return model

    def speakers(self, options: SpeakerOptions) -> SpeakerModels:
        with self._lock:
            embedding = (self.cache.campplus(options.runtime) if options.embedding_model == "campplus"
                         else self.cache.ge2e())
            return SpeakerModels(segmentation=self.cache.segmentation(options.runtime), embedding=embedding)

    def load(self, config: PipelineConfig) -> None:
        """Load everything ``config`` needs now (so that per-file timings exclude model loading)."""
        asr, speakers, plan = _stage_options(config)
        self.asr(asr, plan.asr_workers)
        self.speakers(speakers)

    @staticmethod
    def names(config: PipelineConfig, cache: ModelCache | None = None) -> dict[str, str]:
        """The models ``config`` runs, as provenance records them (the Whisper model's path and fingerprint
        from ``cache``, the default cache if ``None``)."""
        asr = config.asr
        asr_name = asr.model_size
        if asr.model_size in SHIPPED_MODELS:
            asr_name = f"whisper-{asr.model_size}" + ("-openai" if asr.backend == "openai" else "")
        return {
            "asr": f"{asr_name} ({asr.backend}, {asr.compute_type if asr.backend == 'faster' else 'float32'})",
            **(cache or ModelCache()).whisper_provenance(asr.model_size, asr.backend),
            "asr_task": asr.task,
            "segmentation": "segmentation-3.0",
            "embedding": config.speakers.embedding_model,
            "embedding_runtime": config.speakers.runtime if config.speakers.embedding_model == "campplus" else "torch",
        }


def _stage_options(config: PipelineConfig) -> tuple[AsrOptions, SpeakerOptions, ThreadPlan]:
    """The ASR and speaker options as run, with the thread counts of the run's plan (:mod:`diarize.cores`)."""
    plan = config_plan(config)
    return (
        dataclasses.replace(config.asr, cpu_threads=plan.asr),
        dataclasses.replace(config.speakers, num_threads=plan.speakers),
        plan,
    )


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
    asr_options, speaker_options, plan = _stage_options(config)
    logger.info("threads: %d core(s), asr %d, speakers %d, %s", plan.cores, plan.asr, plan.speakers,
                "side by side" if plan.parallel else "one after the other")
    hook("models", 0, 2)
    with meter.stage("load_models"):
        asr_model = models.asr(asr_options, plan.asr_workers)
        hook("models", 1, 2)
        speaker_models = models.speakers(speaker_options)
    hook("models", 2, 2)
    if config.channels.split:
        stages = StageModels(asr_model, asr_options, speaker_models, speaker_options)
        return _run_split(media, config, stages, hook, meter, models)
    audio = media if isinstance(media, Audio) else _decode(Path(media), hook, meter, config.channels.channel)
    hook("vad", 0, 1)
    with meter.stage("vad"):
        spans = detect_speech(audio, config.vad)
    hook("vad", 1, 1)

    def asr_stage() -> Transcript:
        # openai-whisper runs on PyTorch, whose thread count is process-wide (never side by side, see cores)
        threads = torch_threads(plan.asr) if asr_options.backend == "openai" else contextlib.nullcontext()
        with meter.stage("asr"), threads:
            return transcribe(audio, spans, asr_model, asr_options, hook)

    def speaker_stage() -> Diarization:
        with meter.stage("speakers"):
            return diarize(audio, speaker_options, speaker_models, hook)

    if plan.parallel:
        transcript, diarization = _side_by_side(asr_stage, speaker_stage, stop, plan)
    else:
        transcript = asr_stage()
        diarization = speaker_stage()

    hook("assign", 0, 1)
    with meter.stage("assign"):
        attribution = attribute(transcript, diarization, config.assign)
        # unconfident speech regions take their speaker's language and are decoded again (diarize.asr.language)
        settled = settle_speaker_languages(audio, transcript, attribution.segments, asr_model, asr_options)
        if settled is not transcript:
            transcript, attribution = settled, attribute(settled, diarization, config.assign)
        labelled = label_languages(attribution.segments, transcript.segments)
        attribution = dataclasses.replace(attribution, segments=labelled)
        attribution = on_channel(attribution, config.channels.channel)  # a channel picked: segments say which
        diarization = attribution.diarization  # one speaker assumed where the speaker stage heard none
    hook("assign", 1, 1)
    provenance = _provenance(config, models, meter, {
        "speech": {"spans": len(spans), "seconds": round(sum(s.duration for s in spans), 3)},
        "attribution": attribution.stats.to_dict(),
        "parallel": plan.parallel,
        "threads": plan.to_dict(),
        **({"speakers": {"note": diarization.note}} if diarization.note else {}),
    })
    return _result(audio.info, transcript.language, attribution, provenance, config.frames, meter)


def _run_split(
    media: str | Path | Audio, config: PipelineConfig, stages: StageModels, hook: Hook, meter: Meter, models: Models
) -> Result:
    """``channels.use: split``: every channel of the file is its own party (:mod:`diarize.channels`)."""
    if isinstance(media, Audio):
        raise ConfigError("channels.use: split needs the media file itself; decoded audio holds one channel")
    path = Path(media)
    hook("decode", 0, 1)
    with meter.stage("decode"):
        channels = load_channels(path, config.channels.max_split)
    hook("decode", 1, 1)
    logger.info("%s: %.1f s of audio, %d channels split", path, channels[0].duration, len(channels))
    split = split_channels(channels, config, stages, hook, meter)
    attribution, diarization = split.attribution, split.attribution.diarization
    words = {c: sum(len(s.words) for s in split.transcript.segments if s.channel == c) for c in range(len(channels))}
    provenance = _provenance(config, models, meter, {
        "speech": {"spans": len(split.spans), "seconds": round(sum(s.duration for s in split.spans), 3)},
        "attribution": attribution.stats.to_dict(),
        "channels": {"split": len(channels), "words": list(words.values())},
        **({"speakers": {"note": diarization.note}} if diarization.note else {}),
    })
    return _result(channels[0].info, split.transcript.language, attribution, provenance, config.frames, meter)


def _provenance(config: PipelineConfig, models: Models, meter: Meter, extra: dict[str, Any]) -> Provenance:
    return Provenance(
        versions=versions(),
        models=Models.names(config, models.cache),
        options=config.to_dict(),
        timings=meter.timings(),
        extra=extra,
    )


def _result(
    info: MediaInfo, language: str, attribution: Attribution, provenance: Provenance, frames: FrameOptions,
    meter: Meter,
) -> Result:
    """The run's result from its attribution (video: with each turn's frame range)."""
    diarization = attribution.diarization
    result = Result(
        source=info,
        language=language,
        speakers=diarization.speakers,
        turns=diarization.turns,
        segments=attribution.segments,
        provenance=provenance,
        embeddings=dict(diarization.centroids),
    )
    if info.video is not None:
        result = _align_frames(result, info.video, frames, meter)
    return result


def _side_by_side(
    asr_stage: Callable[[], Transcript],
    speaker_stage: Callable[[], Diarization],
    stop: _Stop,
    plan: ThreadPlan | None = None,
) -> tuple[Transcript, Diarization]:
    """Transcription here, the speaker stage in a worker thread; whichever fails first stops the other.

    The first real error wins over the :class:`Cancelled` it causes in the other stage. With ``plan``, each
    stage runs on a :class:`~diarize.cores.ThreadBudget` of its plan's threads, raised to ``plan.cores`` once
    the other stage is done (:mod:`diarize.cores` rule 7).
    """
    budget = ThreadBudget(plan.speakers if plan else 1)
    asr_budget = ThreadBudget(plan.asr if plan else 1)
    bound = budget.bound if plan else contextlib.nullcontext
    asr_bound = asr_budget.bound if plan else contextlib.nullcontext

    def speakers() -> Diarization:
        try:
            with bound():
                return speaker_stage()
        except BaseException:
            stop.failed.set()
            raise

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="speakers") as pool:
        future: Future[Diarization] = pool.submit(speakers)
        if plan is not None:  # transcription takes the speaker stage's cores when it is done
            future.add_done_callback(lambda _: asr_budget.raise_to(plan.cores))
        try:
            with asr_bound():
                transcript = asr_stage()
        except BaseException as exc:
            stop.failed.set()  # the speaker stage leaves at its next progress report
            wait([future])
            error = future.exception()
            if isinstance(exc, Cancelled) and error is not None and not isinstance(error, Cancelled):
                raise error from None
            raise
        if plan is not None:
            budget.raise_to(plan.cores)  # the speaker stage takes transcription's cores
        return transcript, future.result()


def _align_frames(result: Result, video: VideoInfo, options: FrameOptions, meter: Meter) -> Result:
    """Video inputs: each turn's frame range, and the sync check and frame summary in the provenance."""
    with meter.stage("frames"):
        result = with_frames(result, align(result, video, options))
    provenance = dataclasses.replace(result.provenance, timings=meter.timings())
    return dataclasses.replace(result, provenance=provenance)


def _decode(path: Path, hook: Hook, meter: Meter, channel: int | None = None) -> Audio:
    hook("decode", 0, 1)
    with meter.stage("decode"):
        audio = load_audio(path, channel)
    hook("decode", 1, 1)
    logger.info("%s: %.1f s of audio", path, audio.duration)
    return audio
