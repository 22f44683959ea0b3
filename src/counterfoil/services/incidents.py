"""Lost-document incidents: what was lost, when and where it was found missing, who was
involved, which transactions it concerns and what was done about it.

The merchant guides (seeds 000, 001, 004) ask for exactly this record when a merchant
stub, a customer receipt, a settlement list or a payment slip goes missing: "详细记录…
包括时间、地点、涉及的人员和交易内容" — and then for the remedies, each written down.
An incident keeps its current state in one row (open or closed, with a closing note);
everything that happened to it is an append-only event, so what was done accrues and
nothing is rewritten. Reprints (``document_prints.incident_id``) and proofs of payment
(``certificates.incident_id``, where that table exists) link to their incident.

Who may: ``incidents.write`` records an incident and adds what was done; closing and
reopening are a supervisor's (DESIGN.md: the supervisor handles lost-document
incidents). ``incidents.read`` reads them; a cashier reads the incidents they recorded,
everyone else all of their merchants'. Every change is audited, and so is a refusal.
Free text passes through PAN redaction before it is stored, and track data is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    column,
    func,
    inspect,
    select,
    table,
)

from counterfoil.core.errors import Conflict, Forbidden, NotFound, ValidationError
from counterfoil.core.pan import redact_pans, scan_payload
from counterfoil.i18n import _
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil, audit_refusal
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit
from counterfoil.store.incidents_schema import incident_entries, incident_events, incidents
from counterfoil.store.schema import document_prints, metadata

KINDS = ("merchant_stub", "customer_receipt", "settlement_list", "payment_slip")
STATUSES = ("open", "closed")
#: What may be added to an incident after it is recorded (the API's event kinds).
EVENT_KINDS = ("action", "close", "reopen")
PER_PAGE = 50
MAX_PAGE = 500
MAX_ENTRIES = 100
MAX_NOTE = 2000
MAX_PEOPLE = 1000
MAX_PLACE = 200
#: A moment found missing may be a little ahead of the server's clock, not more.
CLOCK_SKEW = timedelta(minutes=5)

i, e, v = incidents.c, incident_entries.c, incident_events.c
T = TypeVar("T")


# --- checking what was typed -------------------------------------------------------------


def _choice(field: str, value: str | None, options: Sequence[str]) -> None:
    if value not in options:
        raise ValidationError(field, _("expected one of {options}"), options=", ".join(options))


def _text(field: str, value: str | None, limit: int, *, required: bool = False) -> str:
    """Free text as stored: stripped, within its limit, card numbers masked."""
    text = (value or "").strip()
    if required and not text:
        raise ValidationError(field, _("this field is required"))
    if len(text) > limit:
        raise ValidationError(field, _("expected at most {limit} characters"), limit=limit)
    if any(ch != "\n" and ch != "\t" and not ch.isprintable() for ch in text):
        raise ValidationError(field, _("expected printable text"))
    scan_payload({field: text})  # track data, CVV, PIN: refused without echoing it
    return redact_pans(text)


def _place(value: str | None) -> str:
    place = _text("place", value, MAX_PLACE, required=True)
    if "\n" in place:
        raise ValidationError("place", _("expected one line"))
    return place


def parse_found_at(
    value: datetime | str | None, zone: str, now: datetime | None = None
) -> datetime:
    """When it was found missing, as a UTC instant: an ISO time (without an offset, in the
    merchant's zone), never in the future."""
    when: datetime | None = value if isinstance(value, datetime) else None
    if isinstance(value, str) and value.strip():
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            when = None
    if when is None:
        raise ValidationError(
            "found_at", _("expected a time such as 2026-11-20T18:30 (the merchant's local time)")
        )
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(zone))
    when = when.astimezone(UTC)
    if when > (now or datetime.now(UTC)) + CLOCK_SKEW:
        raise ValidationError("found_at", _("expected a time that is not in the future"))
    return when


def _check_page(page: int, per_page: int) -> None:
    if page < 1 or not 1 <= per_page <= MAX_PAGE:
        raise ValidationError(
            "per_page", _("expected page 1 or later, and 1 to {max} items a page"), max=MAX_PAGE
        )


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise ValidationError("date_to", _("expected an end date on or after the start"))


