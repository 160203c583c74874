"""The ``diarize`` command: a thin layer that parses arguments, calls the library and reports errors."""

from __future__ import annotations

import logging
import sys

import click

from diarize import __version__
from diarize.errors import DiarizeError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="diarize")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Who spoke when, and what they said: speaker diarization and transcription, offline, on a CPU."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main() -> None:
    """Entry point: run the CLI; the project's own errors become one line on stderr and exit status 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("diarize: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DiarizeError as exc:
        click.echo(f"diarize: error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("diarize: interrupted", err=True)
        sys.exit(130)
