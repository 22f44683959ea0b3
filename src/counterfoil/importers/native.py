"""What a format read natively (by DuckDB's CSV reader, in SQL) must say about itself.

A large WeChat trade bill or ZM file is not parsed line by line in Python: DuckDB reads
its physical lines and turns each plain, well-formed one into the row the Python parser
would make ("clean"), in SQL. Every other line — a header or summary row, a blank, a
line with a value the SQL does not read exactly as Python does (a card number to mask,
a status with spaces, an odd amount) — is handed back, in file order, to the format's
own Python code, which makes of it a line, a rejected row or nothing, exactly as in a
Python parse. The SQL decides "clean" conservatively: a line it is unsure of goes to
Python, never the other way round.

A ``NativeFormat`` gives the SQL that turns the physical lines of a part of the file
(``lines``: ``line_no`` and ``t``, the text, NULL for an empty line) into its cells
(``cells``, materialised, so that each is cut once) and those into ``STAGED``;
takes the lines that are not clean (``feed``) and the clean lines' totals (``add``);
and says at the end what a Python parse would have said (``ending``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from counterfoil.importers.lines import ControlCheck, LineError, StatementLine

#: What a part's query gives for each physical line, in this order. ``clean``: 1 the
#: row is made (``raw`` NULL), 0 the line goes to Python (``raw`` its text, or NULL:
#: the text is then read from the part's raw-text blocks).
#: ``chars``: the line's length in the file's bytes; ``t1``..``t6``: the format's own
#: numbers for its control totals (``TOTALS``).
STAGED: Final = (
    "line_no", "clean", "chars", "raw", "occurred_at", "amount", "txn_type", "status",
    "rrn", "trace_no", "terminal_id", "merchant_no", "order_no", "platform_id", "refund_id",
    "fee", "net", "card_masked", "card_last4", "counterparty", "description", "natural_key",
    "key_hash", "t1", "t2", "t3", "t4", "t5", "t6",
)  # fmt: skip

#: DuckDB's ``key_hash`` from ``{md5}``, the MD5 of a natural key in hex: its first 8
#: bytes, big-endian, signed (``store.statement_blocks.key_hash``).
KEY_HASH_SQL: Final = (
    "CAST(CAST(CAST('0x' || {md5}[1:16] AS UBIGINT) AS HUGEINT) - CASE WHEN "
    "{md5}[1:1] >= '8' THEN 18446744073709551616 ELSE 0 END AS BIGINT)"
)

#: A time as the SQLite store keeps it (``core.times.sqlite_text``) from a DuckDB
#: TIMESTAMP that is China Standard Time.
SQLITE_TIME_SQL: Final = "strftime({ts} - INTERVAL 8 HOUR, '%Y-%m-%d %H:%M:%S') || '.000000'"


@dataclass(slots=True)
class Fed:
    """What the format's Python made of the lines fed to it."""

    lines: list[StatementLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)


class NativeFormat(Protocol):
    source: str
    #: how DuckDB reads the part files (the file's bytes, or ``uniform``'s): "utf-8", or
    #: "latin-1", each byte one character (a fixed-width layout counts bytes)
    codec: str
    #: the byte offset and line number where the parts begin (after a header)
    start: int
    first_line: int
    #: whether the lines end with CRLF (else LF)
    crlf: bool
    #: how the lines of a block of the file's bytes decode, and what gives their other
    #: fields back (``store.statement_blocks``)
    block_header: dict[str, Any]
    #: a condition on a line's text ``t`` that stops the native read of the file
    REFUSE: str
    #: the SQL of the sums of ``t1``..``t6`` (and a count) over a part's clean rows
    TOTALS: str

    def cells(self, lines: str) -> str:
        """DuckDB SQL: ``line_no``, ``t``, ``chars`` and the cells the format reads, for
        every row of ``lines`` (a subquery)."""
        ...

    def select(self, cells: str) -> str:
        """DuckDB SQL: ``STAGED`` for every row of the table ``cells``."""
        ...

    def uniform(self, chunk: bytes) -> bytes | None:
        """``chunk`` (whole lines) as DuckDB's CSV reader can cut it into cells itself,
        when every line has the layout of a clean line; None when not."""
        ...

    @property
    def uniform_columns(self) -> tuple[str, int]:
        """The delimiter and the number of columns of a uniform chunk."""
        ...

    def uniform_cells(self, source: str, base: int) -> str:
        """DuckDB SQL: what ``cells`` gives, from a uniform piece as ``source`` (DuckDB's
        CSV reader, columns ``f1``…) reads it, its first line numbered ``base``. ``t``
        may be NULL: the text of a line that is not clean is then read from the file."""
        ...

    def feed(self, line_no: int, text: str) -> Fed:
        """A line that is not clean (``text``: as the part query read it), in file
        order."""
        ...

    def clean_lines_between(self) -> None:
        """Clean lines came since the last line fed (the parser's state moves on)."""
        ...

    @property
    def python_from(self) -> int | None:
        """The line after which no line may be clean (a WeChat summary title): a clean
        line after it stops the native read."""
        ...

    def add(self, totals: tuple[Any, ...]) -> None:
        """The ``TOTALS`` of a part's clean rows."""
        ...

    def ending(self) -> tuple[list[ControlCheck], dict[str, str]]:
        """The control checks and facts of the whole file."""
        ...


def texts(data: bytes, first_line: int, codec: str) -> Iterator[tuple[int, str]]:
    """The physical lines of ``data`` (whole lines) as the part query reads them."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    for number, line in enumerate(lines, start=first_line):
        yield number, (line[:-1] if line.endswith(b"\r") else line).decode(codec)