def _utc(moment: datetime | None) -> str | None:
    """A stored instant as ISO 8601 UTC (SQLite gives it back without its zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


# --- who sees which incident ---------------------------------------------------------------


def _confined(who: Principal, query: Select[Any]) -> Select[Any]:
    """Only the incidents ``who`` may read: their merchants'; a cashier's own."""
    if not who.all_merchants:
        query = query.where(i.merchant_no.in_(who.merchants))
    if who.role == "cashier":
        query = query.where(i.reported_by == who.name[:80])
    return query


def _row(conn: Connection, who: Principal, incident_id: int) -> Any:
    found = conn.execute(_confined(who, select(incidents).where(i.id == incident_id))).first()
    if found is None:  # another merchant's or another cashier's: not even a hint
        raise NotFound(_("no incident {incident_id}"), incident_id=incident_id)
    return found


def _entries(
    conn: Connection, who: Principal, merchant_no: str, refs: Iterable[str]
) -> list[dict[str, Any]]:
    """The transactions named, each of the merchant (and of a cashier's terminals)."""
    found: dict[int, dict[str, Any]] = {}
    refs = [r.strip() for r in refs if r and r.strip()]
    if len(refs) > MAX_ENTRIES:
        raise ValidationError(
            "entries", _("expected at most {limit} transactions"), limit=MAX_ENTRIES
        )
    for ref in refs:
        missing = ValidationError(
            "entries",
            _("no transaction {ref} of merchant {merchant_no}"),
            ref=ref[:64],
            merchant_no=merchant_no,
        )
        try:
            entry = lookups.find(conn, ref, merchant_no)
        except NotFound:
            raise missing from None
        if entry["kind"] not in ("transaction", "recovered"):
            raise missing
        if not who.sees_terminal(merchant_no, str(entry.get("terminal_id", ""))):
            raise missing
        found.setdefault(int(entry["seq"]), entry)
    return [found[seq] for seq in sorted(found)]


def _link_entries(
    conn: Connection,
    who: Principal,
    incident_id: int,
    merchant_no: str,
    found: list[dict[str, Any]],
) -> list[str]:
    """Link transactions not yet linked; return the entry ids newly linked."""
    known = {
        int(seq) for (seq,) in conn.execute(select(e.seq).where(e.incident_id == incident_id)).all()
    }
    added: list[str] = []
    moment = datetime.now(UTC)
    for entry in found:
        if int(entry["seq"]) in known:
            continue
        conn.execute(
            incident_entries.insert().values(
                incident_id=incident_id,
                seq=int(entry["seq"]),
                merchant_no=merchant_no,
                added_by=who.name[:80],
                added_at=moment,
            )
        )
        added.append(str(entry["entry_id"]))
    return added


def _event(
    conn: Connection,
    who: Principal,
    incident_id: int,
    merchant_no: str,
    kind: str,
    note: str,
    details: dict[str, Any],
) -> None:
    conn.execute(
        incident_events.insert().values(
            incident_id=incident_id,
            merchant_no=merchant_no,
            kind=kind,
            note=note,
            details=orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode(),
            actor=who.name[:80],
            source=who.source[:80],
            at=datetime.now(UTC),
        )
    )


def _audited(cf: Counterfoil, who: Principal, action: str, ref: str, job: Callable[[], T]) -> T:
    return audit_refusal(cf, who, action, "incident", ref, job)


# --- recording and working an incident ---------------------------------------------------


def add_incident(
    cf: Counterfoil,
    who: Principal,
    *,
    merchant: str | None,
    kind: str,
    found_at: datetime | str | None,
    place: str,
    people: str = "",
    entries: Sequence[str] = (),
    action: str = "",
) -> dict[str, Any]:
    """Record a lost document; return the incident as ``get_incident`` shows it."""
    _choice("kind", kind, KINDS)
    place_text = _place(place)
    people_text = _text("people", people, MAX_PEOPLE)
    action_text = _text("action", action, MAX_NOTE)

    def job(conn: Connection) -> dict[str, Any]:
        merchant_no = who.default_merchant(merchant)
        if merchant_no is None:
            raise ValidationError("merchant", _("expected a merchant number"))
        who.require("incidents.write", merchant_no)
        zone = get_merchant(conn, merchant_no).timezone
        when = parse_found_at(found_at, zone)
        linked = _entries(conn, who, merchant_no, entries)
        moment = datetime.now(UTC)
        inserted = conn.execute(
            incidents.insert().values(
                merchant_no=merchant_no,
                kind=kind,
                found_at=when,
                found_day=lookups.business_day(when, zone),
                place=place_text,
                people=people_text,
                status="open",
                reported_by=who.name[:80],
                source=who.source[:80],
                created_at=moment,
                updated_at=moment,
            )
        ).inserted_primary_key
        assert inserted is not None
        incident_id = int(inserted[0])
        added = _link_entries(conn, who, incident_id, merchant_no, linked)
        _event(
            conn,
            who,
            incident_id,
            merchant_no,
            "recorded",
            action_text,
            {"kind": kind, "found_at": when.isoformat(), "place": place_text, "entries": added},
        )
        audit.record(
            conn,
            who.actor,
            "incident.add",
            object_type="incident",
            object_id=str(incident_id),
            merchant_no=merchant_no,
            details={"kind": kind, "entries": added},
        )
        return _detail(conn, _row(conn, who, incident_id))

    return _audited(cf, who, "incident.add", merchant or "", lambda: cf.write(job))


def add_event(
    cf: Counterfoil,
    who: Principal,
    incident_id: int,
    kind: str,
    note: str = "",
    entries: Sequence[str] = (),
) -> dict[str, Any]:
    """Add what was done ("action", naming more transactions if need be), close the
    incident with a closing note ("close") or reopen it ("reopen"); return the incident."""
    _choice("kind", kind, EVENT_KINDS)
    text = _text("note", note, MAX_NOTE, required=kind != "action" or not entries)
    if kind != "action" and entries:
        raise ValidationError("entries", _("transactions are added with an action"))

    def job(conn: Connection) -> dict[str, Any]:
        who.require("incidents.write")
        found = _row(conn, who, incident_id)
        who.require("incidents.write", found.merchant_no)
        if kind in ("close", "reopen") and who.role == "cashier":
            raise Forbidden(_("a supervisor closes or reopens an incident"))
        wanted = {"action": "open", "close": "open", "reopen": "closed"}[kind]
        if found.status != wanted:
            raise Conflict(
                _("incident {incident_id} is {status}"),
                incident_id=incident_id,
                status=found.status,
            )
        moment = datetime.now(UTC)
        details: dict[str, Any] = {}
        if kind == "action":
            linked = _entries(conn, who, found.merchant_no, entries)
            details["entries"] = _link_entries(conn, who, incident_id, found.merchant_no, linked)
            change: dict[str, Any] = {"updated_at": moment}
        elif kind == "close":
            change = {
                "status": "closed",
                "closing_note": text,
                "closed_at": moment,
                "updated_at": moment,
            }
        else:
            change = {"status": "open", "closed_at": None, "updated_at": moment}
        conn.execute(incidents.update().where(i.id == incident_id).values(**change))
        past = {"action": "action", "close": "closed", "reopen": "reopened"}[kind]
        _event(conn, who, incident_id, found.merchant_no, past, text, details)
        audit.record(
            conn,
            who.actor,
            f"incident.{kind}",
            object_type="incident",
            object_id=str(incident_id),
            merchant_no=found.merchant_no,
            details=details,
        )
        return _detail(conn, _row(conn, who, incident_id))

    return _audited(cf, who, f"incident.{kind}", str(incident_id), lambda: cf.write(job))


def close_incident(cf: Counterfoil, who: Principal, incident_id: int, note: str) -> dict[str, Any]:
    return add_event(cf, who, incident_id, "close", note)


def check_link(conn: Connection, merchant_no: str, incident_id: int) -> None:
    """For a reprint or a proof of payment that names its incident: the incident must be
    one of the transaction's merchant (a ``ValidationError`` on ``incident_id`` if not)."""
    found = conn.execute(
        select(i.id).where(and_(i.id == incident_id, i.merchant_no == merchant_no))
    ).first()
    if found is None:
        raise ValidationError(
            "incident_id",
            _("no incident {incident_id} of merchant {merchant_no}"),
            incident_id=incident_id,
            merchant_no=merchant_no,
        )


# --- reading -----------------------------------------------------------------------------


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "merchant_no": row.merchant_no,
        "kind": row.kind,
        "found_at": _utc(row.found_at),
        "found_day": row.found_day.isoformat(),
        "place": row.place,
        "people": row.people,
        "status": row.status,
        "closing_note": row.closing_note,
        "reported_by": row.reported_by,
        "created_at": _utc(row.created_at),
        "updated_at": _utc(row.updated_at),
        "closed_at": _utc(row.closed_at),
    }


