"""``diarize voices``: the library of enrolled voices that names speakers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from diarize.cli.common import Failure, examples, model_cache

__all__ = ["voices_group"]

_LIBRARY_HELP = "Voice library folder. [default: $DIARIZE_VOICES or <user data dir>/diarize/voices]"


@click.group("voices", epilog=examples(
    "diarize voices add Ana ana-intro.wav",
    "diarize run meeting.wav --voices",
))
def voices_group() -> None:
    """Enrol, list and remove the named voices that `diarize run --voices` names speakers after."""


@voices_group.command("add", epilog=examples(
    "diarize voices add Ana ana-intro.wav call.wav@0:12-0:40",
    "diarize voices add Ben --from out/meeting.json --speaker SPEAKER_01",
))
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
    from diarize.voices.library import VoiceLibrary, check_voice_name

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
    from diarize.types import Result
    from diarize.voices.enrol import voice_from_result

    return voice_from_result(name, Result.from_json(path), speaker, str(path))


def _voice_from_clips(ctx: click.Context, store: Any, name: str, clips: tuple[str, ...], model: str) -> Any:
    from diarize.pipeline import Models
    from diarize.speakers.options import EmbeddingModel, SpeakerOptions
    from diarize.voices.enrol import enrol_clips, parse_clip

    parsed = [parse_clip(spec) for spec in clips]
    existing = store.model()  # fail before the work, not after it
    if existing is not None and existing != model:
        raise Failure(f"voice library {store.root} holds {existing!r} voices: enrol with --embedding-model "
                      f"{existing}, or use another --library for {model!r} voices")
    options = SpeakerOptions(embedding_model=cast(EmbeddingModel, model))  # click checked the choice
    return enrol_clips(name, parsed, Models(model_cache(ctx)).speakers(options), options)


@voices_group.command("list", epilog=examples("diarize voices list", "diarize voices list --library team-voices"))
@click.option("--library", type=click.Path(path_type=Path, file_okay=False), help=_LIBRARY_HELP)
def voices_list(library: Path | None) -> None:
    """Show each voice: its embedding model, enrolments and seconds of speech."""
    from diarize.voices.library import VoiceLibrary

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


@voices_group.command("remove", epilog=examples(
    "diarize voices remove Ana", "diarize voices remove Ben --library team-voices"))
@click.argument("name")
@click.option("--library", type=click.Path(path_type=Path, file_okay=False), help=_LIBRARY_HELP)
def voices_remove(name: str, library: Path | None) -> None:
    """Delete the voice NAME from the library."""
    from diarize.voices.library import VoiceLibrary

    store = VoiceLibrary(library)
    path = store.path(name)
    voice = store.remove(name)
    click.echo(f"removed {voice.name} ({len(voice.enrolments)} enrolment(s), {path})")
