"""Benchmark of issue 7: 1,000,000 journal entries against 1,000,000 statement lines.

A day with known truth (``counterfoil.reconcile.generator.make_day``: 2 % of the records
are breaks, spread over every kind — missing on either side, amount, type, status, fee,
duplicate, pending, past midnight, split settlement, voided, composite and tolerant keys)
is written straight into a fresh store in bulk: the journal rows (not signed: the
reconciliation reads only their look-up columns, and signing a million entries is issue
2's benchmark), ``entry_state`` for the voided ones, one statement import and its lines.

Timed, each in its own process under bench/measure.py (peak RSS is its own):

* ``ours``: ``counterfoil.reconcile.service.reconcile`` — staging out of the store, every
  pass, completeness proved, every outcome row, the breaks and the audit record stored.
  The outcomes are then checked against the generator's truth (precision and recall).
* ``pandas``: a straightforward pandas script doing only the exact-key pass — both sides
  read from the store with ``read_sql``, one outer merge on RRN / order number, counts of
  matched, amount differences and missing on either side. Nothing stored.
* ``duckdb_join``: one hand-written DuckDB join — on SQLite over the store attached in
  place (as our engine reads a day this large), on PostgreSQL over the files our staging
  copies out (staging time included) — one FULL OUTER JOIN on the key as the pandas
  script takes it (RRN, else order number or platform id), counts per outcome. Nothing
  stored.

Printed, and written to bench/results/reconcile-<db>.json.

    python bench/reconcile_bench.py [--n 1000000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from pgserver import PgServer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MERCHANT = "102310048993424"
DAY = date(2026, 11, 20)
CHUNK = 50_000

JOURNAL_COLUMNS = (
    "merchant_no", "seq", "kind", "body", "entry_hash", "prev_hash", "key_id", "signature",
    "recorded_at", "idem_key", "terminal_id", "batch_no", "trace_no", "type", "channel",
    "amount", "fee", "net", "currency", "terminal_time", "rrn", "order_no", "card_bin",
    "card_last4",
)  # fmt: skip


def _settings(url: str, home: str) -> Any:
    from counterfoil.config import Settings

    return Settings(home=Path(home), database_url=url)


def _copy(conn: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    if conn.dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
            rows,
        )
        return
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as stream:
        for row in rows:
            stream.write_row(row)


def prepare(url: str, home: str, n: int, rate: float) -> dict[str, Any]:
    """A fresh store with the generated day in it, in bulk; the day's truth counts."""
    from counterfoil.core.times import sqlite_text
    from counterfoil.reconcile.generator import line_rows, make_day
    from counterfoil.services import merchants as merchant_svc
    from counterfoil.services.context import Counterfoil
    from counterfoil.services.statements import COLUMNS
    from counterfoil.store.db import writing
    from counterfoil.store.schema import statement_imports

    started = time.perf_counter()
    day = make_day(MERCHANT, DAY, n, break_rate=rate, seed=7)
    with Counterfoil.open(_settings(url, home)) as cf:
        merchant_svc.add_merchant(cf, MERCHANT, "对账基准店")
        sqlite = cf.engine.dialect.name == "sqlite"

        def at(moment: datetime) -> Any:
            return sqlite_text(moment) if sqlite else moment

        recorded = at(datetime.now(UTC))
        with writing(cf.engine) as conn:
            if sqlite:  # the indexes of ten million rows stay in memory while they grow
                conn.exec_driver_sql("PRAGMA cache_size = -4000000")
            rows: list[tuple[Any, ...]] = []
            for e in day.entries:
                key = (
                    f"Q|wechat|{e.order_no}"
                    if e.order_no
                    else f"T|{e.terminal_id}|{e.batch_no}|{e.trace_no}"
                )
                rows.append((
                    MERCHANT, e.seq, "transaction", "{}", "0" * 64, "0" * 64, "bench", "",
                    recorded, key, e.terminal_id, e.batch_no, e.trace_no, "sale", e.channel,
                    e.amount, e.fee, e.amount - e.fee, "CNY", at(e.at), e.rrn, e.order_no,
                    "622202" if e.last4 else None, e.last4,
                ))  # fmt: skip
                if len(rows) == CHUNK:
                    _copy(conn, "journal_entries", JOURNAL_COLUMNS, rows)
                    rows = []
            _copy(conn, "journal_entries", JOURNAL_COLUMNS, rows)
            voided = [(MERCHANT, e.seq, "voided", 0, 0) for e in day.entries if e.voided]
            _copy(
                conn,
                "entry_state",
                ("merchant_no", "seq", "status", "refunded", "completed"),
                voided,
            )
            conn.execute(
                statement_imports.insert().values(
                    id=1, sha256="b" * 64, file_name="bench.zm", format="unionpay_zm",
                    merchant_no=MERCHANT, size=0, imported_at=datetime.now(UTC), actor="bench",
                    lines=len(day.lines), rejected=0, overlapping=0, balanced=True, checks="[]",
                    info="{}",
                )
            )  # fmt: skip
            batch: list[tuple[Any, ...]] = []
            for row in line_rows(day, 1):
                row["occurred_at"] = at(row["occurred_at"])
                batch.append(tuple(row[c] for c in COLUMNS))
                if len(batch) == CHUNK:
                    _copy(conn, "statement_lines", COLUMNS, batch)
                    batch = []
            _copy(conn, "statement_lines", COLUMNS, batch)
        if not sqlite:
            with cf.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
    truth: dict[str, int] = {}
    for outcome in (*day.entry_truth.values(), *day.line_truth.values()):
        truth[outcome] = truth.get(outcome, 0) + 1
    return {
        "entries": len(day.entries),
        "lines": len(day.lines),
        "truth": truth,
        "prepare_seconds": round(time.perf_counter() - started, 1),
        "day": day,
    }


