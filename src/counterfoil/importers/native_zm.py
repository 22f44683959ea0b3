"""A UnionPay ZM file read natively: the SQL of its clean lines, its Python for the rest.

The part files are the file's own bytes, read by DuckDB one character a byte
(``codec`` "latin-1"), so that the SQL cuts a line's fields at the layout's byte
offsets. A clean line is 607 printable ASCII bytes with a known transaction type, 12
digits of amount, a real ``MMDDhhmmss``, a masked card, C/D amounts, a query serial,
and its free-text fields (sub-merchant name, reserved fields) blank: nothing in it for
``scrub_pans`` to mask. Its row is what ``unionpay_zm._build`` makes of it. Every other
line (a Chinese sub-merchant name, a blank, a short or long line, a bad value) is fed
to ``unionpay_zm._line``.

Only a bare ZM file with the settle date in its name is read so (the RD summary beside
it is read as ``open_statement`` reads it); a zip, or options given, is left to Python.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np

from counterfoil.importers.lines import ControlCheck, LineError
from counterfoil.importers.native import KEY_HASH_SQL, SQLITE_TIME_SQL, Fed
from counterfoil.importers.unionpay_layout import LINE_BYTES, NAMES, SPANS, LazyExtra
from counterfoil.importers.unionpay_rd import RdTotals, read_rd
from counterfoil.importers.unionpay_zm import (
    SOURCE,
    TRADE_CODES,
    TXN_TYPES,
    _line,
    _Totals,
    _year,
    settle_date_from_name,
)

_FREE: Final = ("sub_merchant_name", "merchant_reserved", "reserved_1", "reserved_2")
#: The fields the SQL reads, cut once per line.
_FIELDS: Final = (
    "trade_code", "trace_no", "transmitted_at", "card", "amount", "query_id", "order_no",
    "merchant_fee", "settlement_amount", "txn_type_code", "merchant_no", "terminal_id",
)  # fmt: skip
_PRINTABLE: Final = bytes(range(0x20, 0x7F))
_HIGH: Final = bytes(range(0x80, 0x100))
_WHEN: Final = r"^(0[1-9]|1[0-2])[0-3][0-9]([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]$"
_FIELD_SPANS: Final = tuple(SPANS[NAMES.index(name)] for name in _FIELDS)
_FREE_SPANS: Final = tuple(SPANS[NAMES.index(name)] for name in _FREE)
#: A uniform line as its part file has it: "1" (it can be clean) or "0", then each of
#: ``_FIELDS`` and the text, each after the unit separator.
_UNIT: Final = 0x1F
_UNIFORM_AT: Final = tuple(
    2 + sum(1 + end - start for start, end in _FIELD_SPANS[:n]) for n in range(len(_FIELDS))
)
_UNIFORM_BYTES: Final = 2 + sum(1 + end - start for start, end in _FIELD_SPANS)


def _width(name: str) -> int:
    start, end = SPANS[NAMES.index(name)]
    return end - start


def plan(path: Path, file: str, rd: Path | None) -> ZmNative | None:
    """The native reading of the bare ZM file at ``path`` (``rd``: its RD summary)."""
    found = settle_date_from_name(path.name)
    if found is None:
        return None
    with path.open("rb") as stream:
        head = stream.read(4)
        if head.startswith(b"PK"):  # a zip: the Python parser opens it
            return None
        stream.seek(0)
        first = stream.readline()
    if first and not first.endswith(b"\n"):
        return None
    totals_rd = None
    if rd is not None:
        with rd.open("rb") as handle:
            totals_rd = read_rd(handle, file=f"{file} (RD)")
    return ZmNative(file, found[0], found[1], totals_rd, first.endswith(b"\r\n") or not first)


class ZmNative:
    source = SOURCE
    codec = "latin-1"
    REFUSE = "false"
    start = 0
    first_line = 1
    python_from = None
    TOTALS = "sum(t1), sum(t2), sum(t3), sum(t4), count(*), 0, 0"

    def __init__(
        self, file: str, settled: date, merchant_no: str, rd: RdTotals | None, crlf: bool
    ) -> None:
        self.file = file
        self.settled = settled
        self.merchant_no = merchant_no
        self.rd = rd
        self.crlf = crlf
        self.block_header: dict[str, Any] = {"format": SOURCE, "codec": "ascii"}
        self.totals = _Totals()
        self.years = {f"{month:02d}": str(_year(settled, month)) for month in range(1, 13)}

    # A chunk whose every line has a clean line's length and no control character
    # (``uniform``: most) is cut by numpy: its part file has, for each line, whether it
    # can be clean, the fields the SQL reads, and the text of a line that cannot be,
    # separated by the unit separator (a control character: no line has it), which
    # DuckDB's CSV reader splits. Cutting in DuckDB took 0.091 s of CPU a 16 MiB piece,
    # numpy takes about 0.025 and DuckDB then 0.028 to read what it wrote.
    # In another chunk a line is cut by DuckDB as bytes (a BLOB: DuckDB slices a string
    # by characters, walking it from its start each time), and matched against
    # printable ASCII.

    def cells(self, lines: str) -> str:
        return self._cells(lines)

    def uniform(self, chunk: bytes) -> bytes | None:
        ending = b"\r\n" if self.crlf else b"\n"
        stride = LINE_BYTES + len(ending)
        count = len(chunk) // stride
        if (
            len(chunk) % stride
            or chunk.count(b"\n") != count
            # a control character (the line endings apart)
            or chunk.translate(None, _PRINTABLE).translate(None, _HIGH + ending)
        ):
            return None
        rows = np.frombuffer(chunk, np.uint8).reshape(count, stride)
        if not (rows[:, LINE_BYTES:] == np.frombuffer(ending, np.uint8)).all():
            return None  # a line longer or shorter than a clean one: not uniform
        body = rows[:, :LINE_BYTES]
        shaped = body.max(axis=1) < 0x80  # ASCII, and printable (checked above)
        for start, end in _FREE_SPANS:
            shaped &= (body[:, start:end] == ord(" ")).all(axis=1)
        out = np.full((count, _UNIFORM_BYTES + len(ending)), _UNIT, np.uint8)
        out[:, 0] = np.where(shaped, ord("1"), ord("0"))
        for (start, end), at in zip(_FIELD_SPANS, _UNIFORM_AT, strict=True):
            out[:, at : at + end - start] = body[:, start:end]
        out[:, _UNIFORM_BYTES:] = np.frombuffer(ending, np.uint8)
        fixed = out.tobytes()
        # the text of a line that cannot be clean goes before its ending, in the last
        # column (empty, which DuckDB reads as NULL, in the others)
        width, joined, done = out.shape[1], [], 0
        for row in np.flatnonzero(~shaped).tolist():
            cut = row * width + _UNIFORM_BYTES
            joined += [fixed[done:cut], chunk[row * stride : row * stride + LINE_BYTES]]
            done = cut
        if not joined:
            return fixed
        joined.append(fixed[done:])
        return b"".join(joined)

    @property
    def uniform_columns(self) -> tuple[str, int]:
        return chr(_UNIT), len(_FIELDS) + 2

    def uniform_cells(self, source: str, base: int) -> str:
        fields = ", ".join(
            f"CASE WHEN f1 = '1' THEN f{n} END AS f_{name}"
            for n, name in enumerate(_FIELDS, start=2)
        )
        return f"""
