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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.core.errors import NotFound, TooLarge, ValidationError
from counterfoil.i18n import _
from counterfoil.importers import LineError, StatementLine, open_statement
from counterfoil.importers.lines import Extra
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import statement_imports, statement_lines, statement_rejects

#: Lines stored at a time. A chunk holds rows (tuples of plain values, which the garbage
#: collector stops tracking), not the parsed lines, and few enough of them that they die
#: young: lines held longer reach the collector's oldest generation, and every full
#: collection walks them again (~15 % of an import when 10,000 lines were held).
CHUNK = 2_000


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
    return "|".join((line.source, *line.natural_key()))[:400]


#: The columns of ``statement_lines`` in the order ``_row`` gives a line's values.
COLUMNS: Final = (
    "import_id", "line_no", "source", "occurred_at", "amount", "currency", "txn_type",
    "status", "rrn", "trace_no", "terminal_id", "merchant_no", "order_no", "platform_id",
    "refund_id", "fee", "net", "card_masked", "card_last4", "counterparty", "description",
    "natural_key", "duplicate_of", "raw", "extra",
)  # fmt: skip


def _extra_json(extra: Mapping[str, str]) -> str:
    # An ``Extra`` builds its dict once; reading it key by key through the Mapping
    # protocol would cost a method call per field (several seconds a million lines).
    plain = extra._materialise() if isinstance(extra, Extra) else dict(extra)
    return orjson.dumps(plain).decode()


def _row(import_id: int, line: StatementLine, key: str, when: Any) -> tuple[Any, ...]:
    """A line as the values of ``COLUMNS`` (``when``: its time, as the database takes it),
    ``duplicate_of`` still None."""
    return (
        import_id,
        line.line_no,
        line.source,
        when,
        line.amount,
        line.currency,
        line.txn_type,
        line.status,
        line.rrn,
        line.trace_no,
        line.terminal_id,
        line.merchant_no,
        line.order_no,
        line.platform_id,
        line.refund_id,
        line.fee,
        line.net,
        line.card_masked,
        line.card_last4,
        line.counterparty,
        line.description,
        key,
        None,
        line.raw,
        _extra_json(line.extra),
    )


DUPLICATE_OF: Final = COLUMNS.index("duplicate_of")


def _chunks(
    records: Iterator[StatementLine | LineError], import_id: int, stamp: Callable[[datetime], Any]
) -> Iterator[tuple[list[str], list[tuple[Any, ...]], list[LineError]]]:
    """The records in chunks: each line as its natural key and its row, rejected rows."""
    keys: list[str] = []
    rows: list[tuple[Any, ...]] = []
    errors: list[LineError] = []
    for record in records:
        if isinstance(record, StatementLine):
            key = _key(record)
            keys.append(key)
            rows.append(_row(import_id, record, key, stamp(record.occurred_at)))
            if len(rows) < CHUNK:
                continue
        else:
            errors.append(record)
            if len(errors) < CHUNK:
                continue
        yield keys, rows, errors
        keys, rows, errors = [], [], []
    yield keys, rows, errors


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
    store = _LineStore(conn)
    for keys, rows, errors in _chunks(result.records(), import_id, store.stamp):
        if rows:
            report.overlapping += _mark_overlaps(store, import_id, keys, rows)
            store.insert(rows)
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


def _mark_overlaps(
    store: _LineStore, import_id: int, keys: list[str], rows: list[tuple[Any, ...]]
) -> int:
    """Point each row that an earlier file (or an earlier line of this one) brought at the
    first ("import:line") in its ``duplicate_of``; how many were."""
    first = store.firsts(keys)
    overlapping = 0
    for index, key in enumerate(keys):
        seen = first.get(key)
        if seen is None:
            first[key] = f"{import_id}:{rows[index][1]}"
        else:
            row = rows[index]
            rows[index] = (*row[:DUPLICATE_OF], seen, *row[DUPLICATE_OF + 1 :])
            overlapping += 1
    return overlapping


class _LineStore:
    """Statement lines into the store, in the caller's transaction, the fastest way the
    database allows: a prepared INSERT over a chunk of tuples on SQLite, COPY on
    PostgreSQL. The earlier lines with a chunk's natural keys are found by one query
    whose keys are one parameter (a JSON array on SQLite, an array on PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        if self.sqlite:
            self._insert = str(statement_lines.insert().compile(dialect=conn.dialect))
            self._lookup = (
                "SELECT natural_key, import_id, line_no FROM statement_lines "
                "WHERE natural_key IN (SELECT value FROM json_each(?)) "
                "AND duplicate_of IS NULL"
            )
        else:
            self._lookup = (
                "SELECT natural_key, import_id, line_no FROM statement_lines "
                "WHERE natural_key = ANY(%s) AND duplicate_of IS NULL"
            )
            # The planner has no statistics of the rows this transaction is writing: left
            # to itself it reads the whole table for each chunk's look-up, not the index.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def stamp(self, when: datetime) -> Any:
        """The time as the column takes it: SQLite keeps the text SQLAlchemy writes for a
        DateTime (UTC, microseconds), PostgreSQL a timestamptz."""
        if self.sqlite:
            return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        return when

    def firsts(self, keys: list[str]) -> dict[str, str]:
        """The first stored line ("import:line") of each of ``keys`` that is stored."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        parameter: Any = orjson.dumps(wanted).decode() if self.sqlite else wanted
        earliest: dict[str, tuple[int, int]] = {}
        for key, import_id, line_no in self.conn.exec_driver_sql(self._lookup, (parameter,)):
            at = (int(import_id), int(line_no))
            if key not in earliest or at < earliest[key]:
                earliest[key] = at
        return {key: f"{i}:{n}" for key, (i, n) in earliest.items()}

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        if self.sqlite:
            self.conn.exec_driver_sql(self._insert, rows)
            return
        from psycopg import sql

        copy = sql.SQL("COPY statement_lines ({}) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        )
        driver = self.conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(copy) as stream:
            for row in rows:
                stream.write_row(row)


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
