"""A business day's totals from the journal: per terminal, kind, type, channel, card group.

Entries count by their terminal time (the business day's UTC bounds) and only up to a
journal sequence (``through``): what the journal held when the day was closed, so that
a closed day's totals never change, whatever arrives later.

The card group (``core.pan.card_group``: ``domestic`` for China's UnionPay BINs,
``foreign`` for the international schemes', else ``unknown``; ``qr`` without a card) is
the journal's ``card_group`` column, which the database computes from the BIN.

How the sums are made depends on the database, because a day can hold a million
entries. PostgreSQL sums with one GROUP BY (a hash aggregate). SQLite has no hash
aggregate: a GROUP BY over a million rows sorts them, which takes seconds. So on SQLite
a day of more than ``SMALL_DAY`` entries is summed otherwise: the distinct (terminal,
channel, type, card group, kind, currency) present are read from the covering index
``ix_journal_settlement`` (SQLite skips from one to the next), and each is summed over
its time range in the index: a seek and a sequential read, no sort and no per-row
expression.

A report sums many days. On PostgreSQL the open ones are summed by one scan of their
range grouped by day as well (``spans_totals``), not by one query a day: a month of ten
million entries is one pass over them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, and_, cast, func, select
from sqlalchemy.dialects import postgresql

from counterfoil.store.schema import journal_entries

j = journal_entries.c
#: Journal kinds that are no money: never in a settlement list.
NOT_MONEY = ("genesis", "key_rotation")
DEFAULT_CURRENCY = "CNY"


@dataclass(frozen=True, slots=True)
class Total:
    """One group's count and sums, in fen."""

    terminal_id: str
    kind: str
    type: str
    channel: str
    card_group: str
    currency: str
    count: int
    amount: int  # as the terminals sent it
    volume: int  # signed: what it adds to the day (fee + net)
    fee: int
    net: int

    def key(self) -> tuple[str, ...]:
        return (
            self.terminal_id,
            self.kind,
            self.type,
            self.channel,
            self.card_group,
            self.currency,
        )


def _window(merchant_no: str, start: datetime, end: datetime, through: int) -> list[Any]:
    return [
        j.merchant_no == merchant_no,
        j.terminal_time >= start,
        j.terminal_time < end,
        j.seq <= through,
        j.kind.notin_(NOT_MONEY),
    ]


def _sums() -> list[Any]:
    return [
        func.count(),
        func.coalesce(func.sum(j.amount), 0),
        func.coalesce(func.sum(j.fee + j.net), 0),
        func.coalesce(func.sum(j.fee), 0),
        func.coalesce(func.sum(j.net), 0),
    ]


#: What a day's entries are grouped by, in the order of Total's fields.
_KEYS = (j.terminal_id, j.kind, j.type, j.channel, j.card_group, j.currency)


def _grouped(conn: Connection, where: list[Any]) -> Iterator[Total]:
    for row in conn.execute(select(*_KEYS, *_sums()).where(and_(*where)).group_by(*_KEYS)):
        yield _total(*row)


def _total(
    terminal: str | None,
    kind: str,
    typ: str | None,
    channel: str | None,
    card: str,
    currency: str | None,
    *sums: int,
) -> Total:
    """A grouped row (the six keys, then the sums of ``_sums``) as a Total."""
    n, amount, volume, fee, net = (int(x) for x in sums)
    return Total(
        terminal or "",
        kind,
        typ or "",
        channel or "",
        card,
        currency or DEFAULT_CURRENCY,
        n,
        amount,
        volume,
        fee,
        net,
    )


def _equal(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


#: The index's equality prefix after the merchant: one sum for each combination present.
_LEVELS = (j.terminal_id, j.channel, j.type, j.card_group, j.kind, j.currency)


def _seeks(
    conn: Connection, merchant_no: str, window: list[Any], terminal: str | None
) -> Iterator[Total]:
    """The combinations the merchant's journal holds come from one DISTINCT over the
    index's prefix (SQLite skips from one to the next); each is then summed over the
    day's time range, read from the index alone."""
    prefix = [j.merchant_no == merchant_no]
    if terminal is not None:
        prefix.append(j.terminal_id == terminal)
    combinations = conn.execute(select(*_LEVELS).where(*prefix).distinct()).all()
    for values in combinations:
        where = [*window, *(_equal(c, v) for c, v in zip(_LEVELS, values, strict=True))]
        yield from _leaf(conn, where, tuple(values))


def _leaf(conn: Connection, where: list[Any], values: tuple[str | None, ...]) -> Iterator[Total]:
    sums = conn.execute(select(*_sums()).where(and_(*where))).one()
    if not sums[0]:
        return
    terminal, channel, typ, card_group, kind, currency = values
    yield _total(terminal, kind or "", typ, channel, card_group or "qr", currency, *sums)


#: Up to this many entries a day is summed by one GROUP BY on SQLite too: sorting them
#: costs less than the loose index scan's many small queries.
SMALL_DAY = 50_000


def _rows(conn: Connection, merchant_no: str, start: datetime, end: datetime) -> int:
    """How many entries the day holds, counted in the time index ``ix_journal_time``."""
    return int(
        conn.execute(
            select(func.count()).where(
                j.merchant_no == merchant_no, j.terminal_time >= start, j.terminal_time < end
            )
        ).scalar_one()
    )


def day_totals(
    conn: Connection,
    merchant_no: str,
    start: datetime,
    end: datetime,
    through: int,
    terminal: str | None = None,
) -> list[Total]:
    """The totals of entries with terminal time in [start, end) and sequence ≤ ``through``,
    of one terminal or all, in a fixed order."""
    window = _window(merchant_no, start, end, through)
    _no_jit(conn)
    if conn.dialect.name == "sqlite" and _rows(conn, merchant_no, start, end) > SMALL_DAY:
        found = list(_seeks(conn, merchant_no, window, terminal))
    else:
        if terminal is not None:
            window.append(j.terminal_id == terminal)
        found = list(_grouped(conn, window))
    return sorted(found, key=Total.key)


def _no_jit(conn: Connection) -> None:
    """PostgreSQL JIT-compiles a query it estimates dear, as a day of many entries is: the
    compiling (0.2 s and more) costs more than it saves on a scan of this size."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")


def spans_totals(
    conn: Connection,
    merchant_no: str,
    spans: Sequence[tuple[datetime, datetime]],
    through: int,
    terminal: str | None = None,
) -> list[list[Total]]:
    """PostgreSQL: the totals of each [start, end) of ``spans`` (in order, not overlapping),
    as ``day_totals`` gives them, from one scan grouped by span (``width_bucket`` over the
    spans' edges; rows between two spans fall in a bucket no span claims)."""
    edges = sorted({moment for span in spans for moment in span})
    where = _window(merchant_no, spans[0][0], spans[-1][1], through)
    if terminal is not None:
        where.append(j.terminal_id == terminal)
    bucket = func.width_bucket(
        j.terminal_time, cast(postgresql.array(edges), postgresql.ARRAY(DateTime(timezone=True)))
    ).label("bucket")
    _no_jit(conn)
    rows = conn.execute(
        select(bucket, *_KEYS, *_sums()).where(and_(*where)).group_by(bucket, *_KEYS)
    )
    slot = {edges.index(start) + 1: n for n, (start, _end) in enumerate(spans)}
    found: list[list[Total]] = [[] for _ in spans]
    for number, *grouped in rows:
        if (index := slot.get(int(number))) is not None:
            found[index].append(_total(*grouped))
    return [sorted(day, key=Total.key) for day in found]
