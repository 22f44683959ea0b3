"""SIGKILL during a reconciliation run, on SQLite and PostgreSQL: ``counterfoil reconcile``
is killed at several moments of one run (starting up, staging, in the engine, storing,
in the cases hook); after each kill no run is stored without all its outcomes, no break
points at a run that is not there, and the journal verifies. Then the run is repeated:
it completes with the same summary, outcomes, breaks and cases as a run on an untouched
copy of the store that was never killed.

What a kill leaves in ``$COUNTERFOIL_HOME/reconcile/`` (the run's scratch directory is
removed in a ``finally`` that SIGKILL never reaches) is printed; the next run must not
mind it."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, create_engine, func, make_url, select, text

from conftest import MERCHANT
from counterfoil.config import Settings
from counterfoil.reconcile.generator import line_rows, make_day, payloads
from counterfoil.reconcile.outcomes import run_outcomes
from counterfoil.services import ingest, verification
from counterfoil.services import merchants as merchant_svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import Actor
from counterfoil.store.cases_schema import cases
from counterfoil.store.reconcile_schema import (
    recon_breaks,
    recon_outcome_sets,
    recon_outcomes,
    recon_runs,
)
from counterfoil.store.schema import statement_imports, statement_lines
from serverproc import env_for, run_cli

DAY = date(2026, 11, 20)
RECORDS = 8_000  # a run of 2–4 s here: staging, engine, storing and cases hook each hit
BREAK_RATE = 0.05
CHUNK = 5_000
ATTEMPT_SECONDS = 120  # each kill attempt is bounded
POLL = 0.01
ACTOR = Actor("test", "local")


def _record(cf: Counterfoil, items: Any) -> list[ingest.ItemResult]:
    return cf.write(lambda conn: ingest.record(conn, cf.keys, items, ACTOR))


def _build_day(settings: Settings) -> None:
    """The day's journal through the normal ingest, its statement lines in bulk."""
    day = make_day(MERCHANT, DAY, RECORDS, break_rate=BREAK_RATE, seed=11)
    with Counterfoil.open(settings, upgrade=False) as cf:
        merchant_svc.add_merchant(cf, MERCHANT, "中断对账店")
        sent = list(payloads(day))
        for start in range(0, len(sent), CHUNK):
            items = ingest.prepare_all(sent[start : start + CHUNK], cf.keys.hmac_key)
            results = _record(cf, items)
            assert all(r.status == "recorded" for r in results)
        rows = list(line_rows(day, 1))

        def lines(conn: Connection) -> None:
            conn.execute(
                statement_imports.insert().values(
                    id=1, sha256="5" * 64, file_name="generated.csv", format="unionpay_zm",
                    merchant_no=MERCHANT, size=0, imported_at=datetime.now(UTC), actor="test",
                    lines=len(rows), rejected=0, overlapping=0, balanced=True, checks="[]",
                    info="{}",
                )
            )  # fmt: skip
            for start in range(0, len(rows), CHUNK):
                conn.execute(statement_lines.insert(), rows[start : start + CHUNK])

        cf.write(lines)


def _untouched_copy(settings: Settings, home: Path) -> Settings:
    """A copy of the store (database and keys) nobody will kill a run on."""
    shutil.copytree(settings.home, home)
    if settings.database_url.startswith("sqlite"):
        return Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    url = make_url(settings.database_url)
    name = f"{url.database}_clean"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    admin.dispose()
    return Settings(home=home, database_url=url.set(database=name).render_as_string(False))


def _reconcile_cmd() -> list[str]:
    return [
        sys.executable, "-m", "counterfoil.cli.main", "--lang", "en", "reconcile",
        "--merchant", MERCHANT, "--date", DAY.isoformat(), "--json",
    ]  # fmt: skip


