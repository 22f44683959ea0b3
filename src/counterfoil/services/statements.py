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
import logging
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.core.errors import NotFound, TooLarge, ValidationError
from counterfoil.core.times import stamp_for
from counterfoil.i18n import _
from counterfoil.importers import LineError, ParseResult, StatementLine, open_statement
from counterfoil.importers.native import NativeFormat
from counterfoil.services import statement_native, statement_rows
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.statement_rows import COLUMNS, DUPLICATE_OF, KEY_HASH, Ending, Parse
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.schema import (
    statement_imports,
    statement_keys,
    statement_lines,
    statement_raw,
    statement_rejects,
)
from counterfoil.store.statement_blocks import key_hash, unpack

log = logging.getLogger(__name__)


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
    # file_digest reads into one buffer again and again (a megabyte read at a time was a
    # new block each: 600 for a 600 MB file)
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class _Digest:
    """A file's SHA-256, worked out on a thread of its own (``hashlib`` lets go of the
    GIL) while the import starts: a 600 MB statement's took 0.4 s before anything else
    began. ``value`` waits for it (and raises what reading the file raised)."""

    def __init__(self, path: Path) -> None:
        self._found: str | BaseException = OSError(f"{path} was not read")
        self._thread = threading.Thread(
            target=self._run, args=(path,), name="counterfoil-sha256", daemon=True
        )
        self._thread.start()

    def _run(self, path: Path) -> None:
        try:
            self._found = file_sha256(path)
        except BaseException as error:  # handed to the thread that asks
            self._found = error

    def value(self) -> str:
        self._thread.join()
        if isinstance(self._found, BaseException):
            raise self._found
        return self._found


def _already(conn: Connection, path: Path, sha256: str) -> ImportReport | None:
    """The report of the import that stored this very file before, if one did."""
    earlier = (
        conn.execute(select(statement_imports).where(statement_imports.c.sha256 == sha256))
        .mappings()
        .first()
    )
    if earlier is None:
        return None
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
    digest = _Digest(path)
    try:
        result = open_statement(path, format=format, **options)  # the format, or why not
    except Exception:
        already = cf.read(lambda conn: _already(conn, path, digest.value()))
        if already is not None:  # a file stored before is never refused now
            return already
        raise
    return cf.write(
        lambda conn: _store(
            conn, result, (path, format, options), digest, merchant_no, actor, progress
        ),
        large=path.stat().st_size >= statement_native.NATIVE_BYTES,
    )


