"""Cases, from opening to closing: open (by hand or by a detector), assign, note, submit
the application, record the acquirer's answer, close with a root cause and a lesson.

A case keeps its current state in one row; each step is an event appended to its
timeline (``case_events``, append-only) and audited. Only the moves of
``model.TRANSITIONS`` are allowed: any other is a ``Conflict`` naming the state.

Who may: ``cases.read`` reads the cases of the reader's merchants; ``cases.open`` opens
one by hand; ``cases.work`` does the rest. A refusal is audited too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    case,
    false,
    func,
    or_,
    select,
)

from counterfoil.cases import model
from counterfoil.core.errors import Conflict, NotFound, ValidationError
from counterfoil.core.money import EXPONENTS
from counterfoil.core.pan import redact_pans, scan_payload
from counterfoil.i18n import _
from counterfoil.services import lookups
from counterfoil.services.access import PERMISSIONS, Principal
from counterfoil.services.context import Counterfoil, audit_refusal
from counterfoil.services.merchants import get_merchant
from counterfoil.services.users import get_user
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.cases_schema import (
    case_adjustments,
    case_deadlines,
    case_events,
    case_evidence,
    cases,
)
from counterfoil.store.schema import merchants

PER_PAGE = 50
MAX_PAGE = 500
MAX_TITLE = 200
MAX_NOTE = 4000
MAX_REF = 64
MAX_DIFFERENCE = 10**11

c, ev, ed, ad = cases.c, case_events.c, case_evidence.c, case_adjustments.c
T = TypeVar("T")


# --- checking what was typed -------------------------------------------------------------


def choice(field: str, value: str | None, options: Sequence[str]) -> str:
    if value not in options:
        raise ValidationError(field, _("expected one of {options}"), options=", ".join(options))
    return str(value)


def text(field: str, value: str | None, limit: int, *, required: bool = False) -> str:
    """Free text as stored: stripped, within its limit, card numbers masked."""
    found = (value or "").strip()
    if required and not found:
        raise ValidationError(field, _("this field is required"))
    if len(found) > limit:
        raise ValidationError(field, _("expected at most {limit} characters"), limit=limit)
    if any(ch not in "\n\t" and not ch.isprintable() for ch in found):
        raise ValidationError(field, _("expected printable text"))
    scan_payload({field: found})  # track data, CVV, PIN: refused without echoing it
    return redact_pans(found)


def line(field: str, value: str | None, limit: int, *, required: bool = False) -> str:
    found = text(field, value, limit, required=required)
    if "\n" in found:
        raise ValidationError(field, _("expected one line"))
    return found


def parse_day(value: date | str | None, field: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


def check_amount(field: str, value: int | str | None, *, signed: bool) -> int | None:
    """Integer fen; as text (a form, the command line) yuan such as "-12.34"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(field, _("expected an amount in fen (an integer)"))
    if isinstance(value, str):
        raw = value.strip().replace(",", "")
        negative = raw.startswith("-")
        whole, point, frac = raw.lstrip("+-").partition(".")
        if not whole.isdigit() or (point and (not frac.isdigit() or len(frac) > 2)):
            raise ValidationError(field, _("expected an amount such as 12.34"))
        fen = int(whole) * 100 + (int(frac.ljust(2, "0")) if point else 0)
        value = -fen if negative else fen
    if not isinstance(value, int):
        raise ValidationError(field, _("expected an amount in fen (an integer)"))
    if abs(value) > MAX_DIFFERENCE or (not signed and value <= 0):
        raise ValidationError(
            field,
            _("expected an amount above zero and at most {limit} yuan"),
            limit=MAX_DIFFERENCE // 100,
        )
    return value


def check_page(page: int, per_page: int) -> None:
    if page < 1 or not 1 <= per_page <= MAX_PAGE:
        raise ValidationError(
            "per_page", _("expected page 1 or later, and 1 to {max} items a page"), max=MAX_PAGE
        )


