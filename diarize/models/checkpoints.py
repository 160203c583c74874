"""openai-whisper checkpoints of the user's own: reading them and finding their word-alignment heads.

A checkpoint is what ``torch.save`` wrote of ``{"dims": {...}, "model_state_dict": {...}}`` (openai-whisper's
own downloads, ``~/.cache/whisper/<name>.pt``) and, for the ones :mod:`diarize.models.convert` makes, an
``"alignment_heads"`` entry as well. Word timestamps come from the cross-attention of a few decoder heads;
openai-whisper keeps them in a table keyed by model name, not in the file, so they are found in this order:

1. the checkpoint's own ``alignment_heads`` (the base85 dump ``Whisper.set_alignment_heads`` reads, a list of
   ``[layer, head]`` pairs, or a boolean ``(n_text_layer, n_text_head)`` mask);
2. openai-whisper's table, by the file's name (``small.pt``, ``large-v2.pt``) when the shape agrees;
3. openai-whisper's table, by the model's shape, when exactly one released model has it (``large-v1`` and
   ``large-v2`` share theirs: ``large-v2`` is taken, with a warning);
4. none: a warning, and openai-whisper uses every head of the decoder's last half (word times less exact).
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diarize.errors import ModelError

if TYPE_CHECKING:
    from whisper.model import Whisper

__all__ = ["ENGLISH_VOCAB", "alignment_heads", "load_checkpoint", "load_whisper", "released_name"]

log = logging.getLogger(__name__)

ENGLISH_VOCAB = 51864
"""Vocabulary size of the English-only Whisper models (``*.en``); the multilingual ones have 51865 or more."""

# (n_text_layer, n_text_head, n_vocab, n_mels) of every released model that word alignment has heads for
_RELEASED: dict[tuple[int, int, int, int], tuple[str, ...]] = {
    (4, 6, 51864, 80): ("tiny.en",),
    (4, 6, 51865, 80): ("tiny",),
    (6, 8, 51864, 80): ("base.en",),
    (6, 8, 51865, 80): ("base",),
    (12, 12, 51864, 80): ("small.en",),
    (12, 12, 51865, 80): ("small",),
    (24, 16, 51864, 80): ("medium.en",),
    (24, 16, 51865, 80): ("medium",),
    (32, 20, 51865, 80): ("large-v1", "large-v2"),
    (32, 20, 51866, 128): ("large-v3",),
    (4, 20, 51866, 128): ("large-v3-turbo",),
}
_UNREADABLE = (RuntimeError, OSError, EOFError, ValueError, TypeError, AttributeError, pickle.UnpicklingError,
               zipfile.BadZipFile)


def load_checkpoint(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """The checkpoint dict in ``path``; :class:`ModelError` naming the file if it is not one."""
    import torch

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except _UNREADABLE as exc:
        if mmap:  # files written with the legacy (non-zip) format cannot be mapped
            return load_checkpoint(path)
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: not a readable openai-whisper checkpoint ({problem})") from exc
    if not isinstance(checkpoint, dict) or "dims" not in checkpoint or "model_state_dict" not in checkpoint:
        found = ", ".join(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise ModelError(f"{path}: not an openai-whisper checkpoint (no 'dims' and 'model_state_dict'; has {found})")
    dims = checkpoint["dims"]
    if not isinstance(dims, Mapping) or not all(isinstance(dims.get(k), int) for k in ("n_vocab", "n_text_layer")):
        raise ModelError(f"{path}: the checkpoint's 'dims' are not openai-whisper's ModelDimensions")
    return checkpoint


def _shape(dims: Mapping[str, int]) -> tuple[int, int, int, int]:
    return (int(dims["n_text_layer"]), int(dims["n_text_head"]), int(dims["n_vocab"]), int(dims.get("n_mels", 80)))


def released_name(dims: Mapping[str, int], path: Path) -> str | None:
    """The released model whose alignment heads fit ``dims``: the file's stem if it names one of that shape,
    else the only one of that shape (``large-v2`` for the shape it shares with ``large-v1``); ``None`` if no
    released model has that shape."""
    names = _RELEASED.get(_shape(dims), ())
    if path.stem in names:
        return path.stem
    if len(names) > 1:
        log.warning("%s: %s share this shape; using the alignment heads of %s (name the file %s.pt to choose)",
                    path, " and ".join(names), names[-1], names[0])
    return names[-1] if names else None


def alignment_heads(checkpoint: Mapping[str, Any], path: Path) -> bytes | None:
    """The alignment heads of a checkpoint as ``Whisper.set_alignment_heads`` takes them (see the module
    docstring for the order); ``None``, after a warning, when there are none."""
    from diarize.models.convert import encode_alignment_heads

    dims = checkpoint["dims"]
    layers, heads = int(dims["n_text_layer"]), int(dims["n_text_head"])
    own = checkpoint.get("alignment_heads")
    if isinstance(own, bytes | str) and own:
        return own.encode() if isinstance(own, str) else own
    if own is not None and not isinstance(own, bytes | str):
        mask = np.asarray(own.to_dense() if hasattr(own, "to_dense") else own)
        pairs = np.argwhere(mask) if mask.dtype == bool and mask.shape == (layers, heads) else mask
        return encode_alignment_heads(np.asarray(pairs, dtype=int).tolist(), layers, heads)
    name = released_name(dims, path)
    if name is not None:
        import whisper

        log.info("%s: alignment heads of openai-whisper's %s", path, name)
        table: dict[str, bytes] = whisper._ALIGNMENT_HEADS
        return table[name]
    log.warning("%s: no alignment heads known for this model; word times use every head of the decoder's "
                "last half and are less exact", path)
    return None


def load_whisper(path: Path, *, ct2: bool = False) -> Whisper:
    """openai-whisper's ``Whisper`` from the checkpoint ``path``, or (``ct2``) converted from the CTranslate2
    directory ``path``; :class:`ModelError` naming the file when it cannot be built."""
    from diarize.models.convert import build_whisper, convert_ct2_whisper

    if ct2:
        return build_whisper(convert_ct2_whisper(path, require_heads=False))
    checkpoint = load_checkpoint(path)
    try:
        return build_whisper({**checkpoint, "alignment_heads": alignment_heads(checkpoint, path)})
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: the checkpoint does not fit openai-whisper's model ({problem})") from exc
