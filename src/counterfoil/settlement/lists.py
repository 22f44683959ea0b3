"""The settlement list (结算清单) of a merchant's business day, optionally of one terminal.

A list shows the day's counts and amounts by transaction type and by channel, card
groups (domestic, foreign) where the BIN tells, voids and refunds netted against sales,
the fees the merchant's schedule charged, the net amount, the other journal kinds
(recovered, adjustment) in their own section, the late items it carries, and the
expected settlement date by the merchant's cycle.

**Reproducible.** Closing a day records the journal's head (``through_seq``), the
totals as they were then (``day_totals``), and the facts the list names (merchant name,
fee schedule): the list of a closed day is made from these alone and comes out the
same at any later time. Issuing the list of a day that is over closes it if nobody did
(``first_issue``). Every copy issued is a row of ``settlement_issues``: the first of a
day (and terminal) is the original, every later one a reprint that says so, with its
number ("REPRINT / 重印 No. n"); nothing else differs. A day not yet over can be looked
at (``provisional``) but not issued.

Who may: ``settlement.read`` looks at and issues lists of the reader's merchants;
``settlement.close`` closes a day before anyone issues it. Closing and issuing are
audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.core.errors import Conflict, NotFound, ValidationError
from counterfoil.core.fees import format_rate, rule_for
from counterfoil.core.models import CHANNELS, TYPES, check_terminal_id
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil, audit_refusal
from counterfoil.services.merchants import fee_schedule, get_merchant
from counterfoil.settlement import late, totals
from counterfoil.settlement.days import DaySettings, settings_of, settlement_date
from counterfoil.settlement.late import LateItem
from counterfoil.settlement.totals import Total
from counterfoil.store import audit
from counterfoil.store.journal import read_head
from counterfoil.store.settlement_schema import day_closes, day_totals, settlement_issues

FORMATS = ("text58", "text80", "pdf", "csv", "xlsx", "json")
d, t, i = day_closes.c, day_totals.c, settlement_issues.c
#: Card groups, in the order a list shows them.
CARD_GROUPS = ("domestic", "foreign", "unknown")


@dataclass(frozen=True, slots=True)
class Close:
    day: date
    closed_at: datetime
    through_seq: int
    cutoff: str
    timezone: str
    settles_on: date
    reason: str
    actor: str
    facts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Line:
    """One row of a section: what it counts and its sums (fen, signed volume)."""

    key: str
    count: int = 0
    volume: int = 0
    fee: int = 0
    net: int = 0

    def plus(self, count: int, volume: int, fee: int, net: int) -> Line:
        return Line(
            self.key, self.count + count, self.volume + volume, self.fee + fee, self.net + net
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "count": self.count,
            "volume": self.volume,
            "fee": self.fee,
            "net": self.net,
        }


@dataclass(frozen=True, slots=True)
class SettlementList:
    merchant_no: str
    merchant_name: str
    day: date
    terminal_id: str | None
    settings: DaySettings  # as closed (or as now, for a day still open)
    start: datetime  # UTC
    end: datetime  # UTC
    closed: Close | None
    settles_on: date
    schedule: list[tuple[str, str, int | None]]  # channel, rate, cap (fen)
    totals: list[Total]
    late_items: list[LateItem]
    currency: str = "CNY"
    by_type: list[Line] = field(default_factory=list)
    by_channel: list[Line] = field(default_factory=list)
    by_card_group: list[Line] = field(default_factory=list)
    by_terminal: list[Line] = field(default_factory=list)
    other_kinds: list[Line] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    @property
    def provisional(self) -> bool:
        return self.closed is None

    def as_dict(self) -> dict[str, Any]:
        """Everything the list says, as data (amounts in integer fen)."""
        closed = self.closed
        return {
            "merchant_no": self.merchant_no,
            "merchant_name": self.merchant_name,
            "business_day": self.day.isoformat(),
            "terminal_id": self.terminal_id,
            "cutoff": self.settings.cutoff,
            "timezone": self.settings.timezone,
            "cycle": self.settings.cycle,
            "period": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "closed": closed is not None,
            "closed_at": closed.closed_at.isoformat() if closed else None,
            "through_seq": closed.through_seq if closed else None,
            "settles_on": self.settles_on.isoformat(),
            "currency": self.currency,
            "fee_schedule": [
                {"channel": c, "rate": rate, "cap": cap} for c, rate, cap in self.schedule
            ],
            "by_type": [x.as_dict() for x in self.by_type],
            "by_channel": [x.as_dict() for x in self.by_channel],
            "by_card_group": [x.as_dict() for x in self.by_card_group],
            "by_terminal": [x.as_dict() for x in self.by_terminal],
            "other_kinds": [x.as_dict() for x in self.other_kinds],
            "late_items": [x.as_dict() for x in self.late_items],
            "summary": dict(self.summary),
        }


# --- reading -----------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def find_close(conn: Connection, merchant_no: str, day: date) -> Close | None:
    row = conn.execute(select(day_closes).where(d.merchant_no == merchant_no, d.day == day)).first()
    if row is None:
        return None
    return Close(
        row.day,
        _utc(row.closed_at),
        int(row.through_seq),
        row.cutoff,
        row.timezone,
        row.settles_on,
        row.reason,
        row.actor,
        orjson.loads(row.facts),
    )


def _stored_totals(
    conn: Connection, merchant_no: str, day: date, terminal: str | None
) -> list[Total]:
    query = select(day_totals).where(t.merchant_no == merchant_no, t.day == day)
    if terminal is not None:
        query = query.where(t.terminal_id == terminal)
    return sorted(
        (
            Total(
                r.terminal_id,
                r.kind,
                r.type,
                r.channel,
                r.card_group,
                r.currency,
                int(r[8]),  # "count": a method's name on a row
                int(r.amount),
                int(r.volume),
                int(r.fee),
                int(r.net),
            )
            for r in conn.execute(query)
        ),
        key=Total.key,
    )


def _schedule(conn: Connection, merchant_no: str, day: date) -> list[tuple[str, str, int | None]]:
    rules = fee_schedule(conn, merchant_no)
    found = []
    for channel in CHANNELS:
        rule = rule_for(rules, channel, day)
        if rule is not None:
            found.append((channel, format_rate(rule.rate_ppm), rule.cap))
    return found


def _head(conn: Connection, merchant_no: str, *, lock: bool = False) -> int:
    head = read_head(conn, merchant_no, lock=lock)
    return head.seq if head else 0


def check_day(value: date | str | None) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise ValidationError("date", _("expected a date as YYYY-MM-DD")) from None


def _check_terminal(terminal: str | None) -> str | None:
    return check_terminal_id(terminal) if terminal else None


def _confine(who: Principal, merchant_no: str | None, permission: str) -> str:
    merchant = who.default_merchant(merchant_no) if merchant_no or who.merchants else None
    if not merchant:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require(permission, merchant)
    return merchant


def build(
    conn: Connection,
    who: Principal,
    merchant_no: str | None,
    day: date | str | None,
    terminal: str | None = None,
    *,
    now: datetime | None = None,
) -> SettlementList:
    """The list of ``day``: as closed, or (a day still open) as the journal holds it now."""
    merchant = _confine(who, merchant_no, "settlement.read")
    day = check_day(day)
    terminal = _check_terminal(terminal)
    if terminal and not who.sees_terminal(merchant, terminal):
        raise NotFound(_("no terminal {terminal_id}"), terminal_id=terminal)
    return compose(conn, merchant, day, terminal, now=now)


def compose(
    conn: Connection,
    merchant: str,
    day: date,
    terminal: str | None = None,
    *,
    now: datetime | None = None,
) -> SettlementList:
    """The list, for a caller that has checked who may read it."""
    closed = find_close(conn, merchant, day)
    current = settings_of(conn, merchant)
    if closed is not None:
        settings = DaySettings(
            merchant, closed.cutoff, closed.timezone, str(closed.facts["cycle"]), current.calendar
        )
        start, end = settings.bounds(day)
        found = _stored_totals(conn, merchant, day, terminal)
        through = closed.through_seq
        name = str(closed.facts["merchant_name"])
        schedule = [(c, r, cap) for c, r, cap in closed.facts["schedule"]]
        settles = closed.settles_on
    else:
        if day > current.business_day(now or datetime.now(UTC)):
            raise ValidationError("date", _("expected a business day that has begun"))
        settings = current
        start, end = settings.bounds(day)
        through = _head(conn, merchant)
        found = totals.day_totals(conn, merchant, start, end, through, terminal)
        name = get_merchant(conn, merchant).name
        schedule = _schedule(conn, merchant, day)
        settles = settlement_date(conn, settings, day)
    after = late.previous_close(conn, merchant, through) if closed else _last_close(conn, merchant)
    items = late.day_late(conn, settings, day, after, through, terminal)
    items += late.batch_late(conn, settings, day, through, terminal)
    return summarise(
        SettlementList(
            merchant,
            name,
            day,
            terminal,
            settings,
            start,
            end,
            closed,
            settles,
            schedule,
            found,
            sorted(items, key=lambda x: (x.reason != "day_closed", x.seq)),
        )
    )


def _last_close(conn: Connection, merchant_no: str) -> int:
    found = conn.execute(
        select(func.max(d.through_seq)).where(d.merchant_no == merchant_no)
    ).scalar()
    return int(found or 0)


def _add(lines: dict[str, Line], key: str, row: Total | LateItem) -> None:
    line = lines.get(key) or Line(key)
    lines[key] = line.plus(row.count if isinstance(row, Total) else 1, row.volume, row.fee, row.net)


def summarise(found: SettlementList) -> SettlementList:
    """The list's sections and summary, from its totals and late items."""
    by_type: dict[str, Line] = {}
    by_channel: dict[str, Line] = {}
    by_card: dict[str, Line] = {}
    by_terminal: dict[str, Line] = {}
    other: dict[str, Line] = {}
    sales = returns = 0
    sales_n = returns_n = 0
    for row in found.totals:
        if row.kind != "transaction":
            _add(other, row.kind, row)
            continue
        _add(by_type, row.type, row)
        _add(by_channel, row.channel, row)
        _add(by_terminal, row.terminal_id, row)
        if row.card_group in CARD_GROUPS:
            _add(by_card, row.card_group, row)
        direction = TYPES.get(row.type, 0)
        if direction > 0:
            sales, sales_n = sales + row.volume, sales_n + row.count
        elif direction < 0:
            returns, returns_n = returns + row.volume, returns_n + row.count
    day_volume = sum(r.volume for r in found.totals)
    day_fee = sum(r.fee for r in found.totals)
    day_net = sum(r.net for r in found.totals)
    carried = [x for x in found.late_items if x.reason == "day_closed"]
    late_net = sum(x.net for x in carried)
    summary = {
        "count": sum(r.count for r in found.totals),
        "sales_count": sales_n,
        "sales": sales,
        "returns_count": returns_n,
        "returns": returns,
        "volume": day_volume,
        "fee": day_fee,
        "net": day_net,
        "other_net": sum(x.net for x in other.values()),
        "late_count": len(carried),
        "late_volume": sum(x.volume for x in carried),
        "late_fee": sum(x.fee for x in carried),
        "late_net": late_net,
        "to_settle": day_net + late_net,
    }

    def ordered(lines: dict[str, Line], order: tuple[str, ...]) -> list[Line]:
        known = [lines[k] for k in order if k in lines]
        return known + [lines[k] for k in sorted(lines) if k not in order]

    return SettlementList(
        **{
            **{name: getattr(found, name) for name in found.__dataclass_fields__},
            "by_type": ordered(by_type, tuple(TYPES)),
            "by_channel": ordered(by_channel, tuple(CHANNELS)),
            "by_card_group": ordered(by_card, CARD_GROUPS),
            "by_terminal": ordered(by_terminal, ()),
            "other_kinds": ordered(other, ("recovered", "adjustment")),
            "summary": summary,
        }
    )


