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

On PostgreSQL a day's sums are planned without JIT and for the day's own bounds (see
``_plan_for_sums``): a month's report of ten million entries took 19.6 s before, 8–9 s since.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select

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
    _plan_for_sums(conn)
    if conn.dialect.name == "sqlite" and _rows(conn, merchant_no, start, end) > SMALL_DAY:
        found = list(_seeks(conn, merchant_no, window, terminal))
    else:
        if terminal is not None:
            window.append(j.terminal_id == terminal)
        found = list(_grouped(conn, window))
    return sorted(found, key=Total.key)


def _plan_for_sums(conn: Connection) -> None:
    """PostgreSQL, for a day's sums: no JIT, and a plan made for the day's own bounds.

    PostgreSQL JIT-compiles a query it estimates dear, as a day of many entries is: the
    compiling (0.2 s and more) costs more than it saves on a scan of this size. And the
    driver prepares a statement run five times, after which PostgreSQL may keep one
    generic plan for any bounds: summing thirty days so took twice as long."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
