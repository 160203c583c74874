"""Tune and benchmark the speaker stage on recordings with reference RTTMs: ``diarize dev tune``.

``sweep`` scores a grid of speaker options with DER (pyannote.metrics, overlap scored, each file's UEM; its
``collar=c`` forgives ±c/2 around reference boundaries). Segmentation and embeddings are computed once per
(file, embedding model, step, overlap rule) and reused for every clustering setting, so a grid of thresholds
costs little more than one run. ``bench`` times one full run per sub-step and reports peak memory (with the
instruments of :mod:`diarize.bench.measure`).

    diarize dev tune sweep --data ../shared/data --models campplus --thresholds 0.8,0.85,0.9
    diarize dev tune bench --audio ../shared/data/meetings/ami_trn05.wav
    diarize dev tune concat --data ../shared/data --minutes 10 -o /tmp/long.wav

The recordings are not part of the package; ``--data`` names a folder holding ``meetings/*.wav`` with
their ``.rttm`` and ``.uem`` (the project's shared test data). The packaged sample recording
(:func:`~diarize.models.registry.sample_path`) is always included.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from diarize.speakers.diarization import SpeakerModels
from diarize.speakers.options import Runtime, SpeakerOptions
from diarize.types import Audio, Diarization, Span, SpeakerTurn

__all__ = [
    "COLLARS", "MEETINGS", "Recording", "bench", "concat", "load_models", "recordings", "score", "summarise", "sweep",
]

logger = logging.getLogger(__name__)

MEETINGS = (*(f"ami_trn{i:02d}" for i in (0, 1, 3, 4, 5, 6, 7, 8, 9)), "simconv_en_text")
"""The dev recordings under ``data/meetings`` (nine real AMI excerpts and a simulated conversation)."""
COLLARS = (0.0, 0.5)


@dataclass(frozen=True)
class Recording:
    """A recording with its reference diarization and scored region (UEM; whole file when absent)."""

    name: str
    audio: Path
    rttm: Path
    uem: Path | None


def recordings(data: Path | None) -> list[Recording]:
    """The packaged sample, plus the meetings found under ``data/meetings``."""
    from diarize.models.registry import sample_path

    found = [Recording("sample", sample_path(), sample_path(".rttm"), None)]
    for name in MEETINGS if data is not None else ():
        wav = Path(data or ".") / "meetings" / f"{name}.wav"
        if wav.is_file():
            uem = wav.with_suffix(".uem")
            found.append(Recording(name, wav, wav.with_suffix(".rttm"), uem if uem.is_file() else None))
    return found


def load_models(embedding_model: str, cache_dir: Path | None = None, runtime: Runtime = "onnx") -> SpeakerModels:
    """The packaged segmentation model and the named embedding network (CAM++ on ``runtime``), through the
    model cache."""
    from diarize.models.cache import ModelCache

    cache = ModelCache(cache_dir)
    embedding = cache.campplus(runtime) if embedding_model == "campplus" else cache.ge2e()
    return SpeakerModels(segmentation=cache.segmentation(runtime), embedding=embedding)


def _reference(rec: Recording, duration: float) -> tuple[list[SpeakerTurn], list[Span]]:
    """The first file id's turns of ``rec``'s RTTM in time order, and its scored region (the whole recording
    without a UEM)."""
    from diarize.eval.io import load_rttm, load_uem

    turns = sorted(next(iter(load_rttm(rec.rttm).values())), key=lambda t: (t.start, t.end))
    uem = list(next(iter(load_uem(rec.uem).values()))) if rec.uem else [Span(0.0, duration)]
    return turns, uem


def score(diarization: Diarization, reference: list[SpeakerTurn], uem: list[Span], collar: float) -> float:
    """DER (fraction) of ``diarization.turns`` against ``reference`` inside ``uem``, overlap scored."""
    from diarize.eval.metrics import der

    return der(reference, diarization.turns, uem=uem, collar=collar).der


_ANALYSIS_FIELDS = ("embedding_model", "runtime", "step", "exclude_overlap")


def _analysis(
    rec: Recording, audio: Audio, models: SpeakerModels, options: SpeakerOptions, cache: Path | None
) -> Any:
    """Segmentation and embeddings of one recording, from ``cache`` (a folder of pickles) when there."""
    import pickle

    from diarize.models.threads import torch_threads
    from diarize.speakers.diarization import analyse

    key = "_".join([rec.name] + [str(getattr(options, f)) for f in _ANALYSIS_FIELDS])
    path = cache / f"{key}.pkl" if cache else None
    if path is not None and path.is_file():
        with path.open("rb") as cached:
            return pickle.load(cached)
    with torch_threads(1):
        result = analyse(audio, options, models)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            pickle.dump(result, out)
    return result


def _finish(analysis: Any, audio: Audio, options: SpeakerOptions) -> Diarization:
    from diarize.speakers.diarization import build_diarization, cluster

    frames, embeddings = analysis
    return build_diarization(cluster(frames, embeddings, options), audio.duration, options)


def _oracle(
    analysis: Any, audio: Audio, options: SpeakerOptions, reference: list[SpeakerTurn]
) -> Diarization:
    """The oracle-clustering floor (:mod:`diarize.eval.oracle`) of one analysis."""
    from diarize.eval.oracle import oracle_diarization

    frames, embeddings = analysis
    return oracle_diarization(frames, embeddings, reference, audio.duration, options)


def sweep(
    recs: list[Recording],
    grid: list[SpeakerOptions],
    oracle_count: bool = False,
    cache: Path | None = None,
    oracle: bool = False,
) -> list[dict[str, Any]]:
    """Score every option set of ``grid`` on every recording; one row per (options, recording).

    ``oracle`` adds, per option set, the oracle-clustering floor of the same analysis (``clustering`` column
    ``"oracle"``): what perfect clustering would score, so ``DER - floor`` is what clustering still loses.
    """
    from diarize.audio import load_audio

    rows: list[dict[str, Any]] = []
    models: dict[tuple[str, str], SpeakerModels] = {}
    for rec in recs:
        audio = load_audio(rec.audio)
        reference, uem = _reference(rec, audio.duration)
        true_speakers = len({t.speaker for t in reference})
        for options in grid:
            key = (options.embedding_model, options.runtime)
            if key not in models:
                models[key] = load_models(options.embedding_model, runtime=options.runtime)
            analysis = _analysis(rec, audio, models[key], options, cache)
            if analysis is None:  # nobody speaks, by segmentation
                continue
            run_options = replace(options, num_speakers=true_speakers) if oracle_count else options
            runs: list[tuple[str, Diarization]] = [(options.clustering, _finish(analysis, audio, run_options))]
            if oracle:
                runs.append(("oracle", _oracle(analysis, audio, options, reference)))
            for method, diarization in runs:
                row = {f.name: getattr(options, f.name) for f in fields(options)}
                row.update(
                    clustering=method,
                    file=rec.name,
                    speakers=len(diarization.speakers),
                    true_speakers=true_speakers,
                )
                for collar in COLLARS:
                    row[f"der{collar:g}"] = score(diarization, reference, uem, collar)
                rows.append(row)
    return rows


def summarise(rows: list[dict[str, Any]]) -> str:
    """The sweep's report: DER per configuration and file at each collar, and the speakers found."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    keys = [
        "embedding_model",
        "step",
        "exclude_overlap",
        "clustering",
        "threshold",
        "min_clean",
        "min_cluster_size",
        "linkage",
        "constrained",
        "runtime",
    ]
    frame["config"] = frame[keys].apply(lambda column: column.map(str)).agg(" ".join, axis=1)
    parts = []
    for collar in COLLARS:
        table = frame.pivot_table(index="config", columns="file", values=f"der{collar:g}") * 100
        table["mean"] = table.mean(axis=1)
        parts.append(f"DER % (collar {collar:g}, i.e. ±{collar / 2:g} s, overlap scored)")
        parts.append(table.sort_values("mean").round(1).to_string())
    counts = frame.pivot_table(index="config", columns="file", values="speakers")
    truth = ", ".join(f"{f}={n}" for f, n in frame.groupby("file")["true_speakers"].first().items())
    parts.append(f"speakers found (true: {truth})")
    parts.append(counts.to_string())
    return "\n\n".join(parts)


