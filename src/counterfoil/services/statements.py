"""Importing statement files: every line kept, every rejected row kept with its reason.

A file is identified by its SHA-256: importing the same file again adds nothing and says
which import it already is. A whole file is one transaction, so an import is there
completely or not at all. A line that an earlier file already brought (overlapping
downloads) is recognised by its natural key and kept with ``duplicate_of`` pointing at
the first, so that reconciliation counts it once. Control totals are stored with their
outcome: a file that does not add up is imported as not balanced, never as fine.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.core.errors import NotFound, TooLarge, ValidationError
from counterfoil.i18n import _
from counterfoil.importers import LineError, StatementLine, open_statement
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import statement_imports, statement_lines, statement_rejects

CHUNK = 5_000


@dataclass(slots=True)
class ImportReport:
    import_id: int
    file_name: str
    format: str
    sha256: str
    already_imported: bool = False
    lines: int = 0
    rejected: int = 0
    overlapping: int = 0
    balanced: bool = False
    checks: list[dict[str, Any]] = field(default_factory=list)
    rejected_lines: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _key(line: StatementLine) -> str:
    return "|".join(str(part) for part in (line.source, *line.natural_key()))[:400]


def _row(import_id: int, line: StatementLine) -> dict[str, Any]:
    return {
        "import_id": import_id,
        "line_no": line.line_no,
        "source": line.source,
        "occurred_at": line.occurred_at.astimezone(UTC),
        "amount": line.amount,
        "currency": line.currency,
        "txn_type": line.txn_type,
        "status": line.status,
        "rrn": line.rrn,
        "trace_no": line.trace_no,
        "terminal_id": line.terminal_id,
        "merchant_no": line.merchant_no,
        "order_no": line.order_no,
        "platform_id": line.platform_id,
        "refund_id": line.refund_id,
        "fee": line.fee,
        "net": line.net,
        "card_masked": line.card_masked,
        "card_last4": line.card_last4,
        "counterparty": line.counterparty,
        "description": line.description,
        "natural_key": _key(line),
        "duplicate_of": None,
        "raw": line.raw,
        "extra": orjson.dumps(dict(line.extra)).decode(),
    }


def _chunks(
    records: Iterator[StatementLine | LineError],
) -> Iterator[tuple[list[StatementLine], list[LineError]]]:
    lines: list[StatementLine] = []
    errors: list[LineError] = []
    for record in records:
        (lines if isinstance(record, StatementLine) else errors).append(record)  # type: ignore[arg-type]
        if len(lines) >= CHUNK:
            yield lines, errors
            lines, errors = [], []
    yield lines, errors


def import_file(
    cf: Counterfoil,
    path: Path,
    *,
    format: str | None = None,
    merchant_no: str | None = None,
    actor: Actor = audit.SYSTEM,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> ImportReport:
    """Import the statement at ``path`` (format detected unless given)."""
    if not path.is_file():
        raise ValidationError("FILE", _("no such file: {path}"), path=str(path))
    sha256 = file_sha256(path)
    with cf.engine.connect() as conn:
        earlier = (
            conn.execute(select(statement_imports).where(statement_imports.c.sha256 == sha256))
            .mappings()
            .first()
        )
    if earlier is not None:
        return ImportReport(
            int(earlier["id"]),
            path.name,
            earlier["format"],
            sha256,
            already_imported=True,
            lines=earlier["lines"],
            rejected=earlier["rejected"],
            balanced=earlier["balanced"],
        )
    result = open_statement(path, format=format, **options)
    return cf.write(lambda conn: _store(conn, result, path, sha256, merchant_no, actor, progress))


def _store(
    conn: Connection,
    result: Any,
    path: Path,
    sha256: str,
    merchant_no: str | None,
    actor: Actor,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    import_id = (
        int(conn.execute(select(func.coalesce(func.max(statement_imports.c.id), 0))).scalar_one())
        + 1
    )
    report = ImportReport(import_id, path.name, result.source, sha256)
    for lines, errors in _chunks(result.records()):
        rows = [_row(import_id, line) for line in lines]
        _mark_overlaps(conn, rows)
        report.overlapping += sum(row["duplicate_of"] is not None for row in rows)
        if rows:
            conn.execute(statement_lines.insert(), rows)
        if errors:
            conn.execute(
                statement_rejects.insert(),
                [
                    {
                        "import_id": import_id,
                        "line_no": e.line_no,
                        "reason": e.render("en"),
                        "raw_excerpt": e.raw_excerpt,
                    }
                    for e in errors
                ],
            )
            report.rejected_lines += [{"line": e.line_no, "reason": e.render()} for e in errors]
        report.lines += len(rows)
        report.rejected += len(errors)
        if progress:
            progress(report.lines + report.rejected)
    report.checks = [c.to_dict() for c in result.checks]
    report.info = dict(result.info)
    report.balanced = bool(result.balanced)
    conn.execute(
        statement_imports.insert().values(
            id=import_id,
            sha256=sha256,
            file_name=path.name[:255],
            format=result.source,
            merchant_no=merchant_no,
            size=path.stat().st_size,
            imported_at=datetime.now(UTC),
            actor=actor.name,
            lines=report.lines,
            rejected=report.rejected,
            overlapping=report.overlapping,
            balanced=report.balanced,
            checks=orjson.dumps(report.checks).decode(),
            info=orjson.dumps(report.info).decode(),
        )
    )
    audit.record(
        conn,
        actor,
        "statement.import",
        "success" if report.balanced else "refused",
        object_type="statement_import",
        object_id=str(import_id),
        merchant_no=merchant_no,
        details={
            "file": path.name,
            "sha256": sha256,
            "lines": report.lines,
            "rejected": report.rejected,
            "balanced": report.balanced,
        },
    )
    return report


def _mark_overlaps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Point each line that an earlier file (or this one) already brought at the first."""
    first: dict[str, str] = {}
    keys = sorted({row["natural_key"] for row in rows})
    s = statement_lines.c
    for start in range(0, len(keys), 500):
        for key, import_id, line_no in conn.execute(
            select(s.natural_key, s.import_id, s.line_no).where(
                s.natural_key.in_(keys[start : start + 500]), s.duplicate_of.is_(None)
            )
        ):
            first.setdefault(key, f"{import_id}:{line_no}")
    for row in rows:
        seen = first.get(row["natural_key"])
        if seen is None:
            first[row["natural_key"]] = f"{row['import_id']}:{row['line_no']}"
        else:
            row["duplicate_of"] = seen


