"""Finding transactions: by entry id, RRN, terminal + batch + trace, order number, and
searches by date range, amount, last four, type, channel, status and terminal, paged.

Dates are the merchant's business days in its own time zone, turned into UTC bounds
before they reach the database. A result carries the entry's body (the signed facts)
and its current status from the projection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, and_, func, select

from counterfoil.core.errors import Forbidden, NotFound, ValidationError
from counterfoil.core.models import CHANNELS, MAX_AMOUNT, TYPES
from counterfoil.core.rules import STATUSES
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import get_merchant
from counterfoil.store.schema import entry_state, journal_entries

MAX_PAGE = 500
_ENTRY_ID = re.compile(r"^(\d{15})-(\d{1,12})$")
_TBT = re.compile(r"^([0-9A-Z]{8})[/:-](\d{6})[/:-](\d{6})$")

j, s = journal_entries.c, entry_state.c
_JOINED = journal_entries.outerjoin(
    entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq)
)
_COLUMNS = (
    j.merchant_no,
    j.seq,
    j.kind,
    j.body,
    j.entry_hash,
    j.recorded_at,
    func.coalesce(s.status, "approved").label("status"),
    func.coalesce(s.refunded, 0).label("refunded"),
)


def _view(row: Any) -> dict[str, Any]:
    body = orjson.loads(row.body)
    recorded = row.recorded_at if row.recorded_at.tzinfo else row.recorded_at.replace(tzinfo=UTC)
    return {
        "entry_id": entry_id(row.merchant_no, row.seq),
        "merchant_no": row.merchant_no,
        "seq": row.seq,
        "kind": row.kind,
        "entry_hash": row.entry_hash,
        "recorded_at": recorded.isoformat(),
        "status": row.status,
        "refunded": row.refunded,
        **body["data"],
        **body.get("effects", {}),
    }


def find(conn: Connection, ref: str, merchant_no: str | None = None) -> dict[str, Any]:
    """One transaction by entry id, RRN, TERMINAL:BATCH:TRACE (or with / or -) or order number."""
    ref = ref.strip()
    query = select(*_COLUMNS).select_from(_JOINED)
    if (m := _ENTRY_ID.match(ref)) is not None:
        query = query.where(and_(j.merchant_no == m.group(1), j.seq == int(m.group(2))))
    elif (t := _TBT.match(ref)) is not None:
        query = query.where(j.idem_key == f"T|{t.group(1)}|{t.group(2)}|{t.group(3)}")
    elif re.fullmatch(r"[0-9A-Za-z]{12}", ref):
        query = query.where((j.rrn == ref) | (j.order_no == ref))
    else:
        query = query.where(j.order_no == ref)
    if merchant_no:
        query = query.where(j.merchant_no == merchant_no)
    rows = conn.execute(query.order_by(j.merchant_no, j.seq).limit(2)).all()
    if not rows:
        raise NotFound(_("no transaction matches {ref}"), ref=ref)
    if len(rows) > 1 and not _ENTRY_ID.match(ref):
        raise ValidationError(
            "ref", _("{ref} matches more than one transaction: use the entry id"), ref=ref
        )
    return _view(rows[0])


def links(conn: Connection, merchant_no: str, seq: int) -> list[dict[str, Any]]:
    """The entries that act on this one: voids, refunds, completions, cancels, reversals."""
    rows = conn.execute(
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(and_(j.merchant_no == merchant_no, j.original_seq == seq))
        .order_by(j.seq)
    )
    return [_view(r) for r in rows]


@dataclass(frozen=True, slots=True)
class Search:
    merchant_no: str
    date_from: date | None = None
    date_to: date | None = None
    amount: int | None = None
    amount_min: int | None = None
    amount_max: int | None = None
    last4: str | None = None
    rrn: str | None = None
    order_no: str | None = None
    type: str | None = None
    channel: str | None = None
    status: str | None = None
    terminal_id: str | None = None
    page: int = 1
    per_page: int = 50
    terminals: tuple[str, ...] | None = None  # confined to these (a cashier's, a terminal's)

    def check(self) -> None:
        for name, value, options in (
            ("type", self.type, TYPES),
            ("channel", self.channel, CHANNELS),
            ("status", self.status, STATUSES),
        ):
            if value is not None and value not in options:
                raise ValidationError(
                    name, _("expected one of {options}"), options=", ".join(options)
                )
        if self.last4 is not None and not re.fullmatch(r"\d{4}", self.last4):
            raise ValidationError("last4", _("expected the card's last four digits"))
        if not 1 <= self.per_page <= MAX_PAGE or self.page < 1:
            raise ValidationError(
                "per_page", _("expected page 1 or later, and 1 to {max} items a page"), max=MAX_PAGE
            )
        for name, amount in (
            ("amount", self.amount),
            ("amount_min", self.amount_min),
            ("amount_max", self.amount_max),
        ):
            if amount is not None and not 0 <= amount <= MAX_AMOUNT:
                raise ValidationError(
                    name,
                    _("expected a whole number of fen from {minimum} to {maximum}"),
                    minimum=0,
                    maximum=MAX_AMOUNT,
                )
        for name, day in (("date_from", self.date_from), ("date_to", self.date_to)):
            if day is not None:
                check_day(day, name)
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError("date_to", _("expected an end date on or after the start"))


#: The days a search or a report may name: a day's bounds in any zone stay within what a
#: datetime can hold (0001-01-01 in UTC+8 starts in year 0).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def check_day(day: date, name: str = "date") -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValidationError(
            name,
            _("expected a date from {first} to {last}"),
            first=FIRST_DAY.isoformat(),
            last=LAST_DAY.isoformat(),
        )
    return day


def day_bounds(day: date, zone: str) -> tuple[datetime, datetime]:
    """The UTC instants where the merchant's calendar day starts and the next one starts."""
    check_day(day)
    tz = ZoneInfo(zone)
    start = datetime.combine(day, time.min, tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def search(conn: Connection, q: Search) -> dict[str, Any]:
    q.check()
    merchant = get_merchant(conn, q.merchant_no)
    where = [j.merchant_no == q.merchant_no, j.kind.in_(("transaction", "recovered"))]
    if q.date_from:
        where.append(j.terminal_time >= day_bounds(q.date_from, merchant.timezone)[0])
    if q.date_to:
        where.append(j.terminal_time < day_bounds(q.date_to, merchant.timezone)[1])
    exact = {
        "amount": q.amount,
        "card_last4": q.last4,
        "rrn": q.rrn,
        "order_no": q.order_no,
        "type": q.type,
        "channel": q.channel,
        "terminal_id": q.terminal_id,
    }
    where += [j[name] == value for name, value in exact.items() if value is not None]
    if q.terminals is not None:
        where.append(j.terminal_id.in_(q.terminals))
    if q.amount_min is not None:
        where.append(j.amount >= q.amount_min)
    if q.amount_max is not None:
        where.append(j.amount <= q.amount_max)
    if q.status == "approved":
        where.append(s.status.is_(None))
    elif q.status:
        where.append(s.status == q.status)
    condition = and_(*where)
    total = conn.execute(select(func.count()).select_from(_JOINED).where(condition)).scalar()
    rows = conn.execute(
        select(*_COLUMNS)
        .select_from(_JOINED)
        .where(condition)
        .order_by(j.terminal_time.desc(), j.seq.desc())
        .limit(q.per_page)
        .offset((q.page - 1) * q.per_page)
    )
    return {
        "total": int(total or 0),
        "page": q.page,
        "per_page": q.per_page,
        "items": [_view(r) for r in rows],
    }


# --- what a principal may see ------------------------------------------------------------


def business_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone)).date()


