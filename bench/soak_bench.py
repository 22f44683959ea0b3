"""Soak (issue 9): single-transaction requests at a steady rate for minutes, on SQLite.

``counterfoil serve`` on a fresh data directory (127.0.0.1 only) receives
``POST /api/v1/transactions`` at ``--rate`` requests a second (default 500) for
``--minutes`` (default 10), open loop: request i is due at start + i/rate whatever the
answers before it, and its latency is counted from when it was due (a slow server is not
hidden by sending less). Per minute: requests, errors, p50/p99/max latency, and the
server's resident memory (the serving process, and with its worker processes). Writes
``bench/results/soak-sqlite.json``.

    .venv/bin/python bench/soak_bench.py --minutes 10 --rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from counterfoil.config import Settings  # noqa: E402
from counterfoil.services.context import Counterfoil  # noqa: E402
from counterfoil.services.merchants import add_merchant, add_terminal  # noqa: E402
from pgserver import free_port  # noqa: E402

MERCHANT = "102310048993424"
TERMINAL = "TERM0001"
CONNECTIONS = 64


def body(i: int) -> bytes:
    batch, trace = divmod(i, 999_999)
    return json.dumps(
        {
            "merchant_no": MERCHANT,
            "terminal_id": TERMINAL,
            "batch_no": f"{batch + 1:06d}",
            "trace_no": f"{trace + 1:06d}",
            "type": "sale",
            "channel": "credit",
            "amount": 1000 + i % 90_000,
            "currency": "CNY",
            "terminal_time": "2026-11-20T14:05:09+08:00",
            "rrn": f"{i:012d}",
            "auth_code": "123456",
            "card": "622202******0123",
            "entry_mode": "chip",
            "operator": "01",
        }
    ).encode()


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


class Load:
    def __init__(self, port: int, token: str, rate: float, seconds: float) -> None:
        self.port, self.token, self.rate, self.seconds = port, token, rate, seconds
        self.total = int(rate * seconds)
        self.next = 0
        self.samples: list[tuple[float, float, int]] = []  # (due, latency, status)

    async def connection(self, start: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (
            "POST /api/v1/transactions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
        ).encode()
        try:
            while self.next < self.total:
                i = self.next
                self.next += 1
                due = start + i / self.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                payload = body(i)
                writer.write(head + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                status = int(status_line.split()[1]) if status_line else 0
                self.samples.append((due - start, time.perf_counter() - due, status))
        finally:
            writer.close()

    def run(self) -> None:
        async def main() -> None:
            start = time.perf_counter() + 0.5
            await asyncio.gather(*(self.connection(start) for _ in range(CONNECTIONS)))

        asyncio.run(main())


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "soak-sqlite.json"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="counterfoil-soak-"))
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    with Counterfoil.open(settings) as cf:
        add_merchant(cf, MERCHANT, "压测商户")
        _, token = add_terminal(cf, MERCHANT, TERMINAL)
    env = {
        **os.environ,
        "COUNTERFOIL_HOME": str(home),
        "COUNTERFOIL_DATABASE_URL": settings.database_url,
    }
    port = free_port()
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "counterfoil.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    memory: list[tuple[float, int, int]] = []
    try:
        import socket

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        load = Load(port, token, args.rate, args.minutes * 60)
        stop = threading.Event()

        def sample_memory() -> None:
            started = time.perf_counter()
            while not stop.wait(1.0):
                own = rss_kib(server.pid)
                total = own + sum(rss_kib(c) for c in children(server.pid))
                memory.append((time.perf_counter() - started, own, total))

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        began = time.perf_counter()
        load.run()
        elapsed = time.perf_counter() - began
        stop.set()
        sampler.join(timeout=5)
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()

    minutes = []
    for m in range(int(-(-args.minutes // 1))):
        window = [s for s in load.samples if m * 60 <= s[0] < (m + 1) * 60]
        ordered = sorted(s[1] for s in window)
        mem = [x for x in memory if m * 60 <= x[0] < (m + 1) * 60]
        minutes.append(
            {
                "minute": m + 1,
                "requests": len(window),
                "errors": sum(1 for s in window if s[2] not in (200, 201)),
                "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
                "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
                "max_ms": round((ordered[-1] if ordered else 0) * 1000, 2),
                "rss_mib_end": round(mem[-1][1] / 1024, 1) if mem else None,
                "rss_mib_with_workers_end": round(mem[-1][2] / 1024, 1) if mem else None,
            }
        )
    # The first minute second by second: a warm-up shows here.
    first_minute = []
    for second in range(min(60, int(args.minutes * 60))):
        ordered = sorted(s[1] for s in load.samples if second <= s[0] < second + 1)
        first_minute.append(round(percentile(ordered, 0.99) * 1000, 1))
    statuses: dict[str, int] = {}
    for s in load.samples:
        statuses[str(s[2])] = statuses.get(str(s[2]), 0) + 1
    result: dict[str, Any] = {
        "database": "sqlite",
        "rate": args.rate,
        "minutes": args.minutes,
        "requests": len(load.samples),
        "achieved_rate": round(len(load.samples) / elapsed, 1),
        "statuses": statuses,
        "per_minute": minutes,
        "first_minute_p99_ms_by_second": first_minute,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
