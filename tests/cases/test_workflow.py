"""A case from open to closed: only the allowed moves, each an event on its timeline and
in the audit log; assignee, priority, due day per kind (configurable), the overdue board,
the merchant's walls, and the report of causes and resolution times. SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from cases.conftest import (
    AUDITOR,
    CASHIER,
    FINANCE,
    NEIGHBOUR,
    SUPERVISOR,
    audited,
)
from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.cases import model
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Conflict, Forbidden, NotFound, ValidationError
from counterfoil.services import users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store.cases_schema import case_events, cases


def open_amount_error(cf: Counterfoil, named: list[str], **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "merchant": MERCHANT,
        "kind": "amount_error",
        "title": "Customer charged 4,786.00 for 4,768.00",
        "description": "顾客称金额多扣 18.00 元",
        "difference": "-18.00",
        "entries": [named[0]],
    }
    return wf.open_case(cf, SUPERVISOR, **(values | changes))


def test_a_case_opened_by_hand_names_its_transactions_and_is_due_by_its_kind(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = open_amount_error(cf, entries)
    assert (found["state"], found["kind"], found["priority"]) == ("open", "amount_error", "normal")
    assert found["difference"] == -1800
    assert [e["ref"] for e in found["evidence"]] == [entries[0]]
    opened = date.fromisoformat(found["events"][0]["at"][:10])
    due = date.fromisoformat(found["due_on"])
    assert abs((due - opened).days - model.DEFAULT_DUE_DAYS["amount_error"]) <= 1
    [event] = found["events"]
    assert (event["kind"], event["actor"], event["note"]) == (
        "opened",
        "user:wang",
        "顾客称金额多扣 18.00 元",
    )
    [trail] = audited(cf, "case.open")
    assert (trail["object_id"], trail["merchant_no"]) == (str(found["id"]), MERCHANT)


def test_the_whole_way_from_open_to_closed_is_on_the_timeline(
    cf: Counterfoil, entries: list[str]
) -> None:
    case_id = open_amount_error(cf, entries)["id"]
    wf.assign(cf, FINANCE, case_id, "qian", priority="high")
    wf.add_note(cf, FINANCE, case_id, "called the acquirer's hotline")
    wf.submit(cf, FINANCE, case_id, note="application sent by fax")
    wf.respond(cf, FINANCE, case_id, reference="CUP-2026-1122-77")
    wf.respond(cf, FINANCE, case_id, outcome="accepted", note="refund of 18.00 agreed")
    done = wf.close(
        cf, FINANCE, case_id, root_cause="operator_error", lesson="read the amount back aloud"
    )
    assert done["state"] == "closed"
    assert (done["assignee"], done["priority"], done["acquirer_ref"]) == (
        "qian",
        "high",
        "CUP-2026-1122-77",
    )
    assert (done["root_cause"], done["lesson"]) == ("operator_error", "read the amount back aloud")
    moves = [(e["from_state"], e["to_state"]) for e in done["events"] if e["kind"] == "state"]
    assert moves == [
        ("open", "investigating"),
        ("investigating", "submitted"),
        ("submitted", "awaiting_response"),
        ("awaiting_response", "resolved_accepted"),
        ("resolved_accepted", "closed"),
    ]
    kinds = [e["kind"] for e in done["events"]]
    assert kinds[:3] == ["opened", "assigned", "state"]
    assert "note" in kinds
    assert len(audited(cf, "case.move")) == 5
    assert done["closed_at"]
    assert done["resolved_at"]


@pytest.mark.parametrize(
    ("steps", "refused"),
    [
        ([], lambda cf, i: wf.submit(cf, FINANCE, i)),  # open: not yet investigated
        ([], lambda cf, i: wf.respond(cf, FINANCE, i, outcome="accepted")),
        ([], lambda cf, i: wf.close(cf, FINANCE, i, root_cause="fraud", lesson="x")),
        (["assign"], lambda cf, i: wf.respond(cf, FINANCE, i, reference="R1")),
        (["assign"], lambda cf, i: wf.close(cf, FINANCE, i, root_cause="fraud", lesson="x")),
        (["assign", "submit"], lambda cf, i: wf.submit(cf, FINANCE, i)),
    ],
)
def test_only_the_allowed_moves_are_made(
    cf: Counterfoil, entries: list[str], steps: list[str], refused: Any
) -> None:
    case_id = open_amount_error(cf, entries)["id"]
    if "assign" in steps:
        wf.assign(cf, FINANCE, case_id, "qian")
    if "submit" in steps:
        wf.submit(cf, FINANCE, case_id)
    with cf.engine.connect() as conn:
        before = wf.get_case(conn, FINANCE, case_id)
    with pytest.raises(Conflict, match="cannot move to"):
        refused(cf, case_id)
    with cf.engine.connect() as conn:
        assert wf.get_case(conn, FINANCE, case_id) == before


def test_closing_needs_a_root_cause_from_the_list_and_a_lesson(
    cf: Counterfoil, entries: list[str]
) -> None:
    case_id = open_amount_error(cf, entries)["id"]
    wf.assign(cf, FINANCE, case_id, "qian")
    wf.respond(cf, FINANCE, case_id, outcome="rejected")
    with pytest.raises(ValidationError) as cause:
        wf.close(cf, FINANCE, case_id, root_cause="bad luck", lesson="none")
    assert cause.value.field == "root_cause"
    with pytest.raises(ValidationError) as lesson:
        wf.close(cf, FINANCE, case_id, root_cause="customer_dispute", lesson="  ")
    assert lesson.value.field == "lesson"
    assert (
        wf.close(cf, FINANCE, case_id, root_cause="customer_dispute", lesson="keep the slip")[
            "state"
        ]
        == "closed"
    )


def test_who_may_open_work_and_read(cf: Counterfoil, entries: list[str]) -> None:
    case_id = open_amount_error(cf, entries)["id"]
    with pytest.raises(Forbidden):
        wf.open_case(cf, AUDITOR, merchant=MERCHANT, kind="other", title="x")
    with pytest.raises(Forbidden):
        wf.assign(cf, SUPERVISOR, case_id, "wang")  # a supervisor opens; finance works
    users.add_user(cf, "zhou", "Ledger-proof-42", "finance", [OTHER_MERCHANT])
    users.add_user(cf, "wang", "Ledger-proof-42", "supervisor", [MERCHANT])
    for nobody in ("zhou", "wang", "ghost"):  # another shop's; no case worker; nobody
        with pytest.raises(ValidationError) as unknown:
            wf.assign(cf, FINANCE, case_id, nobody)
        assert unknown.value.field == "assignee"
    with pytest.raises(Forbidden):
        wf.add_note(cf, CASHIER, case_id, "x")
    with pytest.raises(NotFound):  # the neighbour's finance: no such case, not even a hint
        wf.add_note(cf, NEIGHBOUR, case_id, "x")
    with cf.engine.connect() as conn:
        assert wf.get_case(conn, AUDITOR, case_id)["id"] == case_id
        with pytest.raises(NotFound):
            wf.get_case(conn, NEIGHBOUR, case_id)
        assert wf.list_cases(conn, NEIGHBOUR)["total"] == 0
        with pytest.raises(Forbidden):
            wf.list_cases(conn, CASHIER)
    denied = [r for r in audited(cf, "case.note") if r["outcome"] == "denied"]
    assert {r["actor"] for r in denied} == {"user:li", "user:zhou"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "wallet"}, "kind"),
        ({"title": " "}, "title"),
        ({"priority": "asap"}, "priority"),
        ({"difference": "12.345"}, "difference"),
        ({"entries": ["102310048993424-1"]}, "entries"),  # the genesis entry
        ({"entries": ["000077770001"]}, "entries"),  # the neighbour's RRN
        ({"terminal_id": "T1"}, "terminal_id"),
        ({"due_on": "next week"}, "due_on"),
    ],
)
def test_what_is_not_valid_is_refused_by_field(
    cf: Counterfoil, entries: list[str], changes: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        open_amount_error(cf, entries, **changes)
    assert refused.value.field == field


def test_the_board_puts_overdue_cases_first_and_counts_by_state(
    cf: Counterfoil, entries: list[str]
) -> None:
    soon = open_amount_error(cf, entries, title="due later")["id"]
    late = open_amount_error(cf, entries, title="already late", kind="chargeback")["id"]
    with cf.engine.begin() as conn:  # a case opened long ago: its due day has passed
        conn.execute(update(cases).where(cases.c.id == late).values(due_on=date(2026, 1, 5)))
    with cf.engine.connect() as conn:
        board = wf.list_cases(conn, FINANCE)
        assert [i["id"] for i in board["items"]] == [late, soon]
        assert [i["overdue"] for i in board["items"]] == [True, False]
        assert board["by_state"]["open"] == 2
        overdue = wf.list_cases(conn, FINANCE, overdue=True)
        assert [i["id"] for i in overdue["items"]] == [late]
        assert wf.list_cases(conn, FINANCE, kind="chargeback")["total"] == 1
        assert wf.list_cases(conn, FINANCE, state="closed")["total"] == 0


def test_the_days_allowed_per_kind_are_set_per_merchant(
    cf: Counterfoil, entries: list[str]
) -> None:
    with pytest.raises(Forbidden):
        wf.set_deadline(cf, FINANCE, MERCHANT, "chargeback", 2)
    with pytest.raises(ValidationError) as bad:
        wf.set_deadline(cf, Principal.local(), MERCHANT, "chargeback", 0)
    assert bad.value.field == "days"
    shown = wf.set_deadline(cf, Principal.local(), MERCHANT, "chargeback", 2)
    assert shown["days"]["chargeback"] == 2
    found = open_amount_error(cf, entries, kind="chargeback")
    opened = date.fromisoformat(found["due_on"]) - timedelta(days=2)
    assert found["due_on"] == (opened + timedelta(days=2)).isoformat()
    assert abs((opened - date.fromisoformat(found["opened_at"][:10])).days) <= 1


def test_the_timeline_is_append_only_in_the_database(cf: Counterfoil, entries: list[str]) -> None:
    open_amount_error(cf, entries)
    for statement in ("UPDATE case_events SET note = 'x'", "DELETE FROM case_events"):
        with pytest.raises(DBAPIError), cf.engine.begin() as conn:
            conn.execute(text(statement))
    with cf.engine.connect() as conn:
        assert conn.execute(case_events.select()).first() is not None


def test_the_report_counts_causes_and_resolution_times_by_month(
    cf: Counterfoil, entries: list[str]
) -> None:
    first = open_amount_error(cf, entries)["id"]
    second = open_amount_error(cf, entries, kind="chargeback")["id"]
    open_amount_error(cf, entries, kind="other")
    for case_id, cause in ((first, "operator_error"), (second, "fraud")):
        wf.assign(cf, FINANCE, case_id, "qian")
        wf.respond(cf, FINANCE, case_id, outcome="accepted")
        wf.close(cf, FINANCE, case_id, root_cause=cause, lesson="learned")
    with cf.engine.connect() as conn:
        found = wf.report(conn, FINANCE, MERCHANT)
    assert (found["opened"], found["resolved"], found["closed"]) == (3, 2, 2)
    assert found["by_root_cause"] == {"operator_error": 1, "fraud": 1}
    assert found["by_kind"] == {"amount_error": 1, "chargeback": 1, "other": 1}
    assert found["resolution_days_mean"] == "0.0"
    [month] = found["months"]
    assert month["opened"] == 3
    assert month["by_root_cause"]["fraud"] == 1
