"""A WeChat Pay trade bill read natively: the SQL of its clean rows, its Python for the rest.

``plan`` reads the head of the file as ``wechat_trade`` does (encoding, title lines, the
header and its columns) and gives a ``WechatNative`` for the lines after the header, or
None when the bill is not one to read so (not UTF-8, a REFUND bill, quotes before the
header): the Python parser then reads it all.

A clean row is a data row (``\\`2021-…``) whose cells are split on ",\\`" exactly as
``delimited_rows`` splits them, whose every value is in the one form the parser's fast
path reads (``12.34``, ``0.28608``, ``2021-01-28 17:07:11``, a known status, no id a
spreadsheet turned into ``4.2E+27``), whose goods and attach are too short to hold a
card number, and which comes before the summary rows. Its row is what ``_Bill.line``
makes of it, to the fen. Every other line is fed to the same ``_Bill`` and the same
loop as in ``wechat_trade._events``; a quote anywhere stops the native read.
"""

from __future__ import annotations

from operator import itemgetter
from pathlib import Path
from typing import Any, Final

from counterfoil.i18n import _
from counterfoil.importers.delimited import (
    ColumnMap,
    Row,
    header_columns,
    is_blank,
    normalise_header,
)
from counterfoil.importers.lines import ControlCheck, LineError, line_error
from counterfoil.importers.native import KEY_HASH_SQL, SQLITE_TIME_SQL, Fed
from counterfoil.importers.text import SNIFF_BYTES, sniff_encoding
from counterfoil.importers.wechat_trade import (
    COLUMNS,
    EXTRA,
    PAYMENT_STATUS,
    REFUND_STATUS,
    REQUIRED,
    SOURCE,
    TITLE,
    _Bill,
    _is_header,
    _RowExtra,
)

HEAD_LINES: Final = 40  # lines read for the header (find_header stops at 20 non-blank)
_AMOUNT: Final = r"^[0-9]{1,13}\.[0-9][0-9]$"
_FEE: Final = r"^-?[0-9]{1,12}\.[0-9]{5}$"
_TIME: Final = (
    r"^(19|2[0-9])[0-9][0-9]-[0-9][0-9]-[0-9][0-9] ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
)
_ZERO: Final = ("0.00", "", "-")  # what to_fen_or_zero reads as 0 without parsing
#: The cells the SQL reads.
_READ: Final = (
    "time", "transaction_id", "order_no", "trade_state", "settlement_amount", "refund_amount",
    "coupon_refund_amount", "order_amount", "refund_requested", "fee", "refund_status",
    "device", "merchant_no", "refund_id", "openid", "goods", "attach", "currency",
)  # fmt: skip


class _Splitter:
    """``delimited_rows`` for lines without quotes, its ``width`` state included."""

    def __init__(self) -> None:
        self.width = -1

    def row(self, number: int, text: str) -> Row:
        cells = text[1:].split(",`") if text[:1] == "`" else []
        if len(cells) != self.width:
            if len(cells) == text.count(",") + 1:
                self.width = len(cells)
            else:
                body = text.replace(",`", ",")
                cells = (body[1:] if body[:1] == "`" else body).split(",")
        return Row(number, text, cells)


def plan(path: Path, file: str) -> WechatNative | None:
    """The native reading of the trade bill at ``path``, or None (read it in Python)."""
    with path.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
        encoding = sniff_encoding(
            head, file=file, default="utf-8", complete=len(head) < SNIFF_BYTES
        )
        if encoding.codec != "utf-8":
            return None
        stream.seek(encoding.bom)
        offset = encoding.bom
        splitter = _Splitter()
        seen = 0
        for number in range(1, HEAD_LINES + 1):
            data = stream.readline()
            if not data.endswith(b"\n"):
                return None
            offset += len(data)
            crlf = data.endswith(b"\r\n")
            try:
                text = data[: -2 if crlf else -1].decode("utf-8")
            except UnicodeDecodeError:
                return None
            if '"' in text:
                return None
            row = splitter.row(number, text)
            if is_blank(row.cells):
                continue
            if _is_header([normalise_header(cell) for cell in row.cells]):
                try:
                    columns = header_columns(row, COLUMNS, REQUIRED, file=file, expected=TITLE)
                except Exception:  # the Python parser says why
                    return None
                if "refund_requested_at" in columns.index:
                    return None
                info = {
                    "encoding": f"{encoding.codec} ({encoding.how})",
                    "layout": f"{columns.width} columns",
                }
                return WechatNative(
                    file, row.cells, columns, splitter, offset, number + 1, crlf, info
                )
            seen += 1
            if seen >= 20:
                return None
    return None