# --- closing a day -------------------------------------------------------------------------


def _close(
    conn: Connection, who: Principal, merchant_no: str, day: date, reason: str, now: datetime
) -> Close:
    """Close ``day`` in this transaction: the journal's head (locked: no entry of the
    merchant can be written meanwhile), the totals as they are, the facts named."""
    through = _head(conn, merchant_no, lock=True)
    settings = settings_of(conn, merchant_no)
    start, end = settings.bounds(day)
    found = totals.day_totals(conn, merchant_no, start, end, through)
    facts = {
        "merchant_name": get_merchant(conn, merchant_no).name,
        "cycle": settings.cycle,
        "calendar": settings.calendar,
        "schedule": [list(x) for x in _schedule(conn, merchant_no, day)],
    }
    settles = settlement_date(conn, settings, day)
    conn.execute(
        day_closes.insert().values(
            merchant_no=merchant_no,
            day=day,
            closed_at=now,
            through_seq=through,
            cutoff=settings.cutoff,
            timezone=settings.timezone,
            settles_on=settles,
            reason=reason,
            facts=orjson.dumps(facts, option=orjson.OPT_SORT_KEYS).decode(),
            actor=who.name[:80],
            source=who.source[:80],
        )
    )
    if found:
        conn.execute(
            day_totals.insert(),
            [
                {
                    "merchant_no": merchant_no,
                    "day": day,
                    "terminal_id": r.terminal_id,
                    "kind": r.kind,
                    "type": r.type,
                    "channel": r.channel,
                    "card_group": r.card_group,
                    "currency": r.currency,
                    "count": r.count,
                    "amount": r.amount,
                    "volume": r.volume,
                    "fee": r.fee,
                    "net": r.net,
                }
                for r in found
            ],
        )
    audit.record(
        conn,
        who.actor,
        "settlement.close",
        object_type="settlement_day",
        object_id=f"{merchant_no}/{day.isoformat()}",
        merchant_no=merchant_no,
        details={"reason": reason, "through_seq": through, "entries": sum(r.count for r in found)},
    )
    return Close(
        day, now, through, settings.cutoff, settings.timezone, settles, reason, who.name, facts
    )


