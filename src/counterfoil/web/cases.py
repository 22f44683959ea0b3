"""Cases in the console: the board (by state, overdue first) with the form that opens a
case; the case page with its timeline, its evidence (upload, links, downloads), the
application PDF, the forms that work it and the adjustments (proposed by one person,
approved by another); the report by month; and the pre-authorisation monitor.

Each change is a form with the CSRF token that answers with a redirect and a notice, or
with the page again and the error (422; 409 when the case's state forbids the step).
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.cases import attachment, check_evidence_length
from counterfoil.api.errors import locale_of
from counterfoil.api.statements import blocks
from counterfoil.cases import adjustments, application, evidence, model, notify, preauths
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Conflict, CounterfoilError, ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.web.render import DEFAULT_ZONE, page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("cases.read"))]
Opener = Annotated[Principal, Depends(requires("cases.open"))]
Worker = Annotated[Principal, Depends(requires("cases.work"))]
Proposer = Annotated[Principal, Depends(requires("adjustments.propose"))]
Approver = Annotated[Principal, Depends(requires("adjustments.approve"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
_SPLIT = re.compile(r"[\s,;]+")

EVENT_LABELS: dict[str, str] = {
    "opened": _("Case opened"),
    "state": _("Moved"),
    "assigned": _("Assigned"),
    "note": _("Note"),
    "evidence": _("Evidence added"),
    "notification": _("Customer told"),
    "adjustment_proposed": _("Adjustment proposed"),
    "adjustment_approved": _("Adjustment approved"),
    "adjustment_rejected": _("Adjustment rejected"),
}
DONE: dict[str, str] = {
    "opened": _("Case {case_id} opened."),
    "assign": _("Case {case_id} assigned."),
    "note": _("Your note is on the timeline."),
    "submit": _("The application is recorded as submitted."),
    "respond": _("The acquirer's answer is recorded."),
    "close": _("Case {case_id} is closed."),
    "notify": _("The notification is on the timeline."),
    "evidence": _("The evidence is added."),
    "proposed": _("The adjustment waits for a second person's approval."),
    "approve": _("The adjustment is approved and written to the journal."),
    "reject": _("The adjustment is rejected."),
}
ADJUSTMENT_STATUSES: dict[str, str] = {
    "proposed": _("Proposed"),
    "approved": _("Approved"),
    "rejected": _("Rejected"),
}
WORK_ACTIONS = ("assign", "note", "submit", "respond", "close", "notify", "link")


def _labels(locale: str, labels: dict[str, str]) -> dict[str, str]:
    return {code: translate(text, locale) for code, text in labels.items()}


def _merchants(request: Request, who: Principal) -> list[dict[str, Any]]:
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


def _error(request: Request, exc: CounterfoilError) -> tuple[str, str]:
    """A form's error (field, message); a refusal or a missing case goes to the error page."""
    if isinstance(exc, ValidationError | Conflict):
        return exc.field if isinstance(exc, ValidationError) else "form", exc.render(
            locale_of(request)
        )
    raise exc


def _vocabulary(locale: str) -> dict[str, Any]:
    return {
        "kinds": _labels(locale, model.KINDS),
        "states": _labels(locale, model.STATES),
        "priorities": _labels(locale, model.PRIORITIES),
        "root_causes": _labels(locale, model.ROOT_CAUSES),
        "origins": _labels(locale, model.ORIGINS),
        "adjustment_kinds": _labels(locale, model.ADJUSTMENT_KINDS),
        "evidence_kinds": _labels(locale, model.EVIDENCE_KINDS),
        "channels": _labels(locale, model.CHANNELS),
        "templates": _labels(locale, notify.TEMPLATE_LABELS),
        "event_labels": _labels(locale, EVENT_LABELS),
        "findings": _labels(locale, preauths.FINDINGS),
        "adjustment_statuses": _labels(locale, ADJUSTMENT_STATUSES),
        "groups": _labels(locale, {"overdue": _("Overdue"), **model.STATES}),
    }


# --- the board ---------------------------------------------------------------------------


