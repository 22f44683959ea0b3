"""Batch close (批结算): a terminal's totals against the journal — balanced (对账平), or not
balanced (不平) with the transactions that explain it; stored append-only, repeated
idempotently, each difference kept for a case; confined to the closer's own terminal
and the reader's merchants. SQLite and PostgreSQL.

The batch used throughout (terminal TERM0001, batch 000001), as the journal holds it::

    trace  type    card           amount   note
    000001 sale    622202 (内卡)   100.00
    000002 sale    622202 (内卡)   250.00   voided by 000003
    000003 void                    250.00
    000004 refund  622202 (内卡)    30.00   of 000001
    000005 sale    622202 (内卡)   400.00   tip 20.00 included
    000006 sale    438088 (外卡)   300.00
    000007 wechat  (QR, 内)         25.00

    debit 4 / 825.00 (内卡 3 / 525.00, 外卡 1 / 300.00); credit 1 / 30.00
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.cases import auto
from counterfoil.core.errors import Forbidden, NotFound, ValidationError
from counterfoil.services import ingest
from counterfoil.services.access import TERMINAL_SCOPES, Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.settlement import batch
from counterfoil.settlement.batch_compare import card_group
from counterfoil.store.audit import Actor
from counterfoil.store.batch_schema import batch_closes, batch_discrepancies
from counterfoil.store.schema import audit_log

BATCH = "000001"
WHEN = "2026-11-20T14:05:09+08:00"
SUPERVISOR = Principal("person", "user:boss", "192.0.2.7", role="supervisor", merchants=(MERCHANT,))
TERMINAL_ONE = Principal(
    "terminal",
    f"terminal:{MERCHANT}/{TERMINAL}",
    "192.0.2.8",
    merchants=(MERCHANT,),
    terminals=((MERCHANT, TERMINAL),),
    scopes=TERMINAL_SCOPES,
)
#: What the terminal counts when it agrees with the journal.
AGREED = {"debit_count": 4, "debit_amount": 82500, "credit_count": 1, "credit_amount": 3000}


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> dict[str, int]:
    """Record as the terminal sent them; trace → journal seq."""
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    assert all(r.ok for r in results), [r.error for r in results]
    return {
        str(p["trace_no"]): int(r.entry["seq"])
        for p, r in zip(payloads, results, strict=True)
        if r.entry
    }


def txn(trace: str, **changes: Any) -> dict[str, Any]:
    return (
        sale(trace_no=trace, rrn=f"000049990{trace[3:]}", batch_no=BATCH, terminal_time=WHEN)
        | changes
    )


@pytest.fixture
def seqs(cf: Counterfoil, shop: Any) -> dict[str, int]:
    return record(
        cf,
        txn("000001", amount=10000),
        txn("000002", amount=25000),
        txn("000003", type="void", amount=25000, original={"rrn": "000049990002"}),
        txn("000004", type="refund", amount=3000, original={"rrn": "000049990001"}),
        txn("000005", amount=40000, tip=2000),
        txn("000006", amount=30000, card="438088******1234"),
        {
            k: v
            for k, v in txn("000007", amount=2500, channel="wechat", order_no="WX0000007").items()
            if k not in ("card", "rrn", "auth_code")
        },
    )


def totals(debits: int, debit: int, credits: int, credit: int) -> dict[str, int]:
    return {
        "debit_count": debits,
        "debit_amount": debit,
        "credit_count": credits,
        "credit_amount": credit,
    }


def report(**changes: Any) -> dict[str, Any]:
    return {"merchant_no": MERCHANT, "terminal_id": TERMINAL, "batch_no": BATCH, **AGREED} | (
        changes
    )


def close(cf: Counterfoil, who: Principal = TERMINAL_ONE, **changes: Any) -> dict[str, Any]:
    return batch.close_batch(cf, who, report(**changes))


def only(found: dict[str, Any]) -> dict[str, Any]:
    """The one difference of a close."""
    assert len(found["differences"]) == 1, found["differences"]
    return dict(found["differences"][0])


# --- balanced ---------------------------------------------------------------------------


def test_a_batch_whose_totals_agree_is_balanced(cf: Counterfoil, seqs: dict[str, int]) -> None:
    found = close(cf)
    assert found["balanced"] is True
    assert found["answer"] == "balanced"
    assert found["differences"] == []
    assert found["journal"] == AGREED
    assert found["terminal"] == AGREED
    assert found["attempt"] == 1
    assert found["repeated"] is False
    with cf.engine.connect() as conn:
        assert conn.execute(select(batch_discrepancies)).all() == []
        stored = conn.execute(select(batch_closes)).one()
    assert stored.balanced
    assert stored.closed_at is not None
    assert stored.last_seq >= max(seqs.values())


def test_domestic_and_foreign_cards_are_compared_apart(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    """内卡 / 外卡: the 438088 Visa card is foreign, the UnionPay cards and QR domestic."""
    found = close(
        cf,
        debit_count=None,
        debit_amount=None,
        credit_count=None,
        credit_amount=None,
        domestic=totals(3, 52500, 1, 3000),
        foreign=totals(1, 30000, 0, 0),
    )
    assert found["balanced"] is True
    assert found["split"] is True
    assert found["groups"]["journal"]["foreign"]["debit_amount"] == 30000
    # the same totals put on the wrong card group: both groups differ, each explained
    wrong = close(
        cf,
        debit_count=None,
        debit_amount=None,
        credit_count=None,
        credit_amount=None,
        domestic=totals(4, 82500, 1, 3000),
    )
    assert not wrong["balanced"]
    groups = {(x["group"], x["side"]): x for x in wrong["differences"]}
    assert set(groups) == {("domestic", "debit"), ("foreign", "debit")}
    assert groups[("foreign", "debit")]["explanations"][0]["seq"] == seqs["000006"]
    assert card_group("credit", "622202") == "domestic"
    assert card_group("credit", "438088") == "foreign"
    assert card_group("wechat", None) == "domestic"


# --- not balanced, and why ----------------------------------------------------------------


def test_a_transaction_the_terminal_did_not_count_is_named(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    """Totals only: the journal holds 300.00 more in one transaction more."""
    found = close(cf, debit_count=3, debit_amount=52500)
    assert found["balanced"] is False
    assert found["answer"] == "not_balanced"
    diff = only(found)
    assert (diff["side"], diff["kind"], diff["explained"]) == ("debit", "count_and_amount", True)
    assert (diff["terminal_count"], diff["terminal_amount"]) == (3, 52500)
    assert (diff["journal_count"], diff["journal_amount"]) == (4, 82500)
    [why] = diff["explanations"]
    assert why["reason"] == "missing_on_terminal"
    assert (why["seq"], why["trace_no"], why["journal_amount"]) == (seqs["000006"], "000006", 30000)
    assert why["entry_id"] == f"{MERCHANT}-{seqs['000006']}"


def test_an_offline_upload_is_the_first_suspect(cf: Counterfoil, seqs: dict[str, int]) -> None:
    """Two transactions of 300.00: the one uploaded offline is the one named."""
    more = record(cf, txn("000008", amount=30000, offline=True))
    found = close(cf, debit_count=4, debit_amount=82500 + 0)
    # the journal now holds 5 / 1,125.00; the terminal 4 / 825.00
    [why] = only(found)["explanations"]
    assert (why["seq"], why["detail"]) == (more["000008"], "offline")


def test_a_transaction_voided_in_the_journal_is_missing_in_it(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    """The terminal counted the sale of 250.00 that the journal holds as voided."""
    found = close(cf, debit_count=5, debit_amount=107500)
    diff = only(found)
    assert diff["explained"] is True
    [why] = diff["explanations"]
    assert why["reason"] == "missing_in_journal"
    assert (why["seq"], why["trace_no"], why["detail"]) == (seqs["000002"], "000002", "voided")
    assert why["terminal_amount"] == 25000


def test_a_trace_number_the_journal_never_received_is_named(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    """Trace 000008 never arrived (000009 did): the terminal's extra 12.00 is that one."""
    record(cf, txn("000009", amount=5000))
    found = close(cf, debit_count=6, debit_amount=82500 + 5000 + 1200)
    diff = only(found)
    [why] = diff["explanations"]
    assert (why["reason"], why["trace_no"], why["seq"]) == ("missing_in_journal", "000008", None)
    assert (why["terminal_amount"], why["detail"]) == (1200, "trace_gap")
    assert found["trace_gaps"] == ["000008"]


