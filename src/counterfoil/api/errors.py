"""One error shape for every route: ``{"error": {"code", "message", "details"}}``.

The only place where Counterfoil's exceptions become HTTP statuses. Messages are in
the caller's language (``Accept-Language``: en or zh-CN).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from counterfoil.api.responses import JSON
from counterfoil.core.errors import CounterfoilError, Internal, NotFound, ValidationError
from counterfoil.i18n import _, normalise_locale, translate

log = logging.getLogger("counterfoil.api")


def locale_of(request: Request) -> str:
    """The reader's language: a person's own setting, else their choice, else the browser's."""
    who = getattr(request.state, "principal", None)
    if who is not None and who.kind == "person":
        return str(who.locale)
    chosen = request.cookies.get("cf_lang")
    if chosen:
        return normalise_locale(chosen)
    return normalise_locale(request.headers.get("accept-language", "").split(",")[0])


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSON:
    return JSON(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def error_body(exc: CounterfoilError, locale: str) -> dict[str, Any]:
    details = exc.details()
    if "errors" in details:
        details["errors"] = [
            {"field": e["field"], "message": translate(e["message"], locale, **e["params"])}
            for e in details["errors"]
        ]
    return {"code": exc.code, "message": exc.render(locale), "details": details}


#: Renders an error as a console page (the web package installs it); the API answers JSON.
PageRenderer = Callable[[Request, CounterfoilError, str], Response]


def is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith("/api/") and path not in ("/health", "/ready", "/openapi.json")


def install(app: FastAPI, pages: PageRenderer | None = None) -> None:
    @app.exception_handler(CounterfoilError)
    async def _counterfoil(request: Request, exc: CounterfoilError) -> Response:
        locale = locale_of(request)
        if pages is not None and is_page(request):
            return pages(request, exc, locale)
        body = error_body(exc, locale)
        return error_response(exc.status, body["code"], body["message"], body["details"])

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if pages is not None and is_page(request):
            problem = ValidationError("$", _("the request is not valid"))
            return pages(request, problem, locale_of(request))
        errors = [
            {
                "field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "$",
                "message": str(e.get("msg", "")),
            }
            for e in exc.errors()
        ]
        return error_response(
            422,
            "invalid",
            translate(_("the request is not valid"), locale_of(request)),
            {"errors": errors},
        )

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        if pages is not None and is_page(request) and exc.status_code == 404:
            return pages(request, NotFound(_("there is no such page")), locale_of(request))
        code = {
            401: "unauthorised",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
        }.get(exc.status_code, "error")
        return error_response(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        if pages is not None and is_page(request):
            problem = Internal(
                _("something went wrong on our side; nothing was recorded by this request")
            )
            return pages(request, problem, locale_of(request))
        return error_response(
            500,
            "internal",
            translate(
                _("something went wrong on our side; nothing was recorded by this request"),
                locale_of(request),
            ),
        )
