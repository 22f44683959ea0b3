"""Administration through the API: users, terminals, merchants, fee rules, integration tokens.

Admins only (``users.manage``, ``terminals.manage``, ``merchants.manage``, ``fees.manage``,
``tokens.manage``). An admin listed for some merchants manages those only: their
terminals, fee rules and tokens, and the users whose merchants are all among them. Only
an administrator of all merchants adds a merchant, or another administrator of all
merchants.

The scope checks are the functions of the first half (``add_user``, ``add_terminal`` …):
the console's admin pages call the same ones, and each calls one service, which audits
the change. A change refused for scope is audited as denied (``attempt``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.responses import JSON
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.core.fees import FeeRule, format_rate, parse_rate
from counterfoil.i18n import _
from counterfoil.services import merchants as merchant_svc
from counterfoil.services import tokens as token_svc
from counterfoil.services import users as user_svc
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil, audit_refusal
from counterfoil.services.merchants import Merchant
from counterfoil.services.tokens import TokenInfo
from counterfoil.services.users import User

T = TypeVar("T")
router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

# --- what an admin manages ------------------------------------------------------------


def manages_user(who: Principal, user: User) -> bool:
    """An admin of all merchants manages everyone; another admin, the users whose merchants
    are all among theirs (never an administrator of all merchants)."""
    if who.all_merchants:
        return True
    return bool(user.merchants) and all(who.sees(m) for m in user.merchants)


def managed_merchants(cf: Counterfoil, who: Principal) -> list[Merchant]:
    if who.all_merchants:
        return cf.read(merchant_svc.list_merchants)
    return cf.read(lambda conn: [merchant_svc.get_merchant(conn, m) for m in who.merchants])


def chosen_merchant(
    cf: Counterfoil, who: Principal, permission: str, requested: str | None
) -> str | None:
    """The merchant a page or list is about: the one asked for (if ``who`` manages it),
    else the first ``who`` manages; None when there is none yet."""
    if requested:
        who.require(permission, requested)
        cf.read(lambda conn: merchant_svc.get_merchant(conn, requested))
        return requested
    found = managed_merchants(cf, who)
    return found[0].merchant_no if found else None


def split_list(text: str | None) -> list[str]:
    """'a, b c，d' → ['a', 'b', 'c', 'd']: commas (also the Chinese one) or spaces."""
    return [part for part in re.split(r"[\s,，;；]+", text or "") if part]


def terminals_from(values: list[str], merchants: list[str]) -> list[tuple[str, str]]:
    """``MERCHANT/TERMINAL`` as given, or ``TERMINAL`` of the user's one merchant."""
    found: list[tuple[str, str]] = []
    for value in values:
        merchant_no, sep, terminal_id = value.strip().rpartition("/")
        if not sep:
            if len(merchants) != 1:
                raise ValidationError(
                    "terminals",
                    _("write {terminal} as MERCHANT/TERMINAL: the user has more than one merchant"),
                    terminal=value,
                )
            merchant_no = merchants[0]
        found.append((merchant_no, terminal_id))
    return found


def visible_users(cf: Counterfoil, who: Principal) -> list[User]:
    who.require("users.manage")
    return [u for u in cf.read(user_svc.list_users) if manages_user(who, u)]


def managed_user(cf: Counterfoil, who: Principal, username: str) -> User:
    who.require("users.manage")
    user = cf.read(lambda conn: user_svc.get_user(conn, username))
    if not manages_user(who, user):
        raise Forbidden(_("you do not manage user {username}"), username=user.username)
    return user


def add_user(
    cf: Counterfoil,
    who: Principal,
    username: str,
    password: str,
    role: str,
    merchants: list[str],
    *,
    display_name: str = "",
    locale: str = "zh_CN",
    terminals: list[str] | None = None,
) -> User:
    who.require("users.manage")
    if not who.all_merchants:
        if not merchants and role == "admin":
            raise Forbidden(
                _("only an administrator of all merchants adds an administrator of all merchants")
            )
        for merchant_no in merchants:
            who.require("users.manage", merchant_no)
    return user_svc.add_user(
        cf,
        username,
        password,
        role,
        merchants,
        display_name=display_name,
        locale=locale,
        terminals=terminals_from(terminals or [], merchants),
        actor=who.actor,
    )


def set_active(cf: Counterfoil, who: Principal, username: str, active: bool) -> User:
    user = managed_user(cf, who, username)
    if not active and who.name == f"user:{user.username}":
        raise ValidationError("username", _("you cannot disable your own account"))
    user_svc.set_active(cf, user.username, active, actor=who.actor)
    return user


def set_password(cf: Counterfoil, who: Principal, username: str, password: str) -> User:
    user = managed_user(cf, who, username)
    user_svc.set_password(cf, user.username, password, actor=who.actor)
    return user