def wrong_outcomes(url: str, run_id: int, day: Any) -> int:
    """Records whose stored outcome is not the generator's truth, or that have none or two
    (precision and recall are 100 % exactly when this is 0). Not timed."""
    from sqlalchemy import create_engine

    from counterfoil.reconcile.outcomes import run_outcomes

    seen_entries: dict[int, set[str]] = {}
    seen_lines: dict[int, set[str]] = {}
    engine = create_engine(url)
    with engine.connect() as conn:
        for seq, _import_id, line_no, outcome, _pass, _break in run_outcomes(conn, run_id):
            if seq is not None:
                seen_entries.setdefault(seq, set()).add(outcome)
            if line_no is not None:
                seen_lines.setdefault(line_no, set()).add(outcome)
    engine.dispose()
    wrong = sum(seen_entries.get(s, {"set_aside"}) != {o} for s, o in day.entry_truth.items())
    wrong += sum(seen_lines.get(n) != {o} for n, o in day.line_truth.items())
    wrong += len(set(seen_entries) - set(day.entry_truth))
    wrong += len(set(seen_lines) - set(day.line_truth))
    return int(wrong)


# --- the timed children ---------------------------------------------------------------------


def run_ours(url: str, home: str, n: int, rate: float) -> dict[str, Any]:
    from counterfoil.reconcile import service
    from counterfoil.services.access import Principal
    from counterfoil.services.context import Counterfoil

    with Counterfoil.open(_settings(url, home), upgrade=False) as cf:
        timings = service.Timings()
        started = time.perf_counter()
        found = service.reconcile(
            cf, Principal.local("bench"), merchant_no=MERCHANT, day=DAY, timings=timings
        )
        seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds - timings.cases, 2),  # to stored outcomes
        "seconds_with_cases_hook": round(seconds, 2),
        "stage_seconds": round(timings.stage, 2),
        "engine_seconds": round(timings.engine, 2),
        "store_seconds": round(timings.store, 2),
        "cases_hook_seconds": round(timings.cases, 2),
        "cases_opened": found["cases_opened"],
        "run_id": found["run_id"],
        "breaks": found["breaks"],
        "passes": found["passes"],
        "journal_in": found["journal"]["in"],
        "statement_in": found["statement"]["in"],
        "complete": found["journal"]["complete"] and found["statement"]["complete"],
    }


