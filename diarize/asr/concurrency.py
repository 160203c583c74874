"""Decoder windows side by side when the cores allow it (:mod:`diarize.cores` rule 7).

Windows are independent (each is decoded from its own audio, nothing carries over from one to the next), so a
faster-whisper model loaded with several replicas decodes several at once, one per calling thread. How many
at once is read before each window starts: the :class:`~diarize.cores.ThreadBudget` bound to the stage (raised
when the speaker stage beside it finishes) divided by the threads of one replica, at most the replicas there
are. Without a budget, windows are decoded one after the other in the calling thread. The results keep the
windows' order whatever order they finish in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from diarize.cores import current_budget

__all__ = ["decode_windows"]

T = TypeVar("T")
R = TypeVar("R")

_POLL = 0.25  # s between looks at the budget while windows are being decoded


def decode_windows(
    decode: Callable[[T], R],
    windows: Sequence[T],
    replicas: int,
    replica_threads: int,
    done: Callable[[int], None],
) -> list[R]:
    """``decode(window)`` for every window, in order; ``done(index)`` after each, in the calling thread.

    Up to ``budget.threads // replica_threads`` windows (at least 1, at most ``replicas``) are decoded at
    once while a budget is bound. The first error stops new windows from starting and is raised once the
    running ones have finished.
    """
    budget = current_budget()
    if budget is None or replicas <= 1 or len(windows) <= 1:
        results = []
        for index, window in enumerate(windows):
            results.append(decode(window))
            done(index)
        return results

    def width() -> int:
        return max(1, min(replicas, budget.threads // max(1, replica_threads)))

    out: dict[int, R] = {}
    running: dict[Future[R], int] = {}
    queue = iter(enumerate(windows))
    exhausted = False
    with ThreadPoolExecutor(max_workers=replicas, thread_name_prefix="asr") as pool:
        try:
            while True:
                while not exhausted and len(running) < width():
                    item = next(queue, None)
                    if item is None:
                        exhausted = True
                        break
                    running[pool.submit(decode, item[1])] = item[0]
                if not running:
                    break
                finished, _ = wait(running, timeout=_POLL, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = running.pop(future)
                    out[index] = future.result()
                    done(index)
        except BaseException:
            for future in running:
                future.cancel()
            raise
    return [out[index] for index in range(len(windows))]