def _linked_transactions(conn: Connection, row: Any) -> list[dict[str, Any]]:
    seqs = conn.execute(select(e.seq).where(e.incident_id == row.id).order_by(e.seq)).scalars()
    shown = []
    for seq in seqs:
        entry = lookups.find(conn, entry_id(row.merchant_no, int(seq)), row.merchant_no)
        shown.append(
            {
                key: entry.get(key)
                for key in (
                    "entry_id",
                    "seq",
                    "type",
                    "channel",
                    "amount",
                    "currency",
                    "terminal_id",
                    "terminal_time",
                    "status",
                )
            }
        )
    return shown


def _reprints(conn: Connection, row: Any) -> list[dict[str, Any]]:
    d = document_prints.c
    found = conn.execute(
        select(d.seq, d.copy, d.print_no, d.format, d.reason, d.actor, d.source, d.printed_at)
        .where(and_(d.merchant_no == row.merchant_no, d.incident_id == row.id))
        .order_by(d.printed_at, d.id)
    )
    return [
        {
            "entry_id": entry_id(row.merchant_no, int(r.seq)),
            "copy": r.copy,
            "print_no": r.print_no,
            "format": r.format,
            "reason": r.reason,
            "actor": r.actor,
            "source": r.source,
            "printed_at": _utc(r.printed_at),
        }
        for r in found
    ]