def read_for(conn: Connection, who: Principal, ref: str, merchant_no: str | None) -> dict[str, Any]:
    """One transaction with its links, if ``who`` may see it; else ``NotFound`` (not a hint)."""
    scope = who.default_merchant(merchant_no)
    entry = find(conn, ref, scope)
    hidden = NotFound(_("no transaction matches {ref}"), ref=ref)
    if not who.sees_terminal(entry["merchant_no"], str(entry.get("terminal_id", ""))):
        raise hidden
    if who.today_only:
        zone = get_merchant(conn, entry["merchant_no"]).timezone
        when = datetime.fromisoformat(str(entry["terminal_time"]).replace("Z", "+00:00"))
        if business_day(when, zone) != business_day(datetime.now(UTC), zone):
            raise hidden
    entry["links"] = links(conn, entry["merchant_no"], entry["seq"])
    return entry


def search_for(conn: Connection, who: Principal, q: Search) -> dict[str, Any]:
    """``search``, confined to what ``who`` may see: merchant, terminals, a cashier's day."""
    merchant_no = who.default_merchant(q.merchant_no or None)
    if merchant_no is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    confined = who.terminals_of(merchant_no)
    if confined is not None and q.terminal_id is not None and q.terminal_id not in confined:
        raise Forbidden(
            _("you have no access to terminal {terminal_id}"), terminal_id=q.terminal_id
        )
    date_from, date_to = q.date_from, q.date_to
    if who.today_only:
        today = business_day(datetime.now(UTC), get_merchant(conn, merchant_no).timezone)
        date_from, date_to = today, today
    return search(
        conn,
        replace(
            q, merchant_no=merchant_no, date_from=date_from, date_to=date_to, terminals=confined
        ),
    )
