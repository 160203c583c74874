"""Tune and benchmark the speaker stage on recordings with reference RTTMs: ``python -m diarize.speakers.tuning``.

``sweep`` scores a grid of speaker options with DER (pyannote.metrics, overlap scored, each file's UEM; its
``collar=c`` forgives ±c/2 around reference boundaries). Segmentation and embeddings are computed once per
(file, embedding model, step, overlap rule) and reused for every clustering setting, so a grid of thresholds
costs little more than one run. ``bench`` times one full run per sub-step and reports peak memory.

    python -m diarize.speakers.tuning sweep --data ../shared/data --models campplus --thresholds 0.8,0.85,0.9
    python -m diarize.speakers.tuning bench --audio ../shared/data/meetings/ami_trn05.wav
    python -m diarize.speakers.tuning concat --data ../shared/data --minutes 10 -o /tmp/long.wav

The recordings are not part of the package; ``--data`` names a folder holding ``meetings/*.wav`` with
their ``.rttm`` and ``.uem`` (the project's shared test data). pyannote.audio's bundled sample is always
included.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import resource
import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from diarize.speakers.diarization import SpeakerModels, SpeakerOptions
from diarize.types import Audio, Diarization

__all__ = ["Recording", "bench", "load_models", "recordings", "score", "sweep"]

logger = logging.getLogger(__name__)

MEETINGS = ("ami_trn05", "ami_trn07", "ami_trn08", "simconv_en_text")
COLLARS = (0.0, 0.5)


@dataclass(frozen=True)
class Recording:
    """A recording with its reference diarization and scored region (UEM; whole file when absent)."""

    name: str
    audio: Path
    rttm: Path
    uem: Path | None


def recordings(data: Path | None) -> list[Recording]:
    """pyannote's sample, plus the meetings found under ``data/meetings``."""
    from diarize.models.offline import offline_environment, quiet_imports

    offline_environment()
    with quiet_imports():
        import pyannote.audio

    sample = Path(pyannote.audio.__file__).parent / "sample"
    found = [Recording("sample", sample / "sample.wav", sample / "sample.rttm", None)]
    for name in MEETINGS if data is not None else ():
        wav = Path(data or ".") / "meetings" / f"{name}.wav"
        if wav.is_file():
            uem = wav.with_suffix(".uem")
            found.append(Recording(name, wav, wav.with_suffix(".rttm"), uem if uem.is_file() else None))
    return found


def load_models(embedding_model: str, cache_dir: Path | None = None) -> SpeakerModels:
    """The packaged segmentation model and the named embedding network, through the model cache."""
    from diarize.models.cache import ModelCache

    cache = ModelCache(cache_dir)
    embedding = cache.campplus() if embedding_model == "campplus" else cache.ge2e()
    return SpeakerModels(segmentation=cache.segmentation(), embedding=embedding)  # type: ignore[arg-type]


def _reference(rec: Recording, duration: float) -> tuple[Any, Any]:
    from pyannote.core import Segment, Timeline
    from pyannote.database.util import load_rttm, load_uem

    annotation = next(iter(load_rttm(rec.rttm).values()))
    uem = next(iter(load_uem(rec.uem).values())) if rec.uem else Timeline([Segment(0.0, duration)])
    return annotation, uem


