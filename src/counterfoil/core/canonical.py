"""Canonical bytes (RFC 8785, JSON Canonicalization Scheme) of journal bodies.

Journal bodies hold only strings, integers within ±2^53, booleans, null, lists and
objects with ASCII keys. For that domain orjson with sorted keys writes exactly the
RFC 8785 bytes, about fifty times faster than the reference implementation;
``tests/core/test_canonical.py`` proves the two agree with Hypothesis, and
``canonical_bytes`` refuses anything outside the domain (floats above all).
"""

from __future__ import annotations

from typing import Any

import orjson

from counterfoil.core.money import MAX_SAFE


def _check(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if -MAX_SAFE <= value <= MAX_SAFE:
            return
        raise ValueError(f"{path}: integer outside ±2^53 cannot be canonicalised exactly")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise ValueError(f"{path}: keys must be ASCII strings")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    raise ValueError(f"{path}: {type(value).__name__} is not allowed in a journal body")


_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def canonical_bytes(value: dict[str, Any], *, trusted: bool = False) -> bytes:
    """The RFC 8785 serialisation of ``value``.

    ``trusted`` skips the walk over the value for bodies Counterfoil builds itself from
    validated fields (strings, bounded integers, booleans; never a float): the journal's
    hot path. Integers beyond ±2^53 are refused either way (``OPT_STRICT_INTEGER``).
    """
    if not trusted:
        _check(value, "$")
    return orjson.dumps(value, option=_OPTIONS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
