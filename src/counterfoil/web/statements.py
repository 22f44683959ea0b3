"""Statement pages: the imports of the reader's merchants, an upload form, and one import
with its detected format, control totals and rejected lines.

The upload posts the file as multipart; with script on, the page shows the upload's
progress (static/console.js), and the import's report replaces the form when it is done.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.errors import locale_of
from counterfoil.api.statements import read_upload, run_import, upload_limit
from counterfoil.core.errors import CounterfoilError
from counterfoil.importers.detect import FORMATS
from counterfoil.services import statements
from counterfoil.services.access import Principal
from counterfoil.web.render import page

router = APIRouter(include_in_schema=False)
PER_PAGE = 50


@router.get("/statements")
async def statements_page(
    request: Request,
    who: Annotated[Principal, Depends(requires("statements.read"))],
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    scope = statements.merchants_of(who)

    def read(conn: Any) -> tuple[int, list[dict[str, Any]]]:
        return (
            statements.count_imports(conn, merchants=scope),
            statements.list_imports(
                conn, PER_PAGE, merchants=scope, offset=(page_no - 1) * PER_PAGE
            ),
        )

    total, items = await asyncio.to_thread(cf_of(request).read, read)
    return page(
        request,
        "statements.html",
        items=items,
        total=total,
        page_no=page_no,
        pages=max(1, -(-total // PER_PAGE)),
        formats=sorted(FORMATS),
        merchants=who.merchants,
        can_import=who.may("statements.import"),
        limit_mb=upload_limit() // (1024 * 1024),
    )


@router.post("/statements")
async def upload_page(
    request: Request, who: Annotated[Principal, Depends(requires("statements.import"))]
) -> Response:
    try:
        upload, fields = await read_upload(request)
        try:
            report = await asyncio.to_thread(run_import, request, who, upload, fields)
        finally:
            await upload.close()
    except CounterfoilError as exc:
        if exc.status not in (413, 422):
            raise
        return page(
            request,
            "statements.html",
            exc.status,
            items=[],
            total=0,
            page_no=1,
            pages=1,
            formats=sorted(FORMATS),
            merchants=who.merchants,
            can_import=True,
            limit_mb=upload_limit() // (1024 * 1024),
            upload_error=exc.render(locale_of(request)),
        )
    target = f"/statements/{report.import_id}" + ("?again=1" if report.already_imported else "")
    return RedirectResponse(target, status_code=303)


@router.get("/statements/{import_id}")
async def import_page(
    request: Request,
    import_id: int,
    who: Annotated[Principal, Depends(requires("statements.read"))],
    again: bool = False,
) -> HTMLResponse:
    document = await asyncio.to_thread(
        cf_of(request).read, lambda conn: statements.show_import_for(conn, who, import_id)
    )
    return page(request, "statement.html", doc=document, again=again)
