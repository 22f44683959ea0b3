"""Payouts: the second level — expected net settlement per settlement date against the
bank's credits (camt.053/054, MT940, bank CSV), many-to-one, with the line level's outcomes.

What is expected: for each business day (the merchant's cut-off and zone,
``settlement.days``) the net it should bring, paid on the settlement date its cycle gives
(T+1 business day by default, D+0, T+1 calendar; the holiday calendar counts). The net of
a source is the acquirer's word where its statement lists that day (the lines' ``net``:
what the acquirer said it will pay), else the journal's (the recorded net of the
channels that source settles). What came: the credits of bank statements imported for the
merchant (each booking once: a line another file already brought is not counted again).

``run_payouts`` matches them (``payouts_match``) over settlement dates ``[from, to]``
(credits up to ``lag_days`` later), checks that every payout and every credit has one
outcome, and stores the run, its outcome rows and the breaks' lifecycle in one
transaction: new, persisting, or resolved when a later run of the same dates no longer
finds them. ``as_of`` is the last date the merchant's bank statements reach: a payout
whose window runs past it is pending, not missing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, and_, func, or_, select, true

from counterfoil.core.errors import IntegrityFailure, NotFound, ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile.model import OUTCOME_LABELS, SOURCE_CHANNELS
from counterfoil.reconcile.payouts_explain import PayoutBreak, explain
from counterfoil.reconcile.payouts_match import OUTCOMES, Credit, Expected, Group, Terms, match
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.settlement.days import DaySettings, calendar_days, settings_of, settles_on
from counterfoil.settlement.totals import day_totals
from counterfoil.store import audit
from counterfoil.store.payouts_schema import payout_breaks, payout_outcomes, payout_runs
from counterfoil.store.schema import statement_imports, statement_lines

BANK_SOURCES = ("camt053", "camt054", "mt940", "csv_profile")
DEFAULT_SPAN = 30  # days, when no range is given
MAX_SPAN = 366
LOOK_BACK = 15  # business days this far before ``from`` may still settle within the range
THROUGH_ALL = 2**62
CHUNK = 500
__all__ = ["OUTCOME_LABELS", "get_run", "list_breaks", "list_runs", "run_payouts"]


def _check_range(date_from: date | None, date_to: date | None, as_of: date) -> tuple[date, date]:
    to = date_to or as_of
    start = date_from or to - timedelta(days=DEFAULT_SPAN)
    if start > to:
        raise ValidationError("from", _("expected from on or before to ({to})"), to=to.isoformat())
    if (to - start).days > MAX_SPAN:
        raise ValidationError("to", _("expected to at most {days} days after from"), days=MAX_SPAN)
    return start, to


# --- what is expected --------------------------------------------------------------------


def _acquirer_nets(
    conn: Connection, merchant_no: str, start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    """(source, currency) → Σ net of the acquirers' lines in [start, end) that state one."""
    sl, i = statement_lines.c, statement_imports.c
    rows = conn.execute(
        select(sl.source, sl.currency, func.sum(sl.net))
        .select_from(statement_lines.join(statement_imports, i.id == sl.import_id))
        .where(
            sl.duplicate_of.is_(None),
            sl.net.is_not(None),
            sl.source.in_(tuple(SOURCE_CHANNELS)),
            or_(
                i.merchant_no == merchant_no,
                and_(i.merchant_no.is_(None), sl.merchant_no == merchant_no),
            ),
            sl.occurred_at >= start,
            sl.occurred_at < end,
        )
        .group_by(sl.source, sl.currency)
    )
    return {(str(s), str(c)): int(n) for s, c, n in rows}


