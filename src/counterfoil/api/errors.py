"""One error shape for every route: ``{"error": {"code", "message", "details"}}``.

The only place where Counterfoil's exceptions become HTTP statuses. Messages are in
the caller's language (``Accept-Language``: en or zh-CN).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from counterfoil.api.responses import JSON
from counterfoil.core.errors import CounterfoilError
from counterfoil.i18n import _, normalise_locale, translate

log = logging.getLogger("counterfoil.api")


def locale_of(request: Request) -> str:
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


def install(app: FastAPI) -> None:
    @app.exception_handler(CounterfoilError)
    async def _counterfoil(request: Request, exc: CounterfoilError) -> JSON:
        body = error_body(exc, locale_of(request))
        return error_response(exc.status, body["code"], body["message"], body["details"])

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSON:
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
    async def _http(request: Request, exc: HTTPException) -> JSON:
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
    async def _unexpected(request: Request, exc: Exception) -> JSON:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(
            500,
            "internal",
            translate(
                _("something went wrong on our side; nothing was recorded by this request"),
                locale_of(request),
            ),
        )
