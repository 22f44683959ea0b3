"""Incident and alert routes: record a lost document and what was done about it, read
incidents and their report by period, and list the reprint alerts.

``incidents.write`` records and adds actions (closing and reopening are a supervisor's);
``incidents.read`` reads; ``alerts.read`` lists the alerts. Each is confined by the
services to the caller's merchants (a cashier: the incidents they recorded).
"""

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
from counterfoil.services import alerts as alert_svc
from counterfoil.services import incidents as svc
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["incidents"])
Reader = Annotated[Principal, Depends(requires("incidents.read"))]
Writer = Annotated[Principal, Depends(requires("incidents.write"))]
AlertReader = Annotated[Principal, Depends(requires("alerts.read"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
MAX_BODY = 32 * 1024


def _text(body: dict[str, Any], name: str, default: str | None = "") -> str | None:
    value = body.get(name, default)
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(name, _("expected text"))


def _refs(body: dict[str, Any]) -> list[str]:
    value = body.get("entries") or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValidationError("entries", _("expected a list of entry ids"))
    return value


async def _object(request: Request) -> dict[str, Any]:
    body = await read_json(request, MAX_BODY)
    if not isinstance(body, dict):
        raise ValidationError("$", _("expected a JSON object"))
    return body


@router.get("/incidents", summary="Lost-document incidents, the most recently found first")
async def list_incidents(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=svc.MAX_PAGE)] = svc.PER_PAGE,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: svc.list_incidents(
            conn, who, merchant, status, date_from, date_to, kind=kind, page=page, per_page=per_page
        ),
    )
    return found


@router.post(
    "/incidents",
    status_code=201,
    summary="Record a lost document: {merchant, kind, found_at, place, people?, entries?, action?}",
)
async def add_incident(request: Request, who: Writer) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        svc.add_incident,
        cf_of(request),
        who,
        merchant=_text(body, "merchant", None),
        kind=_text(body, "kind") or "",
        found_at=_text(body, "found_at", None),
        place=_text(body, "place") or "",
        people=_text(body, "people") or "",
        entries=_refs(body),
        action=_text(body, "action") or "",
    )
    return JSON(found, status_code=201)


@router.get("/incidents/report", summary="Incidents of a period: by kind, status and month")
async def incident_report(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: svc.report(conn, who, merchant, date_from, date_to)
    )
    return found


@router.get(
    "/incidents/{incident_id}",
    summary="One incident: its transactions, what was done, its reprints and proofs",
)
async def get_incident(request: Request, who: Reader, incident_id: int) -> dict[str, Any]:
    found: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: svc.get_incident(conn, who, incident_id)
    )
    return found


@router.post(
    "/incidents/{incident_id}/events",
    status_code=201,
    summary="Add what was done {kind: action, note, entries?}, or close / reopen it "
    "{kind: close | reopen, note}",
)
async def add_event(request: Request, who: Writer, incident_id: int) -> JSON:
    body = await _object(request)
    found = await asyncio.to_thread(
        svc.add_event,
        cf_of(request),
        who,
        incident_id,
        _text(body, "kind", "action") or "",
        _text(body, "note") or "",
        _refs(body),
    )
    return JSON(found, status_code=201)


@router.get("/alerts", summary="Reprint alerts, each naming its rule and the facts")
async def list_alerts(
    request: Request,
    who: AlertReader,
    merchant: MerchantNo = None,
    date_from: date | None = None,
    date_to: date | None = None,
    rule: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    found = await asyncio.to_thread(
        cf_of(request).read,
        lambda conn: alert_svc.alerts(conn, who, merchant, date_from, date_to, rule=rule),
    )
    locale = locale_of(request)
    return {"total": len(found), "items": [a.as_dict(locale) for a in found]}
