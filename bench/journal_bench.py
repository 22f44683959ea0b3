"""Benchmarks of issue 2: ingest, batch API, single API, verify — SQLite and PostgreSQL.

Every figure is measured here, printed, and written to bench/results/journal-<db>.json.
Each workload runs in its own process so that its peak memory (ru_maxrss) is its own.
The load generator speaks HTTP/1.1 over keep-alive sockets to 127.0.0.1 only, with a
bounded number of requests and a time limit, so it stops by itself.

    python bench/journal_bench.py [--transactions 1000000] [--db sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from speed import machine_speed  # noqa: E402

from pgserver import PgServer, free_port  # noqa: E402

MERCHANT = "102310048993424"
RESULTS = ROOT / "bench" / "results"


def payload(i: int, terminal: str = "TERM0001", batch_base: int = 0) -> dict[str, Any]:
    batch, trace = divmod(i, 999_999)
    return {
        "merchant_no": MERCHANT,
        "terminal_id": terminal,
        "batch_no": f"{batch_base + batch + 1:06d}",
        "trace_no": f"{trace + 1:06d}",
        "type": "sale",
        "channel": ("credit", "debit")[i % 2],
        "amount": 100 + (i * 7919) % 500_000,
        "currency": "CNY",
        "terminal_time": "2026-11-20T14:05:09+08:00",
        "rrn": f"{batch_base:02d}{i:010d}",
        "auth_code": "123456",
        "card": "622202******0123",
        "entry_mode": "chip",
        "operator": "01",
    }


def run(env: dict[str, str], *args: str) -> tuple[float, int, str]:
    """Run a counterfoil command; (seconds, its own peak RSS in MiB, stdout)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as usage:
        start = time.perf_counter()
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "measure.py"),
                usage.name,
                sys.executable,
                "-m",
                "counterfoil.cli.main",
                *args,
            ],
            env=env,
            capture_output=True,
            check=False,
        )
        seconds = time.perf_counter() - start
        if result.returncode:
            raise RuntimeError(f"{' '.join(args)}: {result.stderr.decode()[-1500:]}")
        peak = json.loads(Path(usage.name).read_text())["peak_rss_kib"]
    return seconds, int(peak // 1024), result.stdout.decode()


class Server:
    """``counterfoil serve`` under bench/measure.py, so that its peak memory is its own."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.usage = Path(tempfile.mkstemp(suffix=".json")[1])
        # Its log goes to a file: a pipe nobody reads fills up and stops the server (one
        # access log line a request).
        self.log_path = Path(tempfile.mkstemp(suffix=".log")[1])
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "measure.py"),
                str(self.usage),
                sys.executable,
                "-m",
                "counterfoil.cli.main",
                "serve",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> int:
        """Stop the server; its peak RSS in MiB."""
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
        self.log_path.unlink()
        peak = json.loads(self.usage.read_text())["peak_rss_kib"]
        self.usage.unlink()
        return int(peak // 1024)


async def _client(
    port: int,
    token: str,
    bodies: list[bytes],
    path: str,
    latencies: list[float],
    statuses: dict[int, int],
    deadline: float,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    try:
        for body in bodies:
            if time.perf_counter() > deadline:
                return
            start = time.perf_counter()
            writer.write(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            status = int(status_line.split()[1])
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def load(
    port: int, token: str, bodies: list[bytes], path: str, clients: int, seconds: float
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    shares = [bodies[i::clients] for i in range(clients)]

    async def main() -> float:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(
            *(_client(port, token, share, path, latencies, statuses, deadline) for share in shares)
        )
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99)] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
        "statuses": statuses,
    }


def bench_database(
    kind: str, transactions: int, api_seconds: float, only: str | None = None
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="counterfoil-bench-"))
    env = dict(os.environ, COUNTERFOIL_HOME=str(home))
    server_pg: PgServer | None = None
    if kind == "postgresql":
        server_pg = PgServer(durable=True).start()
        server_pg.psql("CREATE DATABASE bench")
        env["COUNTERFOIL_DATABASE_URL"] = server_pg.url_for("bench")
    else:
        env.pop("COUNTERFOIL_DATABASE_URL", None)
    result: dict[str, Any] = {"database": kind, "transactions": transactions}
    try:
        run(env, "init")
        run(env, "merchants", "add", MERCHANT, "--name", "Bench")
        tokens = json.loads(run(env, "terminals", "add", MERCHANT, "TERM0002", "--json")[2])
        batch_token = tokens["token"]
        single = json.loads(run(env, "terminals", "add", MERCHANT, "TERM0003", "--json")[2])

        if only is None:
            data = home / "ingest.jsonl"
            with data.open("wb") as handle:
                for i in range(transactions):
                    handle.write(orjson.dumps(payload(i)) + b"\n")
            seconds, rss, out = run(env, "ingest", str(data), "--json")
            report = json.loads(out)
            assert report["recorded"] == transactions, report
            result["cli_ingest"] = {
                "transactions": transactions,
                "seconds": round(seconds, 2),
                "tx_per_second": round(transactions / seconds),
                "peak_rss_mib": rss,
            }
            print(
                f"[{kind}] counterfoil ingest: {transactions:,} in {seconds:.1f} s = "
                f"{transactions / seconds:,.0f} tx/s, peak {rss} MiB",
                flush=True,
            )
            data.unlink()

        server = Server(env)
        if only is None:
            batch_size, batches = 1000, max(20, min(200, transactions // 5000))
            bodies = [
                orjson.dumps(
                    {
                        "transactions": [
                            payload(b * batch_size + i, "TERM0002") for i in range(batch_size)
                        ]
                    }
                )
                for b in range(batches)
            ]
            stats = load(server.port, batch_token, bodies, "/api/v1/transactions/batch", 2, 600)
            stats["tx_per_second"] = round(stats["requests"] * batch_size / stats["seconds"])
            stats["batch_size"] = batch_size
            print(
                f"[{kind}] batch API: {stats['tx_per_second']:,} tx/s in batches of {batch_size}"
                f" (p99 {stats['p99_ms']} ms per batch)",
                flush=True,
            )
            result["batch_api"] = stats

        sweeps = []
        offset = 0
        for clients in (8, 16, 32):
            bodies = [orjson.dumps(payload(offset + i, "TERM0003")) for i in range(200_000)]
            offset += 200_000
            stats = load(
                server.port, single["token"], bodies, "/api/v1/transactions", clients, api_seconds
            )
            stats["clients"] = clients
            sweeps.append(stats)
            print(
                f"[{kind}] single API, {clients} clients: {stats['requests_per_second']:,} "
                f"req/s, p50 {stats['p50_ms']} ms, p99 {stats['p99_ms']} ms, statuses "
                f"{stats['statuses']}",
                flush=True,
            )
        del bodies
        result["single_api"] = sweeps
        result["server_peak_rss_mib"] = server.stop()
        print(f"[{kind}] server peak {result['server_peak_rss_mib']} MiB", flush=True)

        if only is None:
            seconds, rss, out = run(env, "verify", "--json")
            entries = sum(j["entries"] for j in json.loads(out)["journals"])
            result["verify"] = {
                "entries": entries,
                "seconds": round(seconds, 2),
                "entries_per_second": round(entries / seconds),
                "peak_rss_mib": rss,
            }
            print(
                f"[{kind}] verify: {entries:,} entries in {seconds:.1f} s = "
                f"{entries / seconds:,.0f}/s, peak {rss} MiB",
                flush=True,
            )
            seconds, rss, out = run(env, "verify", "--full", "--json")
            result["verify_full"] = {
                "entries": entries,
                "seconds": round(seconds, 2),
                "entries_per_second": round(entries / seconds),
                "peak_rss_mib": rss,
            }
            print(f"[{kind}] verify --full: {entries / seconds:,.0f}/s, peak {rss} MiB", flush=True)
    finally:
        if server_pg is not None:
            server_pg.cleanup()
        shutil.rmtree(home, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--api-seconds", type=float, default=30)
    parser.add_argument("--only", choices=["single-api"], help="Run just this part")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }
    for kind in args.db.split(","):
        before = machine_speed()
        result = bench_database(kind, args.transactions, args.api_seconds, args.only)
        result["machine"] = {**machine, "speed_before": before, "speed_after": machine_speed()}
        print(f"[{kind}] machine speed before {before}, after {result['machine']['speed_after']}")
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        name = f"journal-{kind}" + (f"-{args.only}" if args.only else "")
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
