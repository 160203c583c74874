"""Strict building of option dataclasses from YAML-like mappings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from diarize.errors import ConfigError
from diarize.options import options_from_dict, options_to_dict


@dataclass(frozen=True)
class Inner:
    threshold: float = 0.5
    method: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    count: int | None = None
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    inner: Inner = field(default_factory=Inner)


def test_defaults_and_nested_values():
    opts = options_from_dict(Outer, {"count": 3, "sizes": [4, 5], "inner": {"threshold": 1}})
    assert opts == Outer(count=3, sizes=(4, 5), inner=Inner(threshold=1.0))
    assert isinstance(opts.inner.threshold, float)


def test_round_trip_through_plain_data():
    opts = Outer(name="y", count=None, flag=True, inner=Inner(method="b"))
    assert options_from_dict(Outer, options_to_dict(opts)) == opts


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": 1}, r"Outer: unknown key\(s\) 'colour'; valid keys are count, flag, inner, name, sizes"),
        ({"inner": {"treshold": 1}}, r"inner: unknown key\(s\) 'treshold'"),
        ({"count": "three"}, r"count: expected an integer, got 'three'"),
        ({"flag": "yes"}, r"flag: expected true or false"),
        ({"inner": {"method": "c"}}, r"inner.method: 'c' is not one of 'a', 'b'"),
        ({"sizes": 3}, r"sizes: expected a list"),
        ([1, 2], r"expected a mapping"),
    ],
)
def test_invalid_input_names_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        options_from_dict(Outer, data)