def utc(moment: datetime | None) -> str | None:
    """A stored instant as ISO 8601 UTC (SQLite gives it back without its zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dumps(details: dict[str, Any]) -> str:
    return orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode()


# --- who sees which case -----------------------------------------------------------------


def confined(who: Principal, query: Select[Any]) -> Select[Any]:
    if not who.all_merchants:
        query = query.where(c.merchant_no.in_(who.merchants))
    return query


def case_row(conn: Connection, who: Principal, case_id: int) -> Any:
    found = conn.execute(confined(who, select(cases).where(c.id == case_id))).first()
    if found is None:  # another merchant's: not even a hint
        raise NotFound(_("no case {case_id}"), case_id=case_id)
    return found


def zone_of(conn: Connection, merchant_no: str) -> str:
    return get_merchant(conn, merchant_no).timezone


def today(zone: str, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(ZoneInfo(zone)).date()


def event(
    conn: Connection,
    actor: Actor,
    row: Any,
    kind: str,
    note: str = "",
    details: dict[str, Any] | None = None,
    *,
    to_state: str | None = None,
) -> None:
    conn.execute(
        case_events.insert().values(
            case_id=int(row.id),
            merchant_no=row.merchant_no,
            kind=kind,
            from_state=row.state if to_state else None,
            to_state=to_state,
            note=note,
            details=dumps(details or {}),
            actor=actor.name[:80],
            source=actor.source[:80],
            at=datetime.now(UTC),
        )
    )


def audited(cf: Counterfoil, who: Principal, action: str, ref: str, job: Callable[[], T]) -> T:
    """Run a change; a refusal is audited too (PCI DSS 10.2), then raised."""
    return audit_refusal(cf, who, action, "case", ref, job)


def move(
    conn: Connection,
    who: Principal | Actor,
    row: Any,
    to: str,
    note: str = "",
    details: dict[str, Any] | None = None,
    **change: Any,
) -> Any:
    """Move a case to ``to`` if the model allows it: the row updated, the event appended,
    the change audited; the row as it is now."""
    if not model.may_move(row.state, to):
        raise Conflict(
            _("case {case_id} is {state}: it cannot move to {to}"),
            case_id=int(row.id),
            state=row.state,
            to=to,
        )
    actor = who.actor if isinstance(who, Principal) else who
    moment = datetime.now(UTC)
    values: dict[str, Any] = {"state": to, "updated_at": moment, **change}
    if to in model.RESOLVED:
        values["resolved_at"] = moment
    if to == "closed":
        values["closed_at"] = moment
    conn.execute(cases.update().where(c.id == row.id).values(**values))
    event(conn, actor, row, "state", note, details, to_state=to)
    audit.record(
        conn,
        actor,
        "case.move",
        object_type="case",
        object_id=str(row.id),
        merchant_no=row.merchant_no,
        details={"from": row.state, "to": to, **(details or {})},
    )
    return conn.execute(select(cases).where(c.id == row.id)).one()


# --- deadlines ---------------------------------------------------------------------------


def due_days(conn: Connection, merchant_no: str, kind: str) -> int:
    found = conn.execute(
        select(case_deadlines.c.days).where(
            and_(case_deadlines.c.merchant_no == merchant_no, case_deadlines.c.kind == kind)
        )
    ).scalar()
    return int(found) if found is not None else model.DEFAULT_DUE_DAYS[kind]


def set_deadline(
    cf: Counterfoil, who: Principal, merchant_no: str, kind: str, days: int
) -> dict[str, Any]:
    """The days allowed for cases of ``kind`` of a merchant, from their opening day."""
    choice("kind", kind, tuple(model.KINDS))
    if not 1 <= days <= model.MAX_DUE_DAYS:
        raise ValidationError("days", _("expected 1 to {max} days"), max=model.MAX_DUE_DAYS)

    def job(conn: Connection) -> dict[str, Any]:
        who.require("merchants.manage", merchant_no)
        get_merchant(conn, merchant_no)
        d = case_deadlines.c
        where = and_(d.merchant_no == merchant_no, d.kind == kind)
        values = {"days": days, "set_by": who.name[:80], "set_at": datetime.now(UTC)}
        if conn.execute(select(d.days).where(where)).first() is None:
            conn.execute(
                case_deadlines.insert().values(merchant_no=merchant_no, kind=kind, **values)
            )
        else:
            conn.execute(case_deadlines.update().where(where).values(**values))
        audit.record(
            conn,
            who.actor,
            "case.deadline",
            object_type="merchant",
            object_id=merchant_no,
            merchant_no=merchant_no,
            details={"kind": kind, "days": days},
        )
        return deadlines(conn, merchant_no)

    return cf.write(job)


def deadlines(conn: Connection, merchant_no: str) -> dict[str, Any]:
    return {
        "merchant_no": merchant_no,
        "days": {kind: due_days(conn, merchant_no, kind) for kind in model.KINDS},
    }


# --- opening -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case to open, as ``insert_cases`` writes it; ``entries`` are entry ids."""

    kind: str
    title: str
    description: str = ""
    origin: str = "manual"
    origin_ref: str | None = None
    priority: str = "normal"
    terminal_id: str | None = None
    difference: int | None = None
    currency: str = "CNY"
    assignee: str | None = None
    due_on: date | None = None
    entries: Sequence[str] = ()
    lines: Sequence[str] = ()
    details: dict[str, Any] | None = None


