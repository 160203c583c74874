"""Strict option values: building frozen option dataclasses from plain mappings, and checking choices.

:func:`options_from_dict` builds an options dataclass from plain data (YAML, JSON, CLI): unknown keys are an
error, values are checked against the field types, and nested dataclasses are built recursively, so a typo in
a pipeline file fails loudly instead of being ignored. :func:`check_choice` is the one check of a value against
its allowed choices (a ``Literal`` type or a tuple), used both here and by the stages' ``__post_init__``.

This module depends on nothing but :mod:`diarize.errors`, so every options module may use it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

from diarize.errors import ConfigError

__all__ = ["check_choice", "choices_of", "options_from_dict", "options_to_dict"]

T = TypeVar("T")


def choices_of(choices: Any) -> tuple[Any, ...]:
    """The allowed values of ``choices``: the arguments of a ``Literal`` type, or the items of an iterable."""
    if typing.get_origin(choices) is typing.Literal:
        return typing.get_args(choices)
    return tuple(cast("Iterable[Any]", choices))


def check_choice(where: str, value: Any, choices: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` is one of ``choices`` (a ``Literal`` type or an iterable).

    ``where`` names the option, e.g. ``"speakers.clustering"``; the message reads
    ``speakers.clustering: 'x' is not one of 'auto', 'constrained'``.
    """
    allowed = choices_of(choices)
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")


def options_from_dict(cls: type[T], data: Mapping[str, Any] | None, where: str = "") -> T:
    """Build ``cls`` (a dataclass) from ``data``; missing keys keep their defaults.

    Raises :class:`ConfigError` naming ``where`` and the key for an unknown key or a value of the wrong type.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where or cls.__name__}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"valid keys are {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {
        name: _coerce(hints[name], value, f"{where}.{name}" if where else name) for name, value in data.items()
    }
    try:
        return cls(**values)
    except ConfigError as exc:  # the dataclass's own checks: say where the values came from
        if not where:
            raise
        raise ConfigError(f"{where}: {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where or cls.__name__}: {exc}") from exc


def options_to_dict(options: Any) -> Any:
    """The plain-data form of an options dataclass (tuples become lists), for JSON provenance and hashing."""
    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        return {f.name: options_to_dict(getattr(options, f.name)) for f in dataclasses.fields(options)}
    if isinstance(options, (set, frozenset)):
        return sorted(options_to_dict(v) for v in options)
    if isinstance(options, (list, tuple)):
        return [options_to_dict(v) for v in options]
    if isinstance(options, Mapping):
        return {str(k): options_to_dict(v) for k, v in options.items()}
    return options


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        check_choice(where, value, hint)
        return value
    if origin in (frozenset, set):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return frozenset(value)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return tuple(_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return options_from_dict(hint, value, where)
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: Any, where: str) -> Any:
    if hint is Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if value is None:
        raise ConfigError(f"{where}: a value is required")
    return value