def certificates_table(conn: Connection) -> Any | None:
    """The proofs of payment, where that table exists (issue 4, point 6): its columns
    ``serial, merchant_no, seq, incident_id, actor, issued_at`` link them to incidents."""
    known = metadata.tables.get("certificates")
    if known is not None and "incident_id" in known.c:
        return known
    if not inspect(conn).has_table("certificates"):
        return None
    return table(
        "certificates",
        column("id"),
        column("serial"),
        column("merchant_no"),
        column("seq"),
        column("incident_id"),
        column("actor"),
        column("issued_at"),
    )


def _certificates(conn: Connection, row: Any) -> list[dict[str, Any]]:
    found = certificates_table(conn)
    if found is None:
        return []
    c = found.c
    rows = conn.execute(
        select(c.serial, c.seq, c.actor, c.issued_at)
        .where(and_(c.merchant_no == row.merchant_no, c.incident_id == row.id))
        .order_by(c.issued_at, c.serial)
    )
    return [
        {
            "serial": r.serial,
            "entry_id": entry_id(row.merchant_no, int(r.seq)),
            "actor": r.actor,
            "issued_at": _utc(r.issued_at),
        }
        for r in rows
    ]


def _history(conn: Connection, incident_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(v.kind, v.note, v.details, v.actor, v.source, v.at)
        .where(v.incident_id == incident_id)
        .order_by(v.id)
    )
    return [
        {
            "kind": r.kind,
            "note": r.note,
            "details": orjson.loads(r.details),
            "actor": r.actor,
            "source": r.source,
            "at": _utc(r.at),
        }
        for r in rows
    ]


def _detail(conn: Connection, row: Any) -> dict[str, Any]:
    return {
        **_summary(row),
        "entries": _linked_transactions(conn, row),
        "events": _history(conn, int(row.id)),
        "reprints": _reprints(conn, row),
        "certificates": _certificates(conn, row),
    }


def get_incident(conn: Connection, who: Principal, incident_id: int) -> dict[str, Any]:
    """One incident with its transactions, its history, and the reprints and proofs of
    payment linked to it."""
    who.require("incidents.read")
    return _detail(conn, _row(conn, who, incident_id))


def _count_by(conn: Connection, query: Select[Any]) -> dict[int, int]:
    """``incident_id → count`` from a query of those two columns."""
    return {int(k): int(n) for k, n in conn.execute(query).all() if k is not None}


def _counts(
    conn: Connection, ids: Sequence[int], merchant_of: dict[int, str]
) -> tuple[dict[int, int], dict[int, int]]:
    """Transactions and reprints linked to each incident of ``ids``."""
    if not ids:
        return {}, {}
    d = document_prints.c
    entries = _count_by(
        conn,
        select(e.incident_id, func.count()).where(e.incident_id.in_(ids)).group_by(e.incident_id),
    )
    prints: dict[int, int] = {}
    for incident_id, merchant_no, n in conn.execute(
        select(d.incident_id, d.merchant_no, func.count())
        .where(d.incident_id.in_(ids))
        .group_by(d.incident_id, d.merchant_no)
    ).all():
        if incident_id is not None and merchant_of.get(int(incident_id)) == merchant_no:
            prints[int(incident_id)] = int(n)
    return entries, prints


