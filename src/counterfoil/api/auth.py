"""Who is calling: a person (session cookie), a terminal (``cft_`` token) or an integration
(``cfi_`` token), as a ``Principal`` that routes check with ``require``.

A person's change (any method but GET/HEAD/OPTIONS) must carry the session's CSRF token,
as the ``X-CSRF-Token`` header (API, HTMX) or the ``csrf_token`` form field (web forms).
A bearer token is not a cookie, so a page of another site cannot send it: no CSRF check.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from counterfoil.core.errors import Forbidden, Unauthorised
from counterfoil.i18n import _
from counterfoil.services import sessions, tokens
from counterfoil.services.access import TERMINAL_SCOPES, Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import TOKEN_PREFIX, authenticate_terminal
from counterfoil.store import audit
from counterfoil.store.audit import Actor

COOKIE = "cf_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cf_of(request: Request) -> Counterfoil:
    cf: Counterfoil = request.app.state.cf
    return cf


def source_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def person_principal(session: sessions.Session, source: str) -> Principal:
    user = session.user
    return Principal(
        "person",
        f"user:{user.username}",
        source,
        role=user.role,
        merchants=user.merchants,
        terminals=user.terminals if user.role == "cashier" else None,
        locale=user.locale,
    )


async def _csrf_of(request: Request) -> str | None:
    presented = request.headers.get("x-csrf-token")
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()  # Starlette keeps it for the route to read again
        value = form.get("csrf_token")
        presented = value if isinstance(value, str) else None
    return presented


async def session_of(request: Request) -> sessions.Session:
    """The logged-in person's session; a change must carry its CSRF token."""
    cf = cf_of(request)
    session = await asyncio.to_thread(sessions.resume, cf, request.cookies.get(COOKIE))
    if request.method not in SAFE_METHODS:
        try:
            session.check_csrf(await _csrf_of(request))
        except Forbidden:
            await request.close()  # an uploaded file spooled by the form parser
            raise
    request.state.session = session
    return session


async def _bearer(request: Request, token: str) -> Principal:
    cf, source = cf_of(request), source_of(request)
    try:
        if token.startswith(TOKEN_PREFIX):
            merchant_no, terminal_id = await asyncio.to_thread(
                cf.read, lambda conn: authenticate_terminal(conn, token)
            )
            return Principal(
                "terminal",
                f"terminal:{merchant_no}/{terminal_id}",
                source,
                merchants=(merchant_no,),
                terminals=((merchant_no, terminal_id),),
                scopes=TERMINAL_SCOPES,
            )
        info = await asyncio.to_thread(
            cf.read, lambda conn: tokens.authenticate_integration(conn, token)
        )
    except Unauthorised:
        await asyncio.wrap_future(
            cf.submit(
                lambda conn: audit.record(conn, Actor("anonymous", source), "auth.token", "denied")
            )
        )
        raise
    return Principal(
        "integration",
        f"integration:{info.id}:{info.name}",
        source,
        merchants=(info.merchant_no,),
        scopes=frozenset(info.scopes),
    )


async def principal(request: Request) -> Principal:
    """Whoever calls, by bearer token or by session cookie; ``Unauthorised`` if nobody."""
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if header:
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorised(_("send the API token as 'Authorization: Bearer …'"))
        found = await _bearer(request, token.strip())
    elif request.cookies.get(COOKIE):
        found = person_principal(await session_of(request), source_of(request))
    else:
        raise Unauthorised(_("log in first, or send an API token"))
    request.state.principal = found
    return found


def requires(permission: str) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency: the caller, who must hold ``permission`` (merchant checked by the route)."""

    async def check(request: Request) -> Principal:
        who = await principal(request)
        who.require(permission)
        return who

    check.__name__ = f"requires_{permission.replace('.', '_')}"
    check.permission = permission  # type: ignore[attr-defined]
    return check


Caller = Annotated[Principal, Depends(principal)]
