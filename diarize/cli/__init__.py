"""The ``diarize`` command: thin over the library, one module per command group.

Ctrl-C while the command's modules load (before any handler is in place) ends the process with the one
interruption line and status 130, like Ctrl-C at any later point, instead of a traceback.
"""

try:
    from diarize.cli.main import cli, main
except KeyboardInterrupt:  # pragma: no cover - timing dependent
    import os as _os

    _os.write(2, b"diarize: interrupted\n")
    _os._exit(130)

__all__ = ["cli", "main"]
