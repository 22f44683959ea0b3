"""Copying a run's entries and lines out of the store into the engines' staged files.

The database does the work: on SQLite each row is built as one text (fields joined by
``model.SEPARATOR``) by SQLite itself, on PostgreSQL by ``COPY … TO STDOUT``; Python
only moves the bytes to a file. The same column expressions serve both, so the staged
rows cannot differ by database. The columns are the store's own (and seconds since
the epoch for times): what they mean to the passes is worked out by the engine
(``passes.ENTRIES``, ``passes.LINES``). What is staged:

* entries: the merchant's journal entries (transactions and recovered ones) of the
  sale, completion and refund types, in the window, of the source's channels, each with
  its ``entry_state`` (a voided or reversed one is ``revoked`` to the passes: a void
  itself settles nothing, the acquirer lists neither it nor the sale it cancels).
* lines: the merchant's statement lines of transaction sources (bank and fund-flow
  files belong to the payout level) in the window widened by the time tolerance, each
  counted once (``duplicate_of`` set: an earlier file already brought it).
"""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine

from counterfoil.core.times import sqlite_text
from counterfoil.reconcile.engines.base import DIRECT_SCHEMA, Direct, Staged
from counterfoil.reconcile.model import (
    SEPARATOR,
    SOURCE_CHANNELS,
    STAGED_ENTRY_COLUMNS,
    STAGED_LINE_COLUMNS,
    Tolerance,
)


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own constants only


#: The columns staged, as ``model.STAGED_ENTRY_COLUMNS`` and ``STAGED_LINE_COLUMNS``: plain
#: columns, mapped to the passes' vocabulary by the engine (``passes.ENTRIES``, ``LINES``).
#: Mapping them here took SQLite a third of the entries' staging.
ENTRY_EXPRESSIONS: tuple[str, ...] = (
    "j.seq", "j.channel", "j.rrn", "j.order_no", "j.terminal_id", "j.trace_no", "j.type",
    "j.amount", "j.fee", "j.card_last4", "{epoch_j}", "s.status",
)  # fmt: skip
LINE_EXPRESSIONS: tuple[str, ...] = (
    "l.import_id", "l.line_no", "l.source", "l.rrn", "l.order_no", "l.platform_id",
    "l.terminal_id", "l.trace_no", "l.txn_type", "l.amount", "l.fee", "l.card_last4",
    "{epoch_l}", "l.status",
)  # fmt: skip
_EPOCH = {
    "sqlite": "unixepoch({column})",
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS BIGINT)",
    "duckdb": "CAST(FLOOR(epoch({column})) AS BIGINT)",
}
_MARK = {"sqlite": "?", "postgresql": "%s", "duckdb": "?"}
#: Where the store's tables are: DuckDB reads the SQLite store attached as ``store``.
_SCHEMA = {"sqlite": "", "postgresql": "", "duckdb": f"{DIRECT_SCHEMA}."}


@dataclass(frozen=True, slots=True)
class Window:
    """What a run stages: the merchant, the time span, the sources, maybe one import."""

    merchant_no: str
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    sources: tuple[str, ...]
    import_id: int | None = None
    margin: int = 0  # seconds either side of the span in which lines are still looked at


def _select(
    dialect: str,
    expressions: Sequence[str],
    names: Sequence[tuple[str, str]],
    tail: str,
) -> str:
    epochs = {
        "epoch_j": _EPOCH[dialect].format(column="j.terminal_time"),
        "epoch_l": _EPOCH[dialect].format(column="l.occurred_at"),
    }
    columns = [e.format(**epochs) for e in expressions]
    if dialect == "duckdb":  # read in place: the columns named, no file between
        aliased = ", ".join(f"{c} AS {n}" for c, (n, _t) in zip(columns, names, strict=True))
        return f"SELECT {aliased} {tail}"
    if dialect == "sqlite":
        # One format() call builds the row's text: a third faster than joining the
        # columns with ||, which makes a new string at every step.
        pattern = SEPARATOR.join(["%s"] * len(columns))
        body = ", ".join(f"COALESCE({c}, '')" for c in columns)
        return f"SELECT format('{pattern}', {body}) {tail}"
    return f"SELECT {', '.join(columns)} {tail}"


