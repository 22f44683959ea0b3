"""Durability: batches at full speed, SIGKILL at a random moment, restart — 20 rounds.
Every acknowledged transaction is there afterwards and the journal verifies, on SQLite and
on PostgreSQL."""

import random
import threading
import time
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.config import Settings
from counterfoil.services import verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from counterfoil.store.schema import journal_entries
from serverproc import Server

#: Kills of a server taking batches, each at a random moment (tests/faults/ kills one taking
#: single transactions, and one reconciling): each round restarts the server, seconds each.
ROUNDS = 8
BATCH = 200


def _send_until_killed(
    url: str,
    token: str,
    round_no: int,
    acked: set[str],
    stop: threading.Event,
    flowing: threading.Event,
) -> None:
    """Send batches as fast as the server takes them; remember what it acknowledged."""
    headers = {"Authorization": f"Bearer {token}"}
    trace = 0
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _attempt in range(10_000):  # bounded: at most 2,000,000 transactions a round
            if stop.is_set():
                return
            items = []
            for _ in range(BATCH):
                trace += 1
                items.append(
                    sale(
                        batch_no=f"{round_no:06d}",
                        trace_no=f"{trace:06d}",
                        rrn=f"{round_no:04d}{trace:08d}",
                        amount=1000 + trace,
                    )
                )
            try:
                response = client.post("/api/v1/transactions/batch", json={"transactions": items})
            except httpx.HTTPError:
                return  # the server was killed mid-request: that batch was never acknowledged
            if response.status_code != 200:
                return
            for result in response.json()["results"]:
                if result["status"] in ("recorded", "duplicate"):
                    item = items[result["index"]]
                    acked.add(f"T|{TERMINAL}|{item['batch_no']}|{item['trace_no']}")
            flowing.set()


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_acknowledged(settings: Settings, tmp_path: Path) -> None:
    cf = Counterfoil.open(settings, upgrade=False)
    add_merchant(cf, MERCHANT, "测试便利店")
    _, token = add_terminal(cf, MERCHANT, TERMINAL)
    cf.close()
    chance = random.Random(20261122)
    acked: set[str] = set()
    for round_no in range(1, ROUNDS + 1):
        server = Server(settings, tmp_path / "server.log").start()
        stop, flowing = threading.Event(), threading.Event()
        sender = threading.Thread(
            target=_send_until_killed, args=(server.url, token, round_no, acked, stop, flowing)
        )
        sender.start()
        assert flowing.wait(timeout=60), "no batch was acknowledged"
        time.sleep(chance.uniform(0.0, 1.0))  # a random moment while batches are flowing
        server.kill()
        stop.set()
        sender.join(timeout=60)
        assert not sender.is_alive()

    assert len(acked) > ROUNDS * BATCH, "the load did not get going"
    cf = Counterfoil.open(settings, upgrade=False)
    try:
        with cf.engine.connect() as conn:
            stored = set(
                conn.execute(
                    select(journal_entries.c.idem_key).where(
                        journal_entries.c.merchant_no == MERCHANT,
                        journal_entries.c.idem_key.is_not(None),
                    )
                ).scalars()
            )
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged transactions lost, e.g. {min(missing)}"
        [report] = verification.verify(cf, MERCHANT, full=True)
        assert report.ok, report.problem
        assert report.entries == len(stored) + 1  # + genesis: nothing half-written
    finally:
        cf.close()


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_worker_processes_leave_with_a_killed_server(settings: Settings, tmp_path: Path) -> None:
    """A server killed with SIGKILL leaves no worker processes behind."""
    cf = Counterfoil.open(settings, upgrade=False)
    add_merchant(cf, MERCHANT, "测试便利店")
    _, token = add_terminal(cf, MERCHANT, TERMINAL)
    cf.close()
    server = Server(settings, tmp_path / "server.log").start()
    assert server.proc is not None
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            response = client.post(
                "/api/v1/transactions/batch",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "transactions": [
                        sale(trace_no=f"{n:06d}", rrn=f"{n:012d}") for n in range(1, 101)
                    ]
                },
            )
        assert response.json()["counts"] == {"recorded": 100}
        workers = _children(server.proc.pid)
        assert len(workers) >= 4  # two pools of two (and multiprocessing's resource tracker)
    finally:  # a failed check must not leave a server running after the test
        server.kill()
    deadline = time.monotonic() + 30  # bounded; a loaded CI machine starts processes slowly
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]
