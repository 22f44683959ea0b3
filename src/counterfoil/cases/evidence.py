"""Evidence of a case: files, slips, statement lines and journal entries.

A file is streamed to the data directory while its SHA-256 is computed, refused past the
size limit (``COUNTERFOIL_EVIDENCE_MAX_MB``, default 10) and kept only if its content is
one of the allowed types — PDF, PNG, JPEG, or plain text / CSV (UTF-8 or GB 18030) —
judged by its bytes and its name together, never by what the sender claims. It is kept
once, at ``evidence/<first two hex digits>/<sha256>``, however many cases name it; it is
never executed, and the faces serve it only as a download (``Content-Disposition:
attachment``, ``nosniff``). A slip or journal entry is named by any transaction
reference, a statement line by ``IMPORT:LINE``. Each piece is an event on the timeline.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, select

from counterfoil.cases import workflow as wf
from counterfoil.config import Settings
from counterfoil.core.errors import NotFound, TooLarge, ValidationError
from counterfoil.i18n import _
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.cases_schema import case_evidence
from counterfoil.store.schema import statement_imports, statement_lines

#: extension → the type it is served as
ALLOWED = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
LINK_KINDS = ("slip", "statement_line", "journal_entry")
MAX_NAME = 200
_LINE_REF = re.compile(r"^(\d{1,9})[:/](\d{1,9})$")
_UNSAFE = re.compile(r"[^\w.\- ()\u4e00-\u9fff]+")


def size_limit() -> int:
    return int(os.environ.get("COUNTERFOIL_EVIDENCE_MAX_MB", "10")) * 1024 * 1024


def evidence_dir(settings: Settings) -> Path:
    return settings.home / "evidence"


def stored_path(settings: Settings, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValidationError("sha256", _("expected 64 hexadecimal digits"))
    return evidence_dir(settings) / sha256[:2] / sha256


def safe_name(filename: str) -> str:
    """The file's name as kept and offered back: its last part, tame characters only."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base).strip("._ ")[:MAX_NAME]
    if not base:
        raise ValidationError("file", _("expected a file name"))
    return base


def content_type(filename: str, head: bytes) -> str:
    """The file's type by its name and its first bytes; ``ValidationError`` if not allowed."""
    ext = os.path.splitext(filename.lower())[1]
    kind = ALLOWED.get(ext)
    if kind is None:
        raise ValidationError(
            "file",
            _("expected a file of type {types}"),
            types=", ".join(sorted(ALLOWED)),
        )
    if kind in MAGIC:
        if not head.startswith(MAGIC[kind]):
            raise ValidationError("file", _("the file's content is not a {ext} file"), ext=ext)
        return kind
    if b"\x00" in head:
        raise ValidationError("file", _("the file's content is not a {ext} file"), ext=ext)
    for encoding in ("utf-8", "gb18030"):
        try:
            head.decode(encoding)
            return kind
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut at the end of the sample
                return kind
    raise ValidationError("file", _("expected text in UTF-8 or GB 18030"))


@dataclass(frozen=True, slots=True)
class Stored:
    sha256: str
    size: int
    content_type: str
    filename: str


def store_file(
    settings: Settings, blocks: Iterable[bytes], filename: str, limit: int | None = None
) -> Stored:
    """Stream the file to the evidence directory, checked; kept once by its SHA-256."""
    name = safe_name(filename)
    limit = size_limit() if limit is None else limit
    folder = evidence_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, temp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for block in blocks:
                size += len(block)
                if size > limit:
                    raise TooLarge(
                        _("the file is larger than the evidence limit of {limit} MB"),
                        limit=limit // (1024 * 1024),
                    )
                if len(head) < 4096:
                    head += block[: 4096 - len(head)]
                digest.update(block)
                out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise ValidationError("file", _("the file is empty"))
        kind = content_type(name, head)
        sha = digest.hexdigest()
        target = stored_path(settings, sha)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            os.unlink(temp)
        else:
            os.chmod(temp, 0o440)
            os.replace(temp, target)
        return Stored(sha, size, kind, name)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def _record(conn: Connection, who: Principal, row: Any, values: dict[str, Any]) -> int:
    inserted = conn.execute(
        case_evidence.insert().values(
            case_id=int(row.id),
            merchant_no=row.merchant_no,
            added_by=who.name[:80],
            added_at=datetime.now(UTC),
            **values,
        )
    ).inserted_primary_key
    assert inserted is not None
    evidence_id = int(inserted[0])
    shown = {k: values.get(k) for k in ("kind", "ref", "filename", "size")}
    wf.event(conn, who.actor, row, "evidence", values.get("note", ""), {"id": evidence_id, **shown})
    audit.record(
        conn,
        who.actor,
        "case.evidence",
        object_type="case",
        object_id=str(row.id),
        merchant_no=row.merchant_no,
        details={"id": evidence_id, **shown},
    )
    return evidence_id


