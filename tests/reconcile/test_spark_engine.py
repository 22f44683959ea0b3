"""The same passes on Apache Spark (local mode) give what DuckDB gives, row for row.

A generated day with every kind of break (missing either side, wrong amount, type,
status or fee, a duplicated line, the settlement window, a line past midnight, a split
settlement, a void, lines found only by terminal and trace or by card and time) and one
manual match and one manual unmatch is run through both engines (Spark in a session
of its own, made from the module's): the outcome rows, the
break details, the summaries, the totals and each pass's count must be the same. One
Spark session serves the module; it binds to 127.0.0.1 and shows no UI.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

pytest.importorskip("pyspark")

from pyspark.sql import SparkSession

from counterfoil.reconcile.engines.base import EngineResult, Staged
from counterfoil.reconcile.engines.duckdb_engine import DuckDBEngine
from counterfoil.reconcile.engines.spark_engine import SparkEngine, local_session
from counterfoil.reconcile.generator import KINDS, Day, make_day, write_staged
from counterfoil.reconcile.model import DEFAULT_TOLERANCES, SEPARATOR, line_id, line_ref

MERCHANT = "102310048993424"
pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    session = local_session(shuffle_partitions=1, scratch=tmp_path_factory.mktemp("spark"))
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def day() -> Day:
    return make_day(MERCHANT, date(2026, 11, 20), 200, break_rate=0.5, seed=11)


def _staged(day: Day, folder: Path, decisions: list[tuple[int, int, str]]) -> Staged:
    entries, lines, chosen = write_staged(day, folder)
    chosen.write_text("".join(f"{e}{SEPARATOR}{lid}{SEPARATOR}{a}\n" for e, lid, a in decisions))
    return Staged(
        folder, entries, lines, chosen, tuple(DEFAULT_TOLERANCES.values()),
        int(day.start.timestamp()), int(day.end.timestamp()),
    )  # fmt: skip


def _everything(result: EngineResult) -> dict[str, Any]:
    try:
        rows = [r for batch in result.outcomes(size=97) for r in batch]
        stored = sorted(
            (r for batch in result.stored(size=97) for r in batch),
            key=lambda r: (r[0] or 0, r[1] or 0, r[2] or 0, r[3], r[4]),
        )
        sets = list(result.sets(7))  # small sets: parts are cut inside outcomes and passes
        members = [
            (*member, outcome, pass_)
            for outcome, pass_, _part, _n, text in sets
            for member in orjson.loads(text)
        ]
        assert len(stored) + len(members) == len(rows)
        return {
            "outcomes": sorted(rows, key=lambda r: (r[0] or 0, r[1] or 0, r[2], r[3])),
            "stored": stored,
            "sets": sets,
            "members": members,
            "count": len(rows),
            "details": result.details(),
            "summary": sorted(result.summary()),
            "totals": sorted(result.totals()),
            "passes": result.pass_counts(),
        }
    finally:
        result.close()


def _decisions(day: Day) -> list[tuple[int, int, str]]:
    """A person matches a line left missing to an entry left missing, and unmatches one
    clean pair: both engines must honour both."""
    lonely_line = min(n for n, o in day.line_truth.items() if o == "missing_in_journal")
    lonely_entry = min(s for s, o in day.entry_truth.items() if o == "missing_in_statement")
    clean = min(s for s, o in day.entry_truth.items() if o == "matched")
    clean_line = next(
        x.line_no
        for x in day.lines
        if day.line_truth.get(x.line_no) == "matched"
        and any(
            e.seq == clean and (e.rrn or e.order_no) in (x.rrn, x.platform_id) for e in day.entries
        )
    )
    return [
        (lonely_entry, line_id(1, lonely_line), "match"),
        (clean, line_id(1, clean_line), "unmatch"),
    ]


def test_spark_gives_duckdbs_outcomes_row_for_row(
    spark: SparkSession, day: Day, tmp_path: Path
) -> None:
    assert {k for k, n in day.injected.items() if n} == set(KINDS)
    decisions = _decisions(day)
    duck = _everything(
        DuckDBEngine(memory_limit="256MB", threads=1).run(_staged(day, tmp_path / "d", decisions))
    )
    lit = _everything(SparkEngine(session=spark).run(_staged(day, tmp_path / "s", decisions)))

    assert lit["count"] == duck["count"] > len(day.entries)
    assert lit["outcomes"] == duck["outcomes"]
    assert lit["details"] == duck["details"]
    assert lit["summary"] == duck["summary"]
    assert lit["totals"] == duck["totals"]
    assert lit["passes"] == duck["passes"]
    assert lit["stored"] == duck["stored"]
    # the sets are the same text, cut in the same places, whether DuckDB's SQL made them
    # or base.outcome_sets from Spark's rows
    assert lit["sets"] == duck["sets"]
    assert all(n == len(orjson.loads(text)) <= 7 for _o, _p, _part, n, text in duck["sets"])
    # the rows as stored are the outcome rows, the line id split into import and line
    split = {
        (e, *(line_ref(lid) if lid is not None else (None, None)), outcome, pass_)
        for e, lid, pass_, outcome in duck["outcomes"]
    }
    assert set(duck["stored"]) | set(duck["members"]) == split
    assert {r[3] for r in duck["members"]} == {"matched", "pending"}
    assert {r[3] for r in duck["stored"]}.isdisjoint({"matched", "pending"})
    # the comparison is about something: every outcome and every pass occurs
    outcomes = {r[3] for r in duck["outcomes"]}
    assert outcomes == {
        "matched", "missing_in_statement", "missing_in_journal", "amount_mismatch",
        "type_mismatch", "status_mismatch", "fee_mismatch", "duplicate", "pending",
    }  # fmt: skip
    assert all(
        duck["passes"][p] > 0
        for p in ("manual", "split", "exact", "platform", "composite", "tolerant")
    )
    # the unmatched pair is not paired again by the passes
    unmatched = decisions[1]
    assert not any(r[0] == unmatched[0] and r[1] == unmatched[1] for r in lit["outcomes"])
