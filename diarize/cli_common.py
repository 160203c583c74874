"""What every ``diarize`` command shares: one-line errors, the model cache, the formats help."""

from __future__ import annotations

from typing import Any

import click

from diarize.errors import DiarizeError

__all__ = ["FORMATS_HELP", "Failure", "Group", "model_cache"]


class Failure(click.ClickException):
    """One line on stderr and exit status 1: how every :class:`DiarizeError` reaches the user."""

    def show(self, file: Any = None) -> None:
        click.echo(f"diarize: error: {self.format_message()}", err=True)


class Group(click.Group):
    """A command group whose commands turn the project's own errors into :class:`Failure`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DiarizeError as exc:
            raise Failure(str(exc)) from exc


def model_cache(ctx: click.Context | None = None) -> Any:
    """The model cache the root command was told to use (``--cache-dir``)."""
    from diarize.models import ModelCache

    ctx = ctx or click.get_current_context()
    return ModelCache((ctx.find_root().obj or {}).get("cache_dir"))


FORMATS_HELP = ("Comma-separated formats: json,rttm,srt,vtt,txt,md,csv,parquet,html,png,frames or all. "
                 "[default: the pipeline's]")
