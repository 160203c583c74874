"""Progress hooks: how long work reports how far it has got.

A hook is any callable ``hook(stage, completed, total)``: ``stage`` names the step (models, decode, vad,
language, asr, segmentation, embeddings, clustering, assign; the command line adds write), ``completed`` of
``total`` units of it are done. Units are the stage's own: models loaded, milliseconds of window audio decoded
(asr), chunks or batches (segmentation, embeddings); ``completed / total`` is the share done. Stages call their
hook at the start (``completed == 0``), after each unit and at the end; a hook must be quick and may raise to
stop the work (the pipeline's cancellation does). :class:`Hooks` sends one report to several hooks.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Hook", "Hooks", "no_hook"]

Hook = Callable[[str, int, int], None]
"""``hook(stage, completed, total)``; see the module docstring."""


def no_hook(stage: str, completed: int, total: int) -> None:
    """The hook that ignores every report."""
    return None


class Hooks:
    """Several hooks as one: each report goes to every hook, in the order given.

    A hook that raises stops the report there (the hooks after it do not see it) and the exception reaches
    the stage that reported.
    """

    def __init__(self, *hooks: Hook | None) -> None:
        self.hooks: tuple[Hook, ...] = tuple(h for h in hooks if h is not None)

    def __call__(self, stage: str, completed: int, total: int) -> None:
        for hook in self.hooks:
            hook(stage, completed, total)
