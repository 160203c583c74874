"""``diarize dev``: tools for developing diarize on reference recordings (not needed to use it).

- ``diarize dev tune sweep|bench|concat``: DER of a grid of speaker options, time and memory of the speaker
  stage, a long recording built from the references (:mod:`diarize.speakers.tuning`);
- ``diarize dev calibrate-voices``: the voice-naming threshold on real recordings
  (:mod:`diarize.voices.calibrate`).

They need the project's test recordings (``--data``, default ``../shared/data``). Each parses its own options
(``diarize dev tune sweep --help``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from diarize.cli.common import Group

if TYPE_CHECKING:
    from diarize.speakers.options import SpeakerOptions

__all__ = ["calibrate_main", "dev_group", "tune_main"]

_PASS_THROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@click.group("dev", cls=Group)
def dev_group() -> None:
    """Developer tools: tune the speaker stage, calibrate voice naming (need reference recordings)."""


@dev_group.command("tune", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def tune_command(args: tuple[str, ...]) -> None:
    """Tune and benchmark the speaker stage: sweep, bench or concat (``diarize dev tune --help``)."""
    sys.exit(tune_main(list(args)))


@dev_group.command("calibrate-voices", context_settings=_PASS_THROUGH, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def calibrate_command(args: tuple[str, ...]) -> None:
    """Calibrate the voice-naming threshold (``diarize dev calibrate-voices --help``)."""
    sys.exit(calibrate_main(list(args)))


def _grid(args: argparse.Namespace) -> list[SpeakerOptions]:
    from diarize.speakers.options import SpeakerOptions

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
        split(args.runtimes, str),
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
            runtime=r,
            vbx_fb=args.vbx_fb,
            vbx_fa=args.vbx_fa,
            vbx_between_class=args.vbx_between_class,
            num_threads=args.threads,
        )
        for m, s, x, c, t, mc, n, lk, k, r in axes
    ]


def _parser() -> argparse.ArgumentParser:
    from diarize.speakers import tuning

    parser = argparse.ArgumentParser(prog="diarize dev tune", description=tuning.__doc__.split("\n")[0])
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
    s.add_argument("--runtimes", default="onnx", help="comma-separated CAM++ runtimes: onnx, torch")
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
    b.add_argument("--runtime", default="onnx", help="CAM++ runtime: onnx or torch")
    c = sub.add_parser("concat", help="build a long recording (WAV + RTTM + UEM) from the references")
    c.add_argument("--data", type=Path, default=Path("../shared/data"))
    c.add_argument("--minutes", type=float, default=10.0)
    c.add_argument("-o", "--out", type=Path, required=True)
    return parser


def tune_main(argv: list[str] | None = None) -> int:
    """``diarize dev tune``: run one of its sub-commands (sweep, bench, concat) with ``argv``."""
    from diarize.speakers import tuning
    from diarize.speakers.options import SpeakerOptions

    args = _parser().parse_args(argv)
    if args.command == "bench":
        options = SpeakerOptions(
            embedding_model=args.model,
            step=args.step,
            num_threads=args.threads,
            embedding_batch_size=args.batch_size,
            runtime=args.runtime,
        )
        lines = [
            f"{key:28s} {value:.3f}" if isinstance(value, float) else f"{key:28s} {value}"
            for key, value in tuning.bench(args.audio, options).items()
        ]
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    recs = tuning.recordings(args.data if args.data.is_dir() else None)
    if args.command == "concat":
        sys.stdout.write(f"{tuning.concat(recs, args.minutes, args.out)}\n")
        return 0
    for wav in args.extra:
        uem = wav.with_suffix(".uem")
        recs.append(tuning.Recording(wav.stem, wav, wav.with_suffix(".rttm"), uem if uem.is_file() else None))
    if args.files:
        recs = [r for r in recs if r.name in args.files.split(",")]
    rows = tuning.sweep(recs, _grid(args), oracle_count=args.oracle_count, cache=args.cache, oracle=args.oracle)
    sys.stdout.write(tuning.summarise(rows) + "\n")
    return 0


def calibrate_main(argv: Sequence[str] | None = None) -> int:
    """``diarize dev calibrate-voices``."""
    from diarize.speakers.options import SpeakerOptions
    from diarize.voices import calibrate
    from diarize.voices.naming import DEFAULT_THRESHOLDS

    """Print the score distributions, the candidate thresholds and the naming outcomes at ``--threshold``."""
    parser = argparse.ArgumentParser(
        prog="diarize dev calibrate-voices", description=calibrate.__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="folder with meetings/*.wav + .rttm"
    )
    parser.add_argument("--model", choices=sorted(DEFAULT_THRESHOLDS), default="campplus")
    parser.add_argument(
        "--threshold", type=float, help="threshold to evaluate naming at [default: the model's]"
    )
    parser.add_argument("--json", type=Path, help="also write the trials and results here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    from diarize.pipeline import Models

    options = SpeakerOptions(embedding_model=args.model, num_threads=1)
    models = Models().speakers(options)
    threshold = DEFAULT_THRESHOLDS[args.model] if args.threshold is None else args.threshold
    targets, impostors, counts = calibrate.run_cases(args.data, models, options, threshold)
    eer_threshold, eer = calibrate.equal_error_threshold(targets, impostors)
    summary = {
        "model": args.model,
        "targets": len(targets),
        "impostors": len(impostors),
        "target_min_mean": [round(min(targets), 3), round(float(np.mean(targets)), 3)],
        "impostor_mean_max": [round(float(np.mean(impostors)), 3), round(max(impostors), 3)],
        "eer": round(eer, 3),
        "eer_threshold": round(eer_threshold, 3),
        "threshold": threshold,
        "naming_accuracy": f"{counts.correct}/{counts.enrolled}",
        "wrong_names": f"{counts.wrong}/{counts.enrolled}",
        "false_naming": f"{counts.false_named}/{counts.strangers}",
    }
    sys.stdout.write("".join(f"{key}: {value}\n" for key, value in summary.items()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    **summary,
                    "target_scores": targets,
                    "impostor_scores": impostors,
                    "details": counts.details,
                },
                indent=1,
            )
        )
    return 0
