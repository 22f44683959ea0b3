"""A business day's totals from the journal: per terminal, kind, type, channel, card group.

Entries count by their terminal time (the business day's UTC bounds) and only up to a
journal sequence (``through``): what the journal held when the day was closed, so that
a closed day's totals never change, whatever arrives later.

The card group is known from the card's BIN where there is one: ``domestic`` for
UnionPay BINs (62…), ``foreign`` for the international schemes' ranges (Visa 4…,
Mastercard 2221–2720 and 5…, American Express 34/37, JCB 35, Diners 30/36/38), else
``unknown``; a QR payment has none (``qr``).

How the sums are made depends on the database, because a day can hold a million
entries. PostgreSQL sums with one GROUP BY (a hash aggregate). SQLite has no hash
aggregate: a GROUP BY over a million rows sorts them, which takes seconds. So on SQLite
each (terminal, channel, type) present is summed by its own range over the covering
index ``ix_journal_settlement`` — an index seek and a sequential sum, no sort — and the
rare group that mixes kinds, currencies or card groups is split with a small GROUP BY.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, literal, or_, select

from counterfoil.store.schema import journal_entries

j = journal_entries.c
#: Journal kinds that are no money: never in a settlement list.
NOT_MONEY = ("genesis", "key_rotation")
DEFAULT_CURRENCY = "CNY"
_FOREIGN_PREFIXES = ("4", "5", "34", "37", "35", "30", "36", "38")


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


def card_group_of(card_bin: str | None) -> str:
    """The card group of a BIN, as the SQL expression below decides it."""
    if not card_bin:
        return "qr"
    if card_bin.startswith("62"):
        return "domestic"
    if card_bin.startswith(_FOREIGN_PREFIXES) or "2221" <= card_bin[:4] <= "2720":
        return "foreign"
    return "unknown"


def _card_group() -> ColumnElement[Any]:
    foreign = or_(
        *[j.card_bin.like(f"{p}%") for p in _FOREIGN_PREFIXES],
        and_(j.card_bin >= "2221", j.card_bin < "2721"),
    )
    return case(
        (j.card_bin.is_(None), literal("qr")),
        (j.card_bin.like("62%"), literal("domestic")),
        (foreign, literal("foreign")),
        else_=literal("unknown"),
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


def _grouped(conn: Connection, where: list[Any]) -> Iterator[Total]:
    group = _card_group().label("card_group")
    keys = [j.terminal_id, j.kind, j.type, j.channel, group, j.currency]
    rows = conn.execute(select(*keys, *_sums()).where(and_(*where)).group_by(*keys))
    for terminal, kind, typ, channel, card, currency, n, amount, volume, fee, net in rows:
        yield Total(
            terminal or "",
            kind,
            typ or "",
            channel or "",
            card,
            currency or DEFAULT_CURRENCY,
            int(n),
            int(amount),
            int(volume),
            int(fee),
            int(net),
        )


def _equal(column: Any, value: str | None) -> Any:
    return column.is_(None) if value is None else column == value


def _distinct(conn: Connection, column: Any, prefix: list[Any]) -> list[str | None]:
    """The values of ``column`` under the equality ``prefix`` of the index, by seeks (a
    loose index scan: one look-up per value, however many rows each has)."""
    found: list[str | None] = []
    last: str | None = None
    while True:
        condition = and_(*prefix, column > last) if last is not None else and_(*prefix)
        value = conn.execute(select(func.min(column)).where(condition)).scalar()
        if value is None:
            break
        found.append(value)
        last = value
    if conn.execute(select(literal(1)).where(and_(*prefix, column.is_(None))).limit(1)).first():
        found.append(None)
    return found


def _seeks(
    conn: Connection, merchant_no: str, window: list[Any], terminal: str | None
) -> Iterator[Total]:
    base = [j.merchant_no == merchant_no]
    terminals = [terminal] if terminal is not None else _distinct(conn, j.terminal_id, base)
    group = _card_group()
    odd = or_(j.kind != "transaction", j.currency != DEFAULT_CURRENCY, j.currency.is_(None))
    for term in terminals:
        at_terminal = [*base, _equal(j.terminal_id, term)]
        for channel in _distinct(conn, j.channel, at_terminal):
            at_channel = [*at_terminal, _equal(j.channel, channel)]
            for typ in _distinct(conn, j.type, at_channel):
                where = [*window, *at_channel[1:], _equal(j.type, typ)]
                sums = conn.execute(
                    select(
                        *_sums(),
                        func.min(group),
                        func.max(group),
                        func.coalesce(func.sum(case((odd, 1), else_=0)), 0),
                    ).where(and_(*where))
                ).one()
                n, amount, volume, fee, net, low, high, odd_rows = tuple(sums)
                if not n:
                    continue
                if low != high or odd_rows:
                    yield from _grouped(conn, where)
                    continue
                yield Total(
                    term or "",
                    "transaction",
                    typ or "",
                    channel or "",
                    str(low),
                    DEFAULT_CURRENCY,
                    int(n),
                    int(amount),
                    int(volume),
                    int(fee),
                    int(net),
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
    if conn.dialect.name == "sqlite":
        found = list(_seeks(conn, merchant_no, window, terminal))
    else:
        if terminal is not None:
            window.append(j.terminal_id == terminal)
        found = list(_grouped(conn, window))
    return sorted(found, key=Total.key)
