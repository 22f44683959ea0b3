"""PostgreSQL stopped and started again under load: while it is down every write is
refused with 503 store_unavailable (no 500, no partial entries), the server keeps
answering, and once the database is back it records again — without a restart of
Counterfoil. Every acknowledged transaction is there and the journal verifies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, select, text

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.config import Settings
from counterfoil.services import verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.db import make_engine, migrate
from counterfoil.store.schema import journal_entries
from pgserver import PgServer
from serverproc import Server

CLIENTS = 4


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A server of this test's own: it is stopped and started (durable, as in production)."""
    server = PgServer(durable=True).start()
    try:
        yield server
    finally:
        server.cleanup()


def sender(
    url: str,
    token: str,
    client: int,
    acked: set[str],
    statuses: dict[int, int],
    stop: threading.Event,
) -> None:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for n in range(5000):  # bounded
            if stop.is_set():
                return
            item = sale(
                batch_no=f"{client + 1:06d}", trace_no=f"{n + 1:06d}", rrn=f"{client:02d}{n:010d}"
            )
            try:
                answer = http.post("/api/v1/transactions", json=item)
            except httpx.HTTPError:
                statuses[0] = statuses.get(0, 0) + 1
                time.sleep(0.05)
                continue
            statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
            if answer.status_code in (200, 201):
                acked.add(str(item["rrn"]))
            else:
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "store_unavailable"
                time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_down_and_back_under_load(own_pg: PgServer, tmp_path: Path) -> None:
    engine = create_engine(own_pg.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE cf"))
    engine.dispose()
    settings = Settings(home=tmp_path / "home", database_url=own_pg.url_for("cf"))
    settings.home.mkdir()
    store = make_engine(settings.database_url)
    migrate(store)
    store.dispose()
    with Counterfoil.open(settings, upgrade=False) as cf:
        add_merchant(cf, MERCHANT, "测试便利店")
        _, token = add_terminal(cf, MERCHANT, TERMINAL)
        cf.keys.hmac_key(MERCHANT)

    server = Server(settings, tmp_path / "server.log").start()
    acked: set[str] = set()
    statuses: dict[int, int] = {}
    stop = threading.Event()
    threads = [
        threading.Thread(target=sender, args=(server.url, token, c, acked, statuses, stop))
        for c in range(CLIENTS)
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(acked) < 100:
            time.sleep(0.1)
        assert len(acked) >= 100, "the load did not get going"

        own_pg.stop(mode="fast")  # connections cut mid-transaction
        refused_before = statuses.get(503, 0)
        # Each refusal waits for a connection attempt to fail: on a loaded machine that is
        # seconds, so a few refusals are the sign, and the wait is long but bounded.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and statuses.get(503, 0) < refused_before + 10:
            time.sleep(0.1)
        assert statuses.get(503, 0) >= refused_before + 10, statuses
        with httpx.Client(base_url=server.url, timeout=30) as http:
            assert http.get("/health").status_code == 200
            ready = http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["error"]["code"] == "store_unavailable"

            own_pg.restart_server()
            during = len(acked)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(acked) < during + 100:
                time.sleep(0.1)
            assert len(acked) >= during + 100, "no recovery after the database came back"
            assert http.get("/ready").status_code == 200
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        server.stop()
    assert set(statuses) <= {200, 201, 503, 0}, statuses  # never a 500

    with Counterfoil.open(settings, upgrade=False) as cf:
        with cf.engine.connect() as conn:
            found = set(
                conn.execute(
                    select(journal_entries.c.rrn).where(journal_entries.c.rrn.is_not(None))
                ).scalars()
            )
        assert acked <= found, f"{len(acked - found)} acknowledged transactions lost"
        [report] = verification.verify(cf, MERCHANT, full=True)
        assert report.ok, report.problem
        assert report.entries == len(found) + 1  # no partial entries