SELECT row_number() OVER () + {base - 1} AS line_no, f{len(_FIELDS) + 2} AS t,
  {LINE_BYTES} AS chars, f1 = '1' AS shaped, {fields}
FROM {source}"""  # noqa: S608

    def _cells(self, lines: str) -> str:
        def cut(name: str) -> str:
            start, end = SPANS[NAMES.index(name)]
            return f"b[{start + 1}:{end}]"

        fields = ", ".join(
            f"CASE WHEN shaped THEN decode({cut(name)}) END AS f_{name}" for name in _FIELDS
        )
        blank = " AND ".join(f"{cut(name)} = '{' ' * _width(name)}'::BLOB" for name in _FREE)
        check = " AND regexp_full_match(t, '[ -~]*')"
        # A line of 607 characters that are 607 bytes is ASCII (the part file has each
        # byte of the file as one character).
        # The text is kept only of a line that cannot be clean: a shaped line the SQL
        # finds not clean after all (rare) has its text read from the raw-text blocks.
        return f"""
SELECT line_no, CASE WHEN shaped THEN NULL ELSE t END AS t, chars, shaped, {fields}
FROM (
  SELECT line_no, t, chars, b, shaped AND {blank} AS shaped
  FROM (
    SELECT line_no, t, chars, encode(t) AS b,
      chars = {LINE_BYTES} AND strlen(t) = {LINE_BYTES}{check} AS shaped
    FROM (SELECT line_no, coalesce(t, '') AS t, length(coalesce(t, '')) AS chars FROM {lines})
  )
)"""  # noqa: S608

    def select(self, cells: str) -> str:
        kinds = " ".join(
            f"WHEN f_txn_type_code = '{code}' THEN '{kind}'"
            for code, (kind, _sign) in TXN_TYPES.items()
        )
        trades = " ".join(
            f"WHEN f_trade_code = '{code}' THEN '{kind}'"
            for code, (kind, _sign) in TRADE_CODES.items()
        )
        signs = " ".join(
            f"WHEN f_txn_type_code = '{code}' THEN {sign}"
            for code, (_kind, sign) in TXN_TYPES.items()
        )
        signs += " " + " ".join(
            f"WHEN f_trade_code = '{code}' THEN {sign}"
            for code, (_kind, sign) in TRADE_CODES.items()
        )
        years = " ".join(f"WHEN '{m}' THEN '{y}'" for m, y in self.years.items())
        pattern = _WHEN[1:-1] + "[0-9]{12}[CD][0-9]{12}[CD][0-9]{12}"
        key = f"'{SOURCE}|unionpay|' || merchant_no || '|' || query_id || '||' || txn_type"
        return f"""
