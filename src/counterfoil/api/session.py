"""People's sessions: log in, who am I, log out.

The session token travels only in the ``cf_session`` cookie: HttpOnly (no script reads
it), SameSite=Strict (no other site's page sends it), and Secure behind TLS (the
request came over https, or a TLS proxy says so with ``X-Forwarded-Proto: https``).
Every change made through a session carries ``X-CSRF-Token``, given at login.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from counterfoil.api.auth import session_of
from counterfoil.api.responses import JSON
from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.services import sessions
from counterfoil.services.context import Counterfoil

router = APIRouter(prefix="/api/v1", tags=["session"])
COOKIE = "cf_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _cf(request: Request) -> Counterfoil:
    cf: Counterfoil = request.app.state.cf
    return cf


async def person(request: Request) -> sessions.Session:
    """The logged-in person; a change (not GET) must carry the session's CSRF token."""
    return await session_of(request)


Person = Annotated[sessions.Session, Depends(person)]


def _over_tls(request: Request) -> bool:
    return request.url.scheme == "https" or (
        request.headers.get("x-forwarded-proto", "").lower() == "https"
    )


@router.post(
    "/session",
    summary="Log in with username, password and (with a second factor) code; sets the cookie",
)
async def log_in(request: Request) -> JSON:
    if not request.headers.get("content-type", "").startswith("application/json"):
        # a form of another site can post text/plain, never application/json: no login CSRF
        raise ValidationError("$", _("send the login as application/json"))
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise ValidationError("$", _("the request body is not valid JSON")) from None
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) for k in ("username", "password")
    ):
        raise ValidationError("$", _("expected an object with username and password"))
    code = body.get("code")
    if code is not None and not isinstance(code, str):
        raise ValidationError("code", _("expected the code from the authenticator app as text"))
    source = request.client.host if request.client else "unknown"
    token, session = await asyncio.to_thread(
        sessions.log_in, _cf(request), body["username"], body["password"], source=source, code=code
    )
    response = JSON(
        {
            "user": session.user.as_dict(),
            "csrf_token": session.csrf_token,
            "expires_at": session.expires_at.isoformat(),
        }
    )
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(sessions.LONGEST.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=_over_tls(request),
        path="/",
    )
    return response


@router.get("/me", summary="Who is logged in, their role and merchants")
async def me(session: Person) -> dict[str, Any]:
    return session.user.as_dict()


@router.delete("/session", status_code=204, summary="Log out (needs X-CSRF-Token)")
async def log_out(request: Request, session: Person) -> Response:
    await asyncio.to_thread(sessions.log_out, _cf(request), session)
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=_over_tls(request)
    )
    return response