def close_day(
    cf: Counterfoil,
    who: Principal,
    merchant_no: str | None,
    day: date | str | None,
    *,
    now: datetime | None = None,
) -> Close:
    """Close a business day that has begun; a closed day is never closed again."""
    merchant = _confine(who, merchant_no, "settlement.close")
    day = check_day(day)
    moment = now or datetime.now(UTC)

    def job(conn: Connection) -> Close:
        if find_close(conn, merchant, day) is not None:
            raise Conflict(
                _("business day {day} of merchant {merchant_no} is already closed"),
                day=day.isoformat(),
                merchant_no=merchant,
            )
        if day > settings_of(conn, merchant).business_day(moment):
            raise ValidationError("date", _("expected a business day that has begun"))
        return _close(conn, who, merchant, day, "closed", moment)

    closed: Close = _audited(cf, who, "settlement.close", merchant, day, lambda: cf.write(job))
    return closed


def _audited(
    cf: Counterfoil,
    who: Principal,
    action: str,
    merchant: str,
    day: date,
    job: Callable[[], Any],
) -> Any:
    ref = f"{merchant}/{day.isoformat()}"
    return audit_refusal(cf, who, action, "settlement_day", ref, job, merchant_no=merchant)


# --- issuing a copy --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    content: bytes
    media_type: str
    file_name: str
    issue_no: int  # 0: the original
    sha256: str


