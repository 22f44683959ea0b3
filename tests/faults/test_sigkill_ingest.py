"""SIGKILL during ingest of single transactions, on SQLite and PostgreSQL: the server is
killed while many terminals' requests are in flight, twice; afterwards every
acknowledged transaction is there, the journal verifies with nothing half-written, and
sending everything again records exactly what was missing (the run can be repeated)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import func, select

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.config import Settings
from counterfoil.services import verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.schema import journal_entries
from serverproc import Server

ROUNDS = 2
CLIENTS = 6
PER_CLIENT = 300  # bounded: at most 1,800 requests a round


def payload(round_no: int, client: int, n: int) -> dict[str, object]:
    trace = client * PER_CLIENT + n + 1
    return sale(
        batch_no=f"{round_no:06d}", trace_no=f"{trace:06d}", rrn=f"{round_no:02d}{trace:010d}"
    )


def send(
    url: str, token: str, round_no: int, client: int, acked: set[str], flowing: threading.Event
) -> None:
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        for n in range(PER_CLIENT):
            item = payload(round_no, client, n)
            try:
                answer = http.post("/api/v1/transactions", json=item)
            except httpx.HTTPError:
                return  # killed mid-request: never acknowledged
            if answer.status_code not in (200, 201):
                return
            acked.add(f"{item['batch_no']}|{item['trace_no']}")
            flowing.set()


def stored(cf: Counterfoil) -> set[str]:
    with cf.engine.connect() as conn:
        rows = conn.execute(
            select(journal_entries.c.batch_no, journal_entries.c.trace_no).where(
                journal_entries.c.merchant_no == MERCHANT, journal_entries.c.kind == "transaction"
            )
        )
        return {f"{b}|{t}" for b, t in rows}


@pytest.mark.slow
def test_sigkill_during_single_ingest_loses_nothing_acknowledged(
    settings: Settings, tmp_path: Path
) -> None:
    with Counterfoil.open(settings, upgrade=False) as cf:
        add_merchant(cf, MERCHANT, "测试便利店")
        _, token = add_terminal(cf, MERCHANT, TERMINAL)
    chance = random.Random(9)
    acked: set[str] = set()
    for round_no in range(1, ROUNDS + 1):
        server = Server(settings, tmp_path / "server.log").start()
        flowing = threading.Event()
        senders = [
            threading.Thread(target=send, args=(server.url, token, round_no, c, acked, flowing))
            for c in range(CLIENTS)
        ]
        for thread in senders:
            thread.start()
        assert flowing.wait(timeout=60), "no request was acknowledged"
        time.sleep(chance.uniform(0.2, 1.0))
        server.kill()
        for thread in senders:
            thread.join(timeout=60)
            assert not thread.is_alive()

    with Counterfoil.open(settings, upgrade=False) as cf:
        found = stored(cf)
        assert acked <= found, f"{len(acked - found)} acknowledged transactions lost"
        [report] = verification.verify(cf, MERCHANT, full=True)
        assert report.ok, report.problem
        assert report.entries == len(found) + 1  # + genesis: no entry half-written

    # Repeat the whole run: what was recorded is a duplicate, the rest is recorded now.
    server = Server(settings, tmp_path / "server.log").start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            for round_no in range(1, ROUNDS + 1):
                items = [payload(round_no, c, n) for c in range(CLIENTS) for n in range(PER_CLIENT)]
                answer = http.post("/api/v1/transactions/batch", json={"transactions": items})
                assert answer.status_code == 200
                counts = answer.json()["counts"]
                assert set(counts) <= {"recorded", "duplicate"}, counts
    finally:
        server.stop()
    with Counterfoil.open(settings, upgrade=False) as cf:
        with cf.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(journal_entries)).scalar_one()
        assert total == ROUNDS * CLIENTS * PER_CLIENT + 1
        [report] = verification.verify(cf, MERCHANT)
        assert report.ok, report.problem
