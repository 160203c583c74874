"""Shared fixtures: the real recordings in ../shared/data, skipped cleanly when absent."""

from __future__ import annotations

import os
from pathlib import Path

# OpenMP threads must not spin while PyTorch and CTranslate2 share two cores; set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of shared test recordings; tests that use it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pyannote_sample() -> Path:
    """The project's sample recording (``data/sample.wav``: pyannote.audio's 30 s two-speaker excerpt); its RTTM
    and UEM lie beside it."""
    from diarize.models.registry import sample_path

    path = sample_path()
    assert path.is_file(), f"{path}: the sample recording is missing from data/"
    return path