def reprint_label(issue_no: int) -> str:
    return f"REPRINT / 重印 No. {issue_no}" if issue_no else ""


def issue(
    cf: Counterfoil,
    who: Principal,
    merchant_no: str | None,
    day: date | str | None,
    terminal: str | None = None,
    *,
    fmt: str = "text80",
    locale: str = "zh_CN",
    now: datetime | None = None,
) -> Issued:
    """A copy of the day's list in ``fmt``: the original the first time, a marked reprint
    after. Closes the day first if it is over and nobody closed it."""
    from counterfoil.settlement.render import render

    if fmt not in FORMATS:
        raise ValidationError("format", _("expected one of {options}"), options=", ".join(FORMATS))
    merchant = _confine(who, merchant_no, "settlement.read")
    day = check_day(day)
    terminal = _check_terminal(terminal)
    moment = now or datetime.now(UTC)

    def job(conn: Connection) -> Issued:
        if find_close(conn, merchant, day) is None:
            settings = settings_of(conn, merchant)
            if moment < settings.bounds(day)[1]:
                raise Conflict(
                    _("business day {day} is not over yet: its list can be viewed, not issued"),
                    day=day.isoformat(),
                )
            _close(conn, who, merchant, day, "first_issue", moment)
        found = build(conn, who, merchant, day, terminal, now=moment)
        number = int(
            conn.execute(
                select(func.count()).where(
                    i.merchant_no == merchant, i.day == day, i.terminal_id == (terminal or "")
                )
            ).scalar()
            or 0
        )
        content, media_type, suffix = render(found, fmt, locale, reprint_label(number))
        digest = hashlib.sha256(content).hexdigest()
        conn.execute(
            settlement_issues.insert().values(
                merchant_no=merchant,
                day=day,
                terminal_id=terminal or "",
                issue_no=number,
                format=fmt,
                locale=locale,
                sha256=digest,
                actor=who.name[:80],
                source=who.source[:80],
                issued_at=moment,
            )
        )
        audit.record(
            conn,
            who.actor,
            "settlement.issue",
            object_type="settlement_day",
            object_id=f"{merchant}/{day.isoformat()}",
            merchant_no=merchant,
            details={"terminal_id": terminal, "issue_no": number, "format": fmt},
        )
        name = f"settlement-{merchant}-{day.isoformat()}"
        name += f"-{terminal}" if terminal else ""
        name += f"-reprint{number}" if number else ""
        return Issued(content, media_type, f"{name}.{suffix}", number, digest)

    issued: Issued = _audited(cf, who, "settlement.issue", merchant, day, lambda: cf.write(job))
    return issued


def issues_of(
    conn: Connection, who: Principal, merchant_no: str | None, day: date | str | None
) -> list[dict[str, Any]]:
    """Every copy issued of a day's lists, in order."""
    merchant = _confine(who, merchant_no, "settlement.read")
    day = check_day(day)
    rows = conn.execute(
        select(settlement_issues).where(i.merchant_no == merchant, i.day == day).order_by(i.id)
    )
    return [
        {
            "terminal_id": r.terminal_id or None,
            "issue_no": r.issue_no,
            "format": r.format,
            "locale": r.locale,
            "sha256": r.sha256,
            "actor": r.actor,
            "issued_at": _utc(r.issued_at).isoformat(),
        }
        for r in rows
    ]
