"""Tests of the demo's story (counterfoil.demo.story): one loaded demo, checked throughout."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from counterfoil.config import load_settings
from counterfoil.demo.load import demo_users, load_demo
from counterfoil.demo.story import AMOUNT_OFF, tell_story
from counterfoil.services.context import Counterfoil
from counterfoil.settlement.lists import find_close
from counterfoil.store.batch_schema import batch_closes, batch_discrepancies
from counterfoil.store.cases_schema import case_adjustments, case_events, cases
from counterfoil.store.reconcile_schema import recon_breaks, recon_runs
from counterfoil.store.schema import (
    journal_entries,
    statement_imports,
    statement_lines,
)

END = date(2026, 11, 21)
DAYS = 6
TABLES = (
    batch_closes,
    batch_discrepancies,
    cases,
    case_events,
    case_adjustments,
    recon_runs,
    recon_breaks,
    statement_imports,
    statement_lines,
    journal_entries,
)


@pytest.fixture(scope="module")
def told(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Counterfoil, dict[str, Any]]]:
    """A demo of six days, its users and its story, loaded once for the module."""
    cf = Counterfoil.open(load_settings(home=tmp_path_factory.mktemp("story")))
    try:
        loaded = load_demo(cf, seed=7, days=DAYS, end=END)
        demo_users(cf, loaded["merchants"])
        story = tell_story(cf, loaded)
        yield cf, {"loaded": loaded, "story": story}
    finally:
        cf.close()


def _rows(cf: Counterfoil, table: Any) -> list[Any]:
    return cf.read(lambda conn: conn.execute(select(table)).all())


def test_one_batch_is_reported_short_and_opens_a_case(told: Any) -> None:
    cf, found = told
    closes = _rows(cf, batch_closes)
    assert found["story"]["batch_closes"] == len(closes) == 9  # 3 terminals, 3 days
    short = [c for c in closes if not c.balanced]
    assert len(short) == 1
    assert short[0].terminal_debit_count == short[0].journal_debit_count - 1
    opened = [c for c in _rows(cf, cases) if c.origin == "batch_close"]
    assert len(opened) == 1
    assert opened[0].difference < 0  # the terminal reported less than the journal holds


def test_every_day_but_the_last_is_closed(told: Any) -> None:
    cf, found = told
    merchant = found["story"]["merchant"]
    first = date.fromisoformat(found["loaded"]["from"])
    closed = cf.read(
        lambda conn: [
            find_close(conn, merchant, date.fromordinal(first.toordinal() + n)) is not None
            for n in range(DAYS)
        ]
    )
    assert closed == [True] * (DAYS - 1) + [False]
    assert found["story"]["days_closed"] == DAYS - 1
    assert found["story"]["lists_issued"] == 3  # two originals and a reprint


def test_the_bill_is_imported_and_reconciled_with_each_break(told: Any) -> None:
    cf, found = told
    story = found["story"]
    (imported,) = _rows(cf, statement_imports)
    assert imported.format == "wechat_trade"
    assert imported.lines == story["statement_lines"] > 50
    assert imported.rejected == 0
    assert imported.balanced
    assert (Path(cf.settings.home) / "demo" / story["statement"]).is_file()
    runs = _rows(cf, recon_runs)
    assert len(runs) == story["reconciliations"] == 3
    breaks = _rows(cf, recon_breaks)
    assert sorted(b.outcome for b in breaks) == [
        "amount_mismatch",
        "fee_mismatch",
        "missing_in_journal",
        "missing_in_statement",
    ]
    refs = {c.origin_ref for c in _rows(cf, cases) if c.origin == "reconciliation"}
    assert refs == {f"recon:{b.break_id}" for b in breaks}  # one case per break


def test_the_amount_case_is_worked_and_waits_for_approval(told: Any) -> None:
    cf, found = told
    case_id = found["story"]["worked_case"]
    case = next(c for c in _rows(cf, cases) if c.id == case_id)
    assert case.assignee == "finance"
    assert case.state == "investigating"
    assert case.difference == AMOUNT_OFF
    kinds = [e.kind for e in _rows(cf, case_events) if e.case_id == case_id]
    assert {"assigned", "note", "adjustment_proposed"} <= set(kinds)
    (proposal,) = _rows(cf, case_adjustments)
    assert (proposal.case_id, proposal.status, proposal.amount) == (case_id, "proposed", 300)
    assert proposal.proposed_by == "user:finance"


def test_telling_it_again_adds_nothing(told: Any) -> None:
    cf, found = told

    def counts() -> list[int]:
        return cf.read(
            lambda conn: [
                conn.execute(select(func.count()).select_from(t)).scalar_one() for t in TABLES
            ]
        )

    before = counts()
    loaded = load_demo(cf, seed=7, days=DAYS, end=END)
    again = tell_story(cf, loaded)
    assert loaded["recorded"] == 0
    assert counts() == before
    assert (again["batch_closes"], again["days_closed"], again["lists_issued"]) == (0, 0, 0)
    assert (again["reconciliations"], again["worked_case"]) == (0, None)
    assert again["statement"] == found["story"]["statement"]