def _day_expected(
    conn: Connection, merchant_no: str, settings: DaySettings, day: date
) -> dict[str, tuple[int, int | None, int]]:
    """currency → (amount, statement net or None, journal net) of one business day."""
    start, end = settings.bounds(day)
    journal: dict[tuple[str, str], int] = defaultdict(int)  # (source or channel, currency)
    for t in day_totals(conn, merchant_no, start, end, THROUGH_ALL):
        owner = next((s for s, chans in SOURCE_CHANNELS.items() if t.channel in chans), t.channel)
        journal[(owner, t.currency)] += t.net
    stated = _acquirer_nets(conn, merchant_no, start, end)
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # amount, stmt, journal, used
    for (owner, currency), net in journal.items():
        found[currency][2] += net
        if (owner, currency) not in stated:
            found[currency][0] += net
    for (_source, currency), net in stated.items():
        found[currency][0] += net
        found[currency][1] += net
        found[currency][3] = 1
    return {
        c: (amount, stmt if used else None, jnl) for c, (amount, stmt, jnl, used) in found.items()
    }


def expected_payouts(
    conn: Connection, merchant_no: str, date_from: date, date_to: date
) -> tuple[list[Expected], list[dict[str, Any]]]:
    """The payouts due on settlement dates [from, to]; and the days that owe nothing (≤ 0)."""
    settings = settings_of(conn, merchant_no)
    holidays = calendar_days(conn, settings.calendar)
    by_date: dict[tuple[date, str], list[Any]] = {}
    nothing: list[dict[str, Any]] = []
    day = date_from - timedelta(days=LOOK_BACK)
    while day <= date_to:
        settle = settles_on(day, settings.cycle, holidays)
        if date_from <= settle <= date_to:
            for currency, (amount, stmt, jnl) in _day_expected(
                conn, merchant_no, settings, day
            ).items():
                slot = by_date.setdefault((settle, currency), [0, None, 0, []])
                slot[0] += amount
                if stmt is not None:
                    slot[1] = (slot[1] or 0) + stmt
                slot[2] += jnl
                slot[3].append(day)
        day += timedelta(days=1)
    found: list[Expected] = []
    for (settle, currency), (amount, stmt, jnl, days) in sorted(by_date.items()):
        if amount <= 0:
            nothing.append({"settle_date": settle.isoformat(), "currency": currency, "net": amount})
            continue
        found.append(
            Expected(settle, currency, amount, "statement" if stmt is not None else "journal",
                     jnl, stmt, tuple(days))
        )  # fmt: skip
    return found, nothing


# --- what came ---------------------------------------------------------------------------


def bank_credits(
    conn: Connection, merchant_no: str, zone: ZoneInfo, first: date, last: date
) -> list[Credit]:
    """The merchant's bank credits booked on [first, last] (local dates), each booking once."""
    sl, i = statement_lines.c, statement_imports.c
    start = datetime.combine(first, datetime.min.time(), zone).astimezone(UTC) - timedelta(days=1)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    rows = conn.execute(
        select(sl.import_id, sl.line_no, sl.occurred_at, sl.currency, sl.amount, sl.status,
               sl.platform_id, sl.order_no, sl.source)
        .select_from(statement_lines.join(statement_imports, i.id == sl.import_id))
        .where(
            i.merchant_no == merchant_no,
            sl.source.in_(BANK_SOURCES),
            sl.duplicate_of.is_(None),
            sl.txn_type == "credit",
            sl.amount > 0,
            sl.status.in_(("booked", "pending")),
            sl.occurred_at >= start,
            sl.occurred_at < end + timedelta(days=1),
        )
    )  # fmt: skip
    found = []
    for r in rows:
        booked = _aware(r.occurred_at).astimezone(zone).date()
        if first <= booked <= last:
            found.append(
                Credit(int(r.import_id), int(r.line_no), booked, str(r.currency), int(r.amount),
                       str(r.status), r.platform_id or r.order_no, str(r.source))
            )  # fmt: skip
    return found


def statements_reach(conn: Connection, merchant_no: str, zone: ZoneInfo) -> date | None:
    """The last date the merchant's bank statements reach (their latest line)."""
    sl, i = statement_lines.c, statement_imports.c
    last = conn.execute(
        select(func.max(sl.occurred_at))
        .select_from(statement_lines.join(statement_imports, i.id == sl.import_id))
        .where(i.merchant_no == merchant_no, sl.source.in_(BANK_SOURCES))
    ).scalar()
    return _aware(last).astimezone(zone).date() if last is not None else None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- a run -------------------------------------------------------------------------------