def insert_case(
    conn: Connection,
    actor: Actor,
    *,
    merchant_no: str,
    entries: Sequence[dict[str, Any]] = (),
    **case: Any,
) -> int:
    """Write a new case (the fields of ``NewCase``), its "opened" event and its linked
    entries; its id."""
    found = NewCase(entries=[str(e["entry_id"]) for e in entries], **case)
    return insert_cases(conn, actor, merchant_no, [found])[0]


def insert_cases(
    conn: Connection, actor: Actor, merchant_no: str, new: Sequence[NewCase]
) -> list[int]:
    """Write new cases of one merchant, their "opened" events, their evidence and their
    audit records, each kind of row in one statement (a reconciliation run opens
    thousands); their ids, in order."""
    if not new:
        return []
    moment = datetime.now(UTC)
    opened_day = today(zone_of(conn, merchant_no), moment)
    allowed = {kind: due_days(conn, merchant_no, kind) for kind in {n.kind for n in new}}
    rows = [
        {
            "merchant_no": merchant_no,
            "kind": n.kind,
            "state": "open",
            "title": n.title,
            "description": n.description,
            "priority": n.priority,
            "assignee": n.assignee,
            "due_on": n.due_on or opened_day + timedelta(days=allowed[n.kind]),
            "origin": n.origin,
            "origin_ref": n.origin_ref,
            "terminal_id": n.terminal_id,
            "difference": n.difference,
            "currency": n.currency,
            "opened_by": actor.name[:80],
            "opened_at": moment,
            "opened_day": opened_day,
            "updated_at": moment,
        }
        for n in new
    ]
    inserted = conn.execute(cases.insert().returning(c.id, sort_by_parameter_order=True), rows)
    ids = [int(x) for x in inserted.scalars()]
    facts = [{"kind": n.kind, "origin": n.origin, "origin_ref": n.origin_ref} for n in new]
    conn.execute(
        case_events.insert(),
        [
            {
                "case_id": case_id,
                "merchant_no": merchant_no,
                "kind": "opened",
                "from_state": None,
                "to_state": None,
                "note": n.description,
                "details": dumps({**said, **(n.details or {})}),
                "actor": actor.name[:80],
                "source": actor.source[:80],
                "at": moment,
            }
            for case_id, n, said in zip(ids, new, facts, strict=True)
        ],
    )
    evidence = [
        {
            "case_id": case_id,
            "merchant_no": merchant_no,
            "kind": kind_of,
            "ref": ref,
            "note": "",
            "added_by": actor.name[:80],
            "added_at": moment,
        }
        for case_id, n in zip(ids, new, strict=True)
        for kind_of, ref in [("journal_entry", e) for e in n.entries]
        + [("statement_line", line) for line in n.lines]
    ]
    if evidence:
        conn.execute(case_evidence.insert(), evidence)
    audit.record_many(
        conn,
        actor,
        "case.open",
        [(str(case_id), said) for case_id, said in zip(ids, facts, strict=True)],
        object_type="case",
        merchant_no=merchant_no,
        now=moment,
    )
    return ids


def cases_by_origin(conn: Connection, merchant_no: str, refs: Sequence[str]) -> set[str]:
    """Which of the origin references ``refs`` already have a case of the merchant."""
    found: set[str] = set()
    for start in range(0, len(refs), 500):
        found.update(
            conn.scalars(
                select(c.origin_ref).where(
                    c.merchant_no == merchant_no, c.origin_ref.in_(refs[start : start + 500])
                )
            )
        )
    return found


