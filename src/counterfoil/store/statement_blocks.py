"""How statement lines are kept besides their columns: the natural key's hash that
overlapping files are looked up by, and the raw text in compressed blocks.

A line's raw text and the fields that have no column of their own are most of a row's
bytes and nothing queries them: a block of consecutive lines is kept as one row of
``statement_raw``, written in the same transaction as the lines. A block is one of:

* zlib-compressed JSON ``[[line_no, raw, {field: value}], ...]`` (the parser's own
  lines, whatever the format);
* ``FILE_BLOCK`` + a 4-byte length + a JSON header + the file's own bytes for lines
  ``first``..``last``, zlib-compressed: what a file read by DuckDB leaves (the bytes are
  the raw text, nothing is built line by line). The header names the codec, the lines
  of the range that are not statement lines (``skip``: a header, a blank, a rejected
  row), the lines whose raw text or fields the parser made itself (``own``, as in the
  first kind), and what the format needs to give a line's other fields back from its
  raw text (``format`` and, for a CSV, its ``header``).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

import orjson
from isal import isal_zlib

#: What a block of a file's own bytes starts with (a zlib stream never starts so).
FILE_BLOCK: Final = b"CF2\n"

#: A format's way of giving a line's other fields back from its raw text: made once per
#: block from the block's header.
Rebuild = Callable[[dict[str, Any]], Callable[[str], dict[str, str]]]


def key_hash(natural_key: str) -> int:
    """The natural key's first 8 bytes of MD5, big-endian, as a signed 64-bit integer
    (DuckDB computes the same from ``md5``: see ``services.statement_native``)."""
    digest = hashlib.md5(natural_key.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def compress(data: bytes) -> bytes:
    """A zlib stream of ``data``, made by ISA-L: six times zlib's speed at its fastest
    level (1.9 GB/s against 0.32 on a ZM file's text), a little smaller, and read back
    by the standard library's ``zlib.decompress``."""
    return isal_zlib.compress(data, 1)


def pack(lines: Iterable[tuple[int, str, dict[str, Any]]]) -> bytes:
    """Lines as (line_no, raw text, other fields) into one block."""
    return compress(orjson.dumps(list(lines)))


def pack_file_bytes(header: dict[str, Any], compressed: bytes) -> bytes:
    """A block of a file's own bytes (``compressed``: zlib of them) with its ``header``."""
    head = orjson.dumps(header)
    return FILE_BLOCK + len(head).to_bytes(4, "big") + head + compressed


def unpack(block: bytes, rebuild: Rebuild | None = None) -> list[tuple[int, str, dict[str, Any]]]:
    """A block's lines as (line_no, raw text, other fields), in order. A block of file
    bytes needs ``rebuild`` for the other fields of the lines it does not own."""
    if not block.startswith(FILE_BLOCK):
        return [
            (int(n), str(raw), dict(extra))
            for n, raw, extra in orjson.loads(zlib.decompress(block))
        ]
    start = len(FILE_BLOCK)
    size = int.from_bytes(block[start : start + 4], "big")
    header = orjson.loads(block[start + 4 : start + 4 + size])
    if rebuild is None:
        raise ValueError("a block of file bytes needs its format's rebuild")
    return list(_file_lines(header, zlib.decompress(block[start + 4 + size :]), rebuild))


def _file_lines(
    header: dict[str, Any], data: bytes, rebuild: Rebuild
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    codec = str(header["codec"])
    skip = set(header["skip"])
    own = {int(n): (str(raw), dict(extra)) for n, raw, extra in header["own"]}
    extra_of = rebuild(header)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for number, text in enumerate(lines, start=int(header["first"])):
        if number in own:
            raw, extra = own[number]
            yield number, raw, extra
        elif number not in skip:
            raw = (text[:-1] if text.endswith(b"\r") else text).decode(codec)
            yield number, raw, extra_of(raw)
