"""Floors: what the unavoidable steps of issues 2 and 6 cost on this machine, alone.

The figures of issue 2 (ingest, verify) and issue 6 (imports) are each made of steps that
no arrangement of this code can skip: an Ed25519 signature per entry, a journal row
written and read back, SHA-256 of each body, a statement line parsed and written. Here
each is timed alone, on real rows (an ingested journal; a parsed WeChat bill), so that
the best any design built on them can do is a measured figure, not a guess:

* ``sign``: one Ed25519 signature of an entry hash (libsodium, as the journal signs);
* ``sha256``: the hash of one stored body (OpenSSL, as ``verify`` checks it);
* ``journal_insert``: prebuilt journal rows through ``executemany`` into a fresh store's
  ``journal_entries`` (its indexes and triggers), in one transaction, committed;
* ``journal_read``: the same rows read back in sequence order with their bodies, one
  cursor (what ``verify`` must read);
* ``statement_parse``: a WeChat bill parsed into the stored rows of its lines;
* ``statement_insert``: those rows through ``executemany`` into ``statement_lines``;
* ``bind``: ``executemany`` into an unindexed table of 3 and of 25 columns, and
  ``INSERT … SELECT`` of the same rows inside SQLite: the cost of handing values to
  SQLite from Python, per value, apart from what SQLite itself does with them.

Each is the best of ``--rounds``; printed, and written to bench/results/floors.json with
the ceilings they set (per second, on one core; what each figure's target needs).

    python bench/floors_bench.py [--entries 200000] [--lines 200000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import import_bench  # noqa: E402
import journal_bench  # noqa: E402

RESULTS = ROOT / "bench" / "results"
TEMPLATE = 20_000  # entries ingested for real; the rest are copies at later places


def best(rounds: int, step: Callable[[], Any], setup: Callable[[], Any] | None = None) -> float:
    """The fewest seconds ``step`` took in ``rounds`` runs (``setup`` before each, untimed:
    ``step`` is then given what it returned)."""
    times = []
    for _ in range(rounds):
        ready = setup() if setup else None
        start = time.perf_counter()
        step(ready) if setup else step()
        times.append(time.perf_counter() - start)
    return min(times)


def store_maker(scratch: Path) -> Callable[[], Path]:
    """Fresh stores, one a call, made before the timing starts."""
    return lambda: fresh_store(scratch / f"store-{time.monotonic_ns()}")


def fresh_store(folder: Path) -> Path:
    """A new store (every migration) in ``folder``; its SQLite file."""
    env = dict(os.environ, COUNTERFOIL_HOME=str(folder))
    env.pop("COUNTERFOIL_DATABASE_URL", None)
    journal_bench.run(env, "init")
    return folder / "counterfoil.db"


def ingested_journal(folder: Path) -> list[tuple[Any, ...]]:
    """``TEMPLATE`` entries recorded by ``counterfoil ingest``, as rows to insert."""
    from counterfoil.store.journal import ROW_COLUMNS

    env = dict(os.environ, COUNTERFOIL_HOME=str(folder))
    env.pop("COUNTERFOIL_DATABASE_URL", None)
    journal_bench.run(env, "init")
    journal_bench.run(env, "merchants", "add", journal_bench.MERCHANT, "--name", "Floors")
    data = folder / "ingest.jsonl"
    data.write_bytes(
        b"".join(orjson.dumps(journal_bench.payload(i)) + b"\n" for i in range(TEMPLATE))
    )
    journal_bench.run(env, "ingest", str(data))
    with sqlite3.connect(folder / "counterfoil.db") as db:
        return db.execute(
            f"SELECT {', '.join(ROW_COLUMNS)} FROM journal_entries "  # noqa: S608
            "WHERE kind = 'transaction' ORDER BY seq"
        ).fetchall()


def journal_rows(template: list[tuple[Any, ...]], entries: int) -> list[tuple[Any, ...]]:
    """``entries`` rows: the template again and again, each at its own place."""
    from counterfoil.store.journal import ROW_COLUMNS

    seq, idem = ROW_COLUMNS.index("seq"), ROW_COLUMNS.index("idem_key")
    rows = []
    for n in range(entries):
        row = list(template[n % len(template)])
        row[seq], row[idem] = n + 1, f"floors-{n}"
        rows.append(tuple(row))
    return rows


def insert_all(database: Path, sql: str, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(database, isolation_level=None) as db:
        db.execute("PRAGMA synchronous = FULL")
        db.execute("BEGIN")
        for start in range(0, len(rows), 2_000):
            db.executemany(sql, rows[start : start + 2_000])
        db.execute("COMMIT")
    db.close()


def journal_floors(scratch: Path, entries: int, rounds: int) -> dict[str, float]:
    from counterfoil.journal.entries import signing_message
    from counterfoil.journal.keys import SigningKey
    from counterfoil.store.journal import ROW_COLUMNS

    template = ingested_journal(scratch / "template")
    rows = journal_rows(template, entries)
    insert = (
        f"INSERT INTO journal_entries ({', '.join(ROW_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(ROW_COLUMNS))})"
    )

    def write(database: Path) -> None:
        insert_all(database, insert, rows)

    target = scratch / "journal"
    database = fresh_store(target)
    insert_all(database, insert, rows)

    def read() -> None:
        with sqlite3.connect(database) as db:
            for _ in db.execute(
                "SELECT seq, CAST(body AS BLOB), entry_hash, prev_hash, kind, key_id, "
                "signature FROM journal_entries WHERE merchant_no = ? ORDER BY seq",
                (journal_bench.MERCHANT,),
            ):
                pass
        db.close()

    bodies = [row[ROW_COLUMNS.index("body")].encode() for row in template]
    hashes = [row[ROW_COLUMNS.index("entry_hash")] for row in template]
    key = SigningKey(os.urandom(32))
    messages = [signing_message(h) for h in hashes[:5_000]]

    def hash_all() -> None:
        from hashlib import sha256

        for body in bodies:
            sha256(body).hexdigest()

    return {
        "journal_insert_us": best(rounds, write, store_maker(scratch)) / entries * 1e6,
        "journal_read_us": best(rounds, read) / entries * 1e6,
        "sha256_us": best(rounds, hash_all) / len(bodies) * 1e6,
        "sign_us": best(rounds, lambda: [key.sign(m) for m in messages]) / len(messages) * 1e6,
        "body_bytes": sum(map(len, bodies)) / len(bodies),
    }


def statement_floors(scratch: Path, lines: int, rounds: int) -> dict[str, float]:
    from counterfoil.importers import open_statement
    from counterfoil.services.statement_rows import COLUMNS, chunks

    bill = scratch / "wechat" / "wechat_20210128_all.csv"
    bill.parent.mkdir()
    import_bench.write_wechat(bill, lines)
    rows: list[tuple[Any, ...]] = []

    def parse() -> None:
        rows.clear()
        with open_statement(bill) as result:
            for chunk in chunks(result.records(), 1, True):
                rows.extend(chunk.rows)

    parse_seconds = best(rounds, parse)
    marks = ", ".join("?" * len(COLUMNS))
    insert = f"INSERT INTO statement_lines ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608

    def write(database: Path) -> None:
        insert_all(database, insert, rows)

    return {
        "statement_parse_us": parse_seconds / lines * 1e6,
        "statement_insert_us": best(rounds, write, store_maker(scratch)) / lines * 1e6,
        "statement_row_bytes": sum(len(str(v)) for row in rows[:1000] for v in row) / 1000,
    }


def bind_floors(scratch: Path, rounds: int, count: int = 200_000) -> dict[str, float]:
    """Python to SQLite, per value: 3 and 25 columns; and SQLite alone (INSERT … SELECT)."""
    wide = [(n, "x" * 10, n * 7, *(f"v{n}-{c}" for c in range(22))) for n in range(count)]
    narrow = [row[:3] for row in wide]
    database = scratch / "bind.db"

    def into(width: int, rows: list[tuple[Any, ...]]) -> Callable[[], None]:
        def step() -> None:
            database.unlink(missing_ok=True)
            with sqlite3.connect(database, isolation_level=None) as db:
                columns = ", ".join(f"c{i}" for i in range(width))
                db.execute(f"CREATE TABLE t ({columns})")
                db.execute("BEGIN")
                db.executemany(f"INSERT INTO t VALUES ({', '.join('?' * width)})", rows)  # noqa: S608
                db.execute("COMMIT")
            db.close()

        return step

    three, twenty_five = best(rounds, into(3, narrow)), best(rounds, into(25, wide))
    with sqlite3.connect(database, isolation_level=None) as db:  # holds the 25-column rows

        def inside() -> None:
            db.execute("DROP TABLE IF EXISTS u")
            db.execute("CREATE TABLE u AS SELECT * FROM t WHERE 0")
            db.execute("INSERT INTO u SELECT * FROM t")

        sqlite_only = best(rounds, inside)
    db.close()
    return {
        "bind_3_columns_us": three / count * 1e6,
        "bind_25_columns_us": twenty_five / count * 1e6,
        "bind_per_value_us": (twenty_five - three) / count / 22 * 1e6,
        "sqlite_only_25_columns_us": sqlite_only / count * 1e6,
    }


def ceilings(f: dict[str, float]) -> dict[str, Any]:
    """What the floors allow at most, on one core and on two, against each target."""
    per_entry = f["sign_us"] + f["journal_insert_us"]
    return {
        "ingest_tx_per_s": {
            "target": 20_000,
            "sign_and_insert_alone_one_core": round(1e6 / per_entry),
            "sign_and_insert_alone_two_cores": round(2e6 / per_entry),
            "note": "before validation, rules, fees, canonical JSON and chaining",
        },
        "verify_entries_per_s": {
            "target": 300_000,
            "read_alone_one_core": round(1e6 / f["journal_read_us"]),
            "read_and_hash_one_core": round(1e6 / (f["journal_read_us"] + f["sha256_us"])),
            "note": "before the Merkle tree, the links and the copied columns",
        },
        "import_seconds_per_million_lines": {
            "target": 10,
            "parse_alone": round(f["statement_parse_us"], 2),
            "insert_alone": round(f["statement_insert_us"], 2),
            "both_on_two_cores_at_best": round(
                max(f["statement_parse_us"], f["statement_insert_us"]), 2
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="counterfoil-floors-"))
    try:
        floors = {
            **journal_floors(scratch, args.entries, args.rounds),
            **statement_floors(scratch, args.lines, args.rounds),
            **bind_floors(scratch, args.rounds),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    floors = {name: round(value, 2) for name, value in floors.items()}
    result = {
        "floors": floors,
        "ceilings": ceilings(floors),
        "entries": args.entries,
        "lines": args.lines,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "processor": platform.machine(),
        },
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "floors.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