def run_pandas(url: str, home: str) -> dict[str, Any]:
    import pandas as pd
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        entries = pd.read_sql_query(
            text(
                "SELECT seq, COALESCE(rrn, order_no) AS k, amount FROM journal_entries "
                "WHERE merchant_no = :merchant AND kind = 'transaction'"
            ),
            conn,
            params={"merchant": MERCHANT},
        )
        lines = pd.read_sql_query(
            "SELECT line_no, COALESCE(rrn, platform_id) AS k, amount FROM statement_lines "
            "WHERE duplicate_of IS NULL",
            conn,
        )
    merged = entries.merge(lines, on="k", how="outer", suffixes=("_j", "_s"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    counts = {
        "matched": int((both["amount_j"] == both["amount_s"]).sum()),
        "amount_mismatch": int((both["amount_j"] != both["amount_s"]).sum()),
        "missing_in_statement": int((merged["_merge"] == "left_only").sum()),
        "missing_in_journal": int((merged["_merge"] == "right_only").sum()),
    }
    engine.dispose()
    return {"seconds": round(time.perf_counter() - started, 2), "counts": counts}


def run_duckdb_join(url: str, home: str) -> dict[str, Any]:
    import duckdb

    from counterfoil.reconcile.engines.duckdb_engine import sqlite_extension
    from counterfoil.reconcile.model import SEPARATOR, STAGED_ENTRY_COLUMNS, STAGED_LINE_COLUMNS
    from counterfoil.reconcile.service import day_scope
    from counterfoil.reconcile.settings import tolerances_for
    from counterfoil.reconcile.staging import stage
    from counterfoil.services.context import Counterfoil

    started = time.perf_counter()
    con = duckdb.connect()
    if url.startswith("sqlite"):
        # SQLite: the join reads the store in place, as our engine does a day this large
        extension = sqlite_extension()
        assert extension is not None
        con.execute(f"LOAD '{extension}'")
        con.execute(f"ATTACH '{url.split(':///', 1)[1]}' AS store (TYPE sqlite, READ_ONLY)")
        entries = (
            "(SELECT seq, rrn, order_no, amount FROM store.journal_entries "  # noqa: S608
            f"WHERE merchant_no = '{MERCHANT}' AND kind = 'transaction')"
        )
        lines = (
            "(SELECT line_no, rrn, platform_id, amount FROM store.statement_lines "
            "WHERE duplicate_of IS NULL)"
        )
    else:  # PostgreSQL: the files our staging copies out
        folder = Path(home) / "join"
        with Counterfoil.open(_settings(url, home), upgrade=False) as cf:
            with cf.engine.connect() as conn:
                scope = day_scope(conn, MERCHANT, DAY)
                tolerances = list(tolerances_for(conn, MERCHANT).values())
            staged = stage(cf.engine, scope.window, folder, tolerances, [])

        def read(path: Any, columns: tuple[tuple[str, str], ...]) -> str:
            names = ", ".join(f"'{a}': '{b}'" for a, b in columns)
            return (
                f"read_csv('{path}', delim='{SEPARATOR}', header=false, quote='', escape='', "
                f"auto_detect=false, columns={{{names}}})"
            )

        entries = read(staged.entries, STAGED_ENTRY_COLUMNS)
        lines = read(staged.lines, STAGED_LINE_COLUMNS)
    rows = con.execute(
        f"""
        SELECT CASE WHEN e.seq IS NULL THEN 'missing_in_journal'
                    WHEN l.line_no IS NULL THEN 'missing_in_statement'
                    WHEN e.amount = l.amount THEN 'matched' ELSE 'amount_mismatch' END AS o,
               COUNT(*)
        FROM {entries} e
        FULL OUTER JOIN {lines} l
            ON COALESCE(l.rrn, l.platform_id) = COALESCE(e.rrn, e.order_no)
        GROUP BY o
        """  # noqa: S608
    ).fetchall()
    con.close()
    shutil.rmtree(Path(home) / "join", ignore_errors=True)
    return {"seconds": round(time.perf_counter() - started, 2), "counts": dict(rows)}


def child(kind: str, url: str, home: str, n: int, rate: float) -> None:
    report = {"ours": lambda: run_ours(url, home, n, rate), "pandas": lambda: run_pandas(url, home),
              "duckdb_join": lambda: run_duckdb_join(url, home)}[kind]()  # fmt: skip
    print(json.dumps(report))


def measured(args: list[str]) -> dict[str, Any]:
    """Run this script's ``--child`` under measure.py: its report and peak RSS (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as usage:
        result = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "measure.py"), usage.name, sys.executable,
             __file__, "--child", *args],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(result.stderr.decode()[-3000:])
        peak = json.loads(Path(usage.name).read_text())["peak_rss_kib"]
    report: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    report["peak_rss_mib"] = int(peak // 1024)
    return report


def bench_database(kind: str, n: int, rate: float) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="recon-bench-"))
    server = PgServer(durable=True).start() if kind == "postgresql" else None
    try:
        home = scratch / "home"
        home.mkdir()
        if server is None:
            url = f"sqlite:///{home / 'counterfoil.db'}"
        else:
            server.psql("CREATE DATABASE bench")
            url = server.url_for("bench")
        prepared = prepare(url, str(home), n, rate)
        day = prepared.pop("day")
        print(f"prepared: {prepared}", flush=True)
        args = [url, str(home), str(n), str(rate)]
        ours = measured(["ours", *args])
        ours["records_with_wrong_outcome"] = wrong_outcomes(url, ours["run_id"], day)
        del day
        print(f"ours: {ours}", flush=True)
        pandas = measured(["pandas", *args])
        print(f"pandas: {pandas}", flush=True)
        join = measured(["duckdb_join", *args])
        print(f"duckdb_join: {join}", flush=True)
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "database": kind,
        "n": n,
        "break_rate": rate,
        "load_average": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "prepared": prepared,
        "ours": ours,
        "pandas_exact_key_only": pandas,
        "duckdb_single_join": join,
        "ratio_ours_to_pandas": round(ours["seconds"] / pandas["seconds"], 2),
        "ratio_ours_to_duckdb_join": round(ours["seconds"] / join["seconds"], 2),
    }


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        kind, url, home, n, rate = sys.argv[2:7]
        child(kind, url, home, int(n), float(rate))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--break-rate", type=float, default=0.02)
    args, _unknown = parser.parse_known_args()  # make bench passes the others theirs
    kinds = ["sqlite", "postgresql"] if args.db in ("both", "sqlite,postgresql") else [args.db]
    RESULTS.mkdir(exist_ok=True)
    for kind in kinds:
        report = bench_database(kind, args.n, args.break_rate)
        suffix = "" if args.n == 1_000_000 else f"-{args.n}"
        (RESULTS / f"reconcile-{kind}{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