def terminals_of(cf: Counterfoil, who: Principal, merchant_no: str | None) -> list[dict[str, Any]]:
    """The terminals of one merchant, or of every merchant ``who`` manages."""
    who.require("terminals.manage", merchant_no)
    rows = cf.read(lambda conn: merchant_svc.list_terminals(conn, merchant_no))
    return [r for r in rows if who.sees(r["merchant_no"])]


def add_terminal(
    cf: Counterfoil, who: Principal, merchant_no: str, terminal_id: str, name: str = ""
) -> tuple[dict[str, Any], str]:
    who.require("terminals.manage", merchant_no)
    return merchant_svc.add_terminal(cf, merchant_no, terminal_id, name, actor=who.actor)


def add_merchant(
    cf: Counterfoil, who: Principal, merchant_no: str, name: str, timezone: str
) -> Merchant:
    who.require("merchants.manage")
    if not who.all_merchants:
        raise Forbidden(_("only an administrator of all merchants adds a merchant"))
    return merchant_svc.add_merchant(cf, merchant_no, name, timezone, actor=who.actor)


def fee_rules_of(cf: Counterfoil, who: Principal, merchant_no: str) -> list[FeeRule]:
    who.require("fees.manage", merchant_no)
    return cf.read(lambda conn: merchant_svc.fee_schedule(conn, merchant_no))


def add_fee_rule(cf: Counterfoil, who: Principal, merchant_no: str, rule: FeeRule) -> FeeRule:
    who.require("fees.manage", merchant_no)
    return merchant_svc.add_fee_rule(cf, merchant_no, rule, actor=who.actor)


def tokens_of(cf: Counterfoil, who: Principal, merchant_no: str | None) -> list[TokenInfo]:
    who.require("tokens.manage", merchant_no)
    found = cf.read(lambda conn: token_svc.list_tokens(conn, merchant_no))
    return [t for t in found if who.sees(t.merchant_no)]


def add_token(
    cf: Counterfoil,
    who: Principal,
    merchant_no: str,
    name: str,
    scopes: list[str],
    expires_days: int | None = None,
) -> tuple[str, TokenInfo]:
    who.require("tokens.manage", merchant_no)
    return token_svc.add_token(
        cf, merchant_no, name, scopes, expires_days=expires_days, actor=who.actor
    )


def revoke_token(cf: Counterfoil, who: Principal, token_id: int) -> TokenInfo:
    who.require("tokens.manage")
    known = {t.id: t for t in cf.read(token_svc.list_tokens)}
    if token_id in known:
        who.require("tokens.manage", known[token_id].merchant_no)
    return token_svc.revoke_token(cf, token_id, actor=who.actor)


def fee_rule_view(rule: FeeRule) -> dict[str, Any]:
    return {
        "channel": rule.channel,
        "rate_ppm": rule.rate_ppm,
        "rate": format_rate(rule.rate_ppm),
        "cap": rule.cap,
        "effective_from": rule.effective_from.isoformat(),
    }


async def attempt(
    request: Request,
    who: Principal,
    action: str,
    change: Callable[[], T],
    *,
    object_type: str,
    object_id: str | None = None,
    merchant_no: str | None = None,
) -> T:
    """Run ``change`` off the event loop; a refusal is audited as denied
    (``services.context.audit_refusal``, as every other service does)."""
    return await asyncio.to_thread(
        audit_refusal,
        cf_of(request),
        who,
        action,
        object_type,
        object_id or "",
        change,
        merchant_no=merchant_no if merchant_no and len(merchant_no) <= 15 else None,
    )


# --- the routes -----------------------------------------------------------------------

