"""Reconciliation through the store: a generated day recorded through ingest and stored
as statement lines, on SQLite and PostgreSQL. Known truth found exactly; re-runs keep
breaks (never duplicate them); people's decisions survive re-runs; a lost record comes
back as a recovered entry with a slip; break lists export."""

from __future__ import annotations

import io
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from counterfoil.core.errors import Conflict, Forbidden, IntegrityFailure, NotFound
from counterfoil.reconcile import decisions, service, staging, views
from counterfoil.reconcile.engines import duckdb_engine
from counterfoil.reconcile.engines.base import Direct
from counterfoil.reconcile.export import export_breaks
from counterfoil.reconcile.generator import Day, line_rows, make_day, payloads
from counterfoil.reconcile.model import DEFAULT_TOLERANCES
from counterfoil.reconcile.outcomes import run_outcomes
from counterfoil.services import certificates, lookups, receipts
from counterfoil.services import merchants as merchant_svc
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store.reconcile_schema import recon_breaks, recon_outcome_sets, recon_outcomes
from counterfoil.store.schema import audit_log, statement_imports, statement_lines
from reconcile.recon_helpers import finance, record

MERCHANT = "102310048993424"
OTHER = "102310048990001"
DAY = date(2026, 11, 20)


def _load(cf: Counterfoil, day: Day, import_id: int = 1) -> None:
    merchant_svc.add_merchant(cf, day.merchant_no, "对账测试店")
    results = record(cf, *payloads(day))
    assert [r.entry["seq"] for r in results[: len(day.entries)] if r.entry] == [
        e.seq for e in day.entries
    ]

    def job(conn: Any) -> None:
        conn.execute(
            statement_imports.insert().values(
                id=import_id,
                sha256=f"{import_id:064d}",
                file_name="generated.csv",
                format="unionpay_zm",
                merchant_no=day.merchant_no,
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
        conn.execute(statement_lines.insert(), list(line_rows(day, import_id)))

    cf.write(job)


def _by_record(cf: Counterfoil, run_id: int) -> tuple[dict[int, set[str]], dict[int, set[str]]]:
    entries: dict[int, set[str]] = {}
    lines: dict[int, set[str]] = {}
    rows = cf.read(lambda conn: list(run_outcomes(conn, run_id)))
    for seq, _import_id, line_no, outcome, _pass, _break in rows:
        if seq is not None:
            entries.setdefault(seq, set()).add(outcome)
        if line_no is not None:
            lines.setdefault(line_no, set()).add(outcome)
    return entries, lines


@pytest.fixture
def day() -> Day:
    return make_day(MERCHANT, DAY, 150, break_rate=0.35, seed=11)


@pytest.mark.parametrize("in_place", [False, True], ids=["staged-files", "read-in-place"])
def test_a_generated_day_is_found_exactly_and_adds_up(
    cf: Counterfoil, day: Day, in_place: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also with the day read by DuckDB from the SQLite store itself (as a large day is:
    forced here on a small one); PostgreSQL's is always copied out."""
    _load(cf, day)
    given: list[Any] = []
    real_run = duckdb_engine.DuckDBEngine.run

    def run_seeing(self: Any, staged: Any) -> Any:
        given.append(staged)
        return real_run(self, staged)

    monkeypatch.setattr(duckdb_engine.DuckDBEngine, "run", run_seeing)
    if in_place:
        monkeypatch.setattr(staging, "DIRECT_ENTRIES", 0)
    run = service.reconcile(cf, finance(MERCHANT), merchant_no=MERCHANT, day=DAY)
    direct = in_place and cf.engine.dialect.name == "sqlite"
    assert [isinstance(s.entries, Direct) and isinstance(s.lines, Direct) for s in given] == [
        direct
    ]
    # the sets are plain JSON that SQL itself reads: one element per record
    elements = (
        "SELECT count(*) FROM recon_outcome_sets, json_each(members) WHERE run_id = :run"
        if cf.engine.dialect.name == "sqlite"
        else "SELECT count(*) FROM recon_outcome_sets, "
        "jsonb_array_elements(CAST(members AS jsonb)) WHERE run_id = :run"
    )
    in_sets = cf.read(lambda c: c.execute(text(elements), {"run": run["run_id"]}).scalar_one())
    # a run's outcomes are history: neither table may be changed
    for statement in (
        "UPDATE recon_outcome_sets SET outcome = 'matched'",
        "DELETE FROM recon_outcome_sets",
        "UPDATE recon_outcomes SET outcome = 'matched'",
        "DELETE FROM recon_outcomes",
    ):
        with pytest.raises(DatabaseError, match="append-only"), cf.engine.begin() as conn:
            conn.execute(text(statement))
    settled = sum(
        1 for r in cf.read(lambda c: list(run_outcomes(c, run["run_id"]))) if r[5] is None
    )
    assert in_sets == settled > 0

    entries, lines = _by_record(cf, run["run_id"])
    assert {s: o for s, o in day.entry_truth.items() if o != "set_aside"} == {
        s: next(iter(o)) for s, o in entries.items() if len(o) == 1
    }
    assert {n: next(iter(o)) for n, o in lines.items() if len(o) == 1} == day.line_truth
    for side in ("journal", "statement"):
        doc = run[side]
        assert doc["complete"]
        assert doc["in"]["count"] == sum(v["count"] for v in doc["outcomes"].values())
        assert doc["in"]["amount"] == sum(v["amount"] for v in doc["outcomes"].values())
    voided = sum(1 for e in day.entries if e.voided)
    assert run["journal"]["set_aside"]["count"] == voided
    breaks = sum(
        1
        for o in (*day.entry_truth.values(), *day.line_truth.values())
        if o not in ("matched", "pending", "set_aside")
    )
    # a mismatched pair is one break naming both sides
    pairs = sum(1 for o in day.entry_truth.values() if o.endswith("_mismatch"))
    assert run["breaks"]["new"] == breaks - pairs


def test_re_running_a_day_keeps_its_breaks_and_resolves_what_was_fixed(
    cf: Counterfoil, day: Day
) -> None:
    _load(cf, day)
    who = finance(MERCHANT)
    first = service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    again = service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    assert again["breaks"] == {"new": 0, "persisting": first["breaks"]["new"], "resolved": 0}
    count = cf.read(
        lambda c: c.execute(select(func.count()).select_from(recon_breaks)).scalar_one()
    )
    assert count == first["breaks"]["new"]

    # a lost record comes back: adopt a line missing in the journal
    lost = next(n for n, o in day.line_truth.items() if o == "missing_in_journal")
    adopted = decisions.adopt(cf, who, f"1:{lost}", reason="terminal lost power before upload")
    assert adopted["kind"] == "recovered"
    with pytest.raises(Conflict):
        decisions.adopt(cf, who, f"1:{lost}", reason="twice")
    entry = cf.read(lambda c: lookups.find(c, adopted["entry_id"]))
    assert entry["kind"] == "recovered"
    assert entry["remarks"].startswith("RECOVERED from statement")
    assert entry["recovered_from"]["line_no"] == lost
    # its stub and a proof of payment can be produced, and both say it was recovered
    owner = Principal.local("test")
    slip = receipts.reprint(
        cf, owner, adopted["entry_id"], copy="merchant", fmt="text80", reason="lost"
    )
    assert "RECOVERED" in slip.content.decode()
    supervisor = Principal(
        "person", "user:sup", "testclient", role="supervisor", merchants=(MERCHANT,)
    )
    proof = certificates.issue(cf, supervisor, adopted["entry_id"], fmt="html", locale="en")
    assert proof.entry_id == adopted["entry_id"]
    assert "Not recorded at the terminal: recovered from statement" in proof.content.decode()

    third = service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    assert third["breaks"]["resolved"] == 1
    entries, lines = _by_record(cf, third["run_id"])
    assert lines[lost] == {"matched"}
    assert entries[adopted["seq"]] == {"matched"}
    listed = cf.read(lambda c: views.list_breaks(c, who, MERCHANT, status="resolved"))
    assert [b["line"] for b in listed["items"]] == [f"1:{lost}"]


def test_manual_match_and_unmatch_survive_re_runs(cf: Counterfoil, day: Day) -> None:
    _load(cf, day)
    who = finance(MERCHANT)
    service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    lonely_entry = next(s for s, o in day.entry_truth.items() if o == "missing_in_statement")
    lonely_line = next(n for n, o in day.line_truth.items() if o == "missing_in_journal")
    decisions.decide(
        cf,
        who,
        "match",
        merchant_no=MERCHANT,
        seq=lonely_entry,
        line=f"1:{lonely_line}",
        reason="same customer, acquirer keyed a new RRN",
    )
    run = service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    entries, lines = _by_record(cf, run["run_id"])
    assert entries[lonely_entry] == lines[lonely_line] == {"matched"}
    assert run["passes"]["manual"] == 1
    assert run["breaks"]["resolved"] == 2

    matched = next(
        s
        for s, o in day.entry_truth.items()
        if o == "matched" and not any(e.seq == s and e.channel == "wechat" for e in day.entries)
    )
    (pair,) = cf.read(lambda c: [r[2] for r in run_outcomes(c, run["run_id"]) if r[0] == matched])
    decisions.decide(
        cf,
        who,
        "unmatch",
        merchant_no=MERCHANT,
        seq=matched,
        line=f"1:{pair}",
        reason="wrong pairing",
    )
    rerun = service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    entries, lines = _by_record(cf, rerun["run_id"])
    assert "matched" not in entries[matched]
    actions = cf.read(
        lambda c: [
            r[0]
            for r in c.execute(
                select(audit_log.c.action).where(audit_log.c.action.like("reconcile.%"))
            )
        ]
    )
    assert {"reconcile.run", "reconcile.match", "reconcile.unmatch"} <= set(actions)
    with pytest.raises(Conflict):
        decisions.decide(
            cf,
            who,
            "match",
            merchant_no=MERCHANT,
            seq=lonely_entry,
            line=f"1:{pair}",
            reason="second",
        )


def test_breaks_export_and_stay_with_their_merchant(cf: Counterfoil, day: Day) -> None:
    _load(cf, day)
    merchant_svc.add_merchant(cf, OTHER, "别家店")
    who = finance(MERCHANT)
    service.reconcile(cf, who, merchant_no=MERCHANT, day=DAY)
    data = export_breaks(cf, who, "csv", merchant_no=MERCHANT, locale="en")
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Break,Status,Outcome,Explanation")
    assert "in the journal" in text
    book = load_workbook(
        io.BytesIO(export_breaks(cf, who, "xlsx", merchant_no=MERCHANT, locale="zh_CN"))
    )
    sheet = book.worksheets[0]
    assert sheet.max_row == len(text.splitlines())
    stranger = finance(OTHER)
    with pytest.raises(Forbidden):
        service.reconcile(cf, stranger, merchant_no=MERCHANT, day=DAY)
    with pytest.raises(Forbidden):
        cf.read(lambda c: views.list_breaks(c, stranger, MERCHANT))
    assert cf.read(lambda c: views.list_breaks(c, stranger))["total"] == 0
    some = cf.read(lambda c: views.list_breaks(c, who, MERCHANT))["items"][0]
    with pytest.raises(NotFound):
        cf.read(lambda c: views.get_break(c, stranger, some["break_id"]))


def test_a_run_that_does_not_add_up_is_refused(cf: Counterfoil, day: Day, monkeypatch: Any) -> None:
    _load(cf, day)
    from counterfoil.reconcile.engines import duckdb_engine

    real = duckdb_engine.DuckDBResult.summary

    def lossy(self: Any) -> list[tuple[str, str, int, int]]:
        return [r for r in real(self) if r[1] != "duplicate"]

    monkeypatch.setattr(duckdb_engine.DuckDBResult, "summary", lossy)
    with pytest.raises(IntegrityFailure):
        service.reconcile(cf, finance(MERCHANT), merchant_no=MERCHANT, day=DAY)
    for table in (recon_outcomes, recon_outcome_sets):
        count = select(func.count()).select_from(table)
        assert cf.read(lambda c, count=count: c.execute(count).scalar_one()) == 0


def test_an_empty_day_is_a_complete_run_with_nothing_in_it(cf: Counterfoil) -> None:
    merchant_svc.add_merchant(cf, MERCHANT, "空店")
    run = service.reconcile(cf, finance(MERCHANT), merchant_no=MERCHANT, day=DAY)
    assert run["journal"]["in"] == {"count": 0, "amount": 0}
    assert run["statement"]["complete"]
    assert run["breaks"] == {"new": 0, "persisting": 0, "resolved": 0}


def test_a_large_day_s_lines_staged_by_a_process_of_their_own_are_the_same(
    cf: Counterfoil, day: Day, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite the lines of a day of ``PARALLEL_ENTRIES`` entries or more are copied by
    a spawned process while the entries are copied here: forced on a small day, the
    staged files are byte for byte those copied one after the other."""
    _load(cf, day)
    scope = cf.read(lambda conn: service.day_scope(conn, MERCHANT, DAY))
    tolerances = [DEFAULT_TOLERANCES[s] for s in scope.window.sources]
    pools: list[Any] = []

    class Spy(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(staging, "ProcessPoolExecutor", Spy)
    monkeypatch.setattr(staging, "_cores", lambda: 2)
    staged = {}
    for threshold in (10**9, 0):
        monkeypatch.setattr(staging, "PARALLEL_ENTRIES", threshold)
        done = staging.stage(cf.engine, scope.window, tmp_path / str(threshold), tolerances, [])
        staged[threshold] = (done.entries.read_bytes(), done.lines.read_bytes(), done.counts)
    assert len(pools) == (1 if cf.engine.dialect.name == "sqlite" else 0)
    assert staged[0] == staged[10**9]
    assert staged[0][2]["entries"] > 0
    assert staged[0][2]["lines"] > 0