def _store(
    conn: Connection,
    result: ParseResult,
    asked: tuple[Path, str | None, dict[str, Any]],
    digest: _Digest,
    merchant_no: str | None,
    actor: Actor,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    path = asked[0]
    store = _LineStore(conn)
    native = (
        statement_native.plan(result, path)
        if statement_native.wanted(path, asked[2], store.sqlite)
        else None
    )
    # A file read natively starts being read while its hash is worked out; whether it
    # was imported before is asked in this transaction, before anything is written.
    parts = statement_native.Parts(native, path) if native is not None else None
    try:
        sha256 = digest.value()
        already = _already(conn, path, sha256)
        if already is not None:
            result.close()
            return already
        import_id = (
            int(
                conn.execute(
                    select(func.coalesce(func.max(statement_imports.c.id), 0))
                ).scalar_one()
            )
            + 1
        )
        report = ImportReport(import_id, path.name, result.source, sha256)
        ending = None
        if native is not None and parts is not None:
            ending = _store_natively(
                conn, native, parts, result, path, import_id, report, store, progress
            )
    finally:
        if parts is not None:
            parts.close()
    if ending is None:
        ending = _store_parsed(conn, result, asked, import_id, report, store, progress)
    report.checks = [c.to_dict() for c in ending.checks]
    report.info = dict(ending.info)
    report.balanced = bool(ending.balanced)
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


def _store_parsed(
    conn: Connection,
    result: ParseResult,
    asked: tuple[Path, str | None, dict[str, Any]],
    import_id: int,
    report: ImportReport,
    store: _LineStore,
    progress: Callable[[int], None] | None,
) -> Ending:
    """The file parsed in Python (here or in a process of its own), stored chunk by chunk."""
    parse = Parse(result, *asked, import_id=import_id, sqlite=store.sqlite)
    with closing(parse.chunks()) as stream:  # a failed write stops the parse too
        for keys, rows, block, errors in stream:
            if rows:
                report.overlapping += _mark_overlaps(store, import_id, keys, rows)
                store.insert(rows)
            if block is not None:
                conn.execute(
                    statement_raw.insert().values(
                        import_id=import_id,
                        first_line=rows[0][1],
                        last_line=rows[-1][1],
                        lines=block,
                    )
                )
            if errors:
                _reject(conn, import_id, report, errors)
            report.lines += len(rows)
            report.rejected += len(errors)
            if progress:
                progress(report.lines + report.rejected)
    return parse.ending


def _store_natively(
    conn: Connection,
    native: NativeFormat,
    parts: statement_native.Parts,
    result: ParseResult,
    path: Path,
    import_id: int,
    report: ImportReport,
    store: _LineStore,
    progress: Callable[[int], None] | None,
) -> Ending | None:
    """The file read by DuckDB and copied by SQLite (``statement_native``); None when it
    cannot be after all (what was done is rolled back; the caller parses it in Python)."""
    stamp = stamp_for(store.sqlite)

    def rows_of(lines: list[StatementLine]) -> list[tuple[Any, ...]]:
        return [
            statement_rows.row(import_id, line, key, stamp(line.occurred_at))
            for line in lines
            for key in (statement_rows.natural_key(line),)
        ]

    def rejects(errors: list[LineError]) -> None:
        _reject(conn, import_id, report, errors)

    sink = statement_native.Sink(
        rows_of,
        store.insert,
        lambda keys: store.firsts(keys, [key_hash(key) for key in keys]),
        rejects,
    )
    savepoint = conn.begin_nested()
    try:
        outcome = statement_native.store_parts(conn, native, parts, import_id, sink, progress)
    except statement_native.NativeUnavailable as why:
        log.info("statement %s is read in Python: %s", path.name, why)
        savepoint.rollback()
        report.lines = report.rejected = report.overlapping = 0
        report.rejected_lines = []
        return None
    savepoint.commit()
    result.close()
    report.lines = outcome.lines
    report.rejected = outcome.rejected
    report.overlapping = outcome.overlapping
    checks, info = native.ending()
    balanced = not outcome.errors and all(c.ok for c in checks)
    return Ending(checks, info, balanced)


def _reject(
    conn: Connection, import_id: int, report: ImportReport, errors: list[LineError]
) -> None:
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


def _mark_overlaps(
    store: _LineStore, import_id: int, keys: list[str], rows: list[tuple[Any, ...]]
) -> int:
    """Point each row that an earlier file (or an earlier line of this one) brought at the
    first ("import:line") in its ``duplicate_of``; how many were."""
    first = store.firsts(keys, [row[KEY_HASH] for row in rows])
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
    PostgreSQL, with their keys (``statement_keys``, in the keys' order). The earlier
    lines with a chunk's natural keys are found by one query whose key hashes are one
    parameter (a JSON array on SQLite, an array on PostgreSQL), joined to the lines
    stored so far; a hit counts only if its natural key is the same text."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        if self.sqlite:
            self._insert = str(statement_lines.insert().compile(dialect=conn.dialect))
            self._insert_keys = str(statement_keys.insert().compile(dialect=conn.dialect))
            self._lookup = (
                "SELECT l.natural_key, l.import_id, l.line_no FROM statement_keys k "
                "JOIN statement_lines l ON l.import_id = k.import_id AND l.line_no = k.line_no "
                "WHERE k.key_hash IN (SELECT value FROM json_each(?)) AND l.duplicate_of IS NULL"
            )
        else:
            # Each key's line looked up by its primary key (OFFSET 0 keeps the planner,
            # which has no statistics of the lines this transaction wrote, from joining
            # every line to the keys instead)
            self._lookup = (
                "SELECT l.natural_key, l.import_id, l.line_no FROM (SELECT import_id, line_no "
                "FROM statement_keys WHERE key_hash = ANY(%s) OFFSET 0) k, LATERAL (SELECT "
                "natural_key, import_id, line_no, duplicate_of FROM statement_lines "
                "WHERE import_id = k.import_id AND line_no = k.line_no OFFSET 0) l "
                "WHERE l.duplicate_of IS NULL"
            )
            # The planner has no statistics of the rows this transaction is writing: left
            # to itself it reads the whole table for each chunk's look-up, not the index.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def firsts(self, keys: list[str], hashes: list[int]) -> dict[str, str]:
        """The first stored line ("import:line") of each of ``keys`` (whose hashes are
        ``hashes``) that is stored."""
        wanted = sorted(set(hashes))
        if not wanted:
            return {}
        parameter: Any = orjson.dumps(wanted).decode() if self.sqlite else wanted
        asked = set(keys)
        earliest: dict[str, tuple[int, int]] = {}
        for key, import_id, line_no in self.conn.exec_driver_sql(self._lookup, (parameter,)):
            at = (int(import_id), int(line_no))
            if key in asked and (key not in earliest or at < earliest[key]):
                earliest[key] = at
        return {key: f"{i}:{n}" for key, (i, n) in earliest.items()}

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        keys = sorted((row[KEY_HASH], row[0], row[1]) for row in rows)
        if self.sqlite:
            self.conn.exec_driver_sql(self._insert, rows)
            self.conn.exec_driver_sql(self._insert_keys, keys)
            return
        from psycopg import sql

        driver = self.conn.connection.driver_connection
        assert driver is not None
        for table, columns, values in (
            ("statement_lines", COLUMNS, rows),
            ("statement_keys", ("key_hash", "import_id", "line_no"), keys),
        ):
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with driver.cursor() as cursor, cursor.copy(copy) as stream:
                for row in values:
                    stream.write_row(row)


def raw_lines(
    conn: Connection, import_id: int, first: int = 1, last: int | None = None
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """Lines ``first``..``last`` of an import as the file had them: (line number, raw
    text, the fields that have no column of their own), in order."""
    r = statement_raw.c
    query = select(r.lines).where(r.import_id == import_id, r.last_line >= first)
    if last is not None:
        query = query.where(r.first_line <= last)
    for (block,) in conn.execute(query.order_by(r.first_line)):
        for line in unpack(block, _rebuild):
            if line[0] >= first and (last is None or line[0] <= last):
                yield line


def _rebuild(header: dict[str, Any]) -> Callable[[str], dict[str, str]]:
    return statement_native.REBUILD[str(header["format"])](header)


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
