"""The embedded engine: DuckDB, in process, spilling to disk when the data is large.

The staged files are read with DuckDB's own CSV reader. A large day on SQLite is read
from the store itself instead: the store is attached read-only through DuckDB's
``sqlite`` extension, which the ``duckdb-extension-sqlite-scanner`` package installs
with DuckDB (nothing is downloaded; autoloading is off). The passes run as
``INSERT INTO pairs SELECT …``, and the results are read back in batches.
``memory_limit`` bounds DuckDB's memory; past it, DuckDB spills to ``temp_directory``
(out-of-core), which is the run's staging folder.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile import passes
from counterfoil.reconcile.engines.base import (
    DIRECT_SCHEMA,
    Direct,
    OutcomeRow,
    OutcomeSet,
    Staged,
    StoredRow,
)
from counterfoil.reconcile.model import (
    DECISION_COLUMNS,
    LINE_BASE,
    SEPARATOR,
    SET_SIZE,
    STAGED_ENTRY_COLUMNS,
    STAGED_LINE_COLUMNS,
)

MAX_ROUNDS = 4  # a pass runs again on what it left, while it pairs more
#: The open sets are written anew once the pairs made since they were last written are
#: one in this many of their records (each pair takes a record from either side).
REWRITE_SHARE = 20

#: DuckDB's memory when nothing says otherwise: a quarter of the machine's, between these.
MEMORY_FLOOR_MB, MEMORY_CEILING_MB = 1024, 4096


def default_memory_limit() -> str:
    """``COUNTERFOIL_RECONCILE_MEMORY`` (``4GB``, ``512MB`` …), else a quarter of the
    machine's memory, at least 1 GB and at most 4 GB. A million-record day needs well
    under 1 GB; on ten million the engine took 96 s with 1 GB and 76 s with 4 GB."""
    configured = os.environ.get("COUNTERFOIL_RECONCILE_MEMORY", "").strip()
    if configured:
        if not re.fullmatch(r"[1-9][0-9]*(\.[0-9]+)? ?[KMGT]i?B", configured, re.IGNORECASE):
            raise ValidationError(
                "COUNTERFOIL_RECONCILE_MEMORY",
                _("expected an amount of memory such as 4GB or 512MB, got {value!r}"),
                value=configured[:40],
            )
        return configured
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):  # not a POSIX system that says
        total_mb = 4 * MEMORY_FLOOR_MB
    return f"{min(max(total_mb // 4, MEMORY_FLOOR_MB), MEMORY_CEILING_MB)}MB"


def _member(column: str) -> str:
    return f"COALESCE(CAST({column} AS VARCHAR), 'null')"


#: ``passes.SETTLED`` cut into sets (``base.outcome_sets``), in DuckDB's own SQL.
_SETS = f"""
SELECT outcome, pass, part, CAST(COUNT(*) AS INTEGER) AS records,
    '[' || string_agg('[' || {_member("eid")} || ',' || {_member(f"lid // {LINE_BASE}")} || ','
        || {_member(f"lid % {LINE_BASE}")} || ']', ','
        ORDER BY eid NULLS LAST, lid NULLS LAST) || ']' AS members
