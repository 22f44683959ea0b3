"""The console's admin pages: users, terminals, merchants, fee schedules, integration tokens.

Admins only; an admin listed for some merchants manages those only (the checks are
``api.admin``'s, shared with the API, and each change goes through one service, which
audits it). Every change is a form with the session's CSRF token. It answers with a
redirect back to the page and a notice of what was done (``?done=…``), or with the page
again and the fields' errors (422; 409 when the thing already exists). A new terminal's
or integration's token is shown on the page that answers the form, this once only:
it is never put in an address, and only its hash is kept.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
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
) -> HTMLResponse:
    cf = cf_of(request)
    found = await asyncio.to_thread(ops.visible_users, cf, who)
    merchants = [] if who.all_merchants else await asyncio.to_thread(_merchant_dicts, request, who)
    default = {
        "role": "cashier",
        "locale": "zh_CN",
        "merchants": merchants[0]["merchant_no"] if len(merchants) == 1 else "",
    }
    return page(
        request,
        "admin_users.html",
        status_code,
        users=found,
        roles=ROLES,
        languages=LANGUAGES,
        merchants=merchants,
        form=form or default,
        errors=errors or {},
        open_for=open_for,
        notice=_notice(request),
    )


@router.get("/admin/users")
async def users_page(request: Request, who: Users) -> HTMLResponse:
    return await _users_page(request, who)


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
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(
        ops.chosen_merchant, cf, who, "terminals.manage", requested
    )
    found = await asyncio.to_thread(ops.terminals_of, cf, who, merchant_no) if merchant_no else []
    return page(
        request,
        "admin_terminals.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        terminals=found,
        form=form or {},
        errors=errors or {},
        added=added,
        token=token,
        notice=_notice(request),
    )


@router.get("/admin/terminals")
async def terminals_page(
    request: Request, who: Terminals, merchant: MerchantNo = None
) -> HTMLResponse:
    return await _terminals_page(request, who, merchant)


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
) -> HTMLResponse:
    return page(
        request,
        "admin_merchants.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        form=form or {"timezone": "Asia/Shanghai"},
        errors=errors or {},
        notice=_notice(request),
    )


@router.get("/admin/merchants")
async def merchants_page(request: Request, who: Merchants) -> HTMLResponse:
    return await _merchants_page(request, who)


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
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(ops.chosen_merchant, cf, who, "fees.manage", requested)
    schedule: dict[str, Any] = {"rules": [], "today": None}
    if merchant_no:
        schedule = await asyncio.to_thread(_schedule, request, who, merchant_no)
    return page(
        request,
        "admin_fees.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        channels=CHANNELS,
        form=form or {"effective_from": schedule["today"].isoformat() if schedule["today"] else ""},
        errors=errors or {},
        notice=_notice(request),
        **schedule,
    )


@router.get("/admin/fees")
async def fees_page(request: Request, who: Fees, merchant: MerchantNo = None) -> HTMLResponse:
    return await _fees_page(request, who, merchant)


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
) -> HTMLResponse:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(ops.chosen_merchant, cf, who, "tokens.manage", requested)
    found = await asyncio.to_thread(ops.tokens_of, cf, who, merchant_no) if merchant_no else []
    return page(
        request,
        "admin_tokens.html",
        status_code,
        merchants=await asyncio.to_thread(_merchant_dicts, request, who),
        merchant_no=merchant_no,
        tokens=[t.as_dict() for t in found],
        scopes=SCOPES,
        scope_labels=SCOPE_LABELS,
        form=form or {"scopes": []},
        errors=errors or {},
        added=added,
        token=token,
        notice=_notice(request),
    )


@router.get("/admin/tokens")
async def tokens_page(request: Request, who: Tokens, merchant: MerchantNo = None) -> HTMLResponse:
    return await _tokens_page(request, who, merchant)


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
