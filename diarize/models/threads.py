"""Thread counts of the model stack, set deliberately: oversubscribing the cores slows torch 10× or more."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["torch_threads"]


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Run the block with torch's intra-op thread count at ``num_threads``; the previous count is restored.

    torch is imported when the block is entered, not when this module is.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
