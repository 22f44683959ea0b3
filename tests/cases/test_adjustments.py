"""Adjustments: money moves only through new journal entries, proposed by one person and
approved by a second (finance or an admin, never the proposer), bounded by the case's
difference; the entry is written at approval, chained and signed, names the case and
the proposal, and is an expected item of its business day. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from cases.conftest import ADMIN, AUDITOR, FINANCE, NEIGHBOUR, SECOND_FINANCE, SUPERVISOR, audited
from conftest import MERCHANT
from counterfoil.cases import adjustments
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Conflict, Forbidden, NotFound, ValidationError
from counterfoil.services import verification
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import journal_entries


@pytest.fixture
def case_id(cf: Counterfoil, entries: list[str]) -> int:
    found = wf.open_case(
        cf,
        SUPERVISOR,
        merchant=MERCHANT,
        kind="amount_error",
        title="charged 18.00 too much",
        difference=-1800,
        entries=[entries[0]],
    )
    wf.assign(cf, FINANCE, found["id"], "qian")
    return int(found["id"])


def journal(cf: Counterfoil, kind: str) -> list[Any]:
    with cf.engine.connect() as conn:
        j = journal_entries.c
        return list(
            conn.execute(
                select(journal_entries)
                .where(j.merchant_no == MERCHANT, j.kind == kind)
                .order_by(j.seq)
            )
        )


def test_an_approved_refund_is_a_signed_journal_entry_naming_its_case(
    cf: Counterfoil, case_id: int, entries: list[str]
) -> None:
    proposed = adjustments.propose(
        cf, FINANCE, case_id, kind="refund", amount="18.00", reason="agreed with the acquirer"
    )
    [proposal] = proposed["adjustments"]
    assert (proposal["status"], proposal["amount"], proposal["entry_id"]) == (
        "proposed",
        1800,
        None,
    )
    assert journal(cf, "adjustment") == []  # nothing moves before a second person approves
    approved = adjustments.decide(cf, SECOND_FINANCE, case_id, proposal["id"], note="checked")
    [done] = approved["adjustments"]
    assert (done["status"], done["decided_by"]) == ("approved", "user:sun")
    [entry] = journal(cf, "adjustment")
    assert done["entry_id"] == f"{MERCHANT}-{entry.seq}"
    body = orjson.loads(entry.body)
    assert body["kind"] == "adjustment"
    assert body["effects"] == {"fee": 0, "net": -1800}  # a refund pays 18.00 back
    assert body["data"] | {"business_day": "x", "terminal_time": "t"} == {
        "adjustment": "refund",
        "amount": 1800,
        "currency": "CNY",
        "case_id": case_id,
        "proposal_id": proposal["id"],
        "reason": "agreed with the acquirer",
        "proposed_by": "user:qian",
        "approved_by": "user:sun",
        "business_day": "x",
        "terminal_time": "t",
        "entries": [entries[0]],
    }
    assert (entry.amount, entry.currency, entry.type, entry.net) == (1800, "CNY", None, -1800)
    [report] = verification.verify(cf, MERCHANT, full=True)
    assert report.ok, report.message
    kinds = [e["kind"] for e in approved["events"]]
    assert kinds[-2:] == ["adjustment_proposed", "adjustment_approved"]
    assert approved["events"][-1]["details"]["entry_id"] == done["entry_id"]
    assert len(audited(cf, "case.adjustment.approve")) == 1


def test_the_proposer_never_approves_and_only_finance_or_admin_do(
    cf: Counterfoil, case_id: int
) -> None:
    found = adjustments.propose(cf, FINANCE, case_id, kind="write_off", amount=500, reason="x")
    proposal = found["adjustments"][0]["id"]
    with pytest.raises(Forbidden, match="second person"):
        adjustments.decide(cf, FINANCE, case_id, proposal)
    for who in (SUPERVISOR, AUDITOR):
        with pytest.raises(Forbidden):
            adjustments.decide(cf, who, case_id, proposal)
    with pytest.raises(NotFound):
        adjustments.decide(cf, NEIGHBOUR, case_id, proposal)
    with pytest.raises(Forbidden):
        adjustments.propose(cf, SUPERVISOR, case_id, kind="refund", amount=100, reason="x")
    assert journal(cf, "adjustment") == []
    done = adjustments.decide(cf, ADMIN, case_id, proposal)
    assert done["adjustments"][0]["status"] == "approved"
    with pytest.raises(Conflict):  # once
        adjustments.decide(cf, SECOND_FINANCE, case_id, proposal)
    assert len(journal(cf, "adjustment")) == 1
    denied = [r for r in audited(cf, "case.adjustment.approve") if r["outcome"] == "denied"]
    assert len(denied) == 4


def test_adjustments_are_bounded_by_the_case(cf: Counterfoil, case_id: int) -> None:
    adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1000, reason="part one")
    with pytest.raises(ValidationError, match="at most 800 fen") as over:
        adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=801, reason="too much")
    assert over.value.field == "amount"
    second = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=800, reason="rest")
    adjustments.decide(cf, SECOND_FINANCE, case_id, second["adjustments"][1]["id"], approve=False)
    again = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=800, reason="again")
    assert [a["status"] for a in again["adjustments"]] == ["proposed", "rejected", "proposed"]
    with pytest.raises(ValidationError) as zero:
        adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=0, reason="x")
    assert zero.value.field == "amount"
    with pytest.raises(ValidationError) as kind:
        adjustments.propose(cf, FINANCE, case_id, kind="gift", amount=1, reason="x")
    assert kind.value.field == "kind"


def test_a_case_without_a_difference_moves_no_money(cf: Counterfoil, entries: list[str]) -> None:
    found = wf.open_case(cf, SUPERVISOR, merchant=MERCHANT, kind="other", title="a question")
    with pytest.raises(ValidationError, match="states no difference"):
        adjustments.propose(cf, FINANCE, found["id"], kind="refund", amount=1, reason="x")


def test_a_case_closes_only_when_no_adjustment_waits(cf: Counterfoil, case_id: int) -> None:
    found = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1800, reason="x")
    wf.respond(cf, FINANCE, case_id, outcome="accepted")
    with pytest.raises(Conflict, match="waiting for approval"):
        wf.close(cf, FINANCE, case_id, root_cause="acquirer_error", lesson="x")
    adjustments.decide(cf, SECOND_FINANCE, case_id, found["adjustments"][0]["id"])
    closed = wf.close(cf, FINANCE, case_id, root_cause="acquirer_error", lesson="x")
    assert closed["state"] == "closed"
    with pytest.raises(Conflict):
        adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1, reason="x")


def test_approved_adjustments_are_expected_items_of_their_day(
    cf: Counterfoil, case_id: int
) -> None:
    first = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1000, reason="a")
    adjustments.decide(cf, SECOND_FINANCE, case_id, first["adjustments"][0]["id"])
    adjustments.propose(cf, FINANCE, case_id, kind="supplement", amount=300, reason="pending")
    with cf.engine.connect() as conn:
        day = wf.today("Asia/Shanghai")
        items = adjustments.expected_items(
            conn, MERCHANT, day - timedelta(days=1), day + timedelta(days=1)
        )
        assert adjustments.expected_items(conn, MERCHANT, date(2020, 1, 1), date(2020, 1, 2)) == []
    [item] = items  # the proposal still waiting is not expected
    assert (item["kind"], item["amount"], item["net"], item["case_id"]) == (
        "refund",
        1000,
        -1000,
        case_id,
    )


def test_an_approved_adjustment_is_in_its_days_settlement_list(
    cf: Counterfoil, case_id: int
) -> None:
    from counterfoil.settlement import lists
    from counterfoil.settlement.days import settings_of

    found = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1800, reason="a")
    with cf.engine.connect() as conn:
        # the business day of now: after the merchant's cutoff (23:00) it is tomorrow's
        day = settings_of(conn, MERCHANT).business_day(datetime.now(UTC))
        before = lists.build(conn, FINANCE, MERCHANT, day).as_dict()
    adjustments.decide(cf, SECOND_FINANCE, case_id, found["adjustments"][0]["id"])
    with cf.engine.connect() as conn:
        after = lists.build(conn, FINANCE, MERCHANT, day).as_dict()
    assert [x for x in before["other_kinds"] if x["key"] == "adjustment"] == []
    [line] = [x for x in after["other_kinds"] if x["key"] == "adjustment"]
    assert (line["count"], line["volume"], line["fee"], line["net"]) == (1, -1800, 0, -1800)


def test_an_approved_adjustment_moves_the_payout_expected_for_its_day(
    cf: Counterfoil, case_id: int
) -> None:
    """The second level of reconciliation expects it: the net due on the day's settlement
    date changes by the adjustment, so the bank's credit is not taken for a break."""
    from counterfoil.reconcile.payouts import expected_payouts

    def due() -> int:
        with cf.engine.connect() as conn:
            day = wf.today("Asia/Shanghai")
            expected, nothing = expected_payouts(
                conn, MERCHANT, day - timedelta(days=10), day + timedelta(days=10)
            )
        return sum(e.amount for e in expected) + sum(int(n["net"]) for n in nothing)

    before = due()
    found = adjustments.propose(cf, FINANCE, case_id, kind="refund", amount=1000, reason="a")
    assert due() == before  # a proposal waiting for approval moves nothing
    adjustments.decide(cf, SECOND_FINANCE, case_id, found["adjustments"][0]["id"])
    assert due() == before - 1000
