"""Late uploads: transactions that arrive after their day or their batch was closed.

A terminal that was offline uploads what it stored when it is back; by then its
business day may be closed (its list issued) or its batch closed (批结算). Neither is
ever changed. Instead:

- an entry recorded after **its day was closed** is a late item of the next list closed
  after it arrived: the list of day D shows the entries recorded between the previous
  close and D's close (journal sequences ``(after, through]``) whose own day had been
  closed before they came, and adds their money to what D settles;
- an entry of day D recorded after **its batch was closed** (a sequence above the
  batch close's ``last_seq``) is in D's totals as usual and is also listed among D's
  late items, so that nobody is surprised by a batch that no longer matches its close.

Sequences, not clocks, decide: a close records the journal's head, so whether an entry
came before or after a close is exact, and the same list comes out at any later time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from counterfoil.settlement.days import DaySettings
from counterfoil.settlement.totals import NOT_MONEY
from counterfoil.store.batch_schema import batch_closes
from counterfoil.store.schema import journal_entries
from counterfoil.store.settlement_schema import day_closes

j, b, d = journal_entries.c, batch_closes.c, day_closes.c
#: How far back a batch close may be and still hold entries of the day.
BATCH_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class LateItem:
    seq: int
    reason: str  # day_closed | batch_closed
    business_day: date
    terminal_id: str
    batch_no: str
    trace_no: str
    kind: str
    type: str
    channel: str
    currency: str
    amount: int
    volume: int  # fee + net
    fee: int
    net: int
    recorded_at: str  # ISO 8601, UTC

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "reason": self.reason,
            "business_day": self.business_day.isoformat(),
            "terminal_id": self.terminal_id,
            "batch_no": self.batch_no,
            "trace_no": self.trace_no,
            "kind": self.kind,
            "type": self.type,
            "channel": self.channel,
            "currency": self.currency,
            "amount": self.amount,
            "volume": self.volume,
            "fee": self.fee,
            "net": self.net,
            "recorded_at": self.recorded_at,
        }


_COLUMNS = (
    j.seq,
    j.terminal_time,
    j.terminal_id,
    j.batch_no,
    j.trace_no,
    j.kind,
    j.type,
    j.channel,
    j.currency,
    j.amount,
    j.fee,
    j.net,
    j.recorded_at,
)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _item(row: Any, reason: str, day: date) -> LateItem:
    fee, net = int(row.fee or 0), int(row.net or 0)
    return LateItem(
        int(row.seq),
        reason,
        day,
        row.terminal_id or "",
        row.batch_no or "",
        row.trace_no or "",
        row.kind,
        row.type or "",
        row.channel or "",
        row.currency or "CNY",
        int(row.amount or 0),
        fee + net,
        fee,
        net,
        _utc(row.recorded_at).astimezone(UTC).isoformat(),
    )


def previous_close(conn: Connection, merchant_no: str, through: int) -> int:
    """The journal's head at the merchant's last close before ``through`` (0: none)."""
    found = conn.execute(
        select(func.max(d.through_seq)).where(d.merchant_no == merchant_no, d.through_seq < through)
    ).scalar()
    return int(found or 0)


def day_late(
    conn: Connection,
    settings: DaySettings,
    day: date,
    after: int,
    through: int,
    terminal: str | None = None,
) -> list[LateItem]:
    """Entries recorded in ``(after, through]`` of another business day that had been
    closed before they came: the late items ``day``'s list carries."""
    start, end = settings.bounds(day)
    # Only an entry of a day closed before ``through`` can be late: no such day, no query;
    # else only the entries past that day's close, within those days' bounds.
    closes = conn.execute(
        select(func.min(d.through_seq), func.min(d.day), func.max(d.day)).where(
            d.merchant_no == settings.merchant_no, d.through_seq < through, d.day != day
        )
    ).one()
    if closes[0] is None:
        return []
    lowest = settings.bounds(closes[1])[0]
    highest = settings.bounds(closes[2])[1]
    where = [
        j.merchant_no == settings.merchant_no,
        j.seq > max(after, int(closes[0])),
        j.seq <= through,
        j.kind.notin_(NOT_MONEY),
        j.terminal_time >= lowest,
        j.terminal_time < highest,
        or_(j.terminal_time < start, j.terminal_time >= end),
    ]
    if terminal is not None:
        where.append(j.terminal_id == terminal)
    rows = conn.execute(select(*_COLUMNS).where(and_(*where)).order_by(j.seq)).all()
    if not rows:
        return []
    days = {settings.business_day(_utc(r.terminal_time)) for r in rows if r.terminal_time}
    closed = dict(
        conn.execute(
            select(d.day, d.through_seq).where(
                d.merchant_no == settings.merchant_no, d.day.in_(sorted(days))
            )
        ).all()
    )
    found: list[LateItem] = []
    for row in rows:
        if row.terminal_time is None:
            continue
        own = settings.business_day(_utc(row.terminal_time))
        if own in closed and int(closed[own]) < int(row.seq):
            found.append(_item(row, "day_closed", own))
    return found


def batch_late(
    conn: Connection,
    settings: DaySettings,
    day: date,
    through: int,
    terminal: str | None = None,
) -> list[LateItem]:
    """Entries of ``day`` (up to ``through``) recorded after their batch was closed."""
    start, end = settings.bounds(day)
    closes = select(b.terminal_id, b.batch_no, func.min(b.last_seq).label("last_seq")).where(
        b.merchant_no == settings.merchant_no,
        b.closed_at >= start - BATCH_LOOKBACK,
        b.last_seq < through,
    )
    if terminal is not None:
        closes = closes.where(b.terminal_id == terminal)
    found: list[LateItem] = []
    for term, batch, last_seq in conn.execute(closes.group_by(b.terminal_id, b.batch_no)).all():
        prefix = f"T|{term}|{batch}|"
        rows = conn.execute(
            select(*_COLUMNS)
            .where(
                j.merchant_no == settings.merchant_no,
                j.idem_key >= prefix,
                j.idem_key < prefix + "~",
                j.seq > int(last_seq),
                j.seq <= through,
                j.terminal_time >= start,
                j.terminal_time < end,
            )
            .order_by(j.seq)
        )
        found += [_item(row, "batch_closed", day) for row in rows]
    return sorted(found, key=lambda item: item.seq)