def test_an_amount_that_differs_by_the_tip_is_named(cf: Counterfoil, seqs: dict[str, int]) -> None:
    """Totals only: as many sales, 20.00 less — the tip of trace 000005."""
    found = close(cf, debit_amount=80500)
    diff = only(found)
    assert diff["kind"] == "amount"
    assert diff["explained"] is True
    [why] = diff["explanations"]
    assert (why["reason"], why["seq"], why["detail"]) == ("amount_differs", seqs["000005"], "tip")
    assert (why["journal_amount"], why["terminal_amount"]) == (40000, 38000)


def test_the_terminals_list_names_each_side_and_each_amount(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    """With its list: 000006 is not on it, 000010 is not in the journal, 000001 differs."""
    listed = [
        {"trace_no": "000001", "type": "sale", "amount": 9000},
        {"trace_no": "000004", "type": "refund", "amount": 3000},
        {"trace_no": "000005", "type": "sale", "amount": 40000},
        {"trace_no": "000007", "type": "sale", "amount": 2500},
        {"trace_no": "000010", "type": "sale", "amount": 7700},
    ]
    found = close(cf, debit_count=4, debit_amount=59200, transactions=listed)
    assert found["by_list"] is True
    diff = only(found)
    assert diff["explained"] is True
    reasons = {(x["reason"], x["trace_no"]): x for x in diff["explanations"]}
    assert set(reasons) == {
        ("missing_on_terminal", "000006"),
        ("missing_in_journal", "000010"),
        ("amount_differs", "000001"),
    }
    assert reasons[("amount_differs", "000001")]["terminal_amount"] == 9000
    assert reasons[("missing_on_terminal", "000006")]["seq"] == seqs["000006"]


def test_totals_nothing_explains_are_stored_as_unexplained(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    found = close(cf, debit_amount=82501)
    diff = only(found)
    assert diff["explained"] is False
    assert diff["explanations"] == []


# --- stored, repeated, handed to cases ----------------------------------------------------


def test_a_difference_is_stored_with_what_a_case_needs(
    cf: Counterfoil, seqs: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, int]] = []

    def hook(conn: Any, *, merchant_no: str, discrepancy_id: int) -> int | None:
        calls.append((merchant_no, discrepancy_id))
        return None

    monkeypatch.setattr(auto, "on_batch_discrepancy", hook)
    found = close(cf, debit_count=3, debit_amount=52500)
    with cf.engine.connect() as conn:
        row = conn.execute(select(batch_discrepancies)).one()
        stored = batch.get_discrepancy(conn, row.id)
    assert calls == [(MERCHANT, row.id)]
    assert (row.merchant_no, row.terminal_id, row.batch_no) == (MERCHANT, TERMINAL, BATCH)
    assert (row.close_id, row.side, row.card_group) == (found["id"], "debit", "all")
    assert (row.terminal_count, row.terminal_amount) == (3, 52500)
    assert (row.journal_count, row.journal_amount) == (4, 82500)
    assert row.seqs == str(seqs["000006"])
    assert row.traces == "000006"
    assert row.created_at is not None
    assert stored["amount_difference"] == 30000
    assert stored["explanations"][0]["trace_no"] == "000006"
    assert found["differences"][0]["id"] == row.id


def test_the_same_close_twice_is_one_close(cf: Counterfoil, seqs: dict[str, int]) -> None:
    first = close(cf, debit_count=3, debit_amount=52500)
    again = close(cf, debit_count=3, debit_amount=52500)
    assert again["repeated"] is True
    assert again["id"] == first["id"]
    assert again["differences"] == first["differences"]
    with cf.engine.connect() as conn:
        assert len(conn.execute(select(batch_closes)).all()) == 1
        assert len(conn.execute(select(batch_discrepancies)).all()) == 1


def test_a_different_close_is_a_new_attempt_never_an_overwrite(
    cf: Counterfoil, seqs: dict[str, int]
) -> None:
    first = close(cf, debit_count=3, debit_amount=52500)
    second = close(cf)
    assert (second["attempt"], second["balanced"], second["repeated"]) == (2, True, False)
    assert second["attempts"] == 2
    with cf.engine.connect() as conn:
        kept = batch.get_close(conn, SUPERVISOR, first["id"])
    assert kept["balanced"] is False
    assert kept["differences"] == first["differences"]
    # the first report again, after the journal changed: compared anew, a third attempt
    record(cf, txn("000008", amount=30000, offline=True))
    third = close(cf, debit_count=3, debit_amount=52500)
    assert third["attempt"] == 3
    assert third["repeated"] is False
    assert only(third)["journal_count"] == 5


def test_closes_and_discrepancies_are_append_only(cf: Counterfoil, seqs: dict[str, int]) -> None:
    close(cf, debit_count=3, debit_amount=52500)
    for statement in (
        "UPDATE batch_closes SET balanced = true",
        "DELETE FROM batch_closes",
        "UPDATE batch_discrepancies SET explained = false",
        "DELETE FROM batch_discrepancies",
    ):
        with pytest.raises(DatabaseError, match="append-only"), cf.engine.begin() as conn:
            conn.execute(text(statement))


# --- who may ------------------------------------------------------------------------------


def test_a_terminal_closes_only_its_own_batch(cf: Counterfoil, seqs: dict[str, int]) -> None:
    add_terminal(cf, MERCHANT, "TERM0002", "Counter 2")
    with pytest.raises(Forbidden, match="TERM0001"):
        close(cf, terminal_id="TERM0002")
    with cf.engine.connect() as conn:
        assert conn.execute(select(batch_closes)).all() == []
        denied = conn.execute(select(audit_log).where(audit_log.c.action == "batch.close")).one()
    assert denied.outcome == "denied"
    assert denied.actor == TERMINAL_ONE.name


def test_another_merchants_people_see_nothing(cf: Counterfoil, seqs: dict[str, int]) -> None:
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    found = close(cf)
    stranger = Principal(
        "person", "user:other", "192.0.2.9", role="supervisor", merchants=(OTHER_MERCHANT,)
    )
    with cf.engine.connect() as conn:
        with pytest.raises(NotFound):
            batch.get_close(conn, stranger, found["id"])
        assert batch.list_closes(conn, stranger)["items"] == []
        assert batch.list_closes(conn, SUPERVISOR)["total"] == 1
    with pytest.raises(Forbidden):
        close(cf, stranger)
    cashier = Principal("person", "user:c", "192.0.2.9", role="cashier", merchants=(MERCHANT,))
    with pytest.raises(Forbidden, match=r"batch\.close"):
        close(cf, cashier)
    # a supervisor of the merchant may close for the terminal
    assert close(cf, SUPERVISOR, debit_amount=82501)["attempt"] == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"batch_no": "1"}, "batch_no"),
        ({"debit_count": -1}, "debit_count"),
        ({"debit_amount": 1.5}, "debit_amount"),
        ({"credit_count": None}, "credit_count"),
        ({"debit_count": 0}, "debit_amount"),
        ({"domestic": {"debit_count": 1}}, "domestic.debit_amount"),
        (
            {"transactions": [{"trace_no": "000001", "type": "void", "amount": 1}]},
            "transactions[0].type",
        ),
        ({"transactions": [{"trace_no": "000001", "type": "sale", "amount": 1}]}, "transactions"),
        ({"track2": "x"}, "track2"),
        ({"terminal_id": "TERM9999"}, "terminal_id"),
    ],
)
def test_a_bad_report_names_its_field(
    cf: Counterfoil, shop: Any, changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        batch.close_batch(cf, SUPERVISOR, report(**changes))
    assert caught.value.field == field
