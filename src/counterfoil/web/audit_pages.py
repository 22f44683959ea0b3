"""The audit log in the console, for auditors and admins (``audit.read``).

``/audit`` filters the log (UTC days, actor, action prefix, object, merchant, outcome),
fifty records a page, newest first; HTMX asks for the results alone. The page says
whether the audit chain is intact. ``/audit/export`` streams the same records as CSV
or JSON Lines. A reader sees their merchants' records only; every reading is audited
(``api.audit`` does both, for the API and for these pages).
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from counterfoil.api.audit import export, read_page
from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.services import audit_view
from counterfoil.services.access import Principal
from counterfoil.services.audit_view import PER_PAGE, AuditFilters
from counterfoil.services.merchants import get_merchant
from counterfoil.store.audit import OUTCOMES
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("audit.read"))]
Text = Annotated[str | None, Query(max_length=120)]


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


def _filters(form: dict[str, str | None], page_no: int = 1) -> AuditFilters:
    def text(name: str) -> str | None:
        return (form.get(name) or "").strip() or None

    filters = AuditFilters(
        _day(text("date_from"), "date_from"),
        _day(text("date_to"), "date_to"),
        text("actor"),
        text("action"),
        text("object_type"),
        text("object_id"),
        text("merchant"),
        text("outcome"),
        page_no,
        PER_PAGE,
    )
    filters.check()
    return filters


def _form(
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
    actor: Text = None,
    action: Text = None,
    object_type: Text = None,
    object_id: Text = None,
    merchant: Annotated[str | None, Query(max_length=15)] = None,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, str | None]:
    """The filters as typed, to fill the form again and to make the page links."""
    return {
        "date_from": date_from,
        "date_to": date_to,
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "merchant": merchant,
        "outcome": outcome,
    }


Form = Annotated[dict[str, str | None], Depends(_form)]


def _merchants(request: Request, who: Principal) -> list[dict[str, Any]]:
    """The reader's merchants for the filter (an admin of all merchants types a number)."""
    if who.all_merchants:
        return []
    return cf_of(request).read(
        lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants]
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    who: Reader,
    form: Form,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    errors: dict[str, str] = {}
    result: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": PER_PAGE, "pages": 1}
    try:
        result = await read_page(request, who, _filters(form, page_no))
    except ValidationError as exc:
        errors[exc.field] = exc.render(locale_of(request))
    for item in result["items"]:
        item["details_text"] = (
            orjson.dumps(item["details"], option=orjson.OPT_SORT_KEYS).decode()
            if item["details"]
            else ""
        )
    base_query = urlencode({k: v for k, v in form.items() if v})
    context: dict[str, Any] = {
        "form": form,
        "errors": errors,
        "result": result,
        "page_no": result["page"],
        "pages": result["pages"],
        "base_query": base_query,
        "zone": "UTC",
    }
    if request.headers.get("hx-request"):
        return page(request, "audit_results.html", **context)
    chain = await asyncio.to_thread(cf_of(request).read, audit_view.chain_state)
    merchants = await asyncio.to_thread(_merchants, request, who)
    return page(
        request, "audit.html", chain=chain, merchants=merchants, outcomes=OUTCOMES, **context
    )


@router.get("/audit/export")
async def audit_export_page(
    request: Request,
    who: Reader,
    form: Form,
    format: Annotated[str, Query(max_length=8)] = "csv",
) -> StreamingResponse:
    return await export(request, who, _filters(form), format)