class Probe:
    """Where a running reconciliation is: scratch files, the store's writes, stored runs."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.home / "reconcile"
        self.sqlite = settings.database_url.startswith("sqlite")
        self.db = settings.home / "counterfoil.db"
        self.engine = None if self.sqlite else create_engine(settings.database_url)
        self.before = set(self.scratch())
        self.runs_before = self.runs()

    def scratch(self) -> list[Path]:
        return sorted(self.folder.glob("run-*")) if self.folder.exists() else []

    def new_files(self) -> set[str]:
        return {f.name for d in self.scratch() if d not in self.before for f in d.iterdir()}

    def runs(self) -> int:
        if self.sqlite:
            lite = sqlite3.connect(self.db, timeout=30)
            try:
                return int(lite.execute("SELECT count(*) FROM recon_runs").fetchone()[0])
            finally:
                lite.close()
        assert self.engine is not None
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(recon_runs)).scalar_one())

    def storing(self) -> bool:
        """The run's one storing transaction is under way (not yet committed)."""
        if self.sqlite:
            if "decisions.tsv" not in self.new_files():
                return False
            lite = sqlite3.connect(self.db, timeout=0, isolation_level=None)
            try:
                lite.execute("BEGIN IMMEDIATE")  # fails while another writer holds the lock
                lite.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:
                # a writer, and its run not committed yet: the storing transaction
                return self.runs() == self.runs_before
            finally:
                lite.close()
        assert self.engine is not None
        with self.engine.connect() as conn:
            busy = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state <> 'idle'"
                    " AND (query ILIKE '%recon_breaks%' OR query ILIKE '%recon_outcomes%')"
                )
            ).scalar_one()
        return bool(busy)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


@dataclass
class Kill:
    aim: str
    hit: bool  # the process was still running when killed
    seconds: float
    runs_stored: int  # runs this attempt left in the store
    scratch_left: list[str]


def _kill_when(
    settings: Settings, aim: str, ready: Callable[[Probe, float], bool], log: Path
) -> Kill:
    probe = Probe(settings)
    started = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(_reconcile_cmd(), env=env_for(settings), stdout=out, stderr=out)
        try:
            while proc.poll() is None and time.monotonic() - started < ATTEMPT_SECONDS:
                if ready(probe, time.monotonic() - started):
                    break
                time.sleep(POLL)
            hit = proc.poll() is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    seconds = time.monotonic() - started
    stored = probe.runs() - probe.runs_before
    left = [d.name for d in probe.scratch()]
    probe.close()
    return Kill(aim, hit, round(seconds, 2), stored, left)


AIMS: list[tuple[str, Callable[[Probe, float], bool]]] = [
    ("starting up (0.5 s)", lambda p, t: t >= 0.5),
    ("staging", lambda p, t: "entries.tsv" in p.new_files()),
    ("engine", lambda p, t: "decisions.tsv" in p.new_files()),
    ("storing", lambda p, t: p.storing()),
    ("cases hook", lambda p, t: p.runs() > p.runs_before),
]


def _check_consistent(cf: Counterfoil) -> dict[str, int]:
    """Every stored run has all its outcomes; every break points at stored runs."""
    o = recon_outcomes.c
    r = recon_runs.c
    b = recon_breaks.c
    with cf.engine.connect() as conn:
        runs = {row.id: row for row in conn.execute(select(r.id, r.entries, r.lines, r.summary))}
        for run_id, run in runs.items():
            records = list(run_outcomes(conn, run_id))
            entries = len({r[0] for r in records if r[0] is not None})
            lines = len({(r[1], r[2]) for r in records if r[2] is not None})
            summary = orjson.loads(run.summary)
            assert entries == run.entries == summary["journal"]["in"]["count"], run_id
            assert lines == run.lines == summary["statement"]["in"]["count"], run_id
            assert entries > 0
            assert lines > 0
        for table in (recon_outcomes, recon_outcome_sets):
            orphans = conn.execute(
                select(func.count())
                .select_from(table)
                .where(table.c.run_id.not_in(list(runs) or [0]))
            ).scalar_one()
            assert orphans == 0, f"{orphans} {table.name} rows of a run that is not stored"
        for column in (b.first_run_id, b.last_run_id, b.resolved_run_id):
            dangling = conn.execute(
                select(func.count())
                .select_from(recon_breaks)
                .where(column.is_not(None), column.not_in(list(runs) or [0]))
            ).scalar_one()
            assert dangling == 0, f"{dangling} breaks point at a missing run ({column.name})"
        broken = conn.execute(
            select(func.count())
            .select_from(recon_outcomes)
            .where(o.break_id.is_not(None), o.break_id.not_in(select(b.break_id)))
        ).scalar_one()
        assert broken == 0, f"{broken} outcomes name a break that is not stored"
    [report] = verification.verify(cf, MERCHANT)
    assert report.ok, report.problem
    return {"runs": len(runs)}


