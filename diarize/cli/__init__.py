"""The ``diarize`` command: thin over the library, one module per command group."""

from diarize.cli.main import cli, main

__all__ = ["cli", "main"]
