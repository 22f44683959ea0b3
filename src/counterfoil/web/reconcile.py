"""Console pages: reconciliation.

``/reconcile`` lists the runs of the reader's merchants (the latest first) and, for
finance (``reconcile.run``), the form that reconciles a merchant's business day (one
source or all). ``/reconcile/runs/{id}`` shows one run: its summary per side — what came
in equals matched plus each outcome, in count and in money, as a table a person can add
up — then its breaks with their explanations (filter by outcome and status, sort, pages,
export as CSV or XLSX), each linked to its transaction, its statement import and its case.
Finance decides on a break: a manual match (the other side's record named, with a
reason), an unmatch, or adopting a line missing in the journal as a recovered entry; each
is a form with the CSRF token that answers with a redirect and a notice, or with the page
again and the error beside the break (422). The rules and the audit are the services' of
``counterfoil.reconcile``; a run or break of another merchant is "not found".
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
from counterfoil.cases import workflow as case_workflow
from counterfoil.core.errors import CounterfoilError, ValidationError
from counterfoil.i18n import _, translate
from counterfoil.reconcile import decisions, service, views
from counterfoil.reconcile.export import FORMATS, export_breaks
from counterfoil.reconcile.model import BREAKS, LIFECYCLE, OUTCOME_LABELS, OUTCOMES, SOURCE_CHANNELS
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("reconcile.read"))]
Runner = Annotated[Principal, Depends(requires("reconcile.run"))]

SOURCE_LABELS: dict[str, str] = {
    "unionpay_zm": _("UnionPay (ZM)"),
    "wechat_trade": _("WeChat Pay"),
    "alipay_trade": _("Alipay"),
}
STATUS_LABELS: dict[str, str] = {
    "open": _("Open (new or persisting)"),
    "all": _("All"),
    "new": _("New"),
    "persisting": _("Persisting"),
    "resolved": _("Resolved"),
}
SORT_LABELS: dict[str, str] = {
    "time": _("Time"),
    "amount": _("Amount"),
    "outcome": _("Outcome"),
    "status": _("Status"),
}
SIDE_LABELS: dict[str, str] = {"journal": _("Journal"), "statement": _("Statement")}
DONE: dict[str, str] = {
    "run": _("Reconciliation run {run_id} stored."),
    "match": _("Matched by hand: reconcile the day again to see the pair matched."),
    "unmatch": _("Unmatched: reconcile the day again to see both records apart."),
    "adopt": _("The line was adopted as recovered entry {entry_id}."),
}
_ENTRY = re.compile(r"^(?:(\d{1,15})-)?(\d{1,12})$")


def _labels(locale: str, labels: dict[str, str]) -> dict[str, str]:
    return {code: translate(text, locale) for code, text in labels.items()}


def _runnable(request: Request, who: Principal) -> list[dict[str, Any]]:
    """The merchants the reader may reconcile (none unless ``reconcile.run``)."""
    if not who.may("reconcile.run"):
        return []
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


# --- the runs, and running a day --------------------------------------------------------------


async def _runs_page(
    request: Request,
    who: Principal,
    merchant: str | None,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    runs: list[dict[str, Any]] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: views.list_runs(conn, who, merchant or None, limit=100)
    )
    runnable = await asyncio.to_thread(_runnable, request, who)
    locale = locale_of(request)
    return page(
        request,
        "reconcile.html",
        status_code,
        runs=runs,
        runnable=runnable,
        form=form or {"merchant_no": "", "date": "", "source": ""},
        errors=errors or {},
        sources=_labels(locale, SOURCE_LABELS),
    )


@router.get("/reconcile")
async def reconcile_page(
    request: Request,
    who: Reader,
    merchant: Annotated[str | None, Query(max_length=15)] = None,
) -> HTMLResponse:
    return await _runs_page(request, who, merchant)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError("date", _("expected a date as YYYY-MM-DD")) from None


@router.post("/reconcile")
async def run_day(
    request: Request,
    who: Runner,
    merchant_no: Annotated[str, Form(max_length=15)] = "",
    day: Annotated[str, Form(alias="date", max_length=10)] = "",
    source: Annotated[str, Form(max_length=24)] = "",
) -> Response:
    typed = {"merchant_no": merchant_no, "date": day, "source": source}
    try:
        if source and source not in SOURCE_CHANNELS:
            raise ValidationError(
                "source", _("expected one of {options}"), options=", ".join(SOURCE_CHANNELS)
            )
        found = await asyncio.to_thread(
            service.reconcile,
            cf_of(request),
            who,
            merchant_no=merchant_no.strip() or None,
            day=_day(day),
            source=source or None,
        )
    except CounterfoilError as exc:
        if exc.status not in (409, 422):
            raise
        field = exc.field if isinstance(exc, ValidationError) else "form"
        name = {"merchant": "merchant_no"}.get(field, field)
        name = name if name in typed else "form"
        errors = {name: exc.render(locale_of(request))}
        return await _runs_page(request, who, None, 422, form=typed, errors=errors)
    return RedirectResponse(f"/reconcile/runs/{found['run_id']}?done=run", status_code=303)


# --- one run: its summary and its breaks ------------------------------------------------------


def _break_filters(
    status: Annotated[str, Query(max_length=12)] = "open",
    outcome: Annotated[str, Query(max_length=24)] = "",
    sort: Annotated[str, Query(max_length=10)] = "time",
    desc: Annotated[str, Query(max_length=1)] = "",
) -> dict[str, str]:
    return {"status": status, "outcome": outcome, "sort": sort, "desc": desc}


BreakFilters = Annotated[dict[str, str], Depends(_break_filters)]


def _summary_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per side: what came in, then matched and each outcome; their sum equals what came in."""
    sides = []
    for side in ("journal", "statement"):
        doc = run.get(side) or {}
        outcomes = doc.get("outcomes") or {}
        rows = [{"outcome": o, **(outcomes.get(o) or {"count": 0, "amount": 0})} for o in OUTCOMES]
        total = {k: sum(int(r[k]) for r in rows) for k in ("count", "amount")}
        sides.append(
            {
                "side": side,
                "staged": doc.get("staged") or {"count": 0, "amount": 0},
                "set_aside": doc.get("set_aside") or {"count": 0, "amount": 0},
                "in": doc.get("in") or {"count": 0, "amount": 0},
                "rows": rows,
                "total": total,
                "adds_up": total == doc.get("in"),
            }
        )
    return sides