def _final_state(cf: Counterfoil, run_id: int) -> dict[str, Any]:
    b = recon_breaks.c
    with cf.engine.connect() as conn:
        outcomes = Counter(run_outcomes(conn, run_id))
        breaks = {
            row.break_id: (row.outcome, row.status == "resolved")
            for row in conn.execute(select(b.break_id, b.outcome, b.status))
        }
        opened = Counter(
            row.origin_ref
            for row in conn.execute(
                select(cases.c.origin_ref).where(cases.c.merchant_no == MERCHANT)
            )
        )
    return {"outcomes": outcomes, "breaks": breaks, "cases": opened}


def _comparable(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("run_id", "breaks", "cases_opened")}


@pytest.mark.slow
def test_sigkill_during_reconciliation_leaves_no_half_run(
    settings: Settings, tmp_path: Path
) -> None:
    _build_day(settings)
    clean = _untouched_copy(settings, tmp_path / "clean-home")
    log = tmp_path / "reconcile.log"

    kills: list[Kill] = []
    for aim, ready in AIMS:
        kill = _kill_when(settings, aim, ready, log)
        kills.append(kill)
        with Counterfoil.open(settings, upgrade=False) as cf:
            _check_consistent(cf)
    for kill in kills:
        print(f"SIGKILL {kill}")  # the report's figures (pytest -s)
    assert all(kill.hit for kill in kills), kills
    # the kills before the run is stored each hit a live process and stored nothing
    for kill in kills[:3]:
        assert kill.hit, kill
        assert kill.runs_stored == 0, kill

    # the repeated run completes, alongside the scratch left behind, like a clean run
    left_before = sorted(p.name for p in (settings.home / "reconcile").glob("run-*"))
    repeated = orjson.loads(run_cli(settings, *_reconcile_cmd()[3:]).stdout)
    left_after = sorted(p.name for p in (settings.home / "reconcile").glob("run-*"))
    print(f"scratch before the repeat: {left_before}; after: {left_after}")
    expected = orjson.loads(run_cli(clean, *_reconcile_cmd()[3:]).stdout)
    assert repeated["journal"]["complete"]
    assert repeated["statement"]["complete"]
    assert _comparable(repeated) == _comparable(expected)
    assert (
        repeated["breaks"]["new"] + repeated["breaks"]["persisting"] == (expected["breaks"]["new"])
    )
    assert repeated["breaks"]["resolved"] == expected["breaks"]["resolved"] == 0
    with Counterfoil.open(settings, upgrade=False) as cf:
        _check_consistent(cf)
        got = _final_state(cf, repeated["run_id"])
    with Counterfoil.open(clean, upgrade=False) as cf:
        want = _final_state(cf, expected["run_id"])
    assert got["outcomes"] == want["outcomes"]
    assert got["breaks"] == want["breaks"]
    assert got["cases"] == want["cases"]  # each break's case once: the hook caught up
    assert max(got["cases"].values()) == 1
    run_cli(settings, "verify", "--merchant", MERCHANT)
