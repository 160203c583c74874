"""The transcript viewer's parts (the page itself is :mod:`diarize.writers.html`).

Package data, inlined into every page: ``page.html`` (the template, ``{{slot}}`` placeholders), ``viewer.css``
and the scripts, joined into the page's one ``<script>`` in :data:`SCRIPTS` order: ``media.js`` (finding
and checking the media, captions), ``exports.js`` (downloads with the names given in the page) and
``viewer.js`` (the page: timeline, transcript, playback, search, renaming), which starts the other two.
Python modules: :mod:`~diarize.writers.viewer.media` (the player element, where the page looks for the media,
the codec checks) and :mod:`~diarize.writers.viewer.exports` (the transcripts the page renames and downloads).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["SCRIPTS", "asset", "script"]

SCRIPTS = ("media.js", "exports.js", "viewer.js")
"""The page's scripts, in the order they are joined."""


@cache
def asset(name: str) -> str:
    """The text of one of the viewer's files (``page.html``, ``viewer.css``, ``viewer.js``, ...)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@cache
def script() -> str:
    """The page's one script: :data:`SCRIPTS` joined."""
    return "\n".join(asset(name) for name in SCRIPTS)
