"""Reprint alerts: a slip printed again and again, long after the sale, for a payment since
voided or refunded, by one person far above the shop's norm, or a cardholder copy with no
evidence — each alert naming its rule and its facts, with per-merchant thresholds, in a
deterministic order; and the same through the CLI and the API. SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
import typer
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.api import incidents as incident_routes
from counterfoil.api.app import create_app
from counterfoil.cli import incidents as incident_cli
from counterfoil.cli.output import guarded
from counterfoil.config import Settings
from counterfoil.core.errors import Forbidden, ValidationError
from counterfoil.services import alerts, ingest, receipts, users
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.audit import Actor
from counterfoil.store.schema import document_prints, merchants

SHANGHAI = ZoneInfo("Asia/Shanghai")
PASSWORD = "Ledger-proof-42"


def person(role: str, name: str, merchants: tuple[str, ...] = (MERCHANT,)) -> Principal:
    terminals = ((MERCHANT, TERMINAL),) if role == "cashier" else None
    return Principal(
        "person", f"user:{name}", "192.0.2.7", role=role, merchants=merchants, terminals=terminals
    )


SUPERVISOR = person("supervisor", "wang")
DEPUTY = person("supervisor", "chen")
AUDITOR = person("auditor", "zhao")
CASHIER = person("cashier", "li")
NEIGHBOUR = person("supervisor", "sun", (OTHER_MERCHANT,))


def local_time(days_ago: float = 0) -> str:
    moment = datetime.now(UTC) - timedelta(days=days_ago, minutes=10)
    return moment.astimezone(SHANGHAI).isoformat(timespec="seconds")


def record(cf: Counterfoil, *payloads: dict[str, Any]) -> list[str]:
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("terminal")))
    assert all(r.ok for r in results), [r.error for r in results]
    return [str(r.entry["entry_id"]) for r in results if r.entry]


def seq_of(entry_id: str) -> int:
    return int(entry_id.rsplit("-", 1)[1])


@pytest.fixture
def sales(cf: Counterfoil, shop: Any) -> dict[str, str]:
    """Sales of the shop: today, 40 days ago, one refunded since, one voided since."""
    add_merchant(cf, OTHER_MERCHANT, "隔壁饭店")
    add_terminal(cf, OTHER_MERCHANT, "REST0001")
    today, old, refunded, voided = record(
        cf,
        sale(terminal_time=local_time()),
        sale(trace_no="000002", rrn="000049993191", terminal_time=local_time(40)),
        sale(trace_no="000003", rrn="000049993192", terminal_time=local_time(1)),
        sale(trace_no="000004", rrn="000049993193", terminal_time=local_time(0.01)),
    )
    record(
        cf,
        sale(
            trace_no="000005",
            type="refund",
            rrn="000049993194",
            terminal_time=local_time(0.5),
            original={"rrn": "000049993192"},
        ),
        sale(
            trace_no="000006",
            type="void",
            rrn="000049993195",
            terminal_time=local_time(0.005),
            original={"rrn": "000049993193"},
        ),
    )
    [neighbour] = record(
        cf, sale(merchant_no=OTHER_MERCHANT, terminal_id="REST0001", rrn="000077770001")
    )
    return {
        "today": today,
        "old": old,
        "refunded": refunded,
        "voided": voided,
        "neighbour": neighbour,
    }


def reprint(cf: Counterfoil, ref: str, who: Principal = SUPERVISOR, **options: Any) -> None:
    values = {"copy": "merchant", "fmt": "text58", "reason": "lost"} | options
    receipts.reprint(cf, who, ref, **values)


def imported_print(
    cf: Counterfoil,
    ref: str,
    *,
    actor: str = "user:wang",
    at: datetime | None = None,
    copy: str = "merchant",
    evidence: str = "{}",
) -> None:
    """A reprint as an older version or an import left it in the record."""
    merchant_no, seq = ref.rsplit("-", 1)
    with cf.engine.begin() as conn:
        d = document_prints.c
        before = conn.execute(
            select(func.count()).where(
                (d.merchant_no == merchant_no) & (d.seq == int(seq)) & (d.copy == copy)
            )
        ).scalar_one()
        conn.execute(
            document_prints.insert().values(
                merchant_no=merchant_no,
                seq=int(seq),
                copy=copy,
                print_no=int(before) + 1,
                format="text80",
                reason="lost",
                evidence=evidence,
                incident_id=None,
                actor=actor,
                source="import",
                printed_at=at or datetime.now(UTC),
            )
        )


def set_thresholds(cf: Counterfoil, merchant_no: str, values: dict[str, Any]) -> None:
    settings = {
        "preauth_tolerance_pct": 115,
        "preauth_validity_days": 30,
        "refund_fee_policy": "pro_rata",
        alerts.SETTING: values,
    }
    with cf.engine.begin() as conn:
        conn.execute(
            update(merchants)
            .where(merchants.c.merchant_no == merchant_no)
            .values(settings=orjson.dumps(settings).decode())
        )


def found(cf: Counterfoil, who: Principal = SUPERVISOR, **options: Any) -> list[alerts.Alert]:
    with cf.engine.connect() as conn:
        return alerts.alerts(conn, who, **options)


def rules_of(found_alerts: list[alerts.Alert]) -> list[tuple[str, str | None, str | None]]:
    return [(a.rule, a.entry_id, a.actor) for a in found_alerts]


# --- each rule ------------------------------------------------------------------------------


def test_a_transaction_reprinted_three_times_raises_one_alert(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    reprint(cf, sales["today"])
    reprint(cf, sales["today"], DEPUTY)
    assert found(cf) == []  # twice is not yet a sign
    reprint(cf, sales["today"])
    [alert] = found(cf)
    assert (alert.rule, alert.merchant_no, alert.entry_id, alert.actor) == (
        "repeated_reprints",
        MERCHANT,
        sales["today"],
        None,
    )
    assert alert.facts["reprints"] == 3
    assert alert.facts["threshold"] == 3
    assert alert.facts["copies"] == {"merchant": 3}
    assert alert.facts["actors"] == ["user:chen", "user:wang"]
    with cf.engine.connect() as conn:
        third = conn.execute(
            select(document_prints.c.printed_at).where(document_prints.c.print_no == 3)
        ).scalar_one()
    assert alert.first_seen == (third if third.tzinfo else third.replace(tzinfo=UTC))
    assert alert.describe("en") == "3 reprints of this transaction (the alert starts at 3)"


def test_a_reprint_long_after_the_sale_is_late(cf: Counterfoil, sales: dict[str, str]) -> None:
    reprint(cf, sales["old"])
    [alert] = found(cf)
    assert (alert.rule, alert.entry_id, alert.actor) == ("late_reprint", sales["old"], "user:wang")
    assert alert.facts["days_after_sale"] == 40
    assert alert.facts["threshold"] == 30
    assert (alert.facts["print_no"], alert.facts["copy"]) == (1, "merchant")
    assert "40 days after the sale" in alert.describe("en")


def test_a_reprint_of_a_refunded_or_voided_payment_is_named_with_what_took_it_back(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    reprint(cf, sales["refunded"])
    reprint(cf, sales["voided"], DEPUTY)
    shown = {a.entry_id: a for a in found(cf, rule="voided_or_refunded")}
    refunded, voided = shown[sales["refunded"]], shown[sales["voided"]]
    assert refunded.facts["status"] == "refunded"
    assert [x["type"] for x in refunded.facts["later"]] == ["refund"]
    assert refunded.facts["printed_after_it"] is True
    assert (voided.facts["status"], voided.actor) == ("voided", "user:chen")
    assert [x["type"] for x in voided.facts["later"]] == ["void"]


def test_a_cardholder_copy_without_evidence_is_found_in_older_records(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    reprint(
        cf,
        sales["today"],
        copy="cardholder",
        evidence={"last4": "0123", "amount": 476800, "date": local_time()[:10]},
    )  # through the service: evidence recorded, no alert
    assert found(cf) == []
    imported_print(cf, sales["today"], copy="cardholder", evidence="{}")
    imported_print(cf, sales["today"], copy="cardholder", evidence='{"last4": "0123"}')
    imported_print(cf, sales["today"], copy="merchant", evidence="{}")  # needs none
    shown = found(cf, rule="cardholder_without_evidence")
    assert [(a.facts["print_no"], a.facts["evidence"]) for a in shown] == [
        (2, "{}"),
        (3, '{"last4": "0123"}'),
    ]


def test_one_person_reprinting_far_above_the_shops_norm(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    set_thresholds(cf, MERCHANT, {"operator_min": 4, "repeat_count": 100})
    start = datetime.now(UTC) - timedelta(hours=5)
    imported_print(cf, sales["today"], actor="user:wang", at=start)
    imported_print(cf, sales["refunded"], actor="user:chen", at=start)
    moments = [start + timedelta(minutes=10 * n) for n in range(1, 6)]
    for moment in moments:
        imported_print(cf, sales["today"], actor="user:li", at=moment)
    [alert] = found(cf, rule="operator_above_norm")
    assert (alert.entry_id, alert.actor) == (None, "user:li")
    facts = alert.facts
    assert (facts["reprints"], facts["median"], facts["norm"], facts["people"]) == (5, 1, 3, 3)
    assert alert.first_seen == moments[3]  # the fourth: above 3 × 1 and at least 4
    set_thresholds(cf, MERCHANT, {"operator_min": 6, "repeat_count": 100})
    assert found(cf, rule="operator_above_norm") == []  # five is under the shop's minimum


# --- thresholds, periods, order --------------------------------------------------------------


def test_thresholds_are_the_merchants_own(cf: Counterfoil, sales: dict[str, str]) -> None:
    set_thresholds(cf, MERCHANT, {"repeat_count": 2, "late_days": 60})
    reprint(cf, sales["today"])
    reprint(cf, sales["today"])
    reprint(cf, sales["old"])
    assert rules_of(found(cf)) == [("repeated_reprints", sales["today"], None)]
    set_thresholds(cf, MERCHANT, {"repeat_count": "many", "late_days": 0})  # not valid: defaults
    assert {a.rule for a in found(cf)} == {"late_reprint"}
    assert alerts.check_thresholds({"late_days": 45})["late_days"] == 45
    for wrong in ({"late_days": 0}, {"repeat_count": True}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            alerts.check_thresholds(wrong)


def test_the_period_selects_the_reprints_and_the_order_is_deterministic(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    set_thresholds(cf, MERCHANT, {"late_days": 2})
    long_ago = datetime.now(UTC) - timedelta(days=35)  # five days after the sale
    imported_print(cf, sales["old"], at=long_ago, copy="cardholder")
    reprint(cf, sales["refunded"])
    reprint(cf, sales["old"])
    default = found(cf)
    assert rules_of(default) == [
        ("voided_or_refunded", sales["refunded"], "user:wang"),
        ("late_reprint", sales["old"], "user:wang"),
    ]
    assert [a.first_seen for a in default] == sorted(a.first_seen for a in default)
    day = long_ago.astimezone(SHANGHAI).date()
    then = found(cf, date_from=day - timedelta(days=1), date_to=day)
    assert rules_of(then) == [
        ("late_reprint", sales["old"], "user:wang"),
        ("cardholder_without_evidence", sales["old"], "user:wang"),
    ]  # same moment: the rules' order
    assert found(cf) == default  # the same answer again
    with pytest.raises(ValidationError):
        found(cf, rule="everything")
    with pytest.raises(ValidationError):
        found(cf, date_from=date(2026, 1, 2), date_to=date(2026, 1, 1))


def test_alerts_are_read_by_supervisors_and_readers_of_their_merchants(
    cf: Counterfoil, sales: dict[str, str]
) -> None:
    reprint(cf, sales["old"])
    set_thresholds(cf, OTHER_MERCHANT, {"late_days": 1})
    imported_print(
        cf, sales["neighbour"], actor="user:sun", at=datetime.now(UTC), copy="cardholder"
    )
    assert {a.merchant_no for a in found(cf, AUDITOR)} == {MERCHANT}
    assert {a.merchant_no for a in found(cf, NEIGHBOUR)} == {OTHER_MERCHANT}
    assert {a.merchant_no for a in found(cf, Principal.local())} == {MERCHANT, OTHER_MERCHANT}
    assert {a.merchant_no for a in found(cf, Principal.local(), merchant=MERCHANT)} == {MERCHANT}
    with pytest.raises(Forbidden):
        found(cf, CASHIER)
    with pytest.raises(Forbidden):
        found(cf, NEIGHBOUR, merchant=MERCHANT)


# --- the CLI and the API ------------------------------------------------------------------------


def test_the_cli_lists_alerts_as_json_and_as_a_table(
    settings: Settings, cf: Counterfoil, sales: dict[str, str]
) -> None:
    reprint(cf, sales["old"])
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """counterfoil"""

    app.command("alerts")(guarded(incident_cli.alerts))
    env = {
        "COUNTERFOIL_HOME": str(settings.home),
        "COUNTERFOIL_DATABASE_URL": settings.database_url,
    }
    runner = CliRunner()

    def run(*args: str) -> Any:
        return contextvars.copy_context().run(runner.invoke, app, list(args), env=env)

    answer = run("alerts", "--merchant", MERCHANT, "--json")
    assert answer.exit_code == 0, answer.output
    [alert] = json.loads(answer.stdout)
    assert (alert["rule"], alert["entry_id"], alert["facts"]["days_after_sale"]) == (
        "late_reprint",
        sales["old"],
        40,
    )
    assert alert["title"] == "Late reprint"
    table = run("alerts")
    assert table.exit_code == 0
    assert "Reprint alerts" in table.stdout
    wrong = run("alerts", "--rule", "nonsense")
    assert wrong.exit_code == 2


def app_for(cf: Counterfoil) -> FastAPI:
    app = create_app(cf)
    if not any(getattr(r, "path", "") == "/api/v1/alerts" for r in app.routes):
        app.include_router(incident_routes.router)
    return app


@pytest.fixture
def api(cf: Counterfoil, sales: dict[str, str]) -> Iterator[TestClient]:
    users.add_user(cf, "zhao", PASSWORD, "auditor", [MERCHANT], locale="en")
    users.add_user(
        cf, "li", PASSWORD, "cashier", [MERCHANT], terminals=[(MERCHANT, TERMINAL)], locale="en"
    )
    with TestClient(app_for(cf)) as client:
        yield client


def test_the_api_lists_alerts_for_those_who_may_read_them(
    cf: Counterfoil, api: TestClient, sales: dict[str, str]
) -> None:
    reprint(cf, sales["old"])
    reprint(cf, sales["refunded"])
    for username, status in (("zhao", 200), ("li", 403)):
        api.cookies.clear()
        login = api.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        answer = api.get("/api/v1/alerts", params={"rule": "late_reprint"})
        assert answer.status_code == status, answer.text
    api.cookies.clear()
    api.post("/api/v1/session", json={"username": "zhao", "password": PASSWORD})
    body = api.get("/api/v1/alerts").json()
    assert body["total"] == 2
    assert [a["rule"] for a in body["items"]] == ["late_reprint", "voided_or_refunded"]
    assert body["items"][0]["description"].startswith("reprinted 40 days after the sale")
    assert api.get("/api/v1/alerts", params={"date_from": "soon"}).status_code == 422
