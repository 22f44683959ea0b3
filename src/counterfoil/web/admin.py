"""The console's admin pages: users, terminals, merchants, fee schedules, integration tokens.

Admins only; an admin listed for some merchants manages those only (the checks are
``api.admin``'s, shared with the API, and each change goes through one service, which
audits it). Every change is a form with the session's CSRF token. It answers with a
redirect back to the page and a notice of what was done (``?done=…``), or with the page
again and the fields' errors (422; 409 when the thing already exists). A new terminal's
or integration's token is shown on the page that answers the form, this once only:
it is never put in an address, and only its hash is kept.

Every list filters (a GET form) and shows fifty a page (``?page=``, from 1; a page past
the end is empty, with the pager back). HTMX asks for the list alone (``HX-Request``):
the ``admin_*_results.html`` partials. The lists are small (hundreds), so the filtering
and the paging are done here, over what the service returns for ``who``.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from counterfoil.api import admin as ops
from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.core.errors import Conflict, CounterfoilError, NotFound, ValidationError
from counterfoil.core.fees import FeeRule, format_rate, parse_rate, rule_for
from counterfoil.core.models import CHANNELS
from counterfoil.core.money import parse_amount
from counterfoil.i18n import _, translate
from counterfoil.services.access import Principal
from counterfoil.services.merchants import get_merchant
from counterfoil.services.tokens import SCOPES
from counterfoil.services.users import ROLES
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
Users = Annotated[Principal, Depends(requires("users.manage"))]
Terminals = Annotated[Principal, Depends(requires("terminals.manage"))]
Merchants = Annotated[Principal, Depends(requires("merchants.manage"))]
Fees = Annotated[Principal, Depends(requires("fees.manage"))]
Tokens = Annotated[Principal, Depends(requires("tokens.manage"))]
MerchantNo = Annotated[str | None, Query(max_length=15)]
Text = Annotated[str | None, Query(max_length=120)]
Choice = Annotated[str | None, Query(max_length=20)]
PageNo = Annotated[int, Query(alias="page", ge=1, le=1_000_000)]
PER_PAGE = 50
#: What a list's status filter offers.
ACTIVE_STATES = ("active", "disabled")
TOKEN_STATES = ("active", "revoked", "expired")
T = TypeVar("T")

#: What a redirect's ``?done=`` says (with ``subject``, the thing it was done to).
DONE: dict[str, str] = {
    "user_added": _("User {subject} added."),
    "user_disabled": _("User {subject} disabled: they can no longer log in."),
    "user_enabled": _("User {subject} enabled."),
    "password_set": _("A new password is set for {subject}. Their failed logins are cleared."),
    "merchant_added": _(
        "Merchant {subject} added, with its own signing key and the default fee schedule."
    ),
    "fee_rule_added": _("Fee rule {subject} added."),
    "token_revoked": _("Token {subject} revoked: it lets nobody in from now on."),
}
SUBJECT = re.compile(r"^[A-Za-z0-9._@/-]{1,80}$")
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
SCOPE_LABELS: dict[str, str] = {
    "transactions.read": _("Read transactions"),
    "statements.import": _("Import statements"),
    "statements.read": _("Read statements"),
    "audit.read": _("Read the audit log"),
    "reports.read": _("Read reports"),
}


def _notice(request: Request) -> str | None:
    code = request.query_params.get("done", "")
    subject = request.query_params.get("subject", "")
    if code not in DONE or not SUBJECT.match(subject):
        return None
    return translate(DONE[code], locale_of(request), subject=subject)


def _done(path: str, done: str, subject: str, **query: str) -> RedirectResponse:
    where = urlencode({**query, "done": done, "subject": subject})
    return RedirectResponse(f"{path}?{where}", status_code=303)


def _problem(
    request: Request, exc: CounterfoilError, fields: tuple[str, ...]
) -> tuple[dict[str, str], int]:
    """A form's error by field (422), or for the whole form (409 exists, 404 not known).
    A refusal is not a form's error: it goes on to the error page (403)."""
    message = exc.render(locale_of(request))
    if isinstance(exc, ValidationError):
        return {exc.field if exc.field in fields else "form": message}, 422
    if isinstance(exc, Conflict | NotFound):
        return {"form": message}, exc.status
    raise exc


def _merchant_dicts(request: Request, who: Principal) -> list[dict[str, Any]]:
    return [m.as_dict() for m in ops.managed_merchants(cf_of(request), who)]