def attach_file(
    cf: Counterfoil,
    who: Principal,
    case_id: int,
    blocks: Iterable[bytes],
    filename: str,
    note: str = "",
    limit: int | None = None,
) -> dict[str, Any]:
    """Keep a file as evidence of a case; the case as ``get_case`` shows it."""
    said = wf.text("note", note, wf.MAX_NOTE)
    # the case is checked before the file is read, so a stranger stores nothing
    cf.read(lambda conn: _workable(conn, who, case_id))
    stored = store_file(cf.settings, blocks, filename, limit)

    def job(conn: Connection) -> dict[str, Any]:
        row = _workable(conn, who, case_id)
        _record(
            conn,
            who,
            row,
            {
                "kind": "file",
                "ref": stored.sha256,
                "filename": stored.filename,
                "content_type": stored.content_type,
                "size": stored.size,
                "note": said,
            },
        )
        return wf.detail(conn, wf.case_row(conn, who, case_id))

    return wf.audited(cf, who, "case.evidence", str(case_id), lambda: cf.write(job))


def _workable(conn: Connection, who: Principal, case_id: int) -> Any:
    who.require("cases.work")
    row = wf.case_row(conn, who, case_id)
    who.require("cases.work", row.merchant_no)
    return row


def _statement_line(conn: Connection, merchant_no: str, ref: str) -> str:
    found = _LINE_REF.match(ref.strip())
    missing = ValidationError(
        "ref",
        _("no statement line {ref} of merchant {merchant_no} (expected IMPORT:LINE)"),
        ref=ref[:40],
        merchant_no=merchant_no,
    )
    if found is None:
        raise missing
    import_id, line_no = int(found.group(1)), int(found.group(2))
    s, i = statement_lines.c, statement_imports.c
    row = conn.execute(
        select(s.merchant_no, i.merchant_no.label("file_merchant"))
        .select_from(statement_lines.join(statement_imports, s.import_id == i.id))
        .where(and_(s.import_id == import_id, s.line_no == line_no))
    ).first()
    if row is None or merchant_no not in (row.merchant_no, row.file_merchant):
        raise missing
    return f"{import_id}:{line_no}"


def attach_link(
    cf: Counterfoil, who: Principal, case_id: int, kind: str, ref: str, note: str = ""
) -> dict[str, Any]:
    """Name a slip, a journal entry (any transaction reference) or a statement line
    (``IMPORT:LINE``) as evidence of a case."""
    wf.choice("kind", kind, LINK_KINDS)
    said = wf.text("note", note, wf.MAX_NOTE)
    wanted = wf.line("ref", ref, 100, required=True)

    def job(conn: Connection) -> dict[str, Any]:
        row = _workable(conn, who, case_id)
        if kind == "statement_line":
            found = _statement_line(conn, row.merchant_no, wanted)
        else:
            try:
                found = str(lookups.find(conn, wanted, row.merchant_no)["entry_id"])
            except NotFound:
                raise ValidationError(
                    "ref",
                    _("no transaction {ref} of merchant {merchant_no}"),
                    ref=wanted[:64],
                    merchant_no=row.merchant_no,
                ) from None
        _record(conn, who, row, {"kind": kind, "ref": found, "note": said})
        return wf.detail(conn, wf.case_row(conn, who, case_id))

    return wf.audited(cf, who, "case.evidence", str(case_id), lambda: cf.write(job))


@dataclass(frozen=True, slots=True)
class Download:
    path: Path
    filename: str
    content_type: str
    size: int


def evidence_file(cf: Counterfoil, who: Principal, case_id: int, evidence_id: int) -> Download:
    """A file of a case's evidence, to be served as a download; the read is audited."""

    def find(conn: Connection) -> Any:
        who.require("cases.read")
        row = wf.case_row(conn, who, case_id)
        e = case_evidence.c
        found = conn.execute(
            select(case_evidence).where(
                and_(e.id == evidence_id, e.case_id == row.id, e.kind == "file")
            )
        ).first()
        if found is None:
            raise NotFound(
                _("no file {evidence_id} in case {case_id}"),
                evidence_id=evidence_id,
                case_id=case_id,
            )
        return found

    found = wf.audited(cf, who, "case.evidence.read", str(case_id), lambda: cf.read(find))
    path = stored_path(cf.settings, found.ref)
    if not path.is_file():
        raise NotFound(_("the file {sha256} is missing from the data directory"), sha256=found.ref)
    cf.write(
        lambda conn: audit.record(
            conn,
            who.actor,
            "case.evidence.read",
            object_type="case",
            object_id=str(case_id),
            merchant_no=found.merchant_no,
            details={"id": evidence_id, "sha256": found.ref},
        )
    )
    return Download(path, found.filename or found.ref, found.content_type, int(found.size))