def list_incidents(
    conn: Connection,
    who: Principal,
    merchant: str | None = None,
    status: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    kind: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> dict[str, Any]:
    """Incidents, newest found first, by the day they were found missing (the merchant's
    business day), status and kind; ``merchant`` None: all the reader's merchants."""
    who.require("incidents.read", merchant or None)
    if status is not None:
        _choice("status", status, STATUSES)
    if kind is not None:
        _choice("kind", kind, KINDS)
    _check_page(page, per_page)
    _check_range(date_from, date_to)
    where: list[ColumnElement[bool]] = []
    if merchant:
        where.append(i.merchant_no == merchant)
    if status:
        where.append(i.status == status)
    if kind:
        where.append(i.kind == kind)
    if date_from:
        where.append(i.found_day >= date_from)
    if date_to:
        where.append(i.found_day <= date_to)
    total = conn.execute(_confined(who, select(func.count()).select_from(incidents).where(*where)))
    rows = conn.execute(
        _confined(who, select(incidents).where(*where))
        .order_by(i.found_at.desc(), i.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    ids = [int(r.id) for r in rows]
    linked, printed = _counts(conn, ids, {int(r.id): r.merchant_no for r in rows})
    items = [
        {
            **_summary(r),
            "transactions": linked.get(int(r.id), 0),
            "reprints": printed.get(int(r.id), 0),
        }
        for r in rows
    ]
    return {"total": int(total.scalar_one()), "page": page, "per_page": per_page, "items": items}


def report(
    conn: Connection,
    who: Principal,
    merchant: str | None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    """Incidents of a period (by the day found missing): how many, by kind and status,
    with the transactions, reprints and proofs of payment linked to them; and per month."""
    merchant_no = who.default_merchant(merchant)
    if merchant_no is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("incidents.read", merchant_no)
    _check_range(date_from, date_to)
    get_merchant(conn, merchant_no)
    where: list[ColumnElement[bool]] = [i.merchant_no == merchant_no]
    if date_from:
        where.append(i.found_day >= date_from)
    if date_to:
        where.append(i.found_day <= date_to)
    chosen = _confined(who, select(i.id).where(*where))
    rows = conn.execute(
        _confined(who, select(i.id, i.kind, i.status, i.found_day).where(*where))
    ).all()
    d = document_prints.c
    prints = _count_by(
        conn,
        select(d.incident_id, func.count())
        .where(and_(d.merchant_no == merchant_no, d.incident_id.in_(chosen)))
        .group_by(d.incident_id),
    )
    entries = _count_by(
        conn,
        select(e.incident_id, func.count())
        .where(e.incident_id.in_(chosen))
        .group_by(e.incident_id),
    )
    certificates: dict[int, int] = {}
    if (found := certificates_table(conn)) is not None:
        c = found.c
        certificates = _count_by(
            conn,
            select(c.incident_id, func.count())
            .where(and_(c.merchant_no == merchant_no, c.incident_id.in_(chosen)))
            .group_by(c.incident_id),
        )

    def tally() -> dict[str, Any]:
        return {
            "total": 0,
            "by_kind": dict.fromkeys(KINDS, 0),
            "by_status": dict.fromkeys(STATUSES, 0),
            "transactions": 0,
            "reprints": 0,
            "certificates": 0,
        }

    whole, months = tally(), dict[str, dict[str, Any]]()
    for r in rows:
        month = months.setdefault(r.found_day.strftime("%Y-%m"), tally())
        for part in (whole, month):
            part["total"] += 1
            part["by_kind"][r.kind] = part["by_kind"].get(r.kind, 0) + 1
            part["by_status"][r.status] = part["by_status"].get(r.status, 0) + 1
            part["transactions"] += entries.get(int(r.id), 0)
            part["reprints"] += prints.get(int(r.id), 0)
            part["certificates"] += certificates.get(int(r.id), 0)
    return {
        "merchant_no": merchant_no,
        "date_from": date_from.isoformat() if date_from else None,
        "date_to": date_to.isoformat() if date_to else None,
        **whole,
        "months": [{"month": name, **months[name]} for name in sorted(months)],
    }
