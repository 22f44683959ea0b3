"""Reading the audit log: filter, page and export it, confined to what the reader may see.

An auditor (or an admin, or an integration with ``audit.read``) sees the records of their
merchants only; the administrator of all merchants sees every record, including those
that name no merchant (logins, users added). Dates are calendar days in UTC, since one
log serves merchants in any zone: ``date_to`` includes the whole of that day.

Filters: actor (``user:wang``, or just ``wang`` for the person), action by prefix
(``auth.`` finds every login record), object type and id, merchant, outcome. A page is
newest first; an export is oldest first, fetched a page at a time by record number, so
an export of millions of records never sits in memory. Each exported record keeps the
exact stored fields (``at`` as the UTC instant that was hashed, ``details`` as its stored
JSON text), so that anyone can recompute its ``entry_hash``.

Reading and exporting the log are themselves audited (``audit.view``, ``audit.export``):
``record_access`` writes that record, with the filters used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, func, select

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import check_merchant_no
from counterfoil.i18n import _
from counterfoil.journal.entries import iso_utc
from counterfoil.services.access import Principal
from counterfoil.store import audit
from counterfoil.store.audit import OUTCOMES
from counterfoil.store.schema import audit_log

PER_PAGE = 50
MAX_PAGE = 500
EXPORT_BATCH = 1000
#: Columns of an exported record, in the order the CSV writes them.
FIELDS = (
    "seq",
    "at",
    "actor",
    "source",
    "action",
    "object_type",
    "object_id",
    "merchant_no",
    "outcome",
    "details",
    "prev_hash",
    "entry_hash",
)
_TEXT = re.compile(r"[^\x00-\x1f\x7f]*")
_LIMITS = {"actor": 80, "action": 60, "object_type": 40, "object_id": 120}


@dataclass(frozen=True, slots=True)
class AuditFilters:
    """What to find in the audit log; empty fields do not filter."""

    date_from: date | None = None
    date_to: date | None = None
    actor: str | None = None
    action: str | None = None  # a prefix: "auth." finds auth.login, auth.token …
    object_type: str | None = None
    object_id: str | None = None
    merchant_no: str | None = None
    outcome: str | None = None
    page: int = 1
    per_page: int = PER_PAGE

    def check(self) -> None:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValidationError("date_to", _("expected an end date on or after the start"))
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if value is not None and (len(value) > limit or not _TEXT.fullmatch(value)):
                raise ValidationError(
                    name, _("expected at most {max} printable characters"), max=limit
                )
        if self.merchant_no is not None:
            try:
                check_merchant_no(self.merchant_no)
            except ValidationError:
                raise ValidationError("merchant", _("expected 15 digits")) from None
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValidationError(
                "outcome", _("expected one of {options}"), options=", ".join(OUTCOMES)
            )
        if not 1 <= self.per_page <= MAX_PAGE or self.page < 1:
            raise ValidationError(
                "per_page", _("expected page 1 or later, and 1 to {max} items a page"), max=MAX_PAGE
            )

    def used(self) -> dict[str, str]:
        """The filters that were set, as text: what the audit record of a reading keeps."""
        return {
            k: v.isoformat() if isinstance(v, date) else str(v)
            for k, v in asdict(self).items()
            if v not in (None, "") and k not in ("page", "per_page")
        }


def _conditions(who: Principal, f: AuditFilters) -> list[ColumnElement[bool]]:
    """The filters as SQL, and the reader's merchants as a bound nobody can lift."""
    a = audit_log.c
    where: list[ColumnElement[bool]] = []
    if f.merchant_no is not None:
        who.require("audit.read", f.merchant_no)
        where.append(a.merchant_no == f.merchant_no)
    elif not who.all_merchants:
        where.append(a.merchant_no.in_(who.merchants))
    if f.date_from is not None:
        where.append(a.at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to is not None and f.date_to < date.max:
        where.append(a.at < datetime.combine(f.date_to + timedelta(days=1), time.min, UTC))
    if f.actor:
        names = [f.actor] if ":" in f.actor else [f.actor, f"user:{f.actor}"]
        where.append(a.actor.in_(names))
    if f.action:
        where.append(a.action.startswith(f.action, autoescape=True))
    if f.object_type:
        where.append(a.object_type == f.object_type)
    if f.object_id:
        where.append(a.object_id == f.object_id)
    if f.outcome:
        where.append(a.outcome == f.outcome)
    return where


def _at(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _stored(row: Any) -> dict[str, Any]:
    """A record exactly as it was hashed (``at`` as the hashed text, ``details`` as stored)."""
    values = {name: row[name] for name in FIELDS}
    values["at"] = iso_utc(_at(row["at"]))
    return values


def _view(row: Any) -> dict[str, Any]:
    """A record to read: ``details`` as an object."""
    values = _stored(row)
    try:
        values["details"] = orjson.loads(row["details"] or "{}")
    except orjson.JSONDecodeError:
        values["details"] = {"text": row["details"]}
    return values


def query(conn: Connection, who: Principal, filters: AuditFilters) -> dict[str, Any]:
    """One page of records ``who`` may see, newest first, with the total that match."""
    filters.check()
    who.require("audit.read")
    conditions = _conditions(who, filters)
    total = int(
        conn.execute(select(func.count()).select_from(audit_log).where(*conditions)).scalar() or 0
    )
    rows = conn.execute(
        select(audit_log)
        .where(*conditions)
        .order_by(audit_log.c.seq.desc())
        .limit(filters.per_page)
        .offset((filters.page - 1) * filters.per_page)
    ).mappings()
    return {
        "total": total,
        "page": filters.page,
        "per_page": filters.per_page,
        "pages": max(1, -(-total // filters.per_page)),
        "items": [_view(r) for r in rows],
    }


def export_rows(
    conn: Connection, who: Principal, filters: AuditFilters
) -> Iterator[dict[str, Any]]:
    """Every record ``who`` may see that matches, oldest first, fetched a batch at a time.

    The checks run before the first record is asked for, so a refusal comes at once.
    """
    filters.check()
    who.require("audit.read")
    conditions = _conditions(who, filters)
    return _batches(conn, conditions)


def _batches(conn: Connection, conditions: list[ColumnElement[bool]]) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        rows = list(
            conn.execute(
                select(audit_log)
                .where(audit_log.c.seq > after, *conditions)
                .order_by(audit_log.c.seq)
                .limit(EXPORT_BATCH)
            ).mappings()
        )
        for row in rows:
            yield _stored(row)
        if len(rows) < EXPORT_BATCH:
            return
        after = int(rows[-1]["seq"])


def chain_state(conn: Connection) -> dict[str, Any]:
    """The audit chain verified from its first record: how many, and the first problem."""
    checked, problem = audit.verify_audit(conn)
    return {"records": checked, "intact": problem is None, "problem": problem}


def record_access(
    conn: Connection,
    who: Principal,
    action: str,
    filters: AuditFilters,
    outcome: str = "success",
    **facts: Any,
) -> int:
    """Audit a reading of the audit log (``audit.view`` / ``audit.export``) and its filters."""
    merchant_no = filters.merchant_no or (who.merchants[0] if len(who.merchants) == 1 else None)
    return audit.record(
        conn,
        who.actor,
        action,
        outcome,
        object_type="audit_log",
        merchant_no=merchant_no,
        details={"filters": filters.used(), **facts},
    )


def neutral_cell(value: Any) -> str:
    """A CSV cell a spreadsheet will not run as a formula (=, +, -, @ lead with a quote)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


__all__ = [
    "FIELDS",
    "AuditFilters",
    "chain_state",
    "export_rows",
    "neutral_cell",
    "query",
    "record_access",
]
