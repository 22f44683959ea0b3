"""The disk fills up under a serving SQLite store (a small tmpfs made by the test): writes
fail cleanly (503 store_unavailable, nothing half-written), the server keeps answering,
and once space returns it records again without a restart; nothing acknowledged is lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
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

SIZE_MIB = 24


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


def batch(start: int, count: int) -> list[dict[str, object]]:
    return [
        sale(
            batch_no=f"{n // 999_999 + 1:06d}",
            trace_no=f"{n % 999_999 + 1:06d}",
            rrn=f"{n:012d}",
            order_no=f"O{n:020d}",
        )
        for n in range(start, start + count)
    ]


def test_a_full_disk_refuses_writes_cleanly_and_recovers(
    small_disk: Path, sqlite_template: Path, tmp_path: Path
) -> None:
    home = small_disk / "home"
    home.mkdir()
    shutil.copyfile(sqlite_template, home / "counterfoil.db")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    with Counterfoil.open(settings, upgrade=False) as cf:
        add_merchant(cf, MERCHANT, "测试便利店")
        _, token = add_terminal(cf, MERCHANT, TERMINAL)
        cf.keys.hmac_key(MERCHANT)
    # Leave about 3 MiB free: the store fills it within a few batches.
    free = shutil.disk_usage(small_disk).free
    filler = small_disk / f"filler-{uuid.uuid4().hex[:6]}"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - 3 * 1024 * 1024))
    acked: set[str] = set()
    refused: list[dict[str, object]] = []
    server = Server(settings, tmp_path / "server.log").start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        ) as http:
            n = 0
            for _round in range(200):  # bounded: 100,000 transactions at most
                items = batch(n, 500)
                n += 500
                answer = http.post("/api/v1/transactions/batch", json={"transactions": items})
                if answer.status_code == 200:
                    for result in answer.json()["results"]:
                        if result["status"] == "recorded":
                            acked.add(items[result["index"]]["rrn"])  # type: ignore[arg-type]
                    continue
                refused.append({"status": answer.status_code, **answer.json()})
                break
            assert refused, "the disk never filled"
            assert refused[0]["status"] == 503
            assert refused[0]["error"]["code"] == "store_unavailable"  # type: ignore[index]
            # Single requests: recorded while a page is left, then refused the same way.
            singles = []
            for item in batch(n, 300):  # bounded
                one = http.post("/api/v1/transactions", json=item)
                singles.append(one.status_code)
                if one.status_code == 201:
                    acked.add(item["rrn"])  # type: ignore[arg-type]
                    continue
                assert one.status_code == 503, one.text
                assert one.json()["error"]["code"] == "store_unavailable"
                break
            assert singles[-1] == 503, "single requests were never refused"
            n += 300
            assert http.get("/health").status_code == 200
            assert http.get("/metrics").status_code == 200

            filler.unlink()  # space returns
            again = http.post("/api/v1/transactions/batch", json={"transactions": batch(n, 200)})
            assert again.status_code == 200, again.text
            assert again.json()["counts"] == {"recorded": 200}
            acked.update(item["rrn"] for item in batch(n, 200))  # type: ignore[misc]
    finally:
        server.stop()
        with contextlib.suppress(FileNotFoundError):
            filler.unlink()

    assert len(acked) >= 500
    with Counterfoil.open(settings, upgrade=False) as cf:
        with cf.engine.connect() as conn:
            found = set(
                conn.execute(
                    select(journal_entries.c.rrn).where(journal_entries.c.rrn.is_not(None))
                ).scalars()
            )
        assert acked <= found
        [report] = verification.verify(cf, MERCHANT, full=True)
        assert report.ok, report.problem
        assert report.entries == len(found) + 1  # nothing half-written
