"""The speaker stage's networks under ONNX Runtime: exported once into the model cache, run without torch's overhead.

The stage runs two networks thousands of times per hour of audio: pyannote's segmentation model on every 10 s
window (batches of 8) and CAM++ on every local speaker of every window, each from its own gathered frames,
so on inputs of ever different lengths, one item per thread. `ONNX Runtime <https://onnxruntime.ai>`_ (a PyPI
wheel for every common platform, already needed by faster-whisper; its CPU kernels are picked at run time for
the instructions the CPU has) runs both several times faster than torch eager mode on the same threads,
with the same numbers to float rounding: on a 2-core AMD EPYC (avx2, avx512f, avx512_vnni), segmentation of
40 windows took 0.74 s against 1.80 s for torch's fastest setting, and the speaker stage's embedding step on a
10-minute meeting 32.7 s against 63.9 s. ``diarize bench`` reports the stage's times; the tests compare outputs and DER.

:func:`export_campplus` and :func:`export_segmentation` write the graphs (torch's TorchScript-based exporter,
which needs the ``onnx`` package); :mod:`diarize.models.cache` runs them once per cache (the ``campplus-onnx``
and ``segmentation-3.0-onnx`` models) and attaches an :class:`OnnxRuntime` to the loaded network, whose
``forward`` then runs there.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diarize.errors import ModelError
from diarize.speakers.nets.campplus import FBANK_DIM, CAMPPlus

__all__ = [
    "CAMPPLUS_NAMES",
    "SEGMENTATION_NAMES",
    "OnnxRuntime",
    "attach_segmentation",
    "export_campplus",
    "export_segmentation",
]

CAMPPLUS_NAMES = ("features", "embeddings")
"""Input ``(batch, frames, 80)`` and output ``(batch, embedding_size)`` of the CAM++ graph."""
SEGMENTATION_NAMES = ("waveforms", "scores")
"""Input ``(batch, 1, samples)`` and output ``(batch, frames, classes)`` of the segmentation graph."""

_OPSET = 17
_SEGMENTATION_SAMPLES = 160_000  # the example window: 10 s at 16 kHz (the exported graph takes any length)


def _export(
    network: torch.nn.Module, example: torch.Tensor, target: Path, names: tuple[str, str],
    time_axis: int, result_axes: dict[int, str],
) -> None:
    """Trace ``network`` on ``example`` into ``target``, the input's batch axis and ``time_axis`` and the
    output's ``result_axes`` left dynamic."""
    source, result = names
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the exporter's tracer and deprecation notices: nothing a user acts on
        torch.onnx.export(
            network.eval(),
            (example,),
            str(target),
            input_names=[source],
            output_names=[result],
            dynamic_axes={source: {0: "batch", time_axis: "time"}, result: result_axes},
            opset_version=_OPSET,
            dynamo=False,
        )


def export_campplus(network: CAMPPlus, target: Path) -> None:
    """Write ``network`` (torch, no runtime attached) to ``target``: ``features (B, T, 80) -> embeddings (B, D)``."""
    if network.runtime is not None:
        raise ValueError("export the torch network, not one that already runs on ONNX Runtime")
    _export(network, torch.zeros(1, 200, FBANK_DIM), target, CAMPPLUS_NAMES, time_axis=1, result_axes={0: "batch"})


def export_segmentation(model: torch.nn.Module, target: Path) -> None:
    """Write pyannote's segmentation ``model`` (torch) to ``target``: ``waveforms (B, 1, samples) -> scores
    (B, frames, classes)``."""
    if isinstance(model.__dict__.get("forward"), OnnxRuntime):
        raise ValueError("export the torch model, not one that already runs on ONNX Runtime")
    example = torch.randn(2, 1, _SEGMENTATION_SAMPLES, generator=torch.Generator().manual_seed(0)) * 0.1
    _export(model, example, target, SEGMENTATION_NAMES, time_axis=2, result_axes={0: "batch", 1: "frames"})


def attach_segmentation(model: torch.nn.Module, path: Path) -> None:
    """Run ``model``'s ``forward`` (pyannote's segmentation model, as its inference calls it) on the export at
    ``path``; everything else about the model (specifications, receptive field) stays as loaded."""
    model.forward = OnnxRuntime(path, SEGMENTATION_NAMES)


class OnnxRuntime:
    """ONNX Runtime sessions of one exported graph: ``runtime(x) -> y``, torch tensors in and out.

    Each call runs on as many intra-op threads as torch is set to use on the calling thread
    (``torch.get_num_threads()``), so the stage's thread budget applies as it does to torch; a session per
    thread count is made on first use. Sessions are safe to call from several threads at once (the speaker
    stage embeds items side by side, one thread each).
    """

    def __init__(self, path: Path, names: tuple[str, str] = CAMPPLUS_NAMES) -> None:
        self.path = Path(path)
        self.names = names
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._session(1)  # a broken file fails here, at load time

    def _session(self, threads: int) -> Any:
        session = self._sessions.get(threads)
        if session is not None:
            return session
        import onnxruntime
        from onnxruntime.capi import onnxruntime_pybind11_state as state

        with self._lock:
            if threads not in self._sessions:
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy-wait
                options.log_severity_level = 3  # errors only; they raise anyway
                try:
                    self._sessions[threads] = onnxruntime.InferenceSession(
                        str(self.path), options, providers=["CPUExecutionProvider"]
                    )
                except (OSError, state.Fail, state.InvalidArgument, state.InvalidGraph, state.InvalidProtobuf,
                        state.NoSuchFile, state.RuntimeException) as exc:
                    raise ModelError(f"{self.path}: ONNX Runtime cannot load this graph ({exc})") from exc
            return self._sessions[threads]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        session = self._session(max(1, torch.get_num_threads()))
        array = np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
        (out,) = session.run([self.names[1]], {self.names[0]: array})
        return torch.from_numpy(out)

    def __repr__(self) -> str:
        return f"OnnxRuntime({self.path.name})"
