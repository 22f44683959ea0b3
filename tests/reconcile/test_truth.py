"""Proof of correctness: a day with every kind of break injected, reconciled by the
engine; every injected break is found with its outcome and no false one appears
(precision and recall 100 %), and every record gets exactly one outcome."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from counterfoil.reconcile.engines.base import Staged
from counterfoil.reconcile.engines.duckdb_engine import DuckDBEngine
from counterfoil.reconcile.generator import KINDS, Day, make_day, write_staged
from counterfoil.reconcile.model import DEFAULT_TOLERANCES, line_ref

MERCHANT = "102310048993424"


def _run(day: Day, folder: Path) -> tuple[dict[int, set[str]], dict[int, set[str]], dict[str, int]]:
    entries, lines, decisions = write_staged(day, folder)
    staged = Staged(
        folder, entries, lines, decisions, tuple(DEFAULT_TOLERANCES.values()),
        int(day.start.timestamp()), int(day.end.timestamp()),
    )  # fmt: skip
    result = DuckDBEngine(memory_limit="256MB", threads=1).run(staged)
    try:
        by_entry: dict[int, set[str]] = defaultdict(set)
        by_line: dict[int, set[str]] = defaultdict(set)
        for batch in result.outcomes():
            for eid, lid, _pass, outcome in batch:
                if eid is not None:
                    by_entry[eid].add(outcome)
                if lid is not None:
                    by_line[line_ref(lid)[1]].add(outcome)
        passes = result.pass_counts()
    finally:
        result.close()
    return by_entry, by_line, passes


def _found(day: Day, by_entry: dict[int, set[str]], by_line: dict[int, set[str]]) -> None:
    expected_entries = {s: o for s, o in day.entry_truth.items() if o != "set_aside"}
    assert {s: next(iter(o)) for s, o in by_entry.items()} == expected_entries
    assert {n: next(iter(o)) for n, o in by_line.items()} == day.line_truth


def test_every_injected_break_is_found_and_no_false_one(tmp_path: Path) -> None:
    day = make_day(MERCHANT, date(2026, 11, 20), 2_000, break_rate=0.1, seed=3)
    by_entry, by_line, passes = _run(day, tmp_path)
    # exactly one outcome per record
    assert all(len(o) == 1 for o in (*by_entry.values(), *by_line.values()))
    _found(day, by_entry, by_line)
    found = {o for s in (*by_entry.values(), *by_line.values()) for o in s}
    assert found == {
        "matched", "missing_in_statement", "missing_in_journal", "amount_mismatch",
        "type_mismatch", "status_mismatch", "fee_mismatch", "duplicate", "pending",
    }  # fmt: skip
    # every pass did its share: the split settlement, the composite and tolerant keys
    assert passes["split"] == 2 * day.injected["split"]
    assert passes["composite"] >= day.injected["composite"]
    assert passes["tolerant"] == day.injected["tolerant"]
    assert passes["platform"] > 0
    assert set(day.injected) == set(KINDS)


@settings(max_examples=25)
@given(
    n=st.integers(min_value=1, max_value=120),
    rate=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_every_record_gets_exactly_one_outcome(
    tmp_path_factory: pytest.TempPathFactory, n: int, rate: float, seed: int
) -> None:
    day = make_day(MERCHANT, date(2026, 11, 20), n, break_rate=rate, seed=seed)
    by_entry, by_line, _passes = _run(day, tmp_path_factory.mktemp("day"))
    assert all(len(o) == 1 for o in (*by_entry.values(), *by_line.values()))
    staged_lines = {x.line_no for x in day.lines}
    assert set(by_line) == staged_lines  # every line accounted for
    voided = {e.seq for e in day.entries if e.voided}
    assert set(by_entry) == {e.seq for e in day.entries} - voided
    _found(day, by_entry, by_line)
