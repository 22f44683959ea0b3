"""Lost-document incidents and reprint alerts in the console.

``/incidents`` lists incidents (filters by merchant, status, what was lost and the days
found missing; fifty a page, HTMX asks for the results alone) above the form that
records one; ``/incidents/report`` counts them by period; ``/incidents/{id}`` shows one
with its transactions, what was done, its reprints and proofs of payment, and the form
that adds an action or closes it; ``/alerts`` lists the reprint alerts, by rule. Each
change is a form with the CSRF token that answers with a redirect and a notice, or with
the page again and the fields' errors (422; 409 when the incident's state forbids it).
"""

from __future__ import annotations

import asyncio
import re
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import Conflict, CounterfoilError, ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services import alerts as alert_svc
from counterfoil.services import incidents as svc
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.web.render import DEFAULT_ZONE, page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("incidents.read"))]
Writer = Annotated[Principal, Depends(requires("incidents.write"))]
AlertReader = Annotated[Principal, Depends(requires("alerts.read"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
Day = Annotated[str | None, Query(max_length=10)]

#: What each lost document is called on screen.
KIND_LABELS: dict[str, str] = {
    "merchant_stub": _("Merchant stub"),
    "customer_receipt": _("Customer receipt"),
    "settlement_list": _("Settlement list"),
    "payment_slip": _("Payment slip"),
}
STATUS_LABELS: dict[str, str] = {"open": _("Open"), "closed": _("Closed")}
REASON_LABELS: dict[str, str] = {
    "lost": _("Lost"),
    "damaged": _("Damaged"),
    "customer_request": _("Customer request"),
    "audit": _("Audit"),
}
EVENT_LABELS: dict[str, str] = {
    "recorded": _("Incident recorded"),
    "action": _("Action taken"),
    "closed": _("Closed"),
    "reopened": _("Reopened"),
}
#: What a redirect's ``?done=`` says.
DONE: dict[str, str] = {
    "recorded": _("Incident {incident_id} recorded."),
    "action": _("Your action is added to incident {incident_id}."),
    "close": _("Incident {incident_id} is closed."),
    "reopen": _("Incident {incident_id} is open again."),
}
FORM_FIELDS = ("merchant", "kind", "found_at", "place", "people", "entries", "action")
EVENT_FIELDS = ("kind", "note", "entries")
_SPLIT = re.compile(r"[\s,;]+")


def _day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


def _refs(text: str) -> list[str]:
    return [ref for ref in _SPLIT.split(text or "") if ref]


def _merchants(request: Request, who: Principal) -> list[dict[str, Any]]:
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


def _labels(locale: str, labels: dict[str, str]) -> dict[str, str]:
    return {code: translate(text, locale) for code, text in labels.items()}


def _notice(request: Request, incident_id: int | None = None) -> str | None:
    done = request.query_params.get("done", "")
    if done not in DONE or incident_id is None:
        return None
    return translate(DONE[done], locale_of(request), incident_id=incident_id)


def _problem(request: Request, exc: CounterfoilError, fields: tuple[str, ...]) -> dict[str, str]:
    """A form's error by field, or for the whole form; a refusal goes on to the error page."""
    message = exc.render(locale_of(request))
    if isinstance(exc, ValidationError):
        return {exc.field if exc.field in fields else "form": message}
    if isinstance(exc, Conflict) or exc.code == "not_found":
        return {"form": message}
    raise exc


# --- the list, and recording an incident -------------------------------------------------


def _filters(
    merchant: MerchantNo = None,
    status: Annotated[str | None, Query(max_length=10)] = None,
    kind: Annotated[str | None, Query(max_length=20)] = None,
    date_from: Day = None,
    date_to: Day = None,
) -> dict[str, str | None]:
    """The filters as typed, to fill the form again and to make the page links."""
    return {
        "merchant": merchant,
        "status": status,
        "kind": kind,
        "date_from": date_from,
        "date_to": date_to,
    }


Filters = Annotated[dict[str, str | None], Depends(_filters)]


async def _list_page(
    request: Request,
    who: Principal,
    filters: dict[str, str | None],
    page_no: int = 1,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    errors = dict(errors or {})
    result: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": svc.PER_PAGE}
    try:
        first = _day(filters["date_from"], "date_from")
        last = _day(filters["date_to"], "date_to")
        result = await asyncio.to_thread(
            cf_of(request).read,
            lambda conn: svc.list_incidents(
                conn,
                who,
                filters["merchant"] or None,
                filters["status"] or None,
                first,
                last,
                kind=filters["kind"] or None,
                page=page_no,
            ),
        )
    except ValidationError as exc:
        errors[f"filter_{exc.field}"] = exc.render(locale_of(request))
    locale = locale_of(request)
    pages = max(1, -(-int(result["total"]) // int(result["per_page"])))
    context: dict[str, Any] = {
        "filters": filters,
        "result": result,
        "pages": pages,
        "page_no": page_no,
        "base_query": urlencode({k: v for k, v in filters.items() if v}),
        "errors": errors,
        "kinds": _labels(locale, KIND_LABELS),
        "statuses": _labels(locale, STATUS_LABELS),
    }
    if request.headers.get("hx-request") and form is None and status_code == 200:
        return page(request, "incident_results.html", **context)
    merchants = await asyncio.to_thread(_merchants, request, who)
    writable = who.may("incidents.write") and not who.all_merchants
    return page(
        request,
        "incidents.html",
        status_code,
        merchants=merchants,
        writable=merchants if writable else [],
        form=form or {"kind": "merchant_stub"},
        **context,
    )


@router.get("/incidents")
async def incidents_page(
    request: Request,
    who: Reader,
    filters: Filters,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    return await _list_page(request, who, filters, page_no)


@router.post("/incidents")
async def record_incident(
    request: Request,
    who: Writer,
    merchant: Annotated[str, Form(max_length=15)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    found_date: Annotated[str, Form(max_length=10)] = "",
    found_time: Annotated[str, Form(max_length=8)] = "",
    found_at: Annotated[str, Form(max_length=40)] = "",
    place: Annotated[str, Form(max_length=400)] = "",
    people: Annotated[str, Form(max_length=2000)] = "",
    entries: Annotated[str, Form(max_length=8000)] = "",
    action: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if found_date:  # the form's day and time, in the merchant's zone
        found_at = f"{found_date}T{found_time or '00:00'}"
    try:
        found = await asyncio.to_thread(
            svc.add_incident,
            cf_of(request),
            who,
            merchant=merchant or None,
            kind=kind,
            found_at=found_at,
            place=place,
            people=people,
            entries=_refs(entries),
            action=action,
        )
    except CounterfoilError as exc:
        errors = _problem(request, exc, FORM_FIELDS)
        typed = {
            "merchant": merchant,
            "kind": kind,
            "found_date": found_date,
            "found_time": found_time,
            "place": place,
            "people": people,
            "entries": entries,
            "action": action,
        }
        status = 409 if isinstance(exc, Conflict) else 422
        return await _list_page(request, who, _filters(), 1, status, form=typed, errors=errors)
    return RedirectResponse(f"/incidents/{found['id']}?done=recorded", status_code=303)


@router.get("/incidents/report")
async def report_page(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    date_from: Day = None,
    date_to: Day = None,
) -> HTMLResponse:
    merchants = await asyncio.to_thread(_merchants, request, who)
    chosen = merchant or (merchants[0]["merchant_no"] if merchants else None)
    form = {"merchant": chosen, "date_from": date_from, "date_to": date_to}
    errors: dict[str, str] = {}
    found: dict[str, Any] | None = None
    try:
        first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
        found = await asyncio.to_thread(
            cf_of(request).read, lambda conn: svc.report(conn, who, chosen, first, last)
        )
    except ValidationError as exc:
        errors[exc.field] = exc.render(locale_of(request))
    locale = locale_of(request)
    return page(
        request,
        "incident_report.html",
        merchants=merchants,
        merchant_no=chosen,
        form=form,
        errors=errors,
        report=found,
        kinds=_labels(locale, KIND_LABELS),
        statuses=_labels(locale, STATUS_LABELS),
    )


# --- one incident ------------------------------------------------------------------------


async def _incident_page(
    request: Request,
    who: Principal,
    incident_id: int,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    cf = cf_of(request)
    found = await asyncio.to_thread(cf.read, lambda conn: svc.get_incident(conn, who, incident_id))
    zone = await asyncio.to_thread(
        cf.read, lambda conn: get_merchant(conn, found["merchant_no"]).timezone
    )
    locale = locale_of(request)
    return page(
        request,
        "incident.html",
        status_code,
        incident=found,
        zone=zone,
        form=form or {"kind": "action"},
        errors=errors or {},
        notice=_notice(request, incident_id),
        kinds=_labels(locale, KIND_LABELS),
        statuses=_labels(locale, STATUS_LABELS),
        events=_labels(locale, EVENT_LABELS),
        reasons=_labels(locale, REASON_LABELS),
        may_write=who.may("incidents.write"),
        may_close=who.may("incidents.write") and who.role != "cashier",
    )


@router.get("/incidents/{incident_id}")
async def incident_page(request: Request, who: Reader, incident_id: int) -> HTMLResponse:
    return await _incident_page(request, who, incident_id)


@router.post("/incidents/{incident_id}/events")
async def add_event(
    request: Request,
    who: Writer,
    incident_id: int,
    kind: Annotated[str, Form(max_length=10)] = "action",
    note: Annotated[str, Form(max_length=4000)] = "",
    entries: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        await asyncio.to_thread(
            svc.add_event, cf_of(request), who, incident_id, kind, note, _refs(entries)
        )
    except CounterfoilError as exc:
        if exc.code == "not_found":  # no such incident (for this reader): no page to show
            raise
        errors = _problem(request, exc, EVENT_FIELDS)
        typed = {"kind": kind, "note": note, "entries": entries}
        status = 409 if isinstance(exc, Conflict) else 422
        return await _incident_page(request, who, incident_id, status, form=typed, errors=errors)
    return RedirectResponse(f"/incidents/{incident_id}?done={kind}", status_code=303)


# --- reprint alerts ------------------------------------------------------------------------


@router.get("/alerts")
async def alerts_page(
    request: Request,
    who: AlertReader,
    merchant: MerchantNo = None,
    rule: Annotated[str | None, Query(max_length=40)] = None,
    date_from: Day = None,
    date_to: Day = None,
) -> HTMLResponse:
    form = {"merchant": merchant, "rule": rule, "date_from": date_from, "date_to": date_to}
    errors: dict[str, str] = {}
    found: list[alert_svc.Alert] = []
    locale = locale_of(request)
    try:
        first, last = _day(date_from, "date_from"), _day(date_to, "date_to")
        found = await asyncio.to_thread(
            cf_of(request).read,
            lambda conn: alert_svc.alerts(
                conn, who, merchant or None, first, last, rule=rule or None
            ),
        )
    except ValidationError as exc:
        errors[exc.field] = exc.render(locale)
    merchants = await asyncio.to_thread(_merchants, request, who)
    return page(
        request,
        "alerts.html",
        merchants=merchants,
        form=form,
        errors=errors,
        alerts=[a.as_dict(locale) for a in found],
        rules=_labels(locale, alert_svc.TITLES),
        rule_query=urlencode({k: v for k, v in form.items() if v and k != "rule"}),
        zone=_zone_of(merchants),
    )


def _zone_of(merchants: list[dict[str, Any]]) -> str:
    """Times in the merchants' zone when they share one, else the console's default."""
    zones = {str(m["timezone"]) for m in merchants}
    return zones.pop() if len(zones) == 1 else DEFAULT_ZONE