def _entries_query(dialect: str, window: Window, scan: bool = False) -> tuple[str, list[Any]]:
    """``scan``: read the table in order (SQLite) rather than through the time index,
    whose rows come in time order, each from another page: for a day that is much of
    the journal, reading every page once is the faster way."""
    m = _MARK[dialect]
    channels = [c for s in window.sources for c in SOURCE_CHANNELS.get(s, ())]
    schema = _SCHEMA[dialect]
    table = "journal_entries j NOT INDEXED" if scan and dialect == "sqlite" else "journal_entries j"
    tail = (
        f"FROM {schema}{table} LEFT JOIN {schema}entry_state s "
        "ON s.merchant_no = j.merchant_no AND s.seq = j.seq "
        f"WHERE j.merchant_no = {m} AND j.kind IN ('transaction', 'recovered') "
        "AND j.type IN ('sale', 'completion', 'refund') "
        f"AND j.terminal_time >= {m} AND j.terminal_time < {m} "
        f"AND j.channel IN ({_quoted(channels)})"
    )
    return _select(dialect, ENTRY_EXPRESSIONS, STAGED_ENTRY_COLUMNS, tail), [
        window.merchant_no,
        _at(dialect, window.start),
        _at(dialect, window.end),
    ]


def _lines_query(dialect: str, window: Window) -> tuple[str, list[Any]]:
    m, schema = _MARK[dialect], _SCHEMA[dialect]
    tail = (
        f"FROM {schema}statement_lines l JOIN {schema}statement_imports i ON i.id = l.import_id "
        "WHERE l.duplicate_of IS NULL "
        f"AND l.source IN ({_quoted(window.sources)}) "
    )
    params: list[Any] = []
    if window.import_id is not None:
        tail += f"AND l.import_id = {m}"
        params.append(window.import_id)
    else:
        tail += (
            f"AND (i.merchant_no = {m} OR (i.merchant_no IS NULL AND l.merchant_no = {m})) "
            f"AND l.occurred_at >= {m} AND l.occurred_at < {m}"
        )
        from datetime import timedelta

        margin = timedelta(seconds=window.margin)
        params += [
            window.merchant_no,
            window.merchant_no,
            _at(dialect, window.start - margin),
            _at(dialect, window.end + margin),
        ]
    return _select(dialect, LINE_EXPRESSIONS, STAGED_LINE_COLUMNS, tail), params


def _at(dialect: str, moment: datetime) -> Any:
    if dialect == "duckdb":  # the store's DATETIME as DuckDB's TIMESTAMP: UTC, naive
        return moment.astimezone(UTC).replace(tzinfo=None)
    return sqlite_text(moment) if dialect == "sqlite" else moment


def _write(conn: Connection, sql: str, params: list[Any], path: Path) -> int:
    """Run the staging query into ``path``; how many rows."""
    dialect = conn.dialect.name
    count = 0
    if dialect == "sqlite":
        driver = conn.connection.driver_connection  # plain tuples: no result wrapping
        assert driver is not None
        return _sqlite_rows_to(driver, sql, params, path)
    from psycopg import sql as pgsql

    driver = conn.connection.driver_connection
    assert driver is not None
    copy = pgsql.SQL("COPY ({}) TO STDOUT (FORMAT text, DELIMITER E'\\x1f', NULL '')").format(
        pgsql.SQL(sql)
    )  # our own text: no user input
    with path.open("wb") as out, driver.cursor() as cursor, cursor.copy(copy, params) as stream:
        for block in stream:
            out.write(block)
            count += bytes(block).count(b"\n")
    return count


def _sqlite_rows_to(driver: sqlite3.Connection, sql: str, params: list[Any], path: Path) -> int:
    count = 0
    with path.open("wb") as out:
        cursor = driver.execute(sql, tuple(params))
        while rows := cursor.fetchmany(50_000):
            count += len(rows)
            out.write("\n".join(r[0] for r in rows).encode())
            out.write(b"\n")
    return count


def _sqlite_copy_in_process(database: str, sql: str, params: list[Any], path: Path) -> int:
    """``_write`` on a connection of a process of its own (see ``stage``)."""
    driver = sqlite3.connect(database)
    try:
        return _sqlite_rows_to(driver, sql, params, path)
    finally:
        driver.close()


