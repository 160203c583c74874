"""JSON Schema (draft 2020-12) of the canonical result file ``<stem>.json`` (``schema: "diarize/1"``).

The schema is data: it lives in the project's ``data/result.schema.json`` (installed as
``diarize.data/result.schema.json``), so that other tools can validate our files without importing diarize.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from diarize.models.registry import data_path

__all__ = ["RESULT_SCHEMA", "SCHEMA_FILE", "schema_path"]

SCHEMA_FILE = "result.schema.json"
"""Name of the schema file in ``data/``."""


def schema_path() -> Path:
    """The installed schema file."""
    return data_path(SCHEMA_FILE)


RESULT_SCHEMA: dict[str, Any] = json.loads(schema_path().read_text(encoding="utf-8"))
"""The schema as a Python dict, read from :func:`schema_path`."""
