"""How statement lines are kept besides their columns: the natural key's hash that
overlapping files are looked up by, and the raw text in compressed blocks.

A line's raw text and the fields that have no column of their own are most of a row's
bytes and nothing queries them: a block of consecutive lines is kept as one row of
``statement_raw``, zlib-compressed JSON, written in the same transaction as the lines.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from typing import Any

import orjson


def key_hash(natural_key: str) -> int:
    """The natural key's first 8 bytes of BLAKE2b, as a signed 64-bit integer."""
    digest = hashlib.blake2b(natural_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def pack(lines: Iterable[tuple[int, str, dict[str, Any]]]) -> bytes:
    """Lines as (line_no, raw text, other fields) into one block."""
    return zlib.compress(orjson.dumps(list(lines)), 1)


def unpack(block: bytes) -> list[tuple[int, str, dict[str, Any]]]:
    """A block's lines as (line_no, raw text, other fields), in order."""
    return [
        (int(n), str(raw), dict(extra)) for n, raw, extra in orjson.loads(zlib.decompress(block))
    ]
