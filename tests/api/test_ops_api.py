"""Operations: /metrics (Prometheus text) counts requests and ingest by route template,
reads queues, journal size and open cases from the store; a database that fails answers
503 store_unavailable; logs are JSON lines with card numbers masked. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from conftest import sale
from counterfoil.api.app import create_app
from counterfoil.observe import metrics
from counterfoil.observe.logs import JsonFormatter, RedactingFormatter, setup_logging
from counterfoil.services.context import Counterfoil
from counterfoil.store.schema import chain_heads

PAN = "6222021234567890128"


@pytest.fixture
def client(cf: Counterfoil, shop: Any) -> Iterator[TestClient]:
    with TestClient(create_app(cf)) as test_client:
        test_client.headers["Authorization"] = f"Bearer {shop['token']}"
        yield test_client


def value(text_: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
    found = re.search(rf"^{pattern}$", text_, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in /metrics"
    return float(found.group(1))


def test_metrics_count_ingest_by_route_template_and_read_the_store(client: TestClient) -> None:
    before = client.get("/metrics").text
    ok_before = (
        value(before, "counterfoil_ingest_requests_total", 'kind="single",outcome="ok"')
        if 'counterfoil_ingest_requests_total{kind="single",outcome="ok"}' in before
        else 0.0
    )
    for n in range(1, 4):
        assert (
            client.post(
                "/api/v1/transactions", json=sale(trace_no=f"{n:06d}", rrn=f"00000000000{n}")
            ).status_code
            == 201
        )
    assert client.post("/api/v1/transactions", json={"amount": "x"}).status_code == 422
    assert client.get("/api/v1/transactions/000000000002").status_code == 200

    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    body = answer.text
    assert (
        value(body, "counterfoil_ingest_requests_total", 'kind="single",outcome="ok"')
        == ok_before + 3
    )
    assert value(body, "counterfoil_ingest_requests_total", 'kind="single",outcome="error"') >= 1
    assert value(body, "counterfoil_ingest_latency_seconds_count", 'kind="single"') >= 4
    assert 'route="/api/v1/transactions/{ref}"' in body
    # a path's values never become labels (a float such as 21.560000000000002 may hold it)
    assert "000000000002" not in "".join(re.findall(r"\{[^}]*\}", body))
    assert value(body, "counterfoil_journal_entries") == 4  # genesis + three sales
    assert value(body, "counterfoil_store_up") == 1
    assert value(body, "counterfoil_writer_queue_depth") >= 0
    assert value(body, "counterfoil_ingest_queue_depth") >= 0
    assert "process_resident_memory_bytes" in body
    assert "counterfoil_reconciliation_duration_seconds_count" in body


def test_reconciliation_durations_are_observed() -> None:
    before = metrics.RECONCILIATION._sum.get()
    metrics.observe_reconciliation(2.5)
    assert metrics.RECONCILIATION._sum.get() == before + 2.5


def test_open_cases_are_counted_when_a_cases_table_exists() -> None:
    engine = create_engine("sqlite://")
    chain_heads.create(engine)
    with engine.begin() as conn:
        conn.execute(
            chain_heads.insert(),
            [
                {"chain": "102310048993424", "seq": 7, "head_hash": "a"},
                {"chain": "audit", "seq": 99, "head_hash": "b"},
            ],
        )
    with engine.connect() as conn:
        assert metrics._store_figures(conn) == (7, None)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE cases (id INTEGER PRIMARY KEY, state TEXT)"))
        conn.execute(
            text("INSERT INTO cases (state) VALUES ('open'), ('investigating'), ('closed')")
        )
    with engine.connect() as conn:
        assert metrics._store_figures(conn) == (7, 2)
    engine.dispose()


def test_a_database_that_fails_answers_503_in_the_one_error_shape(
    cf: Counterfoil, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FullDisk:
        """A connection whose every statement fails as SQLite does on a full disk."""

        def __getattr__(self, _name: str) -> Any:
            raise OperationalError("INSERT", {}, Exception("database or disk is full"))

    def failing(job: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(job(FullDisk()))
        except Exception as exc:
            done.set_exception(exc)
        return done

    monkeypatch.setattr(cf, "submit", failing)
    answer = client.post("/api/v1/transactions", json=sale())
    assert answer.status_code == 503
    assert answer.json()["error"]["code"] == "store_unavailable"
    assert "nothing was recorded" in answer.json()["error"]["message"]
    assert (
        value(
            client.get("/metrics").text,
            "counterfoil_http_requests_total",
            'method="POST",route="/api/v1/transactions",status="503"',
        )
        >= 1
    )


def test_logs_are_json_lines_without_card_numbers() -> None:
    stream = io.StringIO()
    handler = setup_logging(stream)
    try:
        log = logging.getLogger("counterfoil.test")
        log.info("card %s seen", PAN, extra={"payload": f"card={PAN}", "count": 3})
        try:
            raise ValueError(f"bad card {PAN}")
        except ValueError:
            log.exception("failed")
        metrics.access_log.info("request", extra={"route": "/x/{ref}", "status": 200})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    assert PAN not in stream.getvalue()
    assert lines[0]["message"] == "card 622202******0128 seen"
    assert lines[0]["payload"] == "card=622202******0128"
    assert lines[0]["count"] == 3
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "counterfoil.test"
    assert "622202******0128" in lines[1]["error"]
    assert lines[2]["route"] == "/x/{ref}"


def test_the_formatter_alone_masks_too() -> None:
    record = logging.makeLogRecord({"msg": "pan %s", "args": (PAN,), "levelname": "INFO"})
    assert PAN not in JsonFormatter().format(record)


def test_plain_lines_carry_the_extra_fields_and_mask_cards_too() -> None:
    record = logging.makeLogRecord(
        {"msg": "request", "levelname": "INFO", "route": "/api/v1/transactions", "note": PAN}
    )
    line = RedactingFormatter("%(levelname)s %(message)s").format(record)
    assert line.startswith("INFO request route=/api/v1/transactions note=")
    assert PAN not in line
