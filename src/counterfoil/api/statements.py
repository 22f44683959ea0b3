"""Statement routes: upload a file to import (multipart), list imports, show one.

An upload above the limit (``COUNTERFOIL_MAX_UPLOAD_MB``, default 512) is refused with
413 before its body is read when the request says its length, and as soon as it passes
the limit when it does not. The file is spooled to disk, never held whole in memory.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.datastructures import UploadFile

from counterfoil.api.auth import cf_of, requires
from counterfoil.api.responses import JSON
from counterfoil.core.errors import TooLarge, ValidationError
from counterfoil.i18n import _
from counterfoil.services import statements
from counterfoil.services.access import Principal

router = APIRouter(prefix="/api/v1", tags=["statements"])
BLOCK = 1 << 20


def upload_limit() -> int:
    return int(os.environ.get("COUNTERFOIL_MAX_UPLOAD_MB", "512")) * 1024 * 1024


def check_declared_length(request: Request) -> None:
    declared = request.headers.get("content-length")
    limit = upload_limit()
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise TooLarge(
            _("the file is larger than the upload limit of {limit} MB"),
            limit=limit // (1024 * 1024),
        )


def blocks(upload: UploadFile) -> Iterator[bytes]:
    upload.file.seek(0)
    while block := upload.file.read(BLOCK):
        yield block


async def read_upload(request: Request) -> tuple[UploadFile, dict[str, str]]:
    """The multipart form's ``file`` and its other (text) fields."""
    check_declared_length(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationError("file", _("send the file as multipart/form-data in the field 'file'"))
    form = await request.form(max_files=1, max_fields=20)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise ValidationError("file", _("send the file as multipart/form-data in the field 'file'"))
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return upload, fields


def run_import(
    request: Request, who: Principal, upload: UploadFile, fields: dict[str, str]
) -> statements.ImportReport:
    return statements.receive_upload(
        cf_of(request),
        who,
        blocks(upload),
        upload.filename or "statement",
        merchant_no=fields.get("merchant") or None,
        format=fields.get("format") or None,
        limit=upload_limit(),
    )


@router.post(
    "/statements",
    status_code=201,
    summary="Upload a statement file to import (multipart field 'file'; "
    "optional fields 'merchant' and 'format')",
    responses={
        200: {"description": "The same file was imported before: nothing added"},
        413: {"description": "Above the upload limit"},
    },
)
async def upload_statement(
    request: Request, who: Annotated[Principal, Depends(requires("statements.import"))]
) -> JSON:
    upload, fields = await read_upload(request)
    try:
        report = await asyncio.to_thread(run_import, request, who, upload, fields)
    finally:
        await upload.close()
    return JSON(report.as_dict(), status_code=200 if report.already_imported else 201)


@router.get("/statements", summary="The imported statement files, latest first")
async def list_statements(
    request: Request,
    who: Annotated[Principal, Depends(requires("statements.read"))],
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    scope = statements.merchants_of(who)

    def read(conn: Any) -> dict[str, Any]:
        return {
            "total": statements.count_imports(conn, merchants=scope),
            "page": page,
            "per_page": per_page,
            "items": statements.list_imports(
                conn, per_page, merchants=scope, offset=(page - 1) * per_page
            ),
        }

    result: dict[str, Any] = await asyncio.to_thread(cf_of(request).read, read)
    return result


@router.get("/statements/{import_id}", summary="One import: checks, control totals, rejects")
async def show_statement(
    request: Request,
    import_id: int,
    who: Annotated[Principal, Depends(requires("statements.read"))],
) -> dict[str, Any]:
    document: dict[str, Any] = await asyncio.to_thread(
        cf_of(request).read, lambda conn: statements.show_import_for(conn, who, import_id)
    )
    return document