def case_by_origin(conn: Connection, merchant_no: str, origin_ref: str) -> int | None:
    found = conn.execute(
        select(c.id).where(and_(c.merchant_no == merchant_no, c.origin_ref == origin_ref))
    ).scalar()
    return int(found) if found is not None else None


def find_entries(conn: Connection, merchant_no: str, refs: Sequence[str]) -> list[dict[str, Any]]:
    """The transactions named, each of the merchant; a ValidationError on ``entries``."""
    found: dict[int, dict[str, Any]] = {}
    refs = [r.strip() for r in refs if r and r.strip()]
    if len(refs) > 100:
        raise ValidationError("entries", _("expected at most {limit} transactions"), limit=100)
    for ref in refs:
        try:
            entry = lookups.find(conn, ref, merchant_no)
        except NotFound:
            raise ValidationError(
                "entries",
                _("no transaction {ref} of merchant {merchant_no}"),
                ref=ref[:64],
                merchant_no=merchant_no,
            ) from None
        if entry["kind"] not in ("transaction", "recovered"):
            raise ValidationError(
                "entries",
                _("no transaction {ref} of merchant {merchant_no}"),
                ref=ref[:64],
                merchant_no=merchant_no,
            )
        found.setdefault(int(entry["seq"]), entry)
    return [found[seq] for seq in sorted(found)]


def open_case(
    cf: Counterfoil,
    who: Principal,
    *,
    merchant: str | None,
    kind: str,
    title: str,
    description: str = "",
    priority: str = "normal",
    terminal_id: str | None = None,
    difference: int | str | None = None,
    currency: str = "CNY",
    entries: Sequence[str] = (),
    due_on: date | str | None = None,
) -> dict[str, Any]:
    """Open a case by hand; the case as ``get_case`` shows it."""
    choice("kind", kind, tuple(model.KINDS))
    choice("priority", priority, tuple(model.PRIORITIES))
    title_text = line("title", title, MAX_TITLE, required=True)
    about = text("description", description, MAX_NOTE)
    amount = check_amount("difference", difference, signed=True)
    choice("currency", currency, tuple(EXPONENTS))
    due = parse_day(due_on, "due_on")
    terminal = (terminal_id or "").strip().upper() or None
    if terminal is not None and (len(terminal) != 8 or not terminal.isalnum()):
        raise ValidationError("terminal_id", _("expected 8 letters or digits"))

    def job(conn: Connection) -> dict[str, Any]:
        merchant_no = who.default_merchant(merchant)
        if merchant_no is None:
            raise ValidationError("merchant", _("expected a merchant number"))
        who.require("cases.open", merchant_no)
        get_merchant(conn, merchant_no)
        linked = find_entries(conn, merchant_no, entries)
        case_id = insert_case(
            conn,
            who.actor,
            merchant_no=merchant_no,
            kind=kind,
            title=title_text,
            description=about,
            priority=priority,
            terminal_id=terminal,
            difference=amount,
            currency=currency,
            due_on=due,
            entries=linked,
        )
        return detail(conn, case_row(conn, who, case_id))

    return audited(cf, who, "case.open", merchant or "", lambda: cf.write(job))


# --- working a case ----------------------------------------------------------------------


def _work(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    action: str,
    step: Callable[[Connection, Any], None],
    permission: str = "cases.work",
) -> dict[str, Any]:
    def job(conn: Connection) -> dict[str, Any]:
        who.require(permission)
        row = case_row(conn, who, case_id)
        who.require(permission, row.merchant_no)
        step(conn, row)
        return detail(conn, case_row(conn, who, case_id))

    return audited(cf, who, action, str(case_id), lambda: cf.write(job))