SELECT line_no, CASE WHEN ok THEN 1 ELSE 0 END AS clean, chars,
  CASE WHEN ok THEN NULL ELSE t END AS raw,
  {SQLITE_TIME_SQL.format(ts="ts")} AS occurred_at, amount, txn_type, 'success' AS status,
  CAST(NULL AS VARCHAR) AS rrn, nullif(trace_no, '') AS trace_no,
  nullif(terminal_id, '') AS terminal_id,
  nullif(merchant_no, '') AS merchant_no, nullif(order_no, '') AS order_no,
  nullif(query_id, '') AS platform_id, CAST(NULL AS VARCHAR) AS refund_id, fee, net,
  nullif(card, '') AS card_masked,
  CASE WHEN regexp_full_match(right(card, 4), '[0-9]+') THEN right(card, 4) END AS card_last4,
  CAST(NULL AS VARCHAR) AS counterparty, CAST(NULL AS VARCHAR) AS description,
  natural_key, {KEY_HASH_SQL.format(md5="md5(natural_key)")} AS key_hash,
  amount AS t1, fee AS t2, net AS t3, CAST(amount - fee <> net AS BIGINT) AS t4,
  0 AS t5, 0 AS t6
FROM (
  SELECT *, {key} AS natural_key,
    sign * TRY_CAST(f_amount AS BIGINT) AS amount,
    CASE WHEN f_merchant_fee < 'D' THEN -1 ELSE 1 END
      * TRY_CAST(ltrim(f_merchant_fee, 'CD') AS BIGINT) AS fee,
    CASE WHEN f_settlement_amount < 'D' THEN 1 ELSE -1 END
      * TRY_CAST(ltrim(f_settlement_amount, 'CD') AS BIGINT) AS net,
    shaped AND txn_type IS NOT NULL AND ts IS NOT NULL
      AND regexp_full_match(f_transmitted_at || f_amount || f_merchant_fee
        || f_settlement_amount, '{pattern}')
      AND length(card) - length(replace(card, '*', '')) > length(card) - 13
      AND query_id <> '' AS ok
  FROM (
    SELECT line_no, t, chars, shaped, f_amount, f_merchant_fee, f_settlement_amount,
      f_transmitted_at,
      trim(f_card, ' ') AS card, trim(f_trace_no, ' ') AS trace_no,
      trim(f_terminal_id, ' ') AS terminal_id, trim(f_merchant_no, ' ') AS merchant_no,
      trim(f_order_no, ' ') AS order_no, trim(f_query_id, ' ') AS query_id,
      CASE {kinds} {trades} END AS txn_type,
      CASE {signs} END AS sign,
      TRY_STRPTIME((CASE substr(f_transmitted_at, 1, 2) {years} END) || f_transmitted_at,
        '%Y%m%d%H%M%S') AS ts
    FROM {cells}
  )
)"""  # noqa: S608

    def clean_lines_between(self) -> None:
        pass

    def feed(self, line_no: int, text: str) -> Fed:
        """``unionpay_zm._events``' loop, for one line."""
        fed = Fed()
        data = text.encode("latin-1")
        if not data or data.isspace():
            return fed
        record = _line(self.file, line_no, data, self.years, self.totals)
        if isinstance(record, LineError):
            fed.errors.append(record)
        else:
            fed.lines.append(record)
        return fed

    def add(self, totals: tuple[Any, ...]) -> None:
        amount, fee, net, unbalanced, count, _a, _b = (int(v or 0) for v in totals)
        t = self.totals
        t.amount += amount
        t.fee += fee
        t.net += net
        t.unbalanced += unbalanced
        t.count += count

    def ending(self) -> tuple[list[ControlCheck], dict[str, str]]:
        checks = list(self.totals.checks(self.rd, self.settled, self.merchant_no))
        info = {"settle_date": self.settled.isoformat(), "merchant_no": self.merchant_no}
        return checks, info


def rebuild(header: dict[str, Any]) -> Any:
    """The other fields of a clean line, from its raw text (``statement_blocks``)."""

    def extra_of(raw: str) -> dict[str, str]:
        return LazyExtra(raw.encode("ascii"))._materialise()

    return extra_of
