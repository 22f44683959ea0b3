"""The web console: server-rendered pages (Jinja2 + HTMX) over the same services as the API.

``install`` adds the pages, the static files (HTMX is vendored: nothing is fetched at
run time) and the security headers every page carries.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from counterfoil.web import pages
from counterfoil.web.pages import error_page

STATIC = Path(__file__).parent / "static"
#: No script, style or frame from anywhere but this site; no inline script at all.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"
)

__all__ = ["error_page", "install"]


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    for module in _page_modules():
        app.include_router(module.router)

    app.add_middleware(SecurityHeaders)


class SecurityHeaders:
    """The security headers on every answer, where the answer has not set them itself.

    Plain ASGI: it edits the response's start message as it passes. (Starlette's
    ``@app.middleware("http")`` runs each request in its own task with a stream between
    them, which cost a tenth of the event loop's time under 500 requests a second.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = not str(scope["path"]).startswith("/api/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if page:
                    headers.setdefault("Content-Security-Policy", POLICY)
                    headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if "text/html" in headers.get("content-type", ""):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)


def _page_modules() -> list[ModuleType]:
    """The other page modules (admin, audit log …), each with its own ``router``."""
    from counterfoil.web import (
        admin,
        audit_pages,
        batch,
        cases,
        incidents,
        receipts,
        reconcile,
        settlement,
        statements,
    )

    return [
        receipts,
        statements,
        settlement,
        batch,
        reconcile,
        cases,
        incidents,
        admin,
        audit_pages,
    ]
