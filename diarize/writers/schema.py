"""JSON Schema (draft 2020-12) of the canonical result file ``<stem>.json`` (``schema: "diarize/1"``)."""

from __future__ import annotations

from typing import Any

from diarize.types import SCHEMA

__all__ = ["RESULT_SCHEMA"]

_TIME = {"type": "number", "minimum": 0}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}
_SPEAKER = {"type": ["string", "null"]}

RESULT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "diarize result",
    "description": "Speaker-attributed transcript of one media file; times are seconds on its timeline.",
    "type": "object",
    "required": ["schema", "source", "language", "speakers", "turns", "segments", "provenance"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA},
        "source": {"$ref": "#/$defs/source"},
        "language": {"type": "string"},
        "speakers": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "turns": {"type": "array", "items": {"$ref": "#/$defs/turn"}},
        "segments": {"type": "array", "items": {"$ref": "#/$defs/segment"}},
        "provenance": {"$ref": "#/$defs/provenance"},
        "embeddings": {
            "type": "object",
            "additionalProperties": {"type": "array", "items": {"type": "number"}},
        },
        "speaker_scores": _NUMBERS,
    },
    "$defs": {
        "source": {
            "type": "object",
            "required": ["path", "duration", "sample_rate", "channels", "codec", "container", "video"],
            "additionalProperties": False,
            "properties": {
                "path": {"type": "string"},
                "duration": _TIME,
                "sample_rate": {"type": "integer", "minimum": 0},
                "channels": {"type": "integer", "minimum": 0},
                "codec": {"type": "string"},
                "container": {"type": "string"},
                "video": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/video"}]},
            },
        },
        "video": {
            "type": "object",
            "required": ["fps", "n_frames", "width", "height", "duration", "codec"],
            "additionalProperties": False,
            "properties": {
                "fps": {"type": "string", "pattern": "^[0-9]+/[0-9]+$"},
                "fps_float": {"type": "number"},
                "n_frames": {"type": "integer", "minimum": 0},
                "width": {"type": "integer", "minimum": 0},
                "height": {"type": "integer", "minimum": 0},
                "duration": _TIME,
                "codec": {"type": "string"},
                "start_time": {"type": "number"},
                "variable_frame_rate": {"type": "boolean"},
                "frame_times": {"type": "array", "items": {"type": "number"}},
            },
        },
        "turn": {
            "type": "object",
            "required": ["start", "end", "speaker"],
            "additionalProperties": False,
            "properties": {
                "start": _TIME,
                "end": _TIME,
                "speaker": {"type": "string"},
                "frames": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 0},
                    "minItems": 2,
                    "maxItems": 2,
                },
            },
        },
        "segment": {
            "type": "object",
            "required": ["start", "end", "speaker", "text", "words"],
            "additionalProperties": False,
            "properties": {
                "start": _TIME,
                "end": _TIME,
                "speaker": _SPEAKER,
                "text": {"type": "string"},
                "words": {"type": "array", "items": {"$ref": "#/$defs/word"}},
                "avg_logprob": {"type": "number"},
                "no_speech_prob": {"type": "number"},
                "compression_ratio": {"type": "number"},
            },
        },
        "word": {
            "type": "object",
            "required": ["start", "end", "word", "probability", "speaker"],
            "additionalProperties": False,
            "properties": {
                "start": _TIME,
                "end": _TIME,
                "word": {"type": "string"},
                "probability": {"type": "number", "minimum": 0, "maximum": 1},
                "speaker": _SPEAKER,
                "overlap": {"type": "boolean"},
            },
        },
        "provenance": {
            "type": "object",
            "required": ["versions", "models", "options", "timings"],
            "properties": {
                "versions": _STRINGS,
                "models": _STRINGS,
                "options": {"type": "object"},
                "timings": _NUMBERS,
            },
        },
    },
}
"""The schema as a Python dict; ``json.dumps(RESULT_SCHEMA)`` gives the schema file."""
