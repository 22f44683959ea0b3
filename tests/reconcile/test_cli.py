"""``counterfoil reconcile`` and ``counterfoil breaks``: a generated day reconciled from the
command line, JSON for scripts, breaks listed, exported, matched and adopted."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from clirunner import Run, invoker
from counterfoil.config import Settings
from counterfoil.reconcile.generator import line_rows, make_day, payloads
from counterfoil.services import merchants as merchant_svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import statement_imports, statement_lines
from reconcile.recon_helpers import record

MERCHANT = "102310048993424"


@pytest.fixture
def run(settings: Settings) -> Run:
    return invoker(settings)


def test_reconcile_a_day_and_work_its_breaks(run: Run, cf: Counterfoil, tmp_path: Path) -> None:
    day = make_day(MERCHANT, date(2026, 11, 20), 80, break_rate=0.35, seed=5)
    merchant_svc.add_merchant(cf, MERCHANT, "命令行测试店")
    record(cf, *payloads(day))

    def job(conn: Any) -> None:
        conn.execute(
            statement_imports.insert().values(
                id=1,
                sha256="1" * 64,
                file_name="generated.csv",
                format="unionpay_zm",
                merchant_no=MERCHANT,
                size=0,
                imported_at=datetime.now(UTC),
                actor="test",
                lines=len(day.lines),
                rejected=0,
                overlapping=0,
                balanced=True,
                checks="[]",
                info="{}",
            )
        )
        conn.execute(statement_lines.insert(), list(line_rows(day, 1)))

    cf.write(job)

    result = run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["journal"]["complete"]
    assert summary["statement"]["complete"]
    missing = summary["statement"]["outcomes"]["missing_in_journal"]["count"]
    assert missing == sum(1 for o in day.line_truth.values() if o == "missing_in_journal")

    table = run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20")
    assert table.exit_code == 0
    assert "persisting" in table.output

    listed = json.loads(run("breaks", "list", "--merchant", MERCHANT, "--json").output)
    lost = next(b for b in listed["items"] if b["outcome"] == "missing_in_journal")
    adopted = run("breaks", "adopt", "--line", lost["line"], "--reason", "slip found", "--json")
    assert adopted.exit_code == 0, adopted.output
    assert json.loads(adopted.output)["kind"] == "recovered"

    lonely = next(b for b in listed["items"] if b["outcome"] == "missing_in_statement")
    other = next(
        b for b in listed["items"] if b["outcome"] == "missing_in_journal" and b is not lost
    )
    matched = run(
        "breaks", "match", "--merchant", MERCHANT, "--seq", str(lonely["seq"]),
        "--line", other["line"], "--reason", "same sale, acquirer lost the RRN",
    )  # fmt: skip
    assert matched.exit_code == 0, matched.output
    rerun = json.loads(
        run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20", "--json").output
    )
    assert rerun["breaks"]["resolved"] == 3
    assert rerun["passes"]["manual"] == 1

    out = tmp_path / "breaks.xlsx"
    exported = run("breaks", "export", str(out), "--merchant", MERCHANT, "--status", "all")
    assert exported.exit_code == 0, exported.output
    assert load_workbook(out).worksheets[0].max_row > 1

    bad = run("reconcile", "--merchant", MERCHANT, "--date", "20/11/2026")
    assert bad.exit_code == 2
    assert "date" in bad.output
    unknown = run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20", "--engine", "x")
    assert unknown.exit_code == 2
    assert "duckdb, spark" in unknown.output


def test_each_run_is_timed_in_the_metrics(run: Run, cf: Counterfoil) -> None:
    from counterfoil.observe.metrics import RECONCILIATION

    def runs_seen() -> float:
        return next(
            s.value
            for m in RECONCILIATION.collect()
            for s in m.samples
            if s.name.endswith("_count")
        )

    merchant_svc.add_merchant(cf, MERCHANT, "命令行测试店")
    before = runs_seen()
    result = run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20", "--json")
    assert result.exit_code == 0, result.output
    assert runs_seen() == before + 1


def test_a_run_removes_what_killed_runs_left(run: Run, cf: Counterfoil, settings: Settings) -> None:
    """A SIGKILL skips the clean-up of a run's scratch folder (tests/faults): the next run
    removes folders old enough to belong to no run still going, and leaves the others."""
    import os
    import time

    merchant_svc.add_merchant(cf, MERCHANT, "命令行测试店")
    folder = settings.home / "reconcile"
    stale, fresh = folder / "run-killed", folder / "run-going"
    for place in (stale, fresh):
        place.mkdir(parents=True)
        (place / "entries.tsv").write_text("staged\n")
    day_ago = time.time() - 24 * 3600
    os.utime(stale, (day_ago, day_ago))
    result = run("reconcile", "--merchant", MERCHANT, "--date", "2026-11-20", "--json")
    assert result.exit_code == 0, result.output
    assert not stale.exists()
    assert (fresh / "entries.tsv").exists()
