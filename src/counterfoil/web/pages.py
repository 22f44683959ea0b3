"""The console's own pages: log in and out, language, dashboard, transaction search and a
transaction's page. Each route checks one permission, calls one service and renders.

A page that needs a login answers 401 with the login form in place (the address stays,
and logging in comes back to it). Forms carry the session's CSRF token; HTMX requests
carry it as ``X-CSRF-Token`` (set once on ``<body>``). The login form, which has no
session yet, uses a double-submit token: a random cookie echoed in a hidden field.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from counterfoil.api.auth import (
    COOKIE,
    cf_of,
    person_principal,
    requires,
    session_of,
    source_of,
)
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import CounterfoilError, Forbidden, Unauthorised, ValidationError
from counterfoil.core.models import CHANNELS, TYPES
from counterfoil.core.money import parse_amount
from counterfoil.core.rules import STATUSES
from counterfoil.i18n import LOCALES, _, normalise_locale, translate
from counterfoil.services import dashboard, lookups, preferences, sessions
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant, list_merchants
from counterfoil.services.users import SecondFactorRequired
from counterfoil.store import audit
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "cf_login"
LANG_COOKIE = "cf_lang"


def _over_tls(request: Request) -> bool:
    return request.url.scheme == "https" or (
        request.headers.get("x-forwarded-proto", "").lower() == "https"
    )


def _safe_next(value: str | None) -> str:
    """Only a path of this site: never an address elsewhere (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/dashboard"


def login_page(
    request: Request,
    status_code: int = 200,
    error: str = "",
    username: str = "",
    ask_code: bool = False,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    next_path = request.query_params.get("next") or (
        request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.url.path not in ("/login", "/logout")
        else "/dashboard"
    )
    response = page(
        request,
        "login.html",
        status_code,
        login_token=token,
        next_path=_safe_next(next_path),
        error=error,
        username=username,
        ask_code=ask_code,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=1800,
        httponly=True,
        samesite="strict",
        secure=_over_tls(request),
    )
    return response


def error_page(request: Request, exc: CounterfoilError, locale: str) -> HTMLResponse:
    if isinstance(exc, Unauthorised):
        return login_page(request, 401, exc.render(locale) if request.cookies.get(COOKIE) else "")
    return page(request, "error.html", exc.status, message=exc.render(locale), code=exc.code)


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login")
async def login_form(request: Request) -> HTMLResponse:
    return login_page(request)


@router.post("/login")
async def log_in(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    code: Annotated[str, Form(max_length=10)] = "",
    login_token: Annotated[str, Form(max_length=64)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "/dashboard",
) -> Response:
    locale = locale_of(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected, login_token):
        return login_page(
            request, 403, translate(_("the login form expired; please try again"), locale), username
        )
    try:
        token, session = await asyncio.to_thread(
            sessions.log_in,
            cf_of(request),
            username,
            password,
            source=source_of(request),
            code=code.strip() or None,
        )
    except SecondFactorRequired as exc:
        return login_page(request, 401, exc.render(locale), username, ask_code=True)
    except Unauthorised as exc:
        return login_page(request, 401, exc.render(locale), username)
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(sessions.LONGEST.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_over_tls(request),
        path="/",
    )
    response.set_cookie(LANG_COOKIE, session.user.locale, samesite="strict", path="/")
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
async def log_out(request: Request) -> Response:
    session = await session_of(request)  # a change: needs the CSRF token
    await asyncio.to_thread(sessions.log_out, cf_of(request), session)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=_over_tls(request)
    )
    return response


@router.post("/language")
async def language(
    request: Request,
    locale: Annotated[str, Form(max_length=10)],
    back: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:
    """Switch language: a person's own setting (kept), or the visitor's cookie on the login page."""
    chosen = normalise_locale(locale)
    if chosen not in LOCALES:
        chosen = "en"
    if request.cookies.get(COOKIE):
        session = await session_of(request)  # needs the CSRF token
        who = person_principal(session, source_of(request))
        await asyncio.to_thread(
            preferences.set_locale, cf_of(request), session.user.username, chosen, actor=who.actor
        )
    response = RedirectResponse(_safe_next(back), status_code=303)
    response.set_cookie(LANG_COOKIE, chosen, samesite="strict", path="/", max_age=365 * 86400)
    return response


def _merchants_for(request: Request, who: Principal) -> list[dict[str, Any]]:
    cf = cf_of(request)
    if who.all_merchants:
        return [m.as_dict() for m in cf.read(list_merchants)]
    return cf.read(lambda conn: [get_merchant(conn, m).as_dict() for m in who.merchants])


def _merchant(
    request: Request, who: Principal, requested: str | None
) -> tuple[str, list[dict[str, Any]]]:
    merchants = _merchants_for(request, who)
    if requested:
        who.require("dashboard.read", requested)
        return requested, merchants
    if not merchants:
        raise Forbidden(_("you have no access to any merchant"))
    return str(merchants[0]["merchant_no"]), merchants


@router.get("/dashboard")
async def dashboard_page(
    request: Request,
    who: Annotated[Principal, Depends(requires("dashboard.read"))],
    merchant: str | None = None,
) -> HTMLResponse:
    merchant_no, merchants = await asyncio.to_thread(_merchant, request, who, merchant)
    figures = await asyncio.to_thread(
        cf_of(request).read, lambda conn: dashboard.summary(conn, who, merchant_no)
    )
    return page(
        request,
        "dashboard.html",
        merchant_no=merchant_no,
        merchants=merchants,
        zone=figures["merchant"]["timezone"],
        chart=dashboard.chart(figures["days"]),
        **figures,
    )


def _query(values: dict[str, Any]) -> str:
    return urlencode({k: v for k, v in values.items() if v not in (None, "")})


@router.get("/transactions")
async def transactions_page(
    request: Request,
    who: Annotated[Principal, Depends(requires("transactions.read"))],
    merchant: str | None = None,
    date_from: Annotated[str | None, Query(max_length=10)] = None,
    date_to: Annotated[str | None, Query(max_length=10)] = None,
    amount: Annotated[str | None, Query(max_length=20)] = None,
    last4: Annotated[str | None, Query(max_length=4)] = None,
    rrn: Annotated[str | None, Query(max_length=12)] = None,
    order_no: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    terminal_id: Annotated[str | None, Query(max_length=8)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    merchant_no, merchants = await asyncio.to_thread(_merchant, request, who, merchant)
    form = {
        "merchant": merchant_no,
        "date_from": date_from,
        "date_to": date_to,
        "amount": amount,
        "last4": last4,
        "rrn": rrn,
        "order_no": order_no,
        "type": type,
        "channel": channel,
        "status": status,
        "terminal_id": terminal_id,
    }
    errors: dict[str, str] = {}
    result: dict[str, Any] = {"items": [], "total": 0, "page": 1, "per_page": 50}
    try:
        query = lookups.Search(
            merchant_no,
            _date(date_from, "date_from"),
            _date(date_to, "date_to"),
            _amount(amount),
            None,
            None,
            last4 or None,
            (rrn or "").strip() or None,
            (order_no or "").strip() or None,
            type or None,
            channel or None,
            status or None,
            terminal_id or None,
            page_no,
            50,
        )
        cf = cf_of(request)
        result = await asyncio.to_thread(cf.read, lambda conn: lookups.search_for(conn, who, query))
        await asyncio.wrap_future(
            cf.submit(
                lambda conn: audit.record(
                    conn,
                    who.actor,
                    "transaction.search",
                    object_type="transaction",
                    merchant_no=merchant_no,
                    details={"returned": len(result["items"]), "total": result["total"]},
                )
            )
        )
    except CounterfoilError as exc:
        if exc.code != "invalid":
            raise
        errors[str(exc.params.get("field", ""))] = exc.render(locale_of(request))
    pages = max(1, -(-int(result["total"]) // int(result["per_page"])))
    template = "_results.html" if request.headers.get("hx-request") else "transactions.html"
    return page(
        request,
        template,
        200,
        merchants=merchants,
        merchant_no=merchant_no,
        form=form,
        errors=errors,
        result=result,
        pages=pages,
        page_no=page_no,
        base_query=_query(form),
        types=TYPES,
        channels=CHANNELS,
        statuses=STATUSES,
    )


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field, _("expected a date as YYYY-MM-DD")) from None


def _amount(value: str | None) -> int | None:
    """An amount typed as yuan ("4768.00", "4,768", "¥4,768") into fen, exactly."""
    if not value or not value.strip():
        return None
    return parse_amount(value.replace(",", "").replace("¥", "").strip())


@router.get("/transactions/{ref}")
async def transaction_page(
    request: Request,
    ref: str,
    who: Annotated[Principal, Depends(requires("transactions.read"))],
    merchant: str | None = None,
) -> HTMLResponse:
    cf = cf_of(request)
    entry = await asyncio.to_thread(
        cf.read, lambda conn: lookups.read_for(conn, who, ref, merchant)
    )
    original = None
    if entry.get("original_seq"):
        original = await asyncio.to_thread(
            cf.read,
            lambda conn: lookups.find(conn, f"{entry['merchant_no']}-{entry['original_seq']}"),
        )
    zone = await asyncio.to_thread(
        cf.read, lambda conn: get_merchant(conn, entry["merchant_no"]).timezone
    )
    await asyncio.wrap_future(
        cf.submit(
            lambda conn: audit.record(
                conn,
                who.actor,
                "transaction.read",
                object_type="transaction",
                object_id=entry["entry_id"],
                merchant_no=entry["merchant_no"],
            )
        )
    )
    return page(request, "transaction.html", entry=entry, original=original, zone=zone)