async def _run_page(
    request: Request,
    who: Principal,
    run_id: int,
    filters: dict[str, str],
    page_no: int = 1,
    status_code: int = 200,
    *,
    notice: str | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    errors = dict(errors or {})
    cases_readable = who.may("cases.read")

    def read(conn: Any) -> tuple[dict[str, Any], dict[str, Any], str, dict[str, int]]:
        run = views.get_run(conn, who, run_id)
        found: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": views.PER_PAGE}
        try:
            found = views.list_breaks(
                conn,
                who,
                run["merchant_no"],
                run_id=run_id,
                status=filters["status"] or "open",
                outcome=filters["outcome"] or None,
                sort=filters["sort"] or "time",
                descending=bool(filters["desc"]),
                page=page_no,
                locale=locale,
            )
        except ValidationError as exc:
            errors[f"filter_{exc.field}"] = exc.render(locale)
        cases: dict[str, int] = {}
        if cases_readable:
            for item in found["items"]:
                case_id = case_workflow.case_by_origin(
                    conn, run["merchant_no"], f"recon:{item['break_id']}"
                )
                if case_id is not None:
                    cases[item["break_id"]] = case_id
        zone = get_merchant(conn, run["merchant_no"]).timezone
        return run, found, zone, cases

    run, found, zone, cases = await asyncio.to_thread(cf_of(request).read, read)
    pages = max(1, -(-int(found["total"]) // int(found["per_page"])))
    query = {k: v for k, v in filters.items() if v}
    return page(
        request,
        "reconcile_run.html",
        status_code,
        run=run,
        sides=_summary_rows(run),
        result=found,
        cases=cases,
        zone=zone,
        notice=notice,
        errors=errors,
        filters=filters,
        page_no=page_no,
        pages=pages,
        base_query=urlencode(query),
        export_query=urlencode({k: v for k, v in query.items() if k in ("status", "outcome")}),
        formats=list(FORMATS),
        may_decide=who.may("reconcile.run"),
        outcomes=_labels(locale, dict(OUTCOME_LABELS)),
        breaks=list(BREAKS),
        statuses=_labels(locale, STATUS_LABELS),
        lifecycle=list(LIFECYCLE),
        sorts=_labels(locale, SORT_LABELS),
        side_labels=_labels(locale, SIDE_LABELS),
        sources=_labels(locale, SOURCE_LABELS),
    )


@router.get("/reconcile/runs/{run_id}")
async def run_page(
    request: Request,
    who: Reader,
    run_id: int,
    filters: BreakFilters,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    locale = locale_of(request)
    done = request.query_params.get("done", "")
    notice = None
    if done in DONE:
        notice = translate(
            DONE[done],
            locale,
            run_id=run_id,
            entry_id=request.query_params.get("entry", "")[:40],
        )
    return await _run_page(request, who, run_id, filters, page_no, notice=notice)


@router.get("/reconcile/runs/{run_id}/export")
async def run_export(
    request: Request,
    who: Reader,
    run_id: int,
    fmt: Annotated[str, Query(alias="format", max_length=4)] = "csv",
    status: Annotated[str, Query(max_length=12)] = "open",
    outcome: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    cf = cf_of(request)
    run = await asyncio.to_thread(cf.read, lambda conn: views.get_run(conn, who, run_id))
    content = await asyncio.to_thread(
        export_breaks,
        cf,
        who,
        fmt,
        merchant_no=run["merchant_no"],
        locale=locale_of(request),
        status=status or "open",
        outcome=outcome or None,
        run_id=run_id,
    )
    return Response(
        content,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="breaks-run-{run_id}.{fmt}"'},
    )


# --- deciding on a break ------------------------------------------------------------------------


def _seq_of(text: str, merchant_no: str) -> int:
    """An entry typed as its id (MERCHANT-SEQ) or as its sequence number."""
    match = _ENTRY.match(text.strip())
    if match is None or (match.group(1) and match.group(1) != merchant_no):
        raise ValidationError(
            "other",
            _("expected a journal entry of merchant {merchant_no}, such as {example}"),
            merchant_no=merchant_no,
            example=f"{merchant_no}-17",
        )
    return int(match.group(2))


async def _on_break(
    request: Request,
    who: Principal,
    break_id: str,
    back: int | None,
    act: Any,
) -> Response:
    """Do ``act(item)`` on a break the reader sees; redirect to its run with a notice, or
    show the run again with the error beside the break."""
    locale = locale_of(request)
    item: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: views.get_break(conn, who, break_id, locale)
    )
    run_id = back if back is not None else int(item["last_run_id"])
    try:
        done, extra = await act(item)
    except CounterfoilError as exc:
        if exc.status not in (404, 409, 422):
            raise
        errors = {break_id: exc.render(locale)}
        target = run_id
        try:
            await asyncio.to_thread(
                cf_of(request).read, lambda conn: views.get_run(conn, who, target)
            )
        except CounterfoilError:
            target = int(item["last_run_id"])
        return await _run_page(
            request, who, target, _break_filters(status="all"), 1, 422, errors=errors
        )
    query = urlencode({"done": done, **extra})
    return RedirectResponse(f"/reconcile/runs/{run_id}?{query}#b-{break_id}", status_code=303)


Reason = Annotated[str, Form(max_length=decisions.MAX_REASON * 2)]


@router.post("/reconcile/breaks/{break_id}/decision")
async def decide_break(
    request: Request,
    who: Runner,
    break_id: str,
    action: Annotated[str, Form(max_length=8)] = "",
    other: Annotated[str, Form(max_length=40)] = "",
    reason: Reason = "",
    run: Annotated[int | None, Form()] = None,
) -> Response:
    async def act(item: dict[str, Any]) -> tuple[str, dict[str, str]]:
        merchant = str(item["merchant_no"])
        seq, line = item["seq"], item["line"]
        if seq is None or line is None:
            if not other.strip():
                field_text = (
                    _("expected the statement line to pair with, as IMPORT:LINE")
                    if line is None
                    else _("expected the journal entry to pair with, such as {example}")
                )
                raise ValidationError("other", field_text, example=f"{merchant}-17")
            if seq is None:
                seq = _seq_of(other, merchant)
            else:
                line = other.strip()
        await asyncio.to_thread(
            decisions.decide,
            cf_of(request),
            who,
            action,
            merchant_no=merchant,
            seq=int(seq),
            line=str(line),
            reason=reason,
        )
        return action, {}

    return await _on_break(request, who, break_id, run, act)


@router.post("/reconcile/breaks/{break_id}/adopt")
async def adopt_break(
    request: Request,
    who: Runner,
    break_id: str,
    reason: Reason = "",
    run: Annotated[int | None, Form()] = None,
) -> Response:
    async def act(item: dict[str, Any]) -> tuple[str, dict[str, str]]:
        if item["outcome"] != "missing_in_journal" or item["line"] is None:
            raise ValidationError("break", _("expected a break of a line missing in the journal"))
        found = await asyncio.to_thread(
            decisions.adopt,
            cf_of(request),
            who,
            str(item["line"]),
            reason=reason,
            merchant_no=str(item["merchant_no"]),
        )
        return "adopt", {"entry": str(found["entry_id"])}

    return await _on_break(request, who, break_id, run, act)