def bench(audio_path: Path, options: SpeakerOptions) -> dict[str, Any]:
    """One full run of the speaker stage: wall time, RTF and peak RSS (MiB) per sub-step
    (:func:`diarize.bench.measure.split_steps`)."""
    from diarize.audio import load_audio
    from diarize.bench.measure import SPEAKER_STEPS, StepClock, split_steps
    from diarize.profiling import RssTrace
    from diarize.speakers.diarization import diarize

    models = load_models(options.embedding_model, runtime=options.runtime)
    audio = load_audio(audio_path)
    clock = StepClock()
    with RssTrace(exact=True) as trace:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        diarization = diarize(audio, options, models, clock)
        wall1, cpu1 = time.perf_counter(), time.process_time()
    mib = 2**20
    report: dict[str, Any] = {
        "audio_s": audio.duration,
        "wall_s": wall1 - wall0,
        "cpu_s": cpu1 - cpu0,
        "rtf": (wall1 - wall0) / audio.duration,
        "speakers": len(diarization.speakers),
        "rss_before_mib": trace.before / mib,
    }
    reported = [step for step in SPEAKER_STEPS if step == SPEAKER_STEPS[0] or step in clock.first]
    for step, cost in split_steps((wall0, cpu0, wall1, cpu1), clock, trace, True, reported).items():
        report[f"{step}_s"] = cost.wall
        report[f"{step}_rtf"] = cost.wall / audio.duration
        report[f"{step}_peak_rss_mib"] = cost.peak_rss / mib
    report["peak_rss_mib"] = trace.peak / mib
    return report


def concat(recs: list[Recording], minutes: float, out: Path) -> Path:
    """Write ``out`` (16-bit WAV): the recordings back to back, whole, repeated until they last ``minutes``
    (:func:`diarize.bench.benchmark.concat_long` joins them), with RTTM and UEM.

    Reference labels are kept as they are: AMI speaker names are global (ami_trn07 and ami_trn08 come from one
    meeting), so a voice that recurs keeps its label across the whole file.
    """
    import wave

    from diarize.audio import load_audio
    from diarize.bench.benchmark import concat_long
    from diarize.types import SAMPLE_RATE

    clips = [(rec, load_audio(rec.audio)) for rec in recs]
    lines, pieces, offset = [], [], 0.0
    for rec, audio in itertools.cycle(clips):
        if offset >= minutes * 60:
            break
        for turn in _reference(rec, audio.duration)[0]:
            lines.append(
                f"SPEAKER {out.stem} 1 {offset + turn.start:.3f} {turn.duration:.3f} "
                f"<NA> <NA> {turn.speaker} <NA> <NA>"
            )
        pieces.append(audio)
        offset += audio.duration
    samples = concat_long(pieces, sum(len(a.samples) for a in pieces) / SAMPLE_RATE / 60).samples
    with wave.open(str(out), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    out.with_suffix(".rttm").write_text("\n".join(lines) + "\n")
    out.with_suffix(".uem").write_text(f"{out.stem} NA 0.000 {offset:.3f}\n")
    return out