def score(diarization: Diarization, reference: Any, uem: Any, collar: float) -> float:
    """DER (fraction) of ``diarization.turns`` against ``reference`` inside ``uem``, overlap scored."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    hypothesis = Annotation()
    for i, turn in enumerate(diarization.turns):
        hypothesis[Segment(turn.start, turn.end), i] = turn.speaker
    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    return float(metric(reference, hypothesis, uem=uem))


_ANALYSIS_FIELDS = ("embedding_model", "step", "exclude_overlap")


def _analysis(
    rec: Recording, audio: Audio, models: SpeakerModels, options: SpeakerOptions, cache: Path | None
) -> Any:
    """Segmentation and embeddings of one recording, from ``cache`` (a folder of pickles) when there."""
    import pickle

    from diarize.speakers.diarization import _analyse, _no_hook, _torch_threads

    key = "_".join([rec.name] + [str(getattr(options, f)) for f in _ANALYSIS_FIELDS])
    path = cache / f"{key}.pkl" if cache else None
    if path is not None and path.is_file():
        with path.open("rb") as cached:
            return pickle.load(cached)  # noqa: S301 (our own cache)
    with _torch_threads(1):
        result = _analyse(audio, options, models, _no_hook)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            pickle.dump(result, out)
    return result


def _finish(analysis: Any, audio: Audio, options: SpeakerOptions) -> Diarization:
    from diarize.speakers.diarization import _build, cluster

    frames, embeddings = analysis
    return _build(cluster(frames, embeddings, options), audio.duration, options)


def _oracle(analysis: Any, audio: Audio, options: SpeakerOptions, reference: Any) -> Diarization:
    """The oracle-clustering floor (:mod:`diarize.eval.oracle`) of one analysis."""
    from diarize.eval.oracle import oracle_diarization
    from diarize.types import SpeakerTurn

    frames, embeddings = analysis
    turns = [SpeakerTurn(s.start, s.end, str(label)) for s, _, label in reference.itertracks(yield_label=True)]
    return oracle_diarization(frames, embeddings, turns, audio.duration, options)


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
    models: dict[str, SpeakerModels] = {}
    for rec in recs:
        audio = load_audio(rec.audio)
        reference, uem = _reference(rec, audio.duration)
        for options in grid:
            if options.embedding_model not in models:
                models[options.embedding_model] = load_models(options.embedding_model)
            analysis = _analysis(rec, audio, models[options.embedding_model], options, cache)
            if analysis is None:  # nobody speaks, by segmentation
                continue
            run_options = replace(options, num_speakers=len(reference.labels())) if oracle_count else options
            runs = [(options.clustering, _finish(analysis, audio, run_options))]
            if oracle:
                runs.append(("oracle", _oracle(analysis, audio, options, reference)))
            for method, diarization in runs:
                row = {f.name: getattr(options, f.name) for f in fields(options)}
                row.update(
                    clustering=method,
                    file=rec.name,
                    speakers=len(diarization.speakers),
                    true_speakers=len(reference.labels()),
                )
                for collar in COLLARS:
                    row[f"der{collar:g}"] = score(diarization, reference, uem, collar)
                rows.append(row)
    return rows


def _grid(args: argparse.Namespace) -> list[SpeakerOptions]:
    def split(text: str, cast: Any) -> list[Any]:
        return [None if x == "none" else cast(x) for x in text.split(",")]

    axes = itertools.product(
        split(args.models, str),
        split(args.steps, float),
        split(args.exclude_overlap, lambda x: x == "1"),
        split(args.clustering, str),
        split(args.thresholds, float),
        split(args.min_cleans, float),
        split(args.min_cluster_sizes, int),
        split(args.linkage, str),
        split(args.constrained, lambda x: x == "1"),
    )
    return [
        SpeakerOptions(
            embedding_model=m,
            step=s,
            exclude_overlap=x,
            clustering=c,
            threshold=t,
            min_clean=mc,
            min_cluster_size=n,
            linkage=lk,
            constrained=k,
            vbx_fb=args.vbx_fb,
            vbx_fa=args.vbx_fa,
            vbx_between_class=args.vbx_between_class,
            num_threads=args.threads,
        )
        for m, s, x, c, t, mc, n, lk, k in axes
    ]


def _summarise(rows: list[dict[str, Any]]) -> str:
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


class _MemorySampler:
    """Peak resident memory per stage, sampled from /proc every 20 ms in a background thread."""

    def __init__(self) -> None:
        import threading

        self.stage = "setup"
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            stage, rss = self.stage, self.rss_mib()
            self.peaks[stage] = max(self.peaks.get(stage, 0.0), rss)

    def __enter__(self) -> _MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench(audio_path: Path, options: SpeakerOptions) -> dict[str, Any]:
    """One full run of the speaker stage: wall time, RTF and peak RSS (MiB) per sub-step."""
    from diarize.audio import load_audio
    from diarize.speakers.diarization import diarize

    models = load_models(options.embedding_model)
    audio = load_audio(audio_path)
    starts: dict[str, float] = {}
    with _MemorySampler() as memory:
        baseline = memory.rss_mib()

        def hook(stage: str, completed: int, total: int) -> None:
            if stage not in starts:
                starts[stage] = time.perf_counter()
                memory.stage = stage

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        diarization = diarize(audio, options, models, hook)
        end = time.perf_counter()
        cpu = time.process_time() - cpu0
    order = sorted(starts, key=starts.get)  # type: ignore[arg-type]
    report: dict[str, Any] = {
        "audio_s": audio.duration,
        "wall_s": end - t0,
        "cpu_s": cpu,
        "rtf": (end - t0) / audio.duration,
        "speakers": len(diarization.speakers),
        "rss_before_mib": baseline,
    }
    bounds = [t0] + [starts[s] for s in order[1:]] + [end]
    for stage, lo, hi in zip(order, bounds, bounds[1:], strict=False):
        report[f"{stage}_s"] = hi - lo
        report[f"{stage}_rtf"] = (hi - lo) / audio.duration
        report[f"{stage}_peak_rss_mib"] = max(
            memory.peaks.get(stage, 0.0), memory.peaks.get("setup", 0.0) if stage == order[0] else 0.0
        )
    report["peak_rss_mib"] = max(memory.peaks.values(), default=baseline)
    return report


def concat(recs: list[Recording], minutes: float, out: Path) -> Path:
    """Write ``out`` (16-bit WAV): the recordings back to back, repeated for ``minutes``, with RTTM and UEM.

    Reference labels are kept as they are: AMI speaker names are global (ami_trn07 and ami_trn08 come from one
    meeting), so a voice that recurs keeps its label across the whole file.
    """
    import wave

    from pyannote.database.util import load_rttm

    from diarize.audio import load_audio

    clips = [(rec, load_audio(rec.audio)) for rec in recs]
    lines, pieces, offset = [], [], 0.0
    for rec, audio in itertools.cycle(clips):
        if offset >= minutes * 60:
            break
        for segment, _, label in next(iter(load_rttm(rec.rttm).values())).itertracks(yield_label=True):
            lines.append(
                f"SPEAKER {out.stem} 1 {offset + segment.start:.3f} {segment.duration:.3f} "
                f"<NA> <NA> {label} <NA> <NA>"
            )
        pieces.append(audio.samples)
        offset += audio.duration
    samples = np.concatenate(pieces)
    with wave.open(str(out), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16_000)
        f.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    out.with_suffix(".rttm").write_text("\n".join(lines) + "\n")
    out.with_suffix(".uem").write_text(f"{out.stem} NA 0.000 {offset:.3f}\n")
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m diarize.speakers.tuning", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sweep", help="DER of a grid of speaker options on the reference recordings")
    s.add_argument("--data", type=Path, default=Path("../shared/data"))
    s.add_argument("--files", default="", help="comma-separated recording names (default: all found)")
    s.add_argument("--extra", type=Path, action="append", default=[], help="more WAVs with .rttm/.uem beside")
    s.add_argument("--models", default="campplus")
    s.add_argument("--steps", default="1.0")
    s.add_argument("--exclude-overlap", default="1")
    s.add_argument("--clustering", default="auto", help="comma-separated: auto, constrained, agglomerative, vbx")
    s.add_argument("--thresholds", default="none", help="comma-separated; none: the model's default")
    s.add_argument("--min-cleans", default="1.0", help="constrained: seconds alone a local speaker needs to seed")
    s.add_argument("--min-cluster-sizes", default="none")
    s.add_argument("--linkage", default="centroid")
    s.add_argument("--constrained", default="0")
    s.add_argument("--vbx-fa", type=float, default=1.0)
    s.add_argument("--vbx-fb", type=float, default=1.0)
    s.add_argument("--vbx-between-class", type=float, default=3.0)
    s.add_argument("--oracle-count", action="store_true", help="pass the true number of speakers")
    s.add_argument("--oracle", action="store_true", help="also score the oracle-clustering floor")
    s.add_argument("--cache", type=Path, default=None, help="folder to keep segmentation/embeddings in")
    s.add_argument("--threads", type=int, default=2)
    b = sub.add_parser("bench", help="time and memory of one full run")
    b.add_argument("--audio", type=Path, required=True)
    b.add_argument("--model", default="campplus")
    b.add_argument("--step", type=float, default=1.0)
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--batch-size", type=int, default=32)
    c = sub.add_parser("concat", help="build a long recording (WAV + RTTM + UEM) from the references")
    c.add_argument("--data", type=Path, default=Path("../shared/data"))
    c.add_argument("--minutes", type=float, default=10.0)
    c.add_argument("-o", "--out", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "bench":
        options = SpeakerOptions(
            embedding_model=args.model,
            step=args.step,
            num_threads=args.threads,
            embedding_batch_size=args.batch_size,
        )
        lines = [
            f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}"
            for key, value in bench(args.audio, options).items()
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    recs = recordings(args.data if args.data.is_dir() else None)
    if args.command == "concat":
        sys.stdout.write(f"{concat(recs, args.minutes, args.out)}\n")
        return 0
    for wav in args.extra:
        uem = wav.with_suffix(".uem")
        recs.append(Recording(wav.stem, wav, wav.with_suffix(".rttm"), uem if uem.is_file() else None))
    if args.files:
        recs = [r for r in recs if r.name in args.files.split(",")]
    rows = sweep(recs, _grid(args), oracle_count=args.oracle_count, cache=args.cache, oracle=args.oracle)
    sys.stdout.write(_summarise(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
