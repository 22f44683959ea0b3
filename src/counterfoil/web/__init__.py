"""The web console: server-rendered pages (Jinja2 + HTMX) over the same services as the API.

``install`` adds the pages, the static files (HTMX is vendored: nothing is fetched at
run time) and the security headers every page carries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

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

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith("/api/"):
            response.headers.setdefault("Content-Security-Policy", POLICY)
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if "text/html" in response.headers.get("content-type", ""):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


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
