"""Incidents and reprint alerts in the console: a cashier records a lost stub through the
form, adds what was done, a supervisor closes it; the list filters, the report counts by
period, the alerts page names each rule; forms carry the CSRF token; and every caller
gets what ``matrix_incidents.EXPECTED`` says, on the console's and the API's routes.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import MERCHANT
from counterfoil.api import incidents as api_incidents
from counterfoil.services import receipts
from counterfoil.services.access import Principal
from counterfoil.store.incidents_schema import incident_events, incidents
from counterfoil.web import incidents as web_incidents
from web.conftest import World
from web.matrix_incidents import BUILDERS, EXPECTED, incident_of

CALLERS = (
    "anonymous",
    "terminal",
    "integration",
    "cashier",
    "supervisor",
    "finance",
    "auditor",
    "admin",
)


@pytest.fixture
def console(world: World) -> World:
    """The world's application with the incident routes (until app.py and the console
    include them)."""
    app: Any = world.client.app
    paths = {getattr(route, "path", "") for route in app.routes}
    if "/incidents" not in paths:
        app.include_router(web_incidents.router)
    if "/api/v1/incidents" not in paths:
        app.include_router(api_incidents.router)
    return world


def valid(world: World, method: str, path: str) -> dict[str, Any]:
    build = BUILDERS.get((method, path))
    options = build(world) if build else {}
    return {"path": world.url(path, incident_id=incident_of(world)), **options}


def count(world: World, table: Any) -> int:
    with world.cf.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- who may ------------------------------------------------------------------------------


def test_each_caller_gets_what_the_matrix_says(console: World) -> None:
    wrong = []
    for method, path in sorted(EXPECTED, key=lambda key: (key[0] != "GET", key)):
        for who in CALLERS:
            response = console.request(who, method, **valid(console, method, path))
            ok = who in EXPECTED[(method, path)]
            wanted = "2xx or 3xx" if ok else "401" if who == "anonymous" else "403"
            status = response.status_code
            if (ok and not 200 <= status < 400) or (not ok and str(status) != wanted):
                wrong.append(f"{method} {path} as {who}: {status}, expected {wanted}")
    assert not wrong, "\n".join(wrong)


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(console: World) -> None:
    incident_id = incident_of(console)
    before = count(console, incident_events)
    for path, data in (
        ("/incidents", BUILDERS[("POST", "/incidents")](console)["data"]),
        (f"/incidents/{incident_id}/events", {"kind": "action", "note": "sneaky"}),
    ):
        refused = console.request("supervisor", "POST", path, data=data, csrf=None)
        assert refused.status_code == 403, refused.text
        forged = console.request("supervisor", "POST", path, data=data, csrf="forged")
        assert forged.status_code == 403
    assert count(console, incident_events) == before


# --- recording and working an incident through the console --------------------------------------


def test_a_cashier_records_a_lost_stub_and_a_supervisor_closes_it(console: World) -> None:
    page = console.request("cashier", "GET", "/incidents")
    assert page.status_code == 200
    assert 'id="record-incident"' in page.text
    assert 'name="csrf_token" value="' in page.text
    made = console.request(
        "cashier",
        "POST",
        "/incidents",
        data={
            "merchant": MERCHANT,
            "kind": "merchant_stub",
            "found_date": console.now()[:10],
            "found_time": console.now()[11:16],
            "place": "收银台抽屉",
            "people": "收银员 李 6222021234567890128",
            "entries": f"{console.entries['a_sale']}\n{console.A_REFUND_RRN}",
            "action": "找遍了抽屉",
        },
    )
    assert made.status_code == 303, made.text
    where = made.headers["location"]
    incident_id = int(re.match(r"/incidents/(\d+)\?done=recorded$", where).group(1))  # type: ignore[union-attr]
    shown = console.request("cashier", "GET", where)
    assert shown.status_code == 200
    assert f"Incident {incident_id} recorded." in shown.text
    assert "收银台抽屉" in shown.text
    assert "6222021234567890128" not in shown.text
    assert "622202******0128" in shown.text
    assert console.entries["a_sale"] in shown.text
    assert console.entries["a_refund"] in shown.text
    assert 'value="close"' not in shown.text  # a cashier adds actions; a supervisor closes
    step = console.request(
        "cashier",
        "POST",
        f"/incidents/{incident_id}/events",
        data={"kind": "action", "note": "reprinted the merchant copy"},
    )
    assert step.status_code == 303, step.text
    refused = console.request(
        "cashier", "POST", f"/incidents/{incident_id}/events", data={"kind": "close", "note": "x"}
    )
    assert refused.status_code == 403
    closing = console.request(
        "supervisor",
        "POST",
        f"/incidents/{incident_id}/events",
        data={"kind": "close", "note": "filed with the day's stubs"},
    )
    assert closing.headers["location"] == f"/incidents/{incident_id}?done=close"
    closed = console.request("supervisor", "GET", closing.headers["location"])
    assert f"Incident {incident_id} is closed." in closed.text
    assert "filed with the day&#39;s stubs" in closed.text
    events = re.search(r'<ol class="stack" id="events">(.*?)</ol>', closed.text, re.S)
    assert events is not None
    steps = re.findall(r"<strong>([^<]+)</strong>", events.group(1))
    assert steps == ["Incident recorded", "Action taken", "Closed"]
    again = console.request(
        "supervisor",
        "POST",
        f"/incidents/{incident_id}/events",
        data={"kind": "close", "note": "twice"},
    )
    assert again.status_code == 409
    assert 'id="form-error"' in again.text


def test_a_form_with_mistakes_comes_back_with_each_fields_error(console: World) -> None:
    before = count(console, incidents)
    answer = console.request(
        "supervisor",
        "POST",
        "/incidents",
        data={
            "merchant": MERCHANT,
            "kind": "merchant_stub",
            "found_date": console.now()[:10],
            "found_time": console.now()[11:16],
            "place": "front counter",
            "entries": "102310048993424-999",
        },
    )
    assert answer.status_code == 422
    assert 'id="e-entries"' in answer.text
    assert "no transaction 102310048993424-999 of merchant" in answer.text
    assert 'value="front counter"' in answer.text  # what was typed is kept
    late = console.request(
        "supervisor",
        "POST",
        "/incidents",
        data={
            "merchant": MERCHANT,
            "kind": "merchant_stub",
            "found_date": "2999-01-01",
            "found_time": "00:00",
            "place": "x",
        },
    )
    assert late.status_code == 422
    assert 'id="e-found_at"' in late.text
    assert count(console, incidents) == before


def test_the_list_filters_and_htmx_gets_the_results_alone(console: World) -> None:
    incident_id = incident_of(console)
    listed = console.request("auditor", "GET", "/incidents", params={"status": "open"})
    assert f'href="/incidents/{incident_id}"' in listed.text
    assert 'id="record-incident"' not in listed.text  # an auditor changes nothing
    closed = console.request("auditor", "GET", "/incidents", params={"status": "closed"})
    assert f'href="/incidents/{incident_id}"' not in closed.text
    partial = console.request(
        "auditor",
        "GET",
        "/incidents",
        params={"kind": "merchant_stub"},
        headers={"HX-Request": "true"},
    )
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert 'id="incidents"' in partial.text
    bad = console.request("auditor", "GET", "/incidents", params={"date_from": "someday"})
    assert bad.status_code == 200
    assert "expected a date as YYYY-MM-DD" in bad.text


def test_the_report_page_counts_by_month_with_the_reprints(console: World) -> None:
    incident_id = int(incident_of(console))
    supervisor = Principal(
        "person", "user:supervisor", "testclient", role="supervisor", merchants=(MERCHANT,)
    )
    receipts.reprint(
        console.cf,
        supervisor,
        console.entries["a_sale"],
        copy="merchant",
        fmt="text58",
        reason="lost",
        incident_id=incident_id,
    )
    page = console.request("finance", "GET", "/incidents/report")
    assert page.status_code == 200
    assert re.search(r'id="total">1<', page.text)
    assert re.search(r'id="reprints">1<', page.text)
    today = console.now()[:10]
    period = console.request(
        "finance", "GET", "/incidents/report", params={"date_from": today, "date_to": today}
    )
    assert re.search(r'id="total">1<', period.text)
    assert 'id="period"' in period.text
    backwards = console.request(
        "finance", "GET", "/incidents/report", params={"date_from": today, "date_to": "2000-01-01"}
    )
    assert "expected an end date on or after the start" in backwards.text
    shown = console.request("finance", "GET", f"/incidents/{incident_id}")
    assert 'id="reprints"' in shown.text
    assert "Lost" in shown.text


def test_the_alerts_page_names_each_rule_and_filters_by_rule(console: World) -> None:
    supervisor = Principal(
        "person", "user:supervisor", "testclient", role="supervisor", merchants=(MERCHANT,)
    )
    for _n in range(3):
        receipts.reprint(
            console.cf,
            supervisor,
            console.entries["a_sale"],
            copy="merchant",
            fmt="text58",
            reason="lost",
        )
    page = console.request("supervisor", "GET", "/alerts")
    assert page.status_code == 200
    assert 'class="alert-repeated_reprints"' in page.text
    assert "3 reprints of this transaction" in page.text
    assert 'class="alert-voided_or_refunded"' in page.text  # partly refunded since
    only = console.request("auditor", "GET", "/alerts", params={"rule": "late_reprint"})
    assert "alert-repeated_reprints" not in only.text
    assert "No alert in this period." in only.text
    wrong = console.request("auditor", "GET", "/alerts", params={"rule": "nonsense"})
    assert wrong.status_code == 200
    assert 'role="alert"' in wrong.text
    assert console.request("cashier", "GET", "/alerts").status_code == 403
