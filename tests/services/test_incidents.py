"""Lost-document incidents: what was lost, when and where, who was involved, which
transactions, and what was done — an open record whose history only grows; a list and a
report by period; the reprints (and proofs of payment) that belong to it; the same through
the CLI and the API. SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import typer
from click.testing import Result
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.api import incidents as incident_routes
from counterfoil.api.app import create_app
from counterfoil.cli import incidents as incident_cli
from counterfoil.cli.output import guarded
from counterfoil.config import Settings
from counterfoil.core.errors import Conflict, Forbidden, NotFound, ValidationError
from counterfoil.services import incidents, ingest, receipts, users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.audit import Actor
from counterfoil.store.schema import audit_log

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "Ledger-proof-42"
#: A card number as someone might type it into "who was involved" (Luhn-valid).
TYPED_PAN = "6222021234567890128"


def person(
    role: str,
    name: str | None = None,
    merchants: tuple[str, ...] = (MERCHANT,),
    terminals: tuple[tuple[str, str], ...] | None = None,
) -> Principal:
    return Principal(
        "person",
        f"user:{name or role}",
        "192.0.2.7",
        role=role,
        merchants=merchants,
        terminals=terminals,
    )


CASHIER = person("cashier", "li", terminals=((MERCHANT, TERMINAL),))
OTHER_CASHIER = person("cashier", "zhou", terminals=((MERCHANT, TERMINAL),))
SUPERVISOR = person("supervisor", "wang")
AUDITOR = person("auditor", "zhao")
FINANCE = person("finance", "qian")
NEIGHBOUR = person("supervisor", "sun", merchants=(OTHER_MERCHANT,))


def local_time(days_ago: float = 0) -> str:
    moment = datetime.now(UTC) - timedelta(days=days_ago, minutes=5)
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[str]:
    """Record sales as the terminal sent them; their entry ids, in order."""
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    assert all(r.ok for r in results), [r.error for r in results]
    return [str(r.entry["entry_id"]) for r in results if r.entry]


@pytest.fixture
def entries(cf: Counterfoil, shop: Any) -> list[str]:
    """Three sales of the shop (today, yesterday, 40 days ago) and one of the neighbour."""
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    add_terminal(cf, OTHER_MERCHANT, "REST0001")
    ours = record(
        cf,
        sale(terminal_time=local_time()),
        sale(trace_no="000002", rrn="000049993191", terminal_time=local_time(1)),
        sale(trace_no="000003", rrn="000049993192", terminal_time=local_time(40)),
    )
    theirs = record(
        cf,
        sale(merchant_no=OTHER_MERCHANT, terminal_id="REST0001", rrn="000077770001"),
    )
    return [*ours, *theirs]


def lost_stub(cf: Counterfoil, who: Principal = SUPERVISOR, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "merchant": MERCHANT,
        "kind": "merchant_stub",
        "found_at": local_time(),
        "place": "收银台抽屉 (counter drawer)",
        "people": "收银员 李, 值班经理 王",
        "entries": [],
        "action": "checked the drawer and asked the staff",
    }
    return incidents.add_incident(cf, who, **(values | changes))


def audited(cf: Counterfoil, action: str) -> list[dict[str, Any]]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
        ).mappings()
        return [dict(r) for r in rows]


# --- recording --------------------------------------------------------------------------


def test_a_lost_stub_is_recorded_with_its_transactions_and_first_action(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(
        cf,
        entries=[entries[0], "000049993191", entries[0]],  # an RRN too; a repeat is one
        people=f"customer showed card {TYPED_PAN}",
    )
    assert found["status"] == "open"
    assert found["kind"] == "merchant_stub"
    assert [e["entry_id"] for e in found["entries"]] == [entries[0], entries[1]]
    assert found["entries"][0]["amount"] == 476800
    assert TYPED_PAN not in found["people"]
    assert "622202******0128" in found["people"]
    [event] = found["events"]
    assert (event["kind"], event["note"], event["actor"]) == (
        "recorded",
        "checked the drawer and asked the staff",
        "user:wang",
    )
    assert event["details"]["entries"] == [entries[0], entries[1]]
    [trail] = audited(cf, "incident.add")
    assert (trail["actor"], trail["object_id"], trail["merchant_no"]) == (
        "user:wang",
        str(found["id"]),
        MERCHANT,
    )
    with cf.engine.connect() as conn:
        assert incidents.get_incident(conn, SUPERVISOR, found["id"]) == found


def test_the_moment_found_missing_is_the_merchants_local_time(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(cf, found_at="2026-11-20T23:30")  # Shanghai: 15:30 UTC
    assert found["found_at"] == "2026-11-20T15:30:00+00:00"
    assert found["found_day"] == "2026-11-20"
    with pytest.raises(ValidationError) as future:
        lost_stub(cf, found_at=(datetime.now(UTC) + timedelta(hours=2)).isoformat())
    assert future.value.field == "found_at"
    with pytest.raises(ValidationError) as garbled:
        lost_stub(cf, found_at="yesterday evening")
    assert garbled.value.field == "found_at"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "wallet"}, "kind"),
        ({"place": "  "}, "place"),
        ({"place": "x" * 201}, "place"),
        ({"entries": ["102310048993424-999"]}, "entries"),  # no such transaction
        ({"entries": ["102310048993424-1"]}, "entries"),  # the genesis entry, not a payment
        ({"entries": ["000077770001"]}, "entries"),  # the neighbour's RRN
        ({"merchant": None}, "merchant"),  # the operator names the merchant
    ],
)
def test_what_is_not_valid_is_refused_by_field(
    cf: Counterfoil, entries: list[str], changes: dict[str, Any], field: str
) -> None:
    who = Principal.local() if field == "merchant" else SUPERVISOR
    with pytest.raises(ValidationError) as refused:
        lost_stub(cf, who, **changes)
    assert refused.value.field == field
    with cf.engine.connect() as conn:
        assert incidents.list_incidents(conn, SUPERVISOR)["total"] == 0


def test_track_data_typed_into_a_note_is_refused_without_echoing_it(
    cf: Counterfoil, entries: list[str]
) -> None:
    track = ";6222021234567890128=25121011234567890?"
    with pytest.raises(Exception, match=r"never accepted|track") as refused:
        lost_stub(cf, action=f"customer read out {track}")
    assert "6222021234567890128" not in str(refused.value)


# --- what was done accrues; closing and reopening ---------------------------------------


def test_actions_accrue_and_a_supervisor_closes_with_a_note(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(cf, CASHIER, entries=[entries[0]])
    incident_id = found["id"]
    incidents.add_event(
        cf, CASHIER, incident_id, "action", "reprinted the merchant copy", [entries[1]]
    )
    incidents.add_event(cf, SUPERVISOR, incident_id, "action", "called the acquirer's hotline")
    with pytest.raises(Forbidden):
        incidents.close_incident(cf, CASHIER, incident_id, "found it")
    with pytest.raises(ValidationError) as no_note:
        incidents.close_incident(cf, SUPERVISOR, incident_id, " ")
    assert no_note.value.field == "note"
    closed = incidents.close_incident(cf, SUPERVISOR, incident_id, "reprint filed with the day")
    assert (closed["status"], closed["closing_note"]) == ("closed", "reprint filed with the day")
    assert closed["closed_at"] is not None
    assert [(e["kind"], e["actor"]) for e in closed["events"]] == [
        ("recorded", "user:li"),
        ("action", "user:li"),
        ("action", "user:wang"),
        ("closed", "user:wang"),
    ]
    assert [e["entry_id"] for e in closed["entries"]] == entries[:2]
    with pytest.raises(Conflict):
        incidents.add_event(cf, SUPERVISOR, incident_id, "action", "one more thing")
    with pytest.raises(Conflict):
        incidents.close_incident(cf, SUPERVISOR, incident_id, "again")
    reopened = incidents.add_event(cf, SUPERVISOR, incident_id, "reopen", "the stub turned up")
    assert (reopened["status"], reopened["closed_at"]) == ("open", None)
    assert [e["kind"] for e in reopened["events"]][-1] == "reopened"
    assert [r["outcome"] for r in audited(cf, "incident.close")] == ["denied", "success"]
    assert len(audited(cf, "incident.action")) == 2


def test_the_history_and_the_transactions_named_cannot_be_changed(
    cf: Counterfoil, entries: list[str]
) -> None:
    lost_stub(cf, entries=[entries[0]])
    for statement in (
        "UPDATE incident_events SET note = 'nothing happened'",
        "DELETE FROM incident_events",
        "UPDATE incident_entries SET seq = 3",
        "DELETE FROM incident_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"), cf.engine.begin() as conn:
            conn.execute(text(statement))


# --- who sees and who may ----------------------------------------------------------------


def test_a_cashier_sees_their_own_incidents_and_others_see_their_merchants(
    cf: Counterfoil, entries: list[str]
) -> None:
    mine = lost_stub(cf, CASHIER)
    theirs = lost_stub(cf, OTHER_CASHIER, kind="customer_receipt")
    with cf.engine.connect() as conn:
        assert [x["id"] for x in incidents.list_incidents(conn, CASHIER)["items"]] == [mine["id"]]
        with pytest.raises(NotFound):
            incidents.get_incident(conn, CASHIER, theirs["id"])
        for reader in (SUPERVISOR, AUDITOR, FINANCE, Principal.local()):
            listed = incidents.list_incidents(conn, reader)["items"]
            assert sorted(x["id"] for x in listed) == [mine["id"], theirs["id"]]
        assert incidents.list_incidents(conn, NEIGHBOUR)["total"] == 0
        with pytest.raises(NotFound):
            incidents.get_incident(conn, NEIGHBOUR, mine["id"])
        with pytest.raises(Forbidden):
            incidents.list_incidents(conn, NEIGHBOUR, MERCHANT)
    with pytest.raises(NotFound):
        incidents.add_event(cf, OTHER_CASHIER, mine["id"], "action", "not mine")
    with pytest.raises(NotFound):
        incidents.add_event(cf, NEIGHBOUR, mine["id"], "action", "not ours")


def test_readers_who_change_nothing_may_not_record(cf: Counterfoil, entries: list[str]) -> None:
    for who in (AUDITOR, FINANCE, person("admin", "boss", merchants=())):
        with pytest.raises(Forbidden):
            lost_stub(cf, who)
    with pytest.raises(Forbidden):
        lost_stub(cf, SUPERVISOR, merchant=OTHER_MERCHANT)
    assert [r["outcome"] for r in audited(cf, "incident.add")] == ["denied"] * 4


def test_a_cashier_names_only_transactions_of_their_own_terminals(
    cf: Counterfoil, entries: list[str]
) -> None:
    add_terminal(cf, MERCHANT, "TERM0002")
    [elsewhere] = record(cf, sale(terminal_id="TERM0002", rrn="000049993199"))
    with pytest.raises(ValidationError) as refused:
        lost_stub(cf, CASHIER, entries=[elsewhere])
    assert refused.value.field == "entries"
    yesterday = lost_stub(cf, CASHIER, entries=[entries[1]])  # their terminal, any day
    assert [e["entry_id"] for e in yesterday["entries"]] == [entries[1]]


# --- reprints and proofs of payment link to their incident ---------------------------------


def test_reprints_linked_to_an_incident_are_shown_with_it(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(cf, entries=[entries[0]])
    other = lost_stub(cf, kind="settlement_list")
    receipts.reprint(
        cf,
        SUPERVISOR,
        entries[0],
        copy="merchant",
        fmt="text80",
        reason="lost",
        incident_id=found["id"],
    )
    receipts.reprint(cf, SUPERVISOR, entries[0], copy="merchant", fmt="text58", reason="damaged")
    with cf.engine.connect() as conn:
        shown = incidents.get_incident(conn, SUPERVISOR, found["id"])
        assert [(r["entry_id"], r["print_no"], r["reason"]) for r in shown["reprints"]] == [
            (entries[0], 1, "lost")
        ]
        assert incidents.get_incident(conn, SUPERVISOR, other["id"])["reprints"] == []
        listed = {x["id"]: x for x in incidents.list_incidents(conn, SUPERVISOR)["items"]}
        assert (listed[found["id"]]["reprints"], listed[found["id"]]["transactions"]) == (1, 1)


def test_a_reprint_or_a_proof_names_an_incident_of_its_own_merchant(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(cf)
    with cf.engine.connect() as conn:
        incidents.check_link(conn, MERCHANT, found["id"])
        for merchant_no, incident_id in ((OTHER_MERCHANT, found["id"]), (MERCHANT, 999)):
            with pytest.raises(ValidationError) as refused:
                incidents.check_link(conn, merchant_no, incident_id)
            assert refused.value.field == "incident_id"


def test_proofs_of_payment_link_to_their_incident_where_they_are_kept(
    cf: Counterfoil, entries: list[str]
) -> None:
    found = lost_stub(cf, kind="payment_slip", entries=[entries[0]])
    with cf.engine.begin() as conn:
        if not inspect(conn).has_table("certificates"):
            pytest.skip("no certificates table in this store yet")
        table = incidents.certificates_table(conn)
        assert table is not None
        conn.execute(
            insert(table).values(
                serial="PC-TEST-0001",
                merchant_no=MERCHANT,
                number=1,
                seq=2,
                status="approved",
                refunded=0,
                locale="zh_CN",
                format="pdf",
                code="CF1.x",
                incident_id=found["id"],
                actor="user:wang",
                source="192.0.2.7",
                issued_at=datetime.now(UTC),
            )
        )
    with cf.engine.connect() as conn:
        shown = incidents.get_incident(conn, SUPERVISOR, found["id"])
        report = incidents.report(conn, SUPERVISOR, MERCHANT)
    assert [(c["serial"], c["entry_id"]) for c in shown["certificates"]] == [
        ("PC-TEST-0001", entries[0])
    ]
    assert report["certificates"] == 1


# --- the list and the report by period -----------------------------------------------------


def test_the_list_filters_by_status_kind_and_days_found_and_pages(
    cf: Counterfoil, entries: list[str]
) -> None:
    made = [
        lost_stub(cf, found_at=f"2026-10-{day:02d}T10:00", kind=kind)
        for day, kind in ((3, "merchant_stub"), (9, "customer_receipt"), (20, "merchant_stub"))
    ]
    incidents.close_incident(cf, SUPERVISOR, made[0]["id"], "reprinted")
    with cf.engine.connect() as conn:

        def ids(**filters: Any) -> list[int]:
            found = incidents.list_incidents(conn, SUPERVISOR, **filters)
            return [x["id"] for x in found["items"]]

        first, second, third = (m["id"] for m in made)
        assert ids() == [third, second, first]  # the most recently found first
        assert ids(status="open") == [third, second]
        assert ids(kind="merchant_stub") == [third, first]
        day = datetime(2026, 10, 9).date()
        assert ids(date_from=day, date_to=day) == [second]
        assert ids(merchant=MERCHANT, page=2, per_page=2) == [first]
        paged = incidents.list_incidents(conn, SUPERVISOR, page=1, per_page=2)
        assert (paged["total"], len(paged["items"])) == (3, 2)
        for bad in ({"status": "lost"}, {"kind": "wallet"}, {"per_page": 0}):
            with pytest.raises(ValidationError):
                incidents.list_incidents(conn, SUPERVISOR, **bad)
        with pytest.raises(ValidationError):
            incidents.list_incidents(conn, SUPERVISOR, date_from=day, date_to=day.replace(day=1))


def test_the_report_counts_by_kind_status_and_month_with_the_reprints(
    cf: Counterfoil, entries: list[str]
) -> None:
    september = lost_stub(cf, found_at="2026-09-30T23:30", entries=[entries[0]])
    lost_stub(cf, found_at="2026-10-01T00:30", kind="customer_receipt")
    october = lost_stub(cf, found_at="2026-10-15T12:00", kind="payment_slip")
    lost_stub(cf, found_at="2026-11-01T09:00")  # outside the period
    incidents.close_incident(cf, SUPERVISOR, october["id"], "certificate issued")
    for fmt in ("text80", "text58"):
        receipts.reprint(
            cf,
            SUPERVISOR,
            entries[0],
            copy="merchant",
            fmt=fmt,
            reason="lost",
            incident_id=september["id"],
        )
    with cf.engine.connect() as conn:
        found = incidents.report(
            conn, SUPERVISOR, MERCHANT, datetime(2026, 9, 1).date(), datetime(2026, 10, 31).date()
        )
    assert found["total"] == 3
    assert found["by_kind"] == {
        "merchant_stub": 1,
        "customer_receipt": 1,
        "settlement_list": 0,
        "payment_slip": 1,
    }
    assert found["by_status"] == {"open": 2, "closed": 1}
    assert (found["reprints"], found["transactions"]) == (2, 1)
    assert [(m["month"], m["total"], m["reprints"]) for m in found["months"]] == [
        ("2026-09", 1, 2),
        ("2026-10", 2, 0),
    ]
    assert found["months"][1]["by_status"] == {"open": 1, "closed": 1}


# --- the CLI --------------------------------------------------------------------------------

Run = Callable[..., Result]


def cli_app() -> typer.Typer:
    """The commands as cli/main.py registers them."""
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """counterfoil"""

    app.add_typer(incident_cli.incidents, name="incidents")
    app.command("alerts")(guarded(incident_cli.alerts))
    return app


@pytest.fixture
def run(settings: Settings) -> Run:
    runner, app = CliRunner(), cli_app()
    env = {
        "COUNTERFOIL_HOME": str(settings.home),
        "COUNTERFOIL_DATABASE_URL": settings.database_url,
    }

    def invoke(*args: str) -> Result:
        return contextvars.copy_context().run(runner.invoke, app, list(args), env=env)

    return invoke


def test_the_cli_records_lists_shows_and_reports_incidents(run: Run, entries: list[str]) -> None:
    added = run(
        "incidents",
        "add",
        "--merchant",
        MERCHANT,
        "--kind",
        "customer_receipt",
        "--found-at",
        "2026-11-20T18:30",
        "--place",
        "front counter",
        "--people",
        "the customer, cashier 01",
        "--entry",
        entries[0],
        "--entry",
        entries[1],
        "--action",
        "offered a proof of payment",
        "--json",
    )
    assert added.exit_code == 0, added.output
    incident = json.loads(added.stdout)
    assert incident["found_day"] == "2026-11-20"
    assert incident["events"][0]["actor"].startswith("cli:")
    listed = run("incidents", "list", "--merchant", MERCHANT, "--status", "open", "--json")
    assert listed.exit_code == 0, listed.output
    assert [x["id"] for x in json.loads(listed.stdout)["items"]] == [incident["id"]]
    shown = run("incidents", "show", str(incident["id"]))
    assert shown.exit_code == 0, shown.output
    assert "front counter" in shown.stdout
    assert entries[1] in shown.stdout
    report = run(
        "incidents",
        "report",
        "--merchant",
        MERCHANT,
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--json",
    )
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["by_kind"]["customer_receipt"] == 1
    table = run(
        "incidents", "report", "--merchant", MERCHANT, "--from", "2026-11-01", "--to", "2026-11-30"
    )
    assert table.exit_code == 0
    assert "2026-11" in table.stdout
    missing = run("incidents", "show", "999")
    assert missing.exit_code == 3
    assert "no incident 999" in missing.stderr
    wrong = run(
        "incidents",
        "add",
        "--merchant",
        MERCHANT,
        "--kind",
        "wallet",
        "--found-at",
        "2026-11-20T18:30",
        "--place",
        "x",
    )
    assert wrong.exit_code == 2


# --- the API ----------------------------------------------------------------------------------


def app_for(cf: Counterfoil) -> FastAPI:
    """The application with the incident routes (until app.py includes them)."""
    app = create_app(cf)
    if not any(getattr(r, "path", "") == "/api/v1/incidents" for r in app.routes):
        app.include_router(incident_routes.router)
    return app


@pytest.fixture
def api(cf: Counterfoil, entries: list[str]) -> Iterator[TestClient]:
    users.add_user(cf, "wang", PASSWORD, "supervisor", [MERCHANT], locale="en")
    users.add_user(cf, "zhao", PASSWORD, "auditor", [MERCHANT], locale="en")
    with TestClient(app_for(cf)) as client:
        yield client


def log_in(client: TestClient, username: str) -> dict[str, str]:
    client.cookies.clear()
    response = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"X-CSRF-Token": response.json()["csrf_token"]}


def test_the_api_records_an_incident_adds_actions_and_reports(
    api: TestClient, entries: list[str]
) -> None:
    csrf = log_in(api, "wang")
    made = api.post(
        "/api/v1/incidents",
        headers=csrf,
        json={
            "kind": "merchant_stub",
            "found_at": "2026-11-21T09:15",
            "place": "back office",
            "people": "cashier 01",
            "entries": [entries[0]],
            "action": "searched the back office",
        },
    )
    assert made.status_code == 201, made.text
    incident_id = made.json()["id"]
    assert made.json()["merchant_no"] == MERCHANT  # the supervisor's one merchant
    step = api.post(
        f"/api/v1/incidents/{incident_id}/events",
        headers=csrf,
        json={"kind": "action", "note": "reprinted", "entries": [entries[1]]},
    )
    assert step.status_code == 201, step.text
    assert len(step.json()["entries"]) == 2
    closed = api.post(
        f"/api/v1/incidents/{incident_id}/events",
        headers=csrf,
        json={"kind": "close", "note": "filed"},
    )
    assert closed.json()["status"] == "closed"
    again = api.post(
        f"/api/v1/incidents/{incident_id}/events", headers=csrf, json={"kind": "close", "note": "x"}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    listed = api.get("/api/v1/incidents", params={"status": "closed"})
    assert [x["id"] for x in listed.json()["items"]] == [incident_id]
    report = api.get(
        "/api/v1/incidents/report", params={"date_from": "2026-11-01", "date_to": "2026-11-30"}
    )
    assert report.status_code == 200, report.text
    assert report.json()["by_status"] == {"open": 0, "closed": 1}
    assert api.get(f"/api/v1/incidents/{incident_id}").json()["events"][-1]["kind"] == "closed"
    bad = api.post("/api/v1/incidents", headers=csrf, json={"kind": "wallet", "place": "x"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"]["field"] == "kind"
    typed = api.post("/api/v1/incidents", headers=csrf, json={"entries": "not a list"})
    assert typed.status_code == 422


def test_the_api_lets_an_auditor_read_but_not_record(api: TestClient, entries: list[str]) -> None:
    csrf = log_in(api, "zhao")
    refused = api.post(
        "/api/v1/incidents",
        headers=csrf,
        json={"kind": "merchant_stub", "found_at": "2026-11-21T09:15", "place": "x"},
    )
    assert refused.status_code == 403
    assert api.get("/api/v1/incidents").status_code == 200
    assert api.get("/api/v1/incidents/12345").status_code == 404
    api.cookies.clear()
    assert api.get("/api/v1/incidents").status_code == 401