async def _board(
    request: Request,
    who: Principal,
    filters: dict[str, Any],
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    errors = dict(errors or {})
    result: dict[str, Any] = {"items": [], "total": 0, "by_state": {}, "page": 1}
    try:
        result = await asyncio.to_thread(
            cf_of(request).read,
            lambda conn: wf.list_cases(
                conn,
                who,
                filters["merchant"] or None,
                state=filters["state"] or None,
                kind=filters["kind"] or None,
                overdue=bool(filters["overdue"]),
                page=filters["page"],
            ),
        )
    except ValidationError as exc:
        errors[f"filter_{exc.field}"] = exc.render(locale_of(request))
    merchants = await asyncio.to_thread(_merchants, request, who)
    openable = who.may("cases.open") and not who.all_merchants
    columns: dict[str, list[dict[str, Any]]] = {g: [] for g in ("overdue", *model.STATES)}
    for item in result["items"]:  # the overdue first, then by state
        columns["overdue" if item["overdue"] else item["state"]].append(item)
    return page(
        request,
        "cases.html",
        status_code,
        filters=filters,
        result=result,
        columns=columns,
        merchants=merchants,
        openable=merchants if openable else [],
        form=form or {"kind": "amount_error", "priority": "normal"},
        errors=errors,
        zone=_zone_of(merchants),
        base_query=urlencode({k: v for k, v in filters.items() if v and k != "page"}),
        **_vocabulary(locale_of(request)),
    )


@router.get("/cases")
async def cases_page(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=30)] = None,
    overdue: Annotated[str | None, Query(max_length=5)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    filters = {
        "merchant": merchant,
        "state": state,
        "kind": kind,
        "overdue": overdue,
        "page": page_no,
    }
    return await _board(request, who, filters)


@router.post("/cases")
async def open_case(
    request: Request,
    who: Opener,
    merchant: Annotated[str, Form(max_length=15)] = "",
    kind: Annotated[str, Form(max_length=30)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    description: Annotated[str, Form(max_length=8000)] = "",
    priority: Annotated[str, Form(max_length=10)] = "normal",
    difference: Annotated[str, Form(max_length=20)] = "",
    entries: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        found = await asyncio.to_thread(
            wf.open_case,
            cf_of(request),
            who,
            merchant=merchant or None,
            kind=kind,
            title=title,
            description=description,
            priority=priority,
            difference=difference or None,
            entries=[r for r in _SPLIT.split(entries) if r],
        )
    except CounterfoilError as exc:
        field, message = _error(request, exc)
        typed = {
            "merchant": merchant,
            "kind": kind,
            "title": title,
            "description": description,
            "priority": priority,
            "difference": difference,
            "entries": entries,
        }
        filters = {"merchant": None, "state": None, "kind": None, "overdue": None, "page": 1}
        status = 409 if isinstance(exc, Conflict) else 422
        return await _board(request, who, filters, status, form=typed, errors={field: message})
    return RedirectResponse(f"/cases/{found['id']}?done=opened", status_code=303)


@router.get("/cases/report")
async def report_page(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    merchants = await asyncio.to_thread(_merchants, request, who)
    chosen = merchant or (merchants[0]["merchant_no"] if merchants else None)
    errors: dict[str, str] = {}
    found: dict[str, Any] | None = None
    try:
        first = wf.parse_day(date_from, "date_from")
        last = wf.parse_day(date_to, "date_to")
        found = await asyncio.to_thread(
            cf_of(request).read, lambda conn: wf.report(conn, who, chosen, first, last)
        )
    except ValidationError as exc:
        errors[exc.field] = exc.render(locale_of(request))
    return page(
        request,
        "case_report.html",
        merchants=merchants,
        form={"merchant": chosen, "date_from": date_from, "date_to": date_to},
        errors=errors,
        report=found,
        **_vocabulary(locale_of(request)),
    )


# --- one case ----------------------------------------------------------------------------


async def _case_page(
    request: Request,
    who: Principal,
    case_id: int,
    status_code: int = 200,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
) -> HTMLResponse:
    cf = cf_of(request)
    found = await asyncio.to_thread(cf.read, lambda conn: wf.get_case(conn, who, case_id))
    zone = await asyncio.to_thread(
        cf.read, lambda conn: get_merchant(conn, found["merchant_no"]).timezone
    )
    done = request.query_params.get("done", "")
    notice = translate(DONE[done], locale_of(request), case_id=case_id) if done in DONE else None
    return page(
        request,
        "case.html",
        status_code,
        case=found,
        zone=zone,
        notice=notice,
        errors=errors or {},
        form=form or {},
        may_work=who.may("cases.work"),
        may_propose=who.may("adjustments.propose"),
        may_approve=who.may("adjustments.approve"),
        me=who.name,
        **_vocabulary(locale_of(request)),
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, who: Reader, case_id: int) -> HTMLResponse:
    return await _case_page(request, who, case_id)


@router.post("/cases/{case_id}/work")
async def work(
    request: Request,
    who: Worker,
    case_id: int,
    action: Annotated[str, Form(max_length=10)] = "",
    assignee: Annotated[str, Form(max_length=80)] = "",
    priority: Annotated[str, Form(max_length=10)] = "",
    due_on: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=8000)] = "",
    reference: Annotated[str, Form(max_length=100)] = "",
    outcome: Annotated[str, Form(max_length=10)] = "",
    root_cause: Annotated[str, Form(max_length=30)] = "",
    lesson: Annotated[str, Form(max_length=8000)] = "",
    channel: Annotated[str, Form(max_length=10)] = "",
    to: Annotated[str, Form(max_length=200)] = "",
    template: Annotated[str, Form(max_length=20)] = "",
    locale: Annotated[str, Form(max_length=5)] = "zh_CN",
    kind: Annotated[str, Form(max_length=20)] = "",
    ref: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """One form endpoint for the steps of ``cases.work``, chosen by ``action``."""
    cf = cf_of(request)
    steps: dict[str, Any] = {
        "assign": lambda: wf.assign(
            cf, who, case_id, assignee, priority=priority or None, due_on=due_on, note=note
        ),
        "note": lambda: wf.add_note(cf, who, case_id, note),
        "submit": lambda: wf.submit(cf, who, case_id, reference=reference, note=note),
        "respond": lambda: wf.respond(
            cf, who, case_id, reference=reference, outcome=outcome or None, note=note
        ),
        "close": lambda: wf.close(cf, who, case_id, root_cause=root_cause, lesson=lesson),
        "notify": lambda: notify.notify(
            cf,
            who,
            case_id,
            channel=channel,
            to=to,
            template=template,
            locale=locale,
            note=note,
        ),
        "link": lambda: evidence.attach_link(cf, who, case_id, kind, ref, note),
    }
    try:
        wf.choice("action", action, WORK_ACTIONS)
        await asyncio.to_thread(steps[action])
    except CounterfoilError as exc:
        if exc.code == "not_found":
            raise
        field, message = _error(request, exc)
        status = 409 if isinstance(exc, Conflict) else 422
        return await _case_page(
            request, who, case_id, status, errors={f"{action}_{field}": message, action: message}
        )
    return RedirectResponse(
        f"/cases/{case_id}?done={'evidence' if action == 'link' else action}", status_code=303
    )


@router.post("/cases/{case_id}/evidence")
async def upload_evidence(request: Request, who: Worker, case_id: int) -> Response:
    check_evidence_length(request)
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    note = form.get("note")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationError("file", _("choose a file to upload"))
        await asyncio.to_thread(
            evidence.attach_file,
            cf_of(request),
            who,
            case_id,
            blocks(upload),
            upload.filename,
            note if isinstance(note, str) else "",
        )
    except CounterfoilError as exc:
        if exc.code == "not_found":
            raise
        field, message = (
            _error(request, exc)
            if exc.code != "too_large"
            else ("file", exc.render(locale_of(request)))
        )
        return await _case_page(
            request, who, case_id, 422, errors={"upload": message, field: message}
        )
    finally:
        if isinstance(upload, UploadFile):
            await upload.close()
    return RedirectResponse(f"/cases/{case_id}?done=evidence", status_code=303)


@router.get("/cases/{case_id}/evidence/{evidence_id}")
async def download_evidence(
    request: Request, who: Reader, case_id: int, evidence_id: int
) -> Response:
    found = await asyncio.to_thread(
        evidence.evidence_file, cf_of(request), who, case_id, evidence_id
    )
    return attachment(found.path, found.filename, found.content_type)


@router.get("/cases/{case_id}/application.pdf")
async def application_pdf(request: Request, who: Reader, case_id: int) -> Response:
    name, document = await asyncio.to_thread(
        application.application_pdf, cf_of(request), who, case_id
    )
    return attachment(document, name, "application/pdf")


@router.post("/cases/{case_id}/adjustments")
async def propose(
    request: Request,
    who: Proposer,
    case_id: int,
    kind: Annotated[str, Form(max_length=20)] = "",
    amount: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    try:
        await asyncio.to_thread(
            adjustments.propose,
            cf_of(request),
            who,
            case_id,
            kind=kind,
            amount=amount,
            reason=reason,
        )
    except CounterfoilError as exc:
        if exc.code == "not_found":
            raise
        field, message = _error(request, exc)
        typed = {"adj_kind": kind, "adj_amount": amount, "adj_reason": reason}
        status = 409 if isinstance(exc, Conflict) else 422
        return await _case_page(
            request,
            who,
            case_id,
            status,
            errors={"adjust": message, f"adjust_{field}": message},
            form=typed,
        )
    return RedirectResponse(f"/cases/{case_id}?done=proposed", status_code=303)


@router.post("/cases/{case_id}/adjustments/{adjustment_id}/decision")
async def decide(
    request: Request,
    who: Approver,
    case_id: int,
    adjustment_id: int,
    decision: Annotated[str, Form(max_length=10)] = "approve",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        wf.choice("decision", decision, ("approve", "reject"))
        await asyncio.to_thread(
            adjustments.decide,
            cf_of(request),
            who,
            case_id,
            adjustment_id,
            approve=decision == "approve",
            note=note,
        )
    except CounterfoilError as exc:
        if exc.code in ("not_found", "forbidden"):
            raise
        _field, message = _error(request, exc)
        status = 409 if isinstance(exc, Conflict) else 422
        return await _case_page(request, who, case_id, status, errors={"decide": message})
    return RedirectResponse(f"/cases/{case_id}?done={decision}", status_code=303)


# --- the pre-authorisation monitor -------------------------------------------------------


@router.get("/preauths")
async def preauths_page(
    request: Request,
    who: Reader,
    merchant: MerchantNo = None,
    within_days: Annotated[int, Query(ge=0, le=preauths.MAX_DAYS)] = 3,
    tolerance_pct: Annotated[int | None, Query(ge=100, le=1000)] = None,
) -> HTMLResponse:
    merchants = await asyncio.to_thread(_merchants, request, who)
    chosen = merchant or (merchants[0]["merchant_no"] if merchants else None)
    found: dict[str, Any] | None = None
    errors: dict[str, str] = {}
    try:
        found = await asyncio.to_thread(
            cf_of(request).read,
            lambda conn: preauths.monitor(
                conn, who, chosen, within_days=within_days, tolerance_pct=tolerance_pct
            ),
        )
    except ValidationError as exc:
        errors[exc.field] = exc.render(locale_of(request))
    opened = request.query_params.get("opened")
    return page(
        request,
        "preauths.html",
        merchants=merchants,
        form={"merchant": chosen, "within_days": within_days, "tolerance_pct": tolerance_pct},
        found=found,
        errors=errors,
        opened=opened if opened and opened.isdigit() else None,
        may_open=who.may("cases.open") and not who.all_merchants,
        zone=_zone_of(merchants),
        **_vocabulary(locale_of(request)),
    )


@router.post("/preauths/cases")
async def preauth_cases(
    request: Request,
    who: Opener,
    merchant: Annotated[str, Form(max_length=15)] = "",
    within_days: Annotated[int, Form(ge=0, le=preauths.MAX_DAYS)] = 3,
    tolerance_pct: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    pct = int(tolerance_pct) if tolerance_pct.isdigit() else None
    found = await asyncio.to_thread(
        preauths.open_cases,
        cf_of(request),
        who,
        merchant or None,
        findings=tuple(preauths.FINDINGS),
        within_days=within_days,
        tolerance_pct=pct,
    )
    query = urlencode(
        {
            "merchant": found["merchant_no"],
            "within_days": within_days,
            "opened": len(found["opened"]),
        }
        | ({"tolerance_pct": pct} if pct else {})
    )
    return RedirectResponse(f"/preauths?{query}", status_code=303)


def _zone_of(merchants: list[dict[str, Any]]) -> str:
    zones = {str(m["timezone"]) for m in merchants}
    return zones.pop() if len(zones) == 1 else DEFAULT_ZONE