def _day_size(engine: Engine, window: Window) -> tuple[int, int]:
    """How many of the merchant's journal entries the window holds, and how many there are
    in all (SQLite: the count reads the time index alone)."""
    with engine.connect() as conn:
        day = conn.exec_driver_sql(
            "SELECT count(*) FROM journal_entries INDEXED BY ix_journal_time "
            "WHERE merchant_no = ? AND terminal_time >= ? AND terminal_time < ?",
            (window.merchant_no, _at("sqlite", window.start), _at("sqlite", window.end)),
        ).scalar_one()
        total = conn.exec_driver_sql(
            "SELECT seq FROM chain_heads WHERE chain = ?", (window.merchant_no,)
        ).scalar()
    return int(day), int(total or 0)


#: A day of at least this many entries has its lines staged by a process of its own on
#: SQLite (starting it takes ~0.3 s; each side of a million-record day ~3 s).
PARALLEL_ENTRIES: Final = 100_000
#: A day of at least this many entries (and a quarter of the journal) is read by an
#: engine that can (``stage(direct=True)``) from the SQLite store itself.
DIRECT_ENTRIES: Final = 100_000


def stage(
    engine: Engine,
    window: Window,
    folder: Path,
    tolerances: Sequence[Tolerance],
    decisions: Sequence[tuple[int, int, str]],
    *,
    direct: bool = False,
) -> Staged:
    """Write the run's staged files into ``folder``; the ``Staged`` that names them.

    ``direct``: the engine can read a SQLite store itself (DuckDB's ``sqlite``
    extension). It does for a large day that is a quarter of the journal or more: then
    nothing is copied, and ``Staged`` carries the two queries instead of two files
    (a million-record day: ~1 s each, against ~5 s copying them here). A small day of a
    long journal is copied through the time index, which reads only the day's rows.

    On PostgreSQL entries and lines are copied at once, each on a connection of its own
    (the server does the work). On SQLite each row passes through Python, and two threads
    contending for the interpreter took longer than one: a large day's lines are copied
    by a spawned process while this one copies the entries; a small day's one after the
    other."""
    folder.mkdir(parents=True, exist_ok=True)
    dialect = engine.dialect.name
    entries, lines, chosen = folder / "entries.tsv", folder / "lines.tsv", folder / "decisions.tsv"

    def copy(query: tuple[str, list[Any]], path: Path) -> int:
        with engine.connect() as conn:
            return _write(conn, *query, path)

    entries_read: Path | Direct = entries
    lines_read: Path | Direct = lines
    copied: dict[str, int] = {}  # rows copied into each file (none when read in place)
    if dialect == "sqlite":
        day, total = _day_size(engine, window)
        scan = day * 4 >= total > 0  # a quarter of the journal or more: read it in order
        database = engine.url.database or ":memory:"
        on_disk = database != ":memory:"
        entries_query = _entries_query(dialect, window, scan)
        lines_query = _lines_query(dialect, window)
        if direct and on_disk and scan and day >= DIRECT_ENTRIES:
            entries_read = Direct(database, *_entries_query("duckdb", window))
            lines_read = Direct(database, *_lines_query("duckdb", window))
        elif day >= PARALLEL_ENTRIES and on_disk and _cores() > 1:
            # Each row passes through Python: two threads would take turns at the
            # interpreter, two processes each have a core.
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                lines_done = pool.submit(_sqlite_copy_in_process, database, *lines_query, lines)
                copied["entries"] = copy(entries_query, entries)
                copied["lines"] = lines_done.result()
        else:
            copied["entries"] = copy(entries_query, entries)
            copied["lines"] = copy(lines_query, lines)
    else:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="staging") as threads:
            entries_done = threads.submit(copy, _entries_query(dialect, window), entries)
            lines_done = threads.submit(copy, _lines_query(dialect, window), lines)
            copied["entries"], copied["lines"] = entries_done.result(), lines_done.result()
    chosen.write_text(
        "".join(f"{e}{SEPARATOR}{lid}{SEPARATOR}{a}\n" for e, lid, a in decisions),
        encoding="utf-8",
    )
    return Staged(
        folder=folder,
        entries=entries_read,
        lines=lines_read,
        decisions=chosen,
        tolerances=tuple(tolerances),
        day_start=int(window.start.timestamp()),
        day_end=int(window.end.timestamp()),
        counts={**copied, "decisions": len(decisions)},
    )


def _cores() -> int:
    return os.cpu_count() or 1


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
