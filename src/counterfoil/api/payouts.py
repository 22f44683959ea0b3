"""Payout routes: run a payout reconciliation (``reconcile.run``) and read runs and breaks
(``reconcile.read``), confined by the service to the caller's merchants."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.api.responses import JSON
from counterfoil.api.transactions import read_json
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile import payouts as svc
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["payouts"])
Reader = Annotated[Principal, Depends(requires("reconcile.read"))]
Runner = Annotated[Principal, Depends(requires("reconcile.run"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
MAX_BODY = 8 * 1024


def _date(body: dict[str, Any], name: str) -> date | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(name, _("expected a date as YYYY-MM-DD")) from None


def _int(body: dict[str, Any], name: str, default: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, _("expected a whole number"))
    return value


@router.post(
    "/payouts",
    status_code=201,
    summary="Reconcile payouts: {merchant, from?, to?, lag_days?, tolerance?}",
)
async def run_payouts(request: Request, who: Runner) -> JSON:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise ValidationError("$", _("expected a JSON object"))
    merchant = body.get("merchant")
    if merchant is not None and not isinstance(merchant, str):
        raise ValidationError("merchant", _("expected a merchant number"))
    run = await asyncio.to_thread(
        svc.run_payouts,
        cf_of(request),
        who,
        merchant_no=merchant,
        date_from=_date(body, "from"),
        date_to=_date(body, "to"),
        lag_days=_int(body, "lag_days", 3),
        tolerance=_int(body, "tolerance", 0),
    )
    return JSON(run, status_code=201)


@router.get("/payouts", summary="Payout runs, the latest first")
async def list_runs(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: svc.list_runs(conn, who, merchant, limit)
    )
    return found


@router.get("/payouts/breaks", summary="Payout breaks (open ones unless a status is given)")
async def list_breaks(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    status: Annotated[str | None, Query(max_length=12)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[dict[str, Any]]:
    locale = locale_of(request)
    found: list[dict[str, Any]] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: svc.list_breaks(
            conn, who, merchant, status=status, date_from=date_from, date_to=date_to, locale=locale
        ),
    )
    return found


@router.get("/payouts/{run_id}", summary="One payout run: outcomes by group, breaks explained")
async def get_run(request: Request, who: Reader, run_id: int) -> dict[str, Any]:
    locale = locale_of(request)
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: svc.get_run(conn, who, run_id, locale=locale)
    )
    return found
