"""Cases that open themselves, once: a batch close that does not balance, a
reconciliation break (through those services, which call ``cases.auto``), and the
pre-authorisation monitor's findings. A re-run opens nothing new. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from cases.conftest import FINANCE, NEIGHBOUR, SUPERVISOR, audited, local_time, record
from conftest import MERCHANT, TERMINAL, sale
from counterfoil.cases import auto, preauths
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.services.context import Counterfoil
from counterfoil.store.audit import verify_audit
from counterfoil.store.cases_schema import cases
from counterfoil.store.schema import journal_entries

WHEN = "2026-11-20T14:05:09+08:00"


def count_cases(cf: Counterfoil) -> int:
    with cf.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def board(cf: Counterfoil) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        return list(wf.list_cases(conn, FINANCE)["items"])


# --- batch close ---------------------------------------------------------------------------


def test_a_batch_that_does_not_balance_opens_one_case_per_difference(
    cf: Counterfoil, shop: Any
) -> None:
    from counterfoil.settlement import batch

    [first, second] = record(
        cf,
        sale(batch_no="000001", amount=10000, terminal_time=WHEN),
        sale(trace_no="000002", rrn="000049993191", amount=30000, terminal_time=WHEN),
    )
    report = {
        "merchant_no": MERCHANT,
        "terminal_id": TERMINAL,
        "batch_no": "000001",
        "debit_count": 1,
        "debit_amount": 10000,
        "credit_count": 0,
        "credit_amount": 0,
    }
    closed = batch.close_batch(cf, SUPERVISOR, report)
    assert closed["balanced"] is False
    [case] = board(cf)
    assert (case["kind"], case["origin"], case["terminal_id"]) == (
        "batch_mismatch",
        "batch_close",
        TERMINAL,
    )
    assert case["difference"] == -30000  # the terminal counted 300.00 less than the journal
    with cf.engine.connect() as conn:
        shown = wf.get_case(conn, FINANCE, case["id"])
    assert [e["ref"] for e in shown["evidence"]] == [second]
    batch.close_batch(cf, SUPERVISOR, report)  # the same close again: nothing new
    discrepancy = int(case["origin_ref"].split(":")[1])
    assert (
        cf.write(
            lambda conn: auto.on_batch_discrepancy(
                conn, merchant_no=MERCHANT, discrepancy_id=discrepancy
            )
        )
        is None
    )
    assert count_cases(cf) == 1
    assert first != second


def test_the_batch_hook_opens_nothing_for_a_difference_that_is_not_there(
    cf: Counterfoil, shop: Any
) -> None:
    found = cf.write(
        lambda conn: auto.on_batch_discrepancy(conn, merchant_no=MERCHANT, discrepancy_id=999)
    )
    assert found is None
    assert count_cases(cf) == 0


# --- reconciliation ------------------------------------------------------------------------


def test_reconciliation_breaks_open_cases_once_across_runs(cf: Counterfoil, shop: Any) -> None:
    from counterfoil.reconcile import service

    record(
        cf,
        sale(amount=10000, terminal_time=WHEN),
        sale(trace_no="000002", rrn="000049993191", amount=30000, terminal_time=WHEN),
    )
    first = service.reconcile(cf, FINANCE, merchant_no=MERCHANT, day=date(2026, 11, 20))
    opened = board(cf)
    assert len(opened) == 2, first
    assert {c["kind"] for c in opened} == {"missing_record"}
    assert {c["origin"] for c in opened} == {"reconciliation"}
    assert all(c["origin_ref"].startswith("recon:") for c in opened)
    service.reconcile(cf, FINANCE, merchant_no=MERCHANT, day=date(2026, 11, 20))
    assert count_cases(cf) == 2  # the same breaks persist: no second case
    with cf.engine.connect() as conn:
        shown = wf.get_case(conn, FINANCE, opened[0]["id"])
    assert shown["evidence"][0]["kind"] == "journal_entry"
    assert shown["description"]  # the break's explanation
    assert shown["events"][0]["kind"] == "opened"
    # opened together, each is audited on its own, and the audit chain still holds
    trail = [r for r in audited(cf, "case.open") if r["actor"] == "system:cases"]
    assert sorted(int(r["object_id"]) for r in trail) == sorted(c["id"] for c in opened)
    assert {r["details"] for r in trail} == {
        f'{{"kind":"missing_record","origin":"reconciliation","origin_ref":"{c["origin_ref"]}"}}'
        for c in opened
    }
    with cf.engine.connect() as conn:
        assert verify_audit(conn)[1] is None


def test_the_reconciliation_hook_is_harmless_for_an_unknown_run(cf: Counterfoil, shop: Any) -> None:
    assert (
        cf.write(lambda conn: auto.on_reconciliation_breaks(conn, merchant_no=MERCHANT, run_id=42))
        == 0
    )


# --- the pre-authorisation monitor ---------------------------------------------------------


def preauth(trace: str, rrn: str, amount: int, when: str) -> dict[str, Any]:
    return sale(type="preauth", trace_no=trace, rrn=rrn, amount=amount, terminal_time=when)


def completion(trace: str, rrn: str, amount: int, of_rrn: str, when: str) -> dict[str, Any]:
    return sale(
        type="completion",
        trace_no=trace,
        rrn=rrn,
        amount=amount,
        terminal_time=when,
        original={"rrn": of_rrn},
    )


@pytest.fixture
def holds(cf: Counterfoil, shop: Any) -> dict[str, str]:
    """A hold about to lapse, one still fresh, one completed for 110 % of it."""
    ids = record(
        cf,
        preauth("000001", "000000000001", 50000, local_time(28)),
        preauth("000002", "000000000002", 20000, local_time(1)),
        preauth("000003", "000000000003", 10000, local_time(2)),
        completion("000004", "000000000004", 11000, "000000000003", local_time(1)),
    )
    return dict(zip(("lapsing", "fresh", "held", "completed"), ids, strict=True))


def add_raw_completion(cf: Counterfoil, original_seq: int | None, amount: int) -> str:
    """A completion as a recovered entry might bring it, past the rules ingest applies
    (written straight into the table: the chain is not the point of this test)."""
    with cf.engine.begin() as conn:
        seq = (
            int(
                conn.execute(
                    select(func.max(journal_entries.c.seq)).where(
                        journal_entries.c.merchant_no == MERCHANT
                    )
                ).scalar_one()
            )
            + 1
        )
        conn.execute(
            insert(journal_entries).values(
                merchant_no=MERCHANT,
                seq=seq,
                kind="recovered",
                body="{}",
                entry_hash="0" * 64,
                prev_hash="0" * 64,
                key_id="k",
                signature="s",
                recorded_at=datetime.now(UTC),
                terminal_id=TERMINAL,
                type="completion",
                amount=amount,
                currency="CNY",
                terminal_time=datetime.now(UTC) - timedelta(hours=1),
                original_seq=original_seq,
            )
        )
    return f"{MERCHANT}-{seq}"


def test_the_monitor_finds_what_the_guide_calls_a_guarantee_error(
    cf: Counterfoil, holds: dict[str, str]
) -> None:
    held_seq = int(holds["held"].rsplit("-", 1)[1])
    orphan = add_raw_completion(cf, None, 7000)
    double = add_raw_completion(cf, held_seq, 9000)
    with cf.engine.connect() as conn:
        found = preauths.monitor(conn, FINANCE, MERCHANT, within_days=3, tolerance_pct=100)
        by_rule = preauths.monitor(conn, FINANCE, MERCHANT)  # the merchant's 115 %
    assert [h["entry_id"] for h in found["open"]] == [holds["lapsing"], holds["fresh"]]
    assert [h["entry_id"] for h in found["expiring"]] == [holds["lapsing"]]
    assert [(c["entry_id"], c["over"]) for c in found["above_tolerance"]] == [
        (holds["completed"], 1000)
    ]
    assert by_rule["above_tolerance"] == []
    assert [c["entry_id"] for c in found["without_preauth"]] == [orphan]
    [twice] = found["double_completion"]
    assert twice["completions"] == [holds["completed"], double]


def test_each_finding_opens_a_case_once(cf: Counterfoil, holds: dict[str, str]) -> None:
    first = preauths.open_cases(
        cf, SUPERVISOR, MERCHANT, findings=("expiring", "above_tolerance"), tolerance_pct=100
    )
    assert len(first["opened"]) == 2
    assert first["existing"] == []
    again = preauths.open_cases(
        cf, SUPERVISOR, MERCHANT, findings=("expiring", "above_tolerance"), tolerance_pct=100
    )
    assert again["opened"] == []
    assert sorted(again["existing"]) == sorted(first["opened"])
    above = next(c for c in board(cf) if c["origin_ref"].startswith("preauth:above_tolerance"))
    assert (above["kind"], above["difference"]) == ("preauth_mismatch", -1000)
    with cf.engine.connect() as conn:
        refs = [e["ref"] for e in wf.get_case(conn, FINANCE, above["id"])["evidence"]]
    assert refs == [holds["completed"], holds["held"]]


def test_the_monitor_is_confined_and_checked(cf: Counterfoil, holds: dict[str, str]) -> None:
    with cf.engine.connect() as conn:
        with pytest.raises(Forbidden):
            preauths.monitor(conn, NEIGHBOUR, MERCHANT)
        with pytest.raises(ValidationError) as bad:
            preauths.monitor(conn, FINANCE, MERCHANT, tolerance_pct=50)
        assert bad.value.field == "tolerance_pct"
    with pytest.raises(ValidationError) as finding:
        preauths.open_cases(cf, SUPERVISOR, MERCHANT, findings=("everything",))
    assert finding.value.field == "findings"