def list_imports(
    conn: Connection,
    limit: int = 100,
    *,
    merchants: tuple[str, ...] | None = None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The latest imports first; ``merchants`` confines them to those merchants' files."""
    i = statement_imports.c
    query = (
        select(
            i.id,
            i.file_name,
            i.format,
            i.merchant_no,
            i.imported_at,
            i.lines,
            i.rejected,
            i.overlapping,
            i.balanced,
        )
        .order_by(i.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if merchants is not None:
        query = query.where(i.merchant_no.in_(merchants))
    return [dict(r) for r in conn.execute(query).mappings()]


def count_imports(conn: Connection, *, merchants: tuple[str, ...] | None = None) -> int:
    query = select(func.count()).select_from(statement_imports)
    if merchants is not None:
        query = query.where(statement_imports.c.merchant_no.in_(merchants))
    return int(conn.execute(query).scalar_one())


def show_import(conn: Connection, import_id: int) -> dict[str, Any]:
    row = (
        conn.execute(select(statement_imports).where(statement_imports.c.id == import_id))
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(_("import {import_id} is not known"), import_id=import_id)
    rejects = conn.execute(
        select(statement_rejects.c.line_no, statement_rejects.c.reason)
        .where(statement_rejects.c.import_id == import_id)
        .order_by(statement_rejects.c.line_no)
    ).all()
    document = dict(row)
    document["checks"] = orjson.loads(row["checks"])
    document["info"] = orjson.loads(row["info"])
    document["rejected_lines"] = [{"line": n, "reason": r} for n, r in rejects]
    return document


def show_import_for(conn: Connection, who: Principal, import_id: int) -> dict[str, Any]:
    """An import, if ``who`` may see its merchant's statements (else not found)."""
    who.require("statements.read")
    document = show_import(conn, import_id)
    merchant_no = document.get("merchant_no")
    if not who.all_merchants and (merchant_no is None or not who.sees(merchant_no)):
        raise NotFound(_("import {import_id} is not known"), import_id=import_id)
    return document


def merchants_of(who: Principal) -> tuple[str, ...] | None:
    """The merchants whose imports ``who`` sees (None: all)."""
    return None if who.all_merchants else who.merchants


def receive_upload(
    cf: Counterfoil,
    who: Principal,
    chunks: Iterator[bytes],
    file_name: str,
    *,
    merchant_no: str | None,
    format: str | None = None,
    limit: int,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import an uploaded file: kept on disk (never wholly in memory) only while it is read.

    The file's name is kept (formats are recognised by it too), stripped of any path.
    """
    merchant = who.default_merchant(merchant_no)
    if merchant is None:
        raise ValidationError("merchant", _("expected a merchant number"))
    who.require("statements.import", merchant)
    name = Path(file_name.replace("\\", "/")).name.strip() or "statement"
    folder = cf.settings.home / "uploads"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        path = Path(scratch) / name[:200]
        size = 0
        with path.open("wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        _("the file is larger than the upload limit of {limit} MB"),
                        limit=limit // (1024 * 1024),
                    )
                handle.write(chunk)
        if size == 0:
            raise ValidationError("file", _("the file is empty"))
        return import_file(
            cf, path, format=format, merchant_no=merchant, actor=who.actor, progress=progress
        )
