"""Reading reconciliation: runs with their summaries, breaks (filtered, sorted, paged).

Every read is confined to the merchants the reader sees; breaks carry card-related
facts (a card's last four in their keys), so a list or an export is audited.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, select

from counterfoil.core.errors import NotFound, ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile.explain import render
from counterfoil.reconcile.model import BREAKS, LIFECYCLE, OUTCOME_LABELS
from counterfoil.services.access import Principal
from counterfoil.services.ingest import entry_id
from counterfoil.store.reconcile_schema import recon_breaks, recon_runs

PER_PAGE = 50
MAX_PAGE = 500
SORTS = {
    "time": recon_breaks.c.occurred_at,
    "amount": func.coalesce(recon_breaks.c.amount_statement, recon_breaks.c.amount_journal),
    "outcome": recon_breaks.c.outcome,
    "status": recon_breaks.c.status,
}


def _merchants(who: Principal, merchant_no: str | None) -> tuple[str, ...] | None:
    """The merchants a read covers (None: all)."""
    who.require("reconcile.read", merchant_no)
    if merchant_no:
        return (merchant_no,)
    return None if who.all_merchants else who.merchants


def _run_view(row: Any, with_summary: bool = True) -> dict[str, Any]:
    view = {
        "run_id": row.id,
        "merchant_no": row.merchant_no,
        "scope": row.scope,
        "business_day": row.business_day.isoformat() if row.business_day else None,
        "source": row.source,
        "import_id": row.import_id,
        "engine": row.engine,
        "entries": row.entries,
        "lines": row.lines,
        "actor": row.actor,
        "started_at": _aware(row.started_at).isoformat(),
        "finished_at": _aware(row.finished_at).isoformat(),
    }
    summary = orjson.loads(row.summary)
    if with_summary:
        view.update(summary)
    else:
        view["breaks"] = summary.get("breaks", {})
    return view


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_runs(
    conn: Connection,
    who: Principal,
    merchant_no: str | None = None,
    *,
    day: date | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    merchants = _merchants(who, merchant_no)
    r = recon_runs.c
    query = select(recon_runs).order_by(r.id.desc()).limit(max(1, min(limit, MAX_PAGE)))
    if merchants is not None:
        query = query.where(r.merchant_no.in_(merchants))
    if day is not None:
        query = query.where(r.business_day == day)
    return [_run_view(row, with_summary=False) for row in conn.execute(query)]


def get_run(conn: Connection, who: Principal, run_id: int) -> dict[str, Any]:
    who.require("reconcile.read")
    row = conn.execute(select(recon_runs).where(recon_runs.c.id == run_id)).first()
    if row is None or not who.sees(row.merchant_no):
        raise NotFound(_("reconciliation run {run_id} is not known"), run_id=run_id)
    return _run_view(row)


def break_view(row: Any, locale: str | None = None) -> dict[str, Any]:
    params = orjson.loads(row.params)
    return {
        "break_id": row.break_id,
        "merchant_no": row.merchant_no,
        "scope": row.scope,
        "outcome": row.outcome,
        "outcome_label": OUTCOME_LABELS.get(row.outcome, row.outcome),
        "status": row.status,
        "explanation": render(row.message, params, locale) if locale else row.explanation,
        "fields": orjson.loads(row.fields),
        "entry_id": entry_id(row.merchant_no, row.seq) if row.seq is not None else None,
        "seq": row.seq,
        "line": f"{row.import_id}:{row.line_no}" if row.import_id is not None else None,
        "amount_journal": row.amount_journal,
        "amount_statement": row.amount_statement,
        "occurred_at": _aware(row.occurred_at).isoformat() if row.occurred_at else None,
        "first_run_id": row.first_run_id,
        "last_run_id": row.last_run_id,
        "resolved_run_id": row.resolved_run_id,
    }


def list_breaks(
    conn: Connection,
    who: Principal,
    merchant_no: str | None = None,
    *,
    status: str | None = None,
    outcome: str | None = None,
    scope: str | None = None,
    run_id: int | None = None,
    sort: str = "time",
    descending: bool = False,
    page: int = 1,
    per_page: int = PER_PAGE,
    locale: str | None = None,
) -> dict[str, Any]:
    """Breaks, filtered and sorted, a page at a time; open ones (not resolved) by default."""
    merchants = _merchants(who, merchant_no)
    b = recon_breaks.c
    where: list[Any] = []
    if merchants is not None:
        where.append(b.merchant_no.in_(merchants))
    if status == "open" or status is None:
        where.append(b.status != "resolved")
    elif status != "all":
        if status not in LIFECYCLE:
            raise ValidationError(
                "status",
                _("expected one of {options}"),
                options="open, all, " + ", ".join(LIFECYCLE),
            )
        where.append(b.status == status)
    if outcome:
        if outcome not in BREAKS:
            raise ValidationError(
                "outcome", _("expected one of {options}"), options=", ".join(BREAKS)
            )
        where.append(b.outcome == outcome)
    if scope:
        where.append(b.scope == scope)
    if run_id is not None:
        where.append(b.last_run_id == run_id)
    if sort not in SORTS:
        raise ValidationError("sort", _("expected one of {options}"), options=", ".join(SORTS))
    if not 1 <= per_page <= MAX_PAGE or page < 1:
        raise ValidationError("per_page", _("expected a page size from 1 to {most}"), most=MAX_PAGE)
    order = SORTS[sort].desc() if descending else SORTS[sort]
    total = int(
        conn.execute(
            select(func.count()).select_from(recon_breaks).where(and_(*where))
        ).scalar_one()
    )
    rows = conn.execute(
        select(recon_breaks)
        .where(and_(*where))
        .order_by(order, b.break_id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return {
        "items": [break_view(row, locale) for row in rows],
        "total": total,
        "page": page,
        "per_page": per_page,
    }


def get_break(
    conn: Connection, who: Principal, break_id: str, locale: str | None = None
) -> dict[str, Any]:
    who.require("reconcile.read")
    row = conn.execute(select(recon_breaks).where(recon_breaks.c.break_id == break_id)).first()
    if row is None or not who.sees(row.merchant_no):
        raise NotFound(_("break {break_id} is not known"), break_id=break_id)
    return break_view(row, locale)