def run_payouts(
    cf: Counterfoil,
    who: Principal,
    *,
    merchant_no: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    lag_days: int = 3,
    tolerance: int = 0,
) -> dict[str, Any]:
    """Reconcile a merchant's payouts of settlement dates [from, to]; store the run."""
    merchant = who.default_merchant(merchant_no)
    if merchant is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("reconcile.run", merchant)
    if not 0 <= lag_days <= 31:
        raise ValidationError("lag_days", _("expected a whole number of days from 0 to 31"))
    if not 0 <= tolerance <= 100_000:
        raise ValidationError(
            "tolerance", _("expected a whole number of fen from 0 to {most}"), most=100_000
        )
    started = datetime.now(UTC)

    def gather(conn: Connection) -> tuple[Any, ...]:
        zone = settings_of(conn, merchant).zone
        as_of = statements_reach(conn, merchant, zone) or datetime.now(zone).date()
        start, to = _check_range(date_from, date_to, as_of)
        expected, nothing = expected_payouts(conn, merchant, start, to)
        credits = bank_credits(conn, merchant, zone, start, to + timedelta(days=lag_days))
        return as_of, start, to, expected, nothing, credits

    as_of, start, to, expected, nothing, credits = cf.read(gather)
    terms = Terms(as_of=as_of, lag_days=lag_days, tolerance=tolerance)
    groups = match(expected, credits, terms)
    # a credit after ``to`` that pays nothing of this range is the next range's
    later = [g for g in groups if not g.expected and _alone(g) and g.credits[0].booked > to]
    groups = [g for g in groups if not any(g is x for x in later)]
    summary = _summary(expected, credits, groups, later)
    summary["nothing_due"] = nothing
    breaks = [(g, explain(merchant, g, as_of)) for g in groups]
    return cf.write(
        lambda conn: _store(conn, who, merchant, (start, to, as_of), started, summary, breaks)
    )


def _alone(group: Group) -> bool:
    return group.pass_ == "none"  # noqa: S105  (a pass name, not a password)


def _summary(
    expected: list[Expected], credits: list[Credit], groups: list[Group], later: list[Group]
) -> dict[str, Any]:
    """Counts and amounts per side and outcome: what came in = Σ outcomes, or no run."""
    sides: dict[str, Any] = {
        side: {"outcomes": {o: {"count": 0, "amount": 0} for o in OUTCOMES}}
        for side in ("expected", "credits")
    }
    for g in groups:
        for side, records in (("expected", g.expected), ("credits", g.credits)):
            slot = sides[side]["outcomes"][g.outcome]
            slot["count"] += len(records)
            slot["amount"] += sum(r.amount for r in records)
    aside = [g.credits[0] for g in later]
    sides["expected"]["in"] = {"count": len(expected), "amount": sum(e.amount for e in expected)}
    sides["credits"]["in"] = {
        "count": len(credits) - len(aside),
        "amount": sum(c.amount for c in credits) - sum(c.amount for c in aside),
    }
    sides["credits"]["set_aside"] = {"count": len(aside), "amount": sum(c.amount for c in aside)}
    for side, doc in sides.items():
        out = {k: sum(v[k] for v in doc["outcomes"].values()) for k in ("count", "amount")}
        if out != doc["in"]:
            raise IntegrityFailure(
                _(
                    "the payout run does not add up on the {side} side: "
                    "{seen} in, {accounted} accounted for"
                ),
                side=side,
                seen=doc["in"]["count"],
                accounted=out["count"],
            )
    return sides


