"""Reconciliation routes: run a day or an import, read runs and breaks, export them,
decide (manual match and unmatch, with a reason), adopt a lost record, set tolerances.

``reconcile.run`` runs and decides (finance); ``reconcile.read`` reads (finance, auditor,
admin). Every answer is confined by the services to the caller's merchants.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.api.responses import JSON
from counterfoil.api.transactions import read_json
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile import decisions, service, views
from counterfoil.reconcile.export import FORMATS, export_breaks
from counterfoil.reconcile.settings import tolerances_for
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1/reconcile", tags=["reconcile"])
Reader = Annotated[Principal, Depends(requires("reconcile.read"))]
Runner = Annotated[Principal, Depends(requires("reconcile.run"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
MAX_BODY = 16 * 1024


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise ValidationError("$", _("expected a JSON object"))
    return body


def _text(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, _("expected text"))
    return value.strip()


def _int(body: dict[str, Any], name: str, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, _("expected a whole number"))
    return value


def _date(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


@router.post(
    "/runs",
    status_code=201,
    summary="Reconcile a day: {merchant, date, source?} or one import: {import_id}",
)
async def run_reconciliation(request: Request, who: Runner) -> JSON:
    body = await _object(request)
    import_id = _int(body, "import_id", required=False)
    day = None if import_id is not None else _date(_text(body, "date"), "date")
    found = await asyncio.to_thread(
        service.reconcile,
        cf_of(request),
        who,
        merchant_no=_text(body, "merchant", required=False),
        day=day,
        source=_text(body, "source", required=False),
        import_id=import_id,
    )
    return JSON(found, status_code=201)


@router.get("/runs", summary="Reconciliation runs, the latest first")
async def list_runs(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    day: Annotated[str | None, Query(alias="date", max_length=10)] = None,
    limit: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    wanted = _date(day, "date")
    runs = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: views.list_runs(conn, who, merchant, day=wanted, limit=limit),
    )
    return {"items": runs}


@router.get("/runs/{run_id}", summary="One run: its summary, counts and amounts per outcome")
async def get_run(request: Request, who: Reader, run_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: views.get_run(conn, who, run_id)
    )
    return found


def _filters(
    status: str | None, outcome: str | None, scope: str | None, run_id: int | None
) -> dict[str, Any]:
    return {"status": status, "outcome": outcome, "scope": scope, "run_id": run_id}


Status = Annotated[str | None, Query(max_length=12)]
Outcome = Annotated[str | None, Query(max_length=24)]
ScopeQ = Annotated[str | None, Query(max_length=80)]


@router.get("/breaks", summary="Breaks: filter by status, outcome, scope or run; sort; page")
async def list_breaks(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    status: Status = None,
    outcome: Outcome = None,
    scope: ScopeQ = None,
    run_id: int | None = None,
    sort: Annotated[str, Query(max_length=10)] = "time",
    desc: bool = False,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=views.MAX_PAGE)] = views.PER_PAGE,
) -> dict[str, Any]:
    locale = locale_of(request)
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: views.list_breaks(
            conn,
            who,
            merchant,
            sort=sort,
            descending=desc,
            page=page,
            per_page=per_page,
            locale=locale,
            **_filters(status, outcome, scope, run_id),
        ),
    )
    return found


@router.get("/breaks/export", summary="Breaks as a file: format=csv or xlsx, same filters")
async def export(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    fmt: Annotated[str, Query(alias="format", max_length=4)] = "csv",
    status: Status = None,
    outcome: Outcome = None,
    scope: ScopeQ = None,
    run_id: int | None = None,
) -> Response:
    content = await asyncio.to_thread(
        export_breaks,
        cf_of(request),
        who,
        fmt,
        merchant_no=merchant,
        locale=locale_of(request),
        **_filters(status, outcome, scope, run_id),
    )
    return Response(
        content,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="breaks.{fmt}"'},
    )


@router.get("/breaks/{break_id}", summary="One break: its explanation and the fields that differ")
async def get_break(request: Request, who: Reader, break_id: str) -> dict[str, Any]:
    locale = locale_of(request)
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: views.get_break(conn, who, break_id, locale)
    )
    return found


@router.post(
    "/decisions",
    status_code=201,
    summary="Match or unmatch by hand: {action, merchant, seq, line: 'IMPORT:LINE', reason}",
)
async def decide(request: Request, who: Runner) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        decisions.decide,
        cf_of(request),
        who,
        _text(body, "action") or "",
        merchant_no=_text(body, "merchant", required=False),
        seq=_int(body, "seq") or 0,
        line=_text(body, "line") or "",
        reason=_text(body, "reason") or "",
    )
    return JSON(found, status_code=201)


@router.post(
    "/adoptions",
    status_code=201,
    summary="Adopt a line missing in the journal as a recovered entry: {line, reason}",
)
async def adopt(request: Request, who: Runner) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        decisions.adopt,
        cf_of(request),
        who,
        _text(body, "line") or "",
        reason=_text(body, "reason") or "",
        merchant_no=_text(body, "merchant", required=False),
    )
    return JSON(found, status_code=201)


@router.get("/tolerances", summary="The tolerances of each source for a merchant")
async def get_tolerances(
    request: Request, who: Reader, merchant: MerchantNo = None
) -> dict[str, Any]:
    chosen = who.default_merchant(merchant)
    if chosen is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("reconcile.read", chosen)
    found = await asyncio.to_thread(cf_of(request).read, lambda conn: tolerances_for(conn, chosen))
    return {"merchant_no": chosen, "items": [t.as_dict() for t in found.values()]}


@router.put(
    "/tolerances/{source}",
    summary="Set a source's tolerances: {merchant, amount?, time_window?, settlement_window?}",
)
async def put_tolerance(request: Request, who: Runner, source: str) -> dict[str, Any]:
    body = await _object(request)
    found: dict[str, Any] = await asyncio.to_thread(
        decisions.set_tolerance,
        cf_of(request),
        who,
        merchant_no=_text(body, "merchant", required=False),
        source=source,
        amount=_int(body, "amount", required=False),
        time_window=_int(body, "time_window", required=False),
        settlement_window=_int(body, "settlement_window", required=False),
    )
    return found