def _filters(**values: str | None) -> dict[str, str]:
    """The filters as typed (stripped), to fill the form again and make the page links."""
    return {name: (value or "").strip() for name, value in values.items()}


def _has(text: str, *values: str) -> bool:
    """``text`` (any case) in one of ``values``; an empty ``text`` matches everything."""
    needle = text.casefold()
    return not needle or any(needle in (value or "").casefold() for value in values)


def _state(wanted: str, active: bool) -> bool:
    return not wanted or wanted == ("active" if active else "disabled")


def _listing(
    path: str, items: list[T], filters: dict[str, str], page_no: int
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``items`` and what the list's template needs to say so and page on
    (``merchant``, when there, is the page's merchant rather than a filter)."""
    total = len(items)
    pages = max(1, -(-total // PER_PAGE))
    start = (page_no - 1) * PER_PAGE
    return items[start : start + PER_PAGE], {
        "list_path": path,
        "filters": filters,
        "base_query": urlencode({k: v for k, v in filters.items() if v}),
        "filtered": any(v for k, v in filters.items() if k != "merchant"),
        "total": total,
        "page_no": page_no,
        "pages": pages,
    }


def _render(
    request: Request, template: str, partial: str, status_code: int, **context: Any
) -> HTMLResponse:
    """The whole page, or only its list when HTMX asks for it (a GET with ``HX-Request``)."""
    if request.method == "GET" and request.headers.get("hx-request"):
        template = partial
    return page(request, template, status_code, **context)


# --- users ----------------------------------------------------------------------------

USER_FIELDS = ("username", "display_name", "role", "merchants", "terminals", "locale", "password")


async def _users_page(
    request: Request,
    who: Principal,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    open_for: str = "",
    filters: dict[str, str] | None = None,
    page_no: int = 1,
) -> HTMLResponse:
    cf = cf_of(request)
    wanted = filters or _filters(q="", role="", merchant="", status="")
    found = [
        u
        for u in await asyncio.to_thread(ops.visible_users, cf, who)
        if _has(wanted["q"], u.username, u.display_name)
        and (not wanted["role"] or u.role == wanted["role"])
        and (not wanted["merchant"] or u.can_see(wanted["merchant"]))
        and _state(wanted["status"], u.active)
    ]
    shown, listing = _listing("/admin/users", found, wanted, page_no)
    managed = await asyncio.to_thread(_merchant_dicts, request, who)
    merchants = [] if who.all_merchants else managed
    default = {
        "role": "cashier",
        "locale": "zh_CN",
        "merchants": merchants[0]["merchant_no"] if len(merchants) == 1 else "",
    }
    return _render(
        request,
        "admin_users.html",
        "admin_users_results.html",
        status_code,
        users=shown,
        roles=ROLES,
        states=ACTIVE_STATES,
        languages=LANGUAGES,
        merchants=merchants,
        merchant_options=managed,
        **listing,
        form=form or default,
        errors=errors or {},
        open_for=open_for,
        notice=_notice(request),
    )


@router.get("/admin/users")
async def users_page(
    request: Request,
    who: Users,
    q: Text = None,
    role: Choice = None,
    merchant: MerchantNo = None,
    status: Choice = None,
    page_no: PageNo = 1,
) -> HTMLResponse:
    wanted = _filters(q=q, role=role, merchant=merchant, status=status)
    return await _users_page(request, who, filters=wanted, page_no=page_no)


@router.post("/admin/users")
async def add_user(
    request: Request,
    who: Users,
    username: Annotated[str, Form(max_length=64)] = "",
    display_name: Annotated[str, Form(max_length=120)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    merchants: Annotated[str, Form(max_length=4000)] = "",
    terminals: Annotated[str, Form(max_length=4000)] = "",
    locale: Annotated[str, Form(max_length=10)] = "zh_CN",
    password: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    cf = cf_of(request)
    try:
        user = await ops.attempt(
            request,
            who,
            "user.add",
            lambda: ops.add_user(
                cf,
                who,
                username,
                password,
                role,
                ops.split_list(merchants),
                display_name=display_name.strip(),
                locale=locale,
                terminals=ops.split_list(terminals),
            ),
            object_type="user",
            object_id=username[:64],
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, USER_FIELDS)
        typed = {
            "username": username,
            "display_name": display_name,
            "role": role,
            "merchants": merchants,
            "terminals": terminals,
            "locale": locale,
        }
        return await _users_page(request, who, status, form=typed, errors=errors)
    return _done("/admin/users", "user_added", user.username)


async def _set_active(request: Request, who: Principal, username: str, active: bool) -> Response:
    cf = cf_of(request)
    try:
        user = await ops.attempt(
            request,
            who,
            "user.enable" if active else "user.disable",
            lambda: ops.set_active(cf, who, username, active),
            object_type="user",
            object_id=username[:64],
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, ())
        return await _users_page(request, who, status, errors=errors)
    return _done("/admin/users", "user_enabled" if active else "user_disabled", user.username)


@router.post("/admin/users/{username}/disable")
async def disable_user(request: Request, who: Users, username: str) -> Response:
    return await _set_active(request, who, username, False)


@router.post("/admin/users/{username}/enable")
async def enable_user(request: Request, who: Users, username: str) -> Response:
    return await _set_active(request, who, username, True)


@router.post("/admin/users/{username}/password")
async def reset_password(
    request: Request,
    who: Users,
    username: str,
    password: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    cf = cf_of(request)
    try:
        user = await ops.attempt(
            request,
            who,
            "user.password",
            lambda: ops.set_password(cf, who, username, password),
            object_type="user",
            object_id=username[:64],
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, ("password",))
        if "password" in errors:
            errors = {"new_password": errors["password"]}
        return await _users_page(request, who, status, errors=errors, open_for=username)
    return _done("/admin/users", "password_set", user.username)


# --- terminals ------------------------------------------------------------------------

TERMINAL_FIELDS = ("terminal_id", "name")


async def _terminals_page(
    request: Request,
    who: Principal,
    requested: str | None,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    added: dict[str, Any] | None = None,
    token: str = "",
    filters: dict[str, str] | None = None,
    page_no: int = 1,
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(
        ops.chosen_merchant, cf, who, "terminals.manage", requested
    )
    wanted = {"merchant": merchant_no or "", **(filters or _filters(q="", status=""))}
    found = await asyncio.to_thread(ops.terminals_of, cf, who, merchant_no) if merchant_no else []
    found = [
        t
        for t in found
        if _has(wanted["q"], t["terminal_id"], t["name"]) and _state(wanted["status"], t["active"])
    ]
    shown, listing = _listing("/admin/terminals", found, wanted, page_no)
    return _render(
        request,
        "admin_terminals.html",
        "admin_terminals_results.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        terminals=shown,
        states=ACTIVE_STATES,
        **listing,
        form=form or {},
        errors=errors or {},
        added=added,
        token=token,
        notice=_notice(request),
    )


@router.get("/admin/terminals")
async def terminals_page(
    request: Request,
    who: Terminals,
    merchant: MerchantNo = None,
    q: Text = None,
    status: Choice = None,
    page_no: PageNo = 1,
) -> HTMLResponse:
    wanted = _filters(q=q, status=status)
    return await _terminals_page(request, who, merchant, filters=wanted, page_no=page_no)


@router.post("/admin/terminals")
async def add_terminal(
    request: Request,
    who: Terminals,
    merchant: Annotated[str, Form(max_length=15)] = "",
    terminal_id: Annotated[str, Form(max_length=8)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
) -> HTMLResponse:
    cf = cf_of(request)
    terminal_id = terminal_id.strip().upper()
    try:
        terminal, token = await ops.attempt(
            request,
            who,
            "terminal.add",
            lambda: ops.add_terminal(cf, who, merchant, terminal_id, name.strip()),
            object_type="terminal",
            object_id=terminal_id,
            merchant_no=merchant,
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, TERMINAL_FIELDS)
        typed = {"terminal_id": terminal_id, "name": name}
        return await _terminals_page(request, who, merchant, status, form=typed, errors=errors)
    return await _terminals_page(request, who, merchant, added=terminal, token=token)


# --- merchants ------------------------------------------------------------------------

MERCHANT_FIELDS = ("merchant_no", "name", "timezone")


async def _merchants_page(
    request: Request,
    who: Principal,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    filters: dict[str, str] | None = None,
    page_no: int = 1,
) -> HTMLResponse:
    wanted = filters or _filters(q="")
    found = [
        m
        for m in await asyncio.to_thread(_merchant_dicts, request, who)
        if _has(wanted["q"], m["merchant_no"], m["name"])
    ]
    shown, listing = _listing("/admin/merchants", found, wanted, page_no)
    return _render(
        request,
        "admin_merchants.html",
        "admin_merchants_results.html",
        status_code,
        merchants=shown,
        **listing,
        form=form or {"timezone": "Asia/Shanghai"},
        errors=errors or {},
        notice=_notice(request),
    )


@router.get("/admin/merchants")
async def merchants_page(
    request: Request, who: Merchants, q: Text = None, page_no: PageNo = 1
) -> HTMLResponse:
    return await _merchants_page(request, who, filters=_filters(q=q), page_no=page_no)


@router.post("/admin/merchants")
async def add_merchant(
    request: Request,
    who: Merchants,
    merchant_no: Annotated[str, Form(max_length=15)] = "",
    name: Annotated[str, Form(max_length=120)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "Asia/Shanghai",
) -> Response:
    cf = cf_of(request)
    merchant_no = merchant_no.strip()
    try:
        merchant = await ops.attempt(
            request,
            who,
            "merchant.add",
            lambda: ops.add_merchant(cf, who, merchant_no, name, timezone.strip()),
            object_type="merchant",
            object_id=merchant_no,
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, MERCHANT_FIELDS)
        typed = {"merchant_no": merchant_no, "name": name, "timezone": timezone}
        return await _merchants_page(request, who, status, form=typed, errors=errors)
    return _done("/admin/merchants", "merchant_added", merchant.merchant_no)


# --- fee schedules --------------------------------------------------------------------

FEE_FIELDS = ("channel", "rate", "cap", "effective_from")


def _schedule(request: Request, who: Principal, merchant_no: str) -> dict[str, Any]:
    """The merchant's rules by channel and date, each marked when it is in force today."""
    cf = cf_of(request)
    rules = ops.fee_rules_of(cf, who, merchant_no)
    zone = cf.read(lambda conn: get_merchant(conn, merchant_no).timezone)
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    in_force = {rule_for(rules, channel, today) for channel in CHANNELS}
    return {
        "today": today,
        "rules": [
            {
                "channel": r.channel,
                "rate": format_rate(r.rate_ppm),
                "cap": r.cap,
                "effective_from": r.effective_from,
                "in_force": r in in_force,
                "future": r.effective_from > today,
            }
            for r in rules
        ],
    }


async def _fees_page(
    request: Request,
    who: Principal,
    requested: str | None,
    status_code: int = 200,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    filters: dict[str, str] | None = None,
    page_no: int = 1,
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(ops.chosen_merchant, cf, who, "fees.manage", requested)
    wanted = {"merchant": merchant_no or "", **(filters or _filters(channel=""))}
    schedule: dict[str, Any] = {"rules": [], "today": None}
    if merchant_no:
        schedule = await asyncio.to_thread(_schedule, request, who, merchant_no)
    found = [
        r for r in schedule["rules"] if not wanted["channel"] or r["channel"] == wanted["channel"]
    ]
    shown, listing = _listing("/admin/fees", found, wanted, page_no)
    return _render(
        request,
        "admin_fees.html",
        "admin_fees_results.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        channels=CHANNELS,
        form=form or {"effective_from": schedule["today"].isoformat() if schedule["today"] else ""},
        errors=errors or {},
        notice=_notice(request),
        today=schedule["today"],
        rules=shown,
        **listing,
    )


@router.get("/admin/fees")
async def fees_page(
    request: Request,
    who: Fees,
    merchant: MerchantNo = None,
    channel: Choice = None,
    page_no: PageNo = 1,
) -> HTMLResponse:
    wanted = _filters(channel=channel)
    return await _fees_page(request, who, merchant, filters=wanted, page_no=page_no)


def _rule(channel: str, rate: str, cap: str, effective_from: str) -> FeeRule:
    """The typed rule: the rate in per cent ("0.60") to ppm and the cap in yuan to fen,
    both exactly (no float)."""
    if channel not in CHANNELS:
        raise ValidationError(
            "channel", _("expected one of {options}"), options=", ".join(CHANNELS)
        )
    ppm = parse_rate(rate)
    fen = parse_amount(cap, field="cap") if cap.strip() else None
    try:
        starts = date.fromisoformat(effective_from.strip())
    except ValueError:
        raise ValidationError("effective_from", _("expected a date as YYYY-MM-DD")) from None
    return FeeRule(channel, ppm, fen, starts)


@router.post("/admin/fees")
async def add_fee_rule(
    request: Request,
    who: Fees,
    merchant: Annotated[str, Form(max_length=15)] = "",
    channel: Annotated[str, Form(max_length=20)] = "",
    rate: Annotated[str, Form(max_length=12)] = "",
    cap: Annotated[str, Form(max_length=20)] = "",
    effective_from: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    cf = cf_of(request)
    try:
        rule = _rule(channel, rate, cap, effective_from)
        added = await ops.attempt(
            request,
            who,
            "fee_rule.add",
            lambda: ops.add_fee_rule(cf, who, merchant, rule),
            object_type="fee_rule",
            object_id=f"{rule.channel}@{rule.effective_from}",
            merchant_no=merchant,
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, FEE_FIELDS)
        typed = {"channel": channel, "rate": rate, "cap": cap, "effective_from": effective_from}
        return await _fees_page(request, who, merchant, status, form=typed, errors=errors)
    return _done(
        "/admin/fees",
        "fee_rule_added",
        f"{added.channel}@{added.effective_from.isoformat()}",
        merchant=merchant,
    )


# --- integration tokens ---------------------------------------------------------------

TOKEN_FIELDS = ("name", "scopes", "expires_days")


async def _tokens_page(
    request: Request,
    who: Principal,
    requested: str | None,
    status_code: int = 200,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    added: dict[str, Any] | None = None,
    token: str = "",
    filters: dict[str, str] | None = None,
    page_no: int = 1,
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(ops.chosen_merchant, cf, who, "tokens.manage", requested)
    wanted = {"merchant": merchant_no or "", **(filters or _filters(status=""))}
    found = await asyncio.to_thread(ops.tokens_of, cf, who, merchant_no) if merchant_no else []
    rows = [t.as_dict() for t in found]
    rows = [t for t in rows if not wanted["status"] or t["status"] == wanted["status"]]
    shown, listing = _listing("/admin/tokens", rows, wanted, page_no)
    return _render(
        request,
        "admin_tokens.html",
        "admin_tokens_results.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        tokens=shown,
        states=TOKEN_STATES,
        **listing,
        scopes=SCOPES,
        scope_labels=SCOPE_LABELS,
        form=form or {"scopes": []},
        errors=errors or {},
        added=added,
        token=token,
        notice=_notice(request),
    )


@router.get("/admin/tokens")
async def tokens_page(
    request: Request,
    who: Tokens,
    merchant: MerchantNo = None,
    status: Choice = None,
    page_no: PageNo = 1,
) -> HTMLResponse:
    wanted = _filters(status=status)
    return await _tokens_page(request, who, merchant, filters=wanted, page_no=page_no)


@router.post("/admin/tokens")
async def add_token(
    request: Request,
    who: Tokens,
    merchant: Annotated[str, Form(max_length=15)] = "",
    name: Annotated[str, Form(max_length=80)] = "",
    scopes: Annotated[list[str] | None, Form()] = None,
    expires_days: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    cf = cf_of(request)
    chosen = [s for s in scopes or [] if s]
    try:
        days = _days(expires_days)
        token, info = await ops.attempt(
            request,
            who,
            "token.add",
            lambda: ops.add_token(cf, who, merchant, name, chosen, days),
            object_type="api_token",
            merchant_no=merchant,
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, TOKEN_FIELDS)
        typed = {"name": name, "scopes": chosen, "expires_days": expires_days}
        return await _tokens_page(request, who, merchant, status, form=typed, errors=errors)
    return await _tokens_page(request, who, merchant, added=info.as_dict(), token=token)


def _days(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise ValidationError("expires_days", _("expected a whole number of days"))
    return int(text.strip())


@router.post("/admin/tokens/{token_id}/revoke")
async def revoke_token(
    request: Request,
    who: Tokens,
    token_id: int,
    merchant: Annotated[str, Form(max_length=15)] = "",
) -> Response:
    cf = cf_of(request)
    try:
        info = await ops.attempt(
            request,
            who,
            "token.revoke",
            lambda: ops.revoke_token(cf, who, token_id),
            object_type="api_token",
            object_id=str(token_id),
        )
    except CounterfoilError as exc:
        errors, status = _problem(request, exc, ())
        return await _tokens_page(request, who, merchant or None, status, errors=errors)
    return _done(
        "/admin/tokens", "token_revoked", str(info.id), merchant=merchant or info.merchant_no
    )
