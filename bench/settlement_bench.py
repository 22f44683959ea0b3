"""Benchmark of issue 5: a settlement list of one merchant-day of 1,000,000 transactions
(≤ 1 s), and a monthly report over 10,000,000 transactions (≤ 15 s), on SQLite and on
PostgreSQL.

The journal rows are bulk-inserted (not through ingest: the figure is the list, not the
ingest), with the look-up columns a real entry has and a short stand-in body: sales,
every 20th a void and every 20th a refund, five channels, 50 terminals, BINs domestic
and foreign. The chain's head is set to the last row. Then, timed:

- ``open day``: the list of the day as the journal holds it (the live sums);
- ``first issue``: the original, which closes the day (sums stored) and renders text80;
- ``reprint``: the list of the closed day again (from the stored sums), text80 and PDF;
- ``monthly report``: a month of 30 days over the monthly rows, days still open (live sums).

    python bench/settlement_bench.py [--day-rows 1000000] [--month-rows 10000000]
                                     [--db sqlite,postgresql]

Printed, and written to bench/results/settlement-<db>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from counterfoil.config import Settings  # noqa: E402
from counterfoil.core.pan import card_group  # noqa: E402
from counterfoil.services.access import Principal  # noqa: E402
from counterfoil.services.context import Counterfoil  # noqa: E402
from counterfoil.services.merchants import add_merchant  # noqa: E402
from counterfoil.settlement import lists, reports  # noqa: E402
from pgserver import PgServer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MERCHANT = "102310048993424"
DAY = date(2026, 11, 20)
MONTH_START = date(2026, 10, 1)
CHANNELS = ("credit", "debit", "wechat", "alipay", "unionpay_qr")
BINS = ("622202", "622848", "411111", "521234")
COLUMNS = (
    "merchant_no, seq, kind, body, entry_hash, prev_hash, key_id, signature, recorded_at, "
    "idem_key, terminal_id, batch_no, trace_no, type, channel, amount, fee, net, currency, "
    "terminal_time, card_bin, card_group, offline"
)
WHO = Principal.local("bench")


def rows(first_seq: int, count: int, start: datetime, span: timedelta) -> Iterator[tuple[Any, ...]]:
    """``count`` entries spread evenly over ``span`` from ``start``."""
    step = span / count
    for n in range(count):
        seq = first_seq + n
        moment = start + step * n
        channel = CHANNELS[n % 5]
        kind = "void" if n % 20 == 7 else "refund" if n % 20 == 13 else "sale"
        amount = 100 + (n * 7919) % 500_000
        fee = amount * 6 // 1000
        sign = -1 if kind != "sale" else 1
        terminal = f"T{n % 50:07d}"
        trace = f"{n % 1_000_000:06d}"
        card = BINS[n % 4] if channel in ("credit", "debit") else None
        yield (
            MERCHANT,
            seq,
            "transaction",
            "{}",
            "0" * 64,
            "0" * 64,
            "bench",
            "0" * 128,
            moment,
            f"T|{terminal}|{seq // 1_000_000:06d}|{trace}",
            terminal,
            f"{seq // 1_000_000:06d}",
            trace,
            kind,
            channel,
            amount,
            sign * fee,
            sign * (amount - fee),
            "CNY",
            moment,
            card,
            card_group(card),
            False,
        )


def load_sqlite(path: str, batches: list[tuple[int, int, datetime, timedelta]]) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous=OFF")
    marks = ",".join("?" * 23)
    last = 0
    for first, count, start, span in batches:
        conn.executemany(
            f"INSERT INTO journal_entries ({COLUMNS}) VALUES ({marks})",  # noqa: S608
            (
                (*r[:8], r[8].isoformat(" ")[:26], *r[9:19], r[19].isoformat(" ")[:26], *r[20:])
                for r in rows(first, count, start, span)
            ),
        )
        last = first + count - 1
    conn.execute("UPDATE chain_heads SET seq = ? WHERE chain = ?", (last, MERCHANT))
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: str, batches: list[tuple[int, int, datetime, timedelta]]) -> None:
    import psycopg

    last = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        with conn.cursor() as cur:
            for first, count, start, span in batches:
                with cur.copy(f"COPY journal_entries ({COLUMNS}) FROM STDIN") as copy:
                    for r in rows(first, count, start, span):
                        copy.write_row(r)
                last = first + count - 1
            cur.execute("UPDATE chain_heads SET seq = %s WHERE chain = %s", (last, MERCHANT))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE journal_entries")


def timed(job: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    found = job()
    return round(time.perf_counter() - began, 3), found


def store(kind: str, scratch: Path, server: PgServer | None, name: str) -> Counterfoil:
    home = scratch / name
    home.mkdir()
    if kind == "sqlite":
        url = f"sqlite:///{home / 'counterfoil.db'}"
    else:
        assert server is not None
        import sqlalchemy

        engine = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = server.url_for(name)
    cf = Counterfoil.open(Settings(home=home, database_url=url))
    add_merchant(cf, MERCHANT, "测试便利店", now=datetime(2026, 9, 1, tzinfo=UTC))
    return cf


def load(cf: Counterfoil, kind: str, batches: list[tuple[int, int, datetime, timedelta]]) -> float:
    url = cf.engine.url.render_as_string(hide_password=False)
    began = time.perf_counter()
    if kind == "sqlite":
        load_sqlite(url.split("///", 1)[1], batches)
    else:
        load_postgres(url, batches)
    return round(time.perf_counter() - began, 1)


def bench_day(kind: str, scratch: Path, server: PgServer | None, count: int) -> dict[str, Any]:
    cf = store(kind, scratch, server, "day")
    try:
        start = datetime(2026, 11, 19, 15, 0, 30, tzinfo=UTC)  # 23:00:30 Shanghai: the 20th
        loaded = load(cf, kind, [(2, count, start, timedelta(hours=23, minutes=59))])
        later = datetime(2026, 11, 22, tzinfo=UTC)
        open_s, found = timed(
            lambda: cf.read(lambda conn: lists.build(conn, WHO, MERCHANT, DAY, now=later))
        )
        assert found.summary["count"] == count, found.summary
        first_s, first = timed(lambda: lists.issue(cf, WHO, MERCHANT, DAY, fmt="text80", now=later))
        again_s, again = timed(lambda: lists.issue(cf, WHO, MERCHANT, DAY, fmt="text80", now=later))
        pdf_s, _pdf = timed(lambda: lists.issue(cf, WHO, MERCHANT, DAY, fmt="pdf", now=later))
        assert (first.issue_no, again.issue_no) == (0, 1)
        return {
            "transactions": count,
            "load_s": loaded,
            "open_day_list_s": open_s,
            "first_issue_with_close_s": first_s,
            "reprint_text80_s": again_s,
            "reprint_pdf_s": pdf_s,
        }
    finally:
        cf.close()


def bench_month(kind: str, scratch: Path, server: PgServer | None, count: int) -> dict[str, Any]:
    cf = store(kind, scratch, server, "month")
    try:
        start = datetime(2026, 9, 30, 15, 0, 30, tzinfo=UTC)
        loaded = load(cf, kind, [(2, count, start, timedelta(days=30, minutes=-1))])
        later = datetime(2026, 11, 5, tzinfo=UTC)
        first, last = reports.month_range("2026-10")
        report_s, found = timed(
            lambda: cf.read(
                lambda conn: reports.report(conn, WHO, MERCHANT, first, last, "monthly", now=later)
            )
        )
        assert found["total"]["count"] == count, found["total"]["count"]
        return {"transactions": count, "load_s": loaded, "monthly_report_s": report_s}
    finally:
        cf.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day-rows", type=int, default=1_000_000)
    parser.add_argument("--month-rows", type=int, default=10_000_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    for kind in [k for k in args.db.replace("both", "sqlite,postgresql").split(",") if k]:
        server = PgServer(durable=True).start() if kind == "postgresql" else None
        try:
            with tempfile.TemporaryDirectory(prefix="settlement-bench-") as scratch:
                found: dict[str, Any] = {"database": kind}
                if args.day_rows:
                    found["day"] = bench_day(kind, Path(scratch), server, args.day_rows)
                    print(kind, "day", found["day"], flush=True)
                if args.month_rows:
                    found["month"] = bench_month(kind, Path(scratch), server, args.month_rows)
                    print(kind, "month", found["month"], flush=True)
            # A run of one part keeps the other part's last figures.
            path = RESULTS / f"settlement-{kind}.json"
            kept = json.loads(path.read_text()) if path.exists() else {}
            out = io.StringIO()
            json.dump(kept | found, out, indent=2)
            path.write_text(out.getvalue() + "\n")
        finally:
            if server is not None:
                server.cleanup()


if __name__ == "__main__":
    main()
