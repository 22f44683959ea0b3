"""Benchmark of issue 7, the Spark engine: the 1,000,000 / 1,000,000 day on Apache Spark.

The same day as bench/reconcile_bench.py (``counterfoil.reconcile.generator.make_day``,
seed 7, 2 % breaks over every kind) is written straight to staged files
(``generator.write_staged``, what ``reconcile.staging`` writes out of a store) and run by
``SparkEngine`` in local mode (``local[2]``, 127.0.0.1, no UI): every pass, then every
outcome row read back into Python, the break details, the summary and the totals. The
outcomes are checked against the generator's truth (every record, one outcome, the
right one). Staging out of a database is not timed here (reconcile_bench.py times it for
DuckDB; it is the same for both engines).

Timed: the session's start, the run (load + passes + results) and the read-back.
Memory: the driver JVM's peak resident set (``VmHWM``; in local mode the driver runs the
executors too) and the Python process's own peak.

    python bench/reconcile_spark_bench.py [--n 1000000] [--rate 0.02] [--driver-memory 4g]

Printed, and written to bench/results/reconcile-spark.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MERCHANT = "102310048993424"
DAY = date(2026, 11, 20)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _jvm_peak_kib() -> int:
    """The largest VmHWM among this process's descendants (the Spark driver's JVM)."""
    peak, todo = 0, _children(os.getpid())
    while todo:
        pid = todo.pop()
        todo.extend(_children(pid))
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            continue
    return peak


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=0.02)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    from counterfoil.reconcile.engines.base import Staged
    from counterfoil.reconcile.engines.spark_engine import SparkEngine, local_session
    from counterfoil.reconcile.generator import make_day, write_staged
    from counterfoil.reconcile.model import DEFAULT_TOLERANCES, line_ref

    folder = Path(tempfile.mkdtemp(prefix="cf-spark-bench-"))
    try:
        mark = time.perf_counter()
        day = make_day(MERCHANT, DAY, args.n, break_rate=args.rate, seed=7)
        entries, lines, decisions = write_staged(day, folder / "staged")
        staged = Staged(
            folder / "staged", entries, lines, decisions, tuple(DEFAULT_TOLERANCES.values()),
            int(day.start.timestamp()), int(day.end.timestamp()),
        )  # fmt: skip
        generated = time.perf_counter() - mark

        mark = time.perf_counter()
        session = local_session(
            shuffle_partitions=args.partitions,
            driver_memory=args.driver_memory,
            scratch=folder / "spark",
        )
        started = time.perf_counter() - mark
        try:
            mark = time.perf_counter()
            result = SparkEngine(session=session).run(staged)
            ran = time.perf_counter() - mark
            mark = time.perf_counter()
            by_entry: dict[int, list[str]] = {}
            by_line: dict[int, list[str]] = {}
            rows = 0
            for batch in result.outcomes():
                rows += len(batch)
                for eid, lid, _pass, outcome in batch:
                    if eid is not None:
                        by_entry.setdefault(eid, []).append(outcome)
                    if lid is not None:
                        by_line.setdefault(line_ref(lid)[1], []).append(outcome)
            details = result.details()
            summary = result.summary()
            totals = result.totals()
            passes = result.pass_counts()
            read = time.perf_counter() - mark
            result.close()
            jvm_peak = _jvm_peak_kib()
        finally:
            session.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    truth_e = {s: o for s, o in day.entry_truth.items() if o != "set_aside"}
    wrong = sum(1 for s, o in by_entry.items() if len(set(o)) != 1 or truth_e.get(s) != o[0])
    wrong += sum(1 for n, o in by_line.items() if len(set(o)) != 1 or day.line_truth.get(n) != o[0])
    missed = len(set(truth_e) - set(by_entry)) + len(set(day.line_truth) - set(by_line))
    figures = {
        "n_entries": len(day.entries),
        "n_lines": len(day.lines),
        "outcome_rows": rows,
        "breaks": len(details),
        "summary": [list(x) for x in summary],
        "totals": [list(x) for x in totals],
        "passes": passes,
        "wrong_outcomes": wrong,
        "records_without_outcome": missed,
        "seconds": {
            "generate_and_write_staged": round(generated, 1),
            "session_start": round(started, 1),
            "run": round(ran, 1),
            "read_back": round(read, 1),
            "engine_total": round(ran + read, 1),
        },
        "driver_jvm_peak_rss_mib": round(jvm_peak / 1024),
        "python_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "config": {
            "master": "local[2]",
            "shuffle_partitions": args.partitions,
            "driver_memory": args.driver_memory,
            "cpus": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reconcile-spark.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures["seconds"]), flush=True)
    print(
        f"spark: {figures['n_entries']:,} entries × {figures['n_lines']:,} lines: "
        f"run {ran:.1f} s + read-back {read:.1f} s; driver JVM peak "
        f"{figures['driver_jvm_peak_rss_mib']} MiB; wrong outcomes {wrong}, missing {missed}"
    )
    return figures


if __name__ == "__main__":
    sys.exit(0 if main()["wrong_outcomes"] == 0 else 1)