def _store(
    conn: Connection,
    who: Principal,
    merchant_no: str,
    span: tuple[date, date, date],
    started: datetime,
    summary: dict[str, Any],
    breaks: list[tuple[Group, PayoutBreak | None]],
) -> dict[str, Any]:
    start, to, as_of = span
    run_id = (
        int(conn.execute(select(func.coalesce(func.max(payout_runs.c.id), 0))).scalar_one()) + 1
    )
    found = [b for _g, b in breaks if b is not None]
    summary["breaks"] = _keep_breaks(conn, merchant_no, start, to, run_id, found)
    rows = []
    for number, (g, b) in enumerate(breaks, start=1):
        bid = b.break_id if b else None
        for e in g.expected:
            rows.append({
                "run_id": run_id, "group_no": number, "outcome": g.outcome, "pass": g.pass_,
                "settle_date": e.settle_date, "currency": e.currency, "expected_amount": e.amount,
                "basis": e.basis, "import_id": None, "line_no": None, "booked": None,
                "credited_amount": None, "break_id": bid,
            })  # fmt: skip
        for c in g.credits:
            rows.append({
                "run_id": run_id, "group_no": number, "outcome": g.outcome, "pass": g.pass_,
                "settle_date": None, "currency": c.currency, "expected_amount": None,
                "basis": None, "import_id": c.import_id, "line_no": c.line_no, "booked": c.booked,
                "credited_amount": c.amount, "break_id": bid,
            })  # fmt: skip
    for begin in range(0, len(rows), CHUNK):
        conn.execute(payout_outcomes.insert(), rows[begin : begin + CHUNK])
    conn.execute(
        payout_runs.insert().values(
            id=run_id,
            merchant_no=merchant_no,
            date_from=start,
            date_to=to,
            as_of=as_of,
            expected=summary["expected"]["in"]["count"],
            credits=summary["credits"]["in"]["count"],
            summary=orjson.dumps(summary).decode(),
            actor=who.actor.name,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
    )
    audit.record(
        conn,
        who.actor,
        "payouts.run",
        object_type="payout_run",
        object_id=str(run_id),
        merchant_no=merchant_no,
        details={"from": start.isoformat(), "to": to.isoformat(), "breaks": summary["breaks"]},
    )
    return get_run(conn, who, run_id)


def _keep_breaks(
    conn: Connection,
    merchant_no: str,
    start: date,
    to: date,
    run_id: int,
    breaks: list[PayoutBreak],
) -> dict[str, int]:
    b = payout_breaks.c
    now = datetime.now(UTC)
    wanted = sorted({x.break_id for x in breaks})
    known: set[str] = set()
    for begin in range(0, len(wanted), CHUNK):
        chunk = wanted[begin : begin + CHUNK]
        known.update(r[0] for r in conn.execute(select(b.break_id).where(b.break_id.in_(chunk))))
    fresh = [x for x in breaks if x.break_id not in known]
    if fresh:
        conn.execute(
            payout_breaks.insert(),
            [
                {
                    "break_id": x.break_id, "merchant_no": merchant_no, "outcome": x.outcome,
                    "status": "new", "day": x.day, "explanation": x.render("en"),
                    "message": x.message, "params": orjson.dumps(x.params).decode(),
                    "currency": x.currency, "settle_date": x.settle_date,
                    "import_id": x.import_id, "line_no": x.line_no,
                    "amount_expected": x.amount_expected, "amount_credited": x.amount_credited,
                    "first_run_id": run_id, "last_run_id": run_id, "resolved_run_id": None,
                    "updated_at": now,
                }
                for x in fresh
            ],
        )  # fmt: skip
    again = [x for x in wanted if x in known]
    for begin in range(0, len(again), CHUNK):
        conn.execute(
            payout_breaks.update()
            .where(b.break_id.in_(again[begin : begin + CHUNK]))
            .values(status="persisting", last_run_id=run_id, resolved_run_id=None, updated_at=now)
        )
    gone = [
        r[0]
        for r in conn.execute(
            select(b.break_id).where(
                b.merchant_no == merchant_no, b.status != "resolved", b.day >= start, b.day <= to
            )
        )
        if r[0] not in set(wanted)
    ]
    for begin in range(0, len(gone), CHUNK):
        conn.execute(
            payout_breaks.update()
            .where(b.break_id.in_(gone[begin : begin + CHUNK]))
            .values(status="resolved", resolved_run_id=run_id, updated_at=now)
        )
    return {"new": len(fresh), "persisting": len(again), "resolved": len(gone)}


# --- reading -----------------------------------------------------------------------------


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def get_run(
    conn: Connection,
    who: Principal,
    run_id: int,
    *,
    locale: str | None = None,
    audited: bool = True,
) -> dict[str, Any]:
    """A payout run: its summary, every payout and credit by group, its breaks explained."""
    who.require("reconcile.read")
    row = conn.execute(select(payout_runs).where(payout_runs.c.id == run_id)).first()
    if row is None or not who.sees(row.merchant_no):
        raise NotFound(_("payout run {run_id} is not known"), run_id=run_id)
    o = payout_outcomes.c
    outcomes = [
        {k: _iso(v) for k, v in r._mapping.items() if k != "run_id"}
        for r in conn.execute(
            select(payout_outcomes)
            .where(o.run_id == run_id)
            .order_by(o.group_no, o.settle_date, o.import_id, o.line_no)
        )
    ]
    ids = sorted({x["break_id"] for x in outcomes if x["break_id"]})
    breaks = _breaks(conn, payout_breaks.c.break_id.in_(ids), locale) if ids else []
    return {
        "run_id": row.id,
        "merchant_no": row.merchant_no,
        "from": row.date_from.isoformat(),
        "to": row.date_to.isoformat(),
        "as_of": row.as_of.isoformat(),
        "actor": row.actor,
        "started_at": _aware(row.started_at).isoformat(),
        "finished_at": _aware(row.finished_at).isoformat(),
        **orjson.loads(row.summary),
        "outcomes": outcomes,
        "break_list": breaks,
    }


def _breaks(conn: Connection, where: Any, locale: str | None) -> list[dict[str, Any]]:
    b = payout_breaks.c
    found = []
    for r in conn.execute(select(payout_breaks).where(where).order_by(b.day, b.break_id)):
        view = {k: _iso(v) for k, v in r._mapping.items() if k not in ("params", "message")}
        view["explanation"] = PayoutBreak(
            r.break_id, r.outcome, r.message, orjson.loads(r.params), r.day, r.currency,
            r.settle_date, r.import_id, r.line_no, r.amount_expected, r.amount_credited,
        ).render(locale)  # fmt: skip
        found.append(view)
    return found


def list_runs(
    conn: Connection, who: Principal, merchant_no: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    who.require("reconcile.read", merchant_no)
    r = payout_runs.c
    query = select(payout_runs).order_by(r.id.desc()).limit(max(1, min(limit, 500)))
    if merchant_no:
        query = query.where(r.merchant_no == merchant_no)
    elif not who.all_merchants:
        query = query.where(r.merchant_no.in_(who.merchants))
    return [
        {
            "run_id": x.id, "merchant_no": x.merchant_no, "from": x.date_from.isoformat(),
            "to": x.date_to.isoformat(), "as_of": x.as_of.isoformat(), "expected": x.expected,
            "credits": x.credits, "breaks": orjson.loads(x.summary).get("breaks", {}),
            "actor": x.actor, "finished_at": _aware(x.finished_at).isoformat(),
        }
        for x in conn.execute(query)
    ]  # fmt: skip


def list_breaks(
    conn: Connection,
    who: Principal,
    merchant_no: str | None = None,
    *,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    locale: str | None = None,
) -> list[dict[str, Any]]:
    """The merchant's payout breaks (open ones unless a status is asked for)."""
    who.require("reconcile.read", merchant_no)
    b = payout_breaks.c
    where = []
    if merchant_no:
        where.append(b.merchant_no == merchant_no)
    elif not who.all_merchants:
        where.append(b.merchant_no.in_(who.merchants))
    if status is None:
        where.append(b.status != "resolved")
    elif status in ("new", "persisting", "resolved"):
        where.append(b.status == status)
    else:
        raise ValidationError(
            "status", _("expected one of {options}"), options="new, persisting, resolved"
        )
    if date_from:
        where.append(b.day >= date_from)
    if date_to:
        where.append(b.day <= date_to)
    return _breaks(conn, and_(true(), *where), locale)