Users = Annotated[Principal, Depends(requires("users.manage"))]
Terminals = Annotated[Principal, Depends(requires("terminals.manage"))]
Merchants = Annotated[Principal, Depends(requires("merchants.manage"))]
Fees = Annotated[Principal, Depends(requires("fees.manage"))]
Tokens = Annotated[Principal, Depends(requires("tokens.manage"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewUser(_Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=128)
    role: str = Field(max_length=20)
    merchants: list[str] = Field(default_factory=list, max_length=1000)
    display_name: str = Field("", max_length=120)
    locale: str = Field("zh_CN", max_length=10)
    terminals: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="A cashier's terminals: MERCHANT/TERMINAL, or TERMINAL of the one merchant",
    )


class NewTerminal(_Body):
    merchant_no: str = Field(max_length=15)
    terminal_id: str = Field(max_length=8)
    name: str = Field("", max_length=120)


class NewMerchant(_Body):
    merchant_no: str = Field(max_length=15)
    name: str = Field(max_length=120)
    timezone: str = Field("Asia/Shanghai", max_length=64)


class NewFeeRule(_Body):
    merchant_no: str = Field(max_length=15)
    channel: str = Field(max_length=20)
    rate: str = Field(max_length=12, description="per cent, exact: '0.60' or '0.60%'")
    cap: int | None = Field(None, ge=0, description="fen")
    effective_from: date


class NewToken(_Body):
    merchant_no: str = Field(max_length=15)
    name: str = Field(max_length=80)
    scopes: list[str] = Field(max_length=len(token_svc.SCOPES))
    expires_days: int | None = None


@router.get("/users", summary="Users the caller manages")
async def list_users(request: Request, who: Users) -> dict[str, Any]:
    found = await asyncio.to_thread(visible_users, cf_of(request), who)
    return {"items": [u.as_dict() for u in found]}


@router.post("/users", status_code=201, summary="Add a user (audited)")
async def post_user(request: Request, who: Users, body: NewUser) -> JSON:
    cf = cf_of(request)
    user = await attempt(
        request,
        who,
        "user.add",
        lambda: add_user(
            cf,
            who,
            body.username,
            body.password,
            body.role,
            body.merchants,
            display_name=body.display_name,
            locale=body.locale,
            terminals=body.terminals,
        ),
        object_type="user",
        object_id=body.username,
    )
    return JSON(user.as_dict(), status_code=201)


@router.get("/terminals", summary="Terminals of a merchant, or of every merchant managed")
async def list_terminals(
    request: Request, who: Terminals, merchant: str | None = None
) -> dict[str, Any]:
    found = await asyncio.to_thread(terminals_of, cf_of(request), who, merchant or None)
    return {"items": found}


@router.post(
    "/terminals", status_code=201, summary="Add a terminal; its API token is shown this once"
)
async def post_terminal(request: Request, who: Terminals, body: NewTerminal) -> JSON:
    cf = cf_of(request)
    terminal, token = await attempt(
        request,
        who,
        "terminal.add",
        lambda: add_terminal(cf, who, body.merchant_no, body.terminal_id, body.name),
        object_type="terminal",
        object_id=body.terminal_id,
        merchant_no=body.merchant_no,
    )
    return JSON({"terminal": terminal, "token": token}, status_code=201)


@router.get("/merchants", summary="Merchants the caller manages")
async def list_merchants(request: Request, who: Merchants) -> dict[str, Any]:
    found = await asyncio.to_thread(managed_merchants, cf_of(request), who)
    return {"items": [m.as_dict() for m in found]}


@router.post(
    "/merchants", status_code=201, summary="Add a merchant (an administrator of all merchants)"
)
async def post_merchant(request: Request, who: Merchants, body: NewMerchant) -> JSON:
    cf = cf_of(request)
    merchant = await attempt(
        request,
        who,
        "merchant.add",
        lambda: add_merchant(cf, who, body.merchant_no, body.name, body.timezone),
        object_type="merchant",
        object_id=body.merchant_no,
    )
    return JSON(merchant.as_dict(), status_code=201)


@router.get("/fee-rules", summary="A merchant's fee schedule, with effective dates")
async def list_fee_rules(
    request: Request, who: Fees, merchant: str | None = None
) -> dict[str, Any]:
    cf = cf_of(request)
    merchant_no = await asyncio.to_thread(chosen_merchant, cf, who, "fees.manage", merchant)
    if merchant_no is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    rules = await asyncio.to_thread(fee_rules_of, cf, who, merchant_no)
    return {"merchant_no": merchant_no, "items": [fee_rule_view(r) for r in rules]}


@router.post("/fee-rules", status_code=201, summary="Add a fee rule from a date (audited)")
async def post_fee_rule(request: Request, who: Fees, body: NewFeeRule) -> JSON:
    cf = cf_of(request)
    rule = FeeRule(body.channel, parse_rate(body.rate), body.cap, body.effective_from)
    added = await attempt(
        request,
        who,
        "fee_rule.add",
        lambda: add_fee_rule(cf, who, body.merchant_no, rule),
        object_type="fee_rule",
        object_id=f"{rule.channel}@{rule.effective_from}",
        merchant_no=body.merchant_no,
    )
    return JSON({"merchant_no": body.merchant_no, **fee_rule_view(added)}, status_code=201)


@router.get("/tokens", summary="Integration tokens (never the tokens themselves)")
async def list_tokens(request: Request, who: Tokens, merchant: str | None = None) -> dict[str, Any]:
    found = await asyncio.to_thread(tokens_of, cf_of(request), who, merchant or None)
    return {"items": [t.as_dict() for t in found]}


@router.post("/tokens", status_code=201, summary="Make an integration token, shown this once")
async def post_token(request: Request, who: Tokens, body: NewToken) -> JSON:
    cf = cf_of(request)
    token, info = await attempt(
        request,
        who,
        "token.add",
        lambda: add_token(cf, who, body.merchant_no, body.name, body.scopes, body.expires_days),
        object_type="api_token",
        merchant_no=body.merchant_no,
    )
    return JSON({**info.as_dict(), "token": token}, status_code=201)


@router.delete("/tokens/{token_id}", summary="Revoke an integration token at once")
async def delete_token(request: Request, who: Tokens, token_id: int) -> dict[str, Any]:
    cf = cf_of(request)
    info = await attempt(
        request,
        who,
        "token.revoke",
        lambda: revoke_token(cf, who, token_id),
        object_type="api_token",
        object_id=str(token_id),
    )
    return info.as_dict()