class WechatNative:
    source = SOURCE
    codec = "utf-8"
    #: a quote may open a cell that goes on over several lines: read in Python
    REFUSE = "contains(t, '\"')"
    TOTALS = "sum(t1), sum(t2), sum(t3), sum(t4), sum(t5), sum(t6), count(*)"

    def __init__(
        self,
        file: str,
        header: list[str],
        columns: ColumnMap,
        splitter: _Splitter,
        start: int,
        first_line: int,
        crlf: bool,
        info: dict[str, str],
    ) -> None:
        self.file = file
        self.columns = columns
        self.splitter = splitter
        self.start = start
        self.first_line = first_line
        self.crlf = crlf
        self.info = info
        self.bill = _Bill(file, columns, False)
        self.titles: list[str] | None = None
        self.summary: dict[str, str] | None = None
        self._python_from: int | None = None
        self.block_header: dict[str, Any] = {"format": SOURCE, "codec": "utf-8", "header": header}

    # --- SQL ----------------------------------------------------------------------------

    def _cell(self, key: str) -> str:
        position = self.columns.index.get(key)
        return "''" if position is None else f"c{position + 1}"

    def _shape(self) -> str:
        """One regular expression for a whole clean row: each cell in the one form the
        parser's fast path reads (RE2 reads a line once, where a test a cell costs a call
        a cell)."""
        patterns = self._patterns()
        cells = [patterns.get(i, "[^,]*") for i in range(self.columns.width)]
        return "`" + ",`".join(cells)

    def cells(self, lines: str) -> str:
        wanted = sorted({self.columns.index[k] for k in _READ if k in self.columns.index})
        cells = ", ".join(f"c[{i + 1}] AS c{i + 1}" for i in wanted)
        # The split first, on its own: DuckDB then cuts it once for all the cells.
        return f"""
SELECT line_no, t, strlen(t) AS chars, regexp_full_match(t, '{self._shape()}') AS shaped,
  {cells}
FROM (SELECT line_no, coalesce(t, '') AS t, string_split(coalesce(t, '')[2:], ',`') AS c
  FROM {lines})"""  # noqa: S608

    # A uniform part: every line a row of ``width`` cells, each after a backtick, no
    # quote (checked on the bytes in ``uniform``). DuckDB's CSV reader then splits it on
    # ",`" itself, as ``delimited_rows`` does.

    def uniform(self, chunk: bytes) -> bytes | None:
        lines, commas = chunk.count(b"\n"), self.columns.width - 1
        if (
            b'"' in chunk
            or not chunk.startswith(b"`")
            or chunk.count(b",") != commas * lines
            or chunk.count(b",`") != commas * lines
            or chunk.count(b"\n`") != lines - (1 if chunk.endswith(b"\n") else 0)
        ):
            return None
        return chunk

    @property
    def uniform_columns(self) -> tuple[str, int]:
        """(delimiter, columns) of a uniform part for DuckDB's CSV reader."""
        return ",`", self.columns.width

    def uniform_cells(self, source: str, base: int) -> str:
        """What ``cells`` gives, from a uniform piece as ``source`` reads it (``f1``..):
        only the cells the SQL reads (DuckDB's reader then makes no others), and no
        text: the text of a line that is not clean is read from the file."""
        width = self.columns.width
        wanted = sorted({self.columns.index[k] for k in _READ if k in self.columns.index})
        cell = {i: f"coalesce(f{i + 1}, '')" for i in range(width)}
        cell[0] = "substr(coalesce(f1, ''), 2)"
        checked = [i for i in range(width) if i in self._patterns()]
        joined = " || chr(31) || ".join(cell[i] for i in checked)
        pattern = "\x1f".join(self._patterns()[i] for i in checked)
        cells = ", ".join(f"{cell[i]} AS c{i + 1}" for i in wanted)
        return f"""
SELECT row_number() OVER () + {base - 1} AS line_no, CAST(NULL AS VARCHAR) AS t, 0 AS chars,
  regexp_full_match({joined}, '{pattern}') AS shaped, {cells}
FROM {source}"""  # noqa: S608

    def _patterns(self) -> dict[int, str]:
        amount, fee, time = _AMOUNT[1:-1], _FEE[1:-1], _TIME[1:-1]
        zero_or_amount = f"(0\\.00|-|{amount})?"
        patterns = {
            "time": time,
            "settlement_amount": amount,
            "refund_amount": zero_or_amount,
            "coupon_refund_amount": zero_or_amount,
            "order_amount": zero_or_amount,
            "refund_requested": zero_or_amount,
            "fee": fee,
            "currency": "(CNY)?",
            "goods": "[^,]{0,12}",
            "attach": "[^,]{0,12}",
            "trade_state": "(" + "|".join([*PAYMENT_STATUS, "REFUND"]) + ")",
        }
        index = self.columns.index
        return {index[k]: v for k, v in patterns.items() if k in index}

    def select(self, cells: str) -> str:
        c = self._cell
        time, state, refund_state = c("time"), c("trade_state"), c("refund_status")
        settlement, refund, coupon_refund = (
            c("settlement_amount"),
            c("refund_amount"),
            c("coupon_refund_amount"),
        )
        order, requested, fee = c("order_amount"), c("refund_requested"), c("fee")
        has_order = "order_amount" in self.columns.index
        zeros = ", ".join(f"'{z}'" for z in _ZERO)

        def fen(cell: str) -> str:
            return (
                f"CASE WHEN {cell} IN ({zeros}) THEN 0 "
                f"ELSE TRY_CAST(replace({cell}, '.', '') AS BIGINT) END"
            )

        refunds = ", ".join(f"'{s}'" for s in REFUND_STATUS)
        ids = f"{c('transaction_id')} || {c('order_no')} || {c('refund_id')}"
        # ``shaped`` read every amount, the fee, the time's form, the currency, the goods
        # and the payment status; what is left is what depends on other cells.
        clean = (
            f"shaped AND NOT contains({ids}, 'E+') AND {c('transaction_id')} <> '' "
            f"AND TRY_CAST({time} AS TIMESTAMP) IS NOT NULL "
            f"AND ({state} <> 'REFUND' OR {refund_state} IN ({refunds}))"
        )
        payment_status = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in PAYMENT_STATUS.items())
        refund_status = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in REFUND_STATUS.items())
        refund_id = f"CASE WHEN {c('refund_id')} IN ('', '0') THEN NULL ELSE {c('refund_id')} END"
        sale_amount = f"CASE WHEN {order} <> '' THEN o ELSE s END" if has_order else "s"
        key = (
            f"'{SOURCE}|wechat|' || {c('merchant_no')} || '|' || {c('transaction_id')} || '|' "
            f"|| coalesce(refund_id, '') || '|' || txn_type"
        )
        return f"""
SELECT line_no, CASE WHEN ok THEN 1 ELSE 0 END AS clean, chars,
  CASE WHEN ok THEN NULL ELSE t END AS raw,
  {SQLITE_TIME_SQL.format(ts="ts")} AS occurred_at,
  CASE WHEN refund THEN -(CASE WHEN rq <> 0 THEN rq ELSE r END) ELSE {sale_amount} END AS amount,
  txn_type,
  CASE WHEN refund THEN (CASE {refund_state} {refund_status} END)
       ELSE (CASE {state} {payment_status} END) END AS status,
  CAST(NULL AS VARCHAR) AS rrn, CAST(NULL AS VARCHAR) AS trace_no,
  nullif({c("device")}, '') AS terminal_id, nullif({c("merchant_no")}, '') AS merchant_no,
  nullif({c("order_no")}, '') AS order_no, nullif({c("transaction_id")}, '') AS platform_id,
  refund_id, fee, CASE WHEN refund THEN -r - fee ELSE s - fee END AS net,
  CAST(NULL AS VARCHAR) AS card_masked, CAST(NULL AS VARCHAR) AS card_last4,
  nullif({c("openid")}, '') AS counterparty, nullif({c("goods")}, '') AS description,
  natural_key, {KEY_HASH_SQL.format(md5="key_md5")} AS key_hash,
  s AS t1, r AS t2, cr AS t3, o AS t4, rq AS t5, fu AS t6
FROM (
  SELECT *, md5(natural_key) AS key_md5
  FROM (
    SELECT * REPLACE (ok AND length({key}) <= 400 AS ok), {key} AS natural_key,
      CASE WHEN fu >= 0 THEN (fu + 500) // 1000 ELSE -((500 - fu) // 1000) END AS fee
    FROM (
      SELECT *, ({clean}) AS ok, {state} = 'REFUND' AS refund,
        CASE WHEN {state} = 'REFUND' THEN 'refund' ELSE 'sale' END AS txn_type,
        {refund_id} AS refund_id,
        TRY_CAST(replace({settlement}, '.', '') AS BIGINT) AS s,
        {fen(refund)} AS r, {fen(coupon_refund)} AS cr, {fen(order)} AS o,
        {fen(requested)} AS rq, TRY_CAST(replace({fee}, '.', '') AS BIGINT) AS fu,
        TRY_CAST({time} AS TIMESTAMP) AS ts
      FROM {cells}
    )
  )
)"""  # noqa: S608

    # --- Python for the rest --------------------------------------------------------

    @property
    def python_from(self) -> int | None:
        return self._python_from

    def clean_lines_between(self) -> None:
        # A clean row is split on ",`" into as many cells as it has commas + 1: the
        # splitter's width becomes that number (the header's).
        self.splitter.width = self.columns.width

    def feed(self, line_no: int, text: str) -> Fed:
        """``wechat_trade._events``' loop, for one line."""
        fed = Fed()
        row = self.splitter.row(line_no, text)
        titles, summary = self.titles, self.summary
        record: Any = None
        if titles is None and row.cells[0][:1].isdigit():
            record = self.bill.line(row)
        elif titles is not None and summary is None:
            if not is_blank(row.cells):
                self.summary = dict(zip(titles, (c.strip() for c in row.cells), strict=False))
        elif is_blank(row.cells):
            pass
        elif titles is not None:
            record = line_error(
                self.file, row.line_no, row.raw, _("unexpected row after the summary")
            )
        elif normalise_header(row.cells[0]) == "总交易单数":
            self.titles = [normalise_header(c) for c in row.cells]
            self._python_from = line_no  # rows after the titles are the summary's
        else:
            record = self.bill.line(row)
        if isinstance(record, LineError):
            fed.errors.append(record)
        elif record is not None:
            fed.lines.append(record)
        return fed

    def add(self, totals: tuple[Any, ...]) -> None:
        s, r, cr, o, rq, fu, count = (int(v or 0) for v in totals)
        sums = self.bill.sums
        sums[0] += s
        sums[1] += r
        sums[2] += cr
        sums[3] += o
        sums[4] += rq
        self.bill.fee_units += fu
        self.bill.count += count

    def ending(self) -> tuple[list[ControlCheck], dict[str, str]]:
        return list(self.bill.checks(self.summary)), dict(self.info)


def rebuild(header: dict[str, Any]) -> Any:
    """The other fields of a clean row, from its raw text (``statement_blocks``)."""
    columns = ColumnMap(header["header"], COLUMNS)
    pick = itemgetter(*(columns.at(key) for key in EXTRA))

    def extra_of(raw: str) -> dict[str, str]:
        cells = raw[1:].split(",`")
        cells.append("")
        return _RowExtra(cells, pick)._materialise()

    return extra_of