def assign(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    assignee: str,
    *,
    priority: str | None = None,
    due_on: date | str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Give the case to someone (a username); an open case starts being investigated."""
    person = line("assignee", assignee, 80, required=True)
    if priority is not None:
        choice("priority", priority, tuple(model.PRIORITIES))
    due = parse_day(due_on, "due_on")
    said = text("note", note, MAX_NOTE)

    def step(conn: Connection, row: Any) -> None:
        if row.state == "closed":
            raise Conflict(_("case {case_id} is closed"), case_id=int(row.id))
        username = _worker(conn, person, row.merchant_no)
        change: dict[str, Any] = {"assignee": username, "updated_at": datetime.now(UTC)}
        if priority:
            change["priority"] = priority
        if due:
            change["due_on"] = due
        conn.execute(cases.update().where(c.id == row.id).values(**change))
        details = {
            "assignee": username,
            "previous": row.assignee,
            "priority": priority or row.priority,
            "due_on": (due or row.due_on).isoformat(),
        }
        event(conn, who.actor, row, "assigned", said, details)
        audit.record(
            conn,
            who.actor,
            "case.assign",
            object_type="case",
            object_id=str(row.id),
            merchant_no=row.merchant_no,
            details=details,
        )
        if row.state == "open":
            move(conn, who, row, "investigating")

    return _work(cf, who, case_id, "case.assign", step)


def _worker(conn: Connection, username: str, merchant_no: str) -> str:
    """The username of an active person who works cases of the merchant."""
    try:
        user = get_user(conn, username)
    except NotFound:
        user = None
    if (
        user is None
        or not user.active
        or user.role not in PERMISSIONS["cases.work"]
        or not user.can_see(merchant_no)
    ):
        raise ValidationError(
            "assignee",
            _("no user {assignee} works the cases of merchant {merchant_no}"),
            assignee=username[:80],
            merchant_no=merchant_no,
        )
    return user.username


def add_note(cf: Counterfoil, who: Principal, case_id: int, note: str) -> dict[str, Any]:
    said = text("note", note, MAX_NOTE, required=True)

    def step(conn: Connection, row: Any) -> None:
        event(conn, who.actor, row, "note", said)
        conn.execute(cases.update().where(c.id == row.id).values(updated_at=datetime.now(UTC)))
        audit.record(
            conn,
            who.actor,
            "case.note",
            object_type="case",
            object_id=str(row.id),
            merchant_no=row.merchant_no,
        )

    return _work(cf, who, case_id, "case.note", step)


def submit(
    cf: Counterfoil, who: Principal, case_id: int, *, reference: str = "", note: str = ""
) -> dict[str, Any]:
    """The application went to the acquirer (investigating → submitted); with the
    acquirer's reference, the case awaits its response at once."""
    from counterfoil.cases.application import application_facts

    ref = line("reference", reference, MAX_REF)
    said = text("note", note, MAX_NOTE)

    def step(conn: Connection, row: Any) -> None:
        facts = application_facts(conn, row)
        details = {
            "evidence": len(facts["evidence"]),
            "entries": [t["entry_id"] for t in facts["transactions"]],
            "difference": row.difference,
        }
        row = move(conn, who, row, "submitted", said, details)
        if ref:
            move(conn, who, row, "awaiting_response", "", {"acquirer_ref": ref}, acquirer_ref=ref)

    return _work(cf, who, case_id, "case.submit", step)


def respond(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    *,
    reference: str = "",
    outcome: str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The acquirer's answer: its reference (submitted → awaiting_response) and/or the
    outcome, "accepted" or "rejected" (→ resolved_accepted | resolved_rejected)."""
    ref = line("reference", reference, MAX_REF)
    if outcome is not None and outcome != "":
        choice("outcome", outcome, ("accepted", "rejected"))
    if not ref and not outcome:
        raise ValidationError("outcome", _("expected the acquirer's reference or an outcome"))
    said = text("note", note, MAX_NOTE)

    def step(conn: Connection, row: Any) -> None:
        if ref:
            row = move(
                conn, who, row, "awaiting_response", said, {"acquirer_ref": ref}, acquirer_ref=ref
            )
        if outcome:
            move(conn, who, row, f"resolved_{outcome}", "" if ref else said, {"outcome": outcome})

    return _work(cf, who, case_id, "case.respond", step)


def close(
    cf: Counterfoil, who: Principal, case_id: int, *, root_cause: str, lesson: str
) -> dict[str, Any]:
    """Close a resolved case: the root cause and the lesson learned are required."""
    choice("root_cause", root_cause, tuple(model.ROOT_CAUSES))
    learned = text("lesson", lesson, MAX_NOTE, required=True)

    def step(conn: Connection, row: Any) -> None:
        pending = conn.execute(
            select(func.count()).where(and_(ad.case_id == row.id, ad.status == "proposed"))
        ).scalar_one()
        if pending:
            raise Conflict(
                _("case {case_id} has an adjustment waiting for approval"), case_id=int(row.id)
            )
        move(
            conn,
            who,
            row,
            "closed",
            learned,
            {"root_cause": root_cause},
            root_cause=root_cause,
            lesson=learned,
        )

    return _work(cf, who, case_id, "case.close", step)


# --- reading -----------------------------------------------------------------------------


def overdue_clause(conn: Connection, merchant_nos: Sequence[str] | None) -> ColumnElement[bool]:
    """Active cases past their due day, each by its merchant's own today."""
    query = select(merchants.c.merchant_no, merchants.c.timezone)
    if merchant_nos is not None:
        query = query.where(merchants.c.merchant_no.in_(merchant_nos))
    by_zone: dict[str, list[str]] = {}
    for merchant_no, zone in conn.execute(query).all():
        by_zone.setdefault(zone, []).append(merchant_no)
    parts = [and_(c.merchant_no.in_(nos), c.due_on < today(zone)) for zone, nos in by_zone.items()]
    return and_(c.state.in_(model.ACTIVE), or_(*parts) if parts else false())


def summary(row: Any, overdue: bool | None = None) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "merchant_no": row.merchant_no,
        "kind": row.kind,
        "state": row.state,
        "title": row.title,
        "priority": row.priority,
        "assignee": row.assignee,
        "due_on": row.due_on.isoformat(),
        "overdue": overdue,
        "origin": row.origin,
        "origin_ref": row.origin_ref,
        "terminal_id": row.terminal_id,
        "difference": row.difference,
        "currency": row.currency,
        "acquirer_ref": row.acquirer_ref,
        "root_cause": row.root_cause,
        "lesson": row.lesson,
        "opened_by": row.opened_by,
        "opened_at": utc(row.opened_at),
        "updated_at": utc(row.updated_at),
        "resolved_at": utc(row.resolved_at),
        "closed_at": utc(row.closed_at),
        "next": list(model.TRANSITIONS[row.state]),
    }


def timeline(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(case_events).where(ev.case_id == case_id).order_by(ev.id))
    return [
        {
            "id": int(r.id),
            "kind": r.kind,
            "from_state": r.from_state,
            "to_state": r.to_state,
            "note": r.note,
            "details": orjson.loads(r.details),
            "actor": r.actor,
            "source": r.source,
            "at": utc(r.at),
        }
        for r in rows
    ]


def evidence_of(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(case_evidence).where(ed.case_id == case_id).order_by(ed.id))
    return [
        {
            "id": int(r.id),
            "kind": r.kind,
            "ref": r.ref,
            "filename": r.filename,
            "content_type": r.content_type,
            "size": r.size,
            "note": r.note,
            "added_by": r.added_by,
            "added_at": utc(r.added_at),
        }
        for r in rows
    ]


def adjustments_of(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    from counterfoil.services.ingest import entry_id

    rows = conn.execute(select(case_adjustments).where(ad.case_id == case_id).order_by(ad.id))
    return [
        {
            "id": int(r.id),
            "kind": r.kind,
            "amount": int(r.amount),
            "currency": r.currency,
            "reason": r.reason,
            "status": r.status,
            "proposed_by": r.proposed_by,
            "proposed_at": utc(r.proposed_at),
            "decided_by": r.decided_by,
            "decided_at": utc(r.decided_at),
            "entry_id": entry_id(r.merchant_no, int(r.entry_seq)) if r.entry_seq else None,
            "business_day": r.business_day.isoformat() if r.business_day else None,
        }
        for r in rows
    ]


def detail(conn: Connection, row: Any) -> dict[str, Any]:
    is_overdue = row.state in model.ACTIVE and row.due_on < today(zone_of(conn, row.merchant_no))
    return {
        **summary(row, is_overdue),
        "description": row.description,
        "events": timeline(conn, int(row.id)),
        "evidence": evidence_of(conn, int(row.id)),
        "adjustments": adjustments_of(conn, int(row.id)),
    }


def get_case(conn: Connection, who: Principal, case_id: int) -> dict[str, Any]:
    who.require("cases.read")
    return detail(conn, case_row(conn, who, case_id))


def list_cases(
    conn: Connection,
    who: Principal,
    merchant: str | None = None,
    *,
    state: str | None = None,
    kind: str | None = None,
    assignee: str | None = None,
    overdue: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """The cases board: overdue first, then by due day; by state, kind, assignee."""
    who.require("cases.read", merchant or None)
    if state:
        choice("state", state, tuple(model.STATES))
    if kind:
        choice("kind", kind, tuple(model.KINDS))
    check_page(page, per_page)
    scope = None if who.all_merchants else list(who.merchants)
    late = overdue_clause(conn, [merchant] if merchant else scope)
    where: list[ColumnElement[bool]] = []
    if merchant:
        where.append(c.merchant_no == merchant)
    if state:
        where.append(c.state == state)
    if kind:
        where.append(c.kind == kind)
    if assignee:
        where.append(c.assignee == assignee)
    if overdue:
        where.append(late)
    late_flag = case((late, 0), else_=1)
    total = conn.execute(confined(who, select(func.count()).select_from(cases).where(*where)))
    rows = conn.execute(
        confined(who, select(cases, late_flag.label("late")).where(*where))
        .order_by(late_flag, c.due_on, c.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    scoped = [w for w in where[:1]] if merchant else []
    counts: dict[str, int] = dict(
        conn.execute(
            confined(who, select(c.state, func.count()).where(*scoped).group_by(c.state))
        ).all()
    )
    return {
        "total": int(total.scalar_one()),
        "page": page,
        "per_page": per_page,
        "by_state": {s: int(counts.get(s, 0)) for s in model.STATES},
        "items": [summary(r, int(r.late) == 0) for r in rows],
    }


def report(
    conn: Connection,
    who: Principal,
    merchant: str | None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    """Cases by the month they were opened: how many, by kind and root cause, how many
    resolved and closed, and the days from opening to resolution (mean and longest)."""
    merchant_no = who.default_merchant(merchant)
    if merchant_no is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("cases.read", merchant_no)
    if date_from and date_to and date_from > date_to:
        raise ValidationError("date_to", _("expected an end date on or after the start"))
    get_merchant(conn, merchant_no)
    where: list[ColumnElement[bool]] = [c.merchant_no == merchant_no]
    if date_from:
        where.append(c.opened_day >= date_from)
    if date_to:
        where.append(c.opened_day <= date_to)
    rows = conn.execute(select(cases).where(*where).order_by(c.id)).all()

    def tally() -> dict[str, Any]:
        return {
            "opened": 0,
            "resolved": 0,
            "closed": 0,
            "by_kind": {},
            "by_root_cause": {},
            "resolution_days_mean": None,
            "resolution_days_max": None,
            "_days": [],
        }

    whole, months = tally(), dict[str, dict[str, Any]]()
    for r in rows:
        month = months.setdefault(r.opened_day.strftime("%Y-%m"), tally())
        for part in (whole, month):
            part["opened"] += 1
            part["by_kind"][r.kind] = part["by_kind"].get(r.kind, 0) + 1
            if r.root_cause:
                part["by_root_cause"][r.root_cause] = part["by_root_cause"].get(r.root_cause, 0) + 1
            if r.closed_at is not None:
                part["closed"] += 1
            if r.resolved_at is not None:
                part["resolved"] += 1
                seconds = (aware(r.resolved_at) - aware(r.opened_at)).total_seconds()
                part["_days"].append(seconds / 86400)
    for part in (whole, *months.values()):
        found = part.pop("_days")
        if found:
            # tenths of a day, rounded half up, kept as text: no float leaves the service
            part["resolution_days_mean"] = _tenths(sum(found) / len(found))
            part["resolution_days_max"] = _tenths(max(found))
    return {
        "merchant_no": merchant_no,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        **whole,
        "months": [{"month": name, **months[name]} for name in sorted(months)],
    }


def _tenths(days: float) -> str:
    tenths = int(days * 10 + 0.5)
    return f"{tenths // 10}.{tenths % 10}"