FROM (
    SELECT eid, lid, outcome, pass, CAST((ROW_NUMBER() OVER (PARTITION BY outcome, pass
        ORDER BY eid NULLS LAST, lid NULLS LAST) - 1) // {{size}} AS INTEGER) AS part
    FROM results WHERE outcome IN ('matched', 'pending')
) r
GROUP BY outcome, pass, part
ORDER BY outcome, pass, part
"""  # noqa: S608


def _read(path: Path, columns: tuple[tuple[str, str], ...]) -> str:
    names = ", ".join(f"'{name}': '{kind}'" for name, kind in columns)
    return (
        f"SELECT * FROM read_csv('{path.as_posix()}', delim='{SEPARATOR}', header=false, "  # noqa: S608
        f"quote='', escape='', nullstr='', auto_detect=false, columns={{{names}}})"
    )


def sqlite_extension() -> Path | None:
    """DuckDB's ``sqlite`` extension as the ``duckdb-extension-sqlite-scanner`` package
    installed it, for the DuckDB release installed (an extension loads into its own
    release only); None when it is not there. Never downloaded."""
    try:
        package = files("duckdb_extension_sqlite_scanner")
    except ModuleNotFoundError:
        return None
    path = package / "extensions" / f"v{duckdb.__version__}" / "sqlite_scanner.duckdb_extension"
    return Path(str(path)) if path.is_file() else None


def _attach(con: duckdb.DuckDBPyConnection, database: str) -> None:
    """The SQLite store, read-only, as ``DIRECT_SCHEMA`` (once per connection)."""
    listed = con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    if DIRECT_SCHEMA in {row[0] for row in listed}:
        return
    extension = sqlite_extension()
    if extension is None:
        raise RuntimeError("DuckDB's sqlite extension is not installed for this DuckDB")
    con.execute(f"LOAD '{_literal(extension.as_posix())}'")
    con.execute(f"ATTACH '{_literal(database)}' AS {DIRECT_SCHEMA} (TYPE sqlite, READ_ONLY)")


def _literal(text: str) -> str:
    return text.replace("'", "''")


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, *, memory_limit: str | None = None, threads: int | None = None) -> None:
        self.memory_limit = memory_limit or default_memory_limit()
        self.threads = threads

    @property
    def reads_sqlite(self) -> bool:
        """Whether this engine can read a SQLite store in place (``staging.stage``)."""
        return sqlite_extension() is not None

    def run(self, staged: Staged) -> DuckDBResult:
        config: dict[str, Any] = {
            "memory_limit": self.memory_limit,
            "temp_directory": str(staged.folder / "spill"),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "preserve_insertion_order": False,
        }
        if self.threads:
            config["threads"] = self.threads
        con = duckdb.connect(":memory:", config=config)
        try:
            self._load(con, staged)
            counts = self._pair(con)
            con.execute(f"CREATE TABLE results AS {passes.RESULTS}")
        except BaseException:
            con.close()
            raise
        return DuckDBResult(con, counts)

    @staticmethod
    def _load(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
        direct = False
        for table, source, columns, sql in (
            ("entries", staged.entries, STAGED_ENTRY_COLUMNS, passes.ENTRIES),
            ("lines", staged.lines, STAGED_LINE_COLUMNS, passes.LINES),
        ):
            if isinstance(source, Direct):  # straight from the store: no file between
                _attach(con, source.database)
                direct = True
                con.execute(f"CREATE TABLE {table} AS {sql.format(staged=f'({source.sql})')}",
                            source.params)  # fmt: skip
            else:
                staged_file = f"({_read(source, columns)})"
                con.execute(f"CREATE TABLE {table} AS {sql.format(staged=staged_file)}")
        if direct:
            con.execute(f"DETACH {DIRECT_SCHEMA}")
        con.execute(f"CREATE TABLE decisions AS {_read(staged.decisions, DECISION_COLUMNS)}")
        con.execute(
            "CREATE TABLE forbidden AS SELECT eid, lid FROM decisions WHERE action = 'unmatch'"
        )
        con.execute(
            "CREATE TABLE tolerances (src VARCHAR, amount BIGINT, time_window BIGINT, "
            "settlement_window BIGINT)"
        )
        con.executemany(
            "INSERT INTO tolerances VALUES (?, ?, ?, ?)",
            [(t.source, t.amount, t.time_window, t.settlement_window) for t in staged.tolerances],
        )
        con.execute(
            "CREATE TABLE params AS SELECT CAST(? AS BIGINT) AS day_start, "
            "CAST(? AS BIGINT) AS day_end",
            [staged.day_start, staged.day_end],
        )
        con.execute("CREATE TABLE pairs (eid BIGINT, lid BIGINT, pass VARCHAR)")

    @staticmethod
    def _pair(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        """Each pass over what is still open (``passes.OPEN_ENTRIES``/``OPEN_LINES``),
        without reading every pair made so far again: the open sets are views of a base
        less the pairs made since it was written (``fresh``), and the base is written
        anew only when a pass has paired a good part of it. The split pass pairs a few
        records in a thousand, the exact pass most of the day: rewriting a million
        records after the first took longer than leaving them where they were."""
        counts: dict[str, int] = {}
        con.execute("CREATE TABLE fresh (eid BIGINT, lid BIGINT)")
        for side, base, key in (("e", "entries", "eid"), ("l", "lines", "lid")):
            con.execute(f"CREATE VIEW {side}_base AS SELECT * FROM {base}")  # noqa: S608
            con.execute(
                f"CREATE VIEW {side}_open AS SELECT * FROM {side}_base o "  # noqa: S608
                f"WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.{key} = o.{key})"
            )
        base_kind, base_size = "VIEW", _count(con, "entries") + _count(con, "lines")
        in_fresh = 0
        for step in passes.PASSES:
            made = 0
            for _round in range(MAX_ROUNDS if step.repeat else 1):
                con.execute(f"CREATE OR REPLACE TABLE new_pairs AS {step.sql}")
                added = _count(con, "new_pairs")
                if added == 0:
                    break
                made += added
                con.execute("INSERT INTO pairs SELECT eid, lid, pass FROM new_pairs")
                con.execute("INSERT INTO fresh SELECT eid, lid FROM new_pairs")
                in_fresh += added
                if in_fresh * REWRITE_SHARE >= base_size:
                    for side in ("e", "l"):
                        con.execute(f"CREATE TABLE {side}_next AS SELECT * FROM {side}_open")  # noqa: S608
                        con.execute(f"DROP {base_kind} {side}_base")
                        con.execute(f"ALTER TABLE {side}_next RENAME TO {side}_base")
                    con.execute("DELETE FROM fresh")
                    base_kind, base_size = "TABLE", _count(con, "e_base") + _count(con, "l_base")
                    in_fresh = 0
            counts[step.name] = made
        return counts


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0


class DuckDBResult:
    """The run's tables in DuckDB. The outcome sets (``SET_SIZE`` each) are made at once
    on a thread of their own: DuckDB works on them while this thread summarises, explains
    the breaks and writes their lifecycle, which is Python's work."""

    def __init__(self, con: duckdb.DuckDBPyConnection, counts: dict[str, int]) -> None:
        self.con = con
        self.counts = counts
        self._ahead = ThreadPoolExecutor(1, thread_name_prefix="counterfoil-sets")
        self._sets = self._ahead.submit(self._make_sets, con.cursor())

    @staticmethod
    def _make_sets(cursor: duckdb.DuckDBPyConnection) -> None:
        try:
            cursor.execute(f"CREATE TABLE outcome_sets AS {_SETS.format(size=SET_SIZE)}")
        finally:
            cursor.close()

    def outcomes(self, size: int = 100_000) -> Iterator[list[OutcomeRow]]:
        return self._batches("SELECT eid, lid, pass, outcome FROM results", size)

    def stored(self, size: int = 100_000) -> Iterator[list[StoredRow]]:
        return self._batches(passes.STORED, size)

    def sets(self, size: int) -> Iterator[OutcomeSet]:
        """The sets made by DuckDB itself, members' JSON included: a million records
        become a few hundred texts in ~0.6 s, with no Python object per record. The same
        sets as ``base.outcome_sets`` makes from ``passes.SETTLED`` (tested)."""
        self._sets.result()
        sql = (
            "SELECT * FROM outcome_sets ORDER BY outcome, pass, part"
            if size == SET_SIZE
            else _SETS.format(size=int(size))
        )
        for batch in self._batches(sql, 50):
            yield from batch

    def _batches(self, sql: str, size: int) -> Iterator[list[Any]]:
        cursor = self.con.cursor()
        cursor.execute(sql)
        while batch := cursor.fetchmany(size):
            yield batch
        cursor.close()

    def details(self) -> list[tuple[Any, ...]]:
        return self.con.execute(passes.DETAILS).fetchall()

    def summary(self) -> list[tuple[str, str, int, int]]:
        rows = self.con.execute(passes.SUMMARY).fetchall()
        return [(str(s), str(o), int(n), int(a or 0)) for s, o, n, a in rows]

    def totals(self) -> list[tuple[str, str, int, int]]:
        rows = self.con.execute(passes.TOTALS).fetchall()
        return [(str(s), str(w), int(n), int(a or 0)) for s, w, n, a in rows]

    def pass_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        self._ahead.shutdown(wait=True)
        self.con.close()
