"""Backup and restore figures (issue 9): a store of N entries (default 10,000,000) built
by the fastest route the code offers (``counterfoil ingest`` of a JSON Lines file, with
its worker processes), then, by the commands a person runs: ``backup`` (plain), ``backup``
with a key file (encrypted, keys included), ``backup verify`` of each, ``restore`` of each
into a fresh data directory (which migrates, compares with the manifest and verifies every
journal). SQLite. Times in seconds; sizes in MiB. Writes ``bench/results/backup-sqlite.json``.

    .venv/bin/python bench/backup_bench.py --entries 200000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from journal_bench import MERCHANT, payload  # noqa: E402


def cli(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "counterfoil.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"counterfoil {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def size_mib(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return round(total / 2**20, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "backup-sqlite.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="counterfoil-backup-bench-"))
    home = work / "home"
    env = {**os.environ, "COUNTERFOIL_HOME": str(home)}
    env.pop("COUNTERFOIL_DATABASE_URL", None)
    result: dict[str, object] = {"database": "sqlite", "entries_requested": args.entries}
    try:
        cli(env, "init")
        cli(env, "merchants", "add", MERCHANT, "--name", "备份压测")
        cli(env, "terminals", "add", MERCHANT, "TERM0001")
        lines = work / "sales.jsonl"
        with lines.open("w") as handle:
            for i in range(args.entries):
                handle.write(json.dumps(payload(i)) + "\n")
        print(f"ingesting {args.entries:,} entries", flush=True)
        result["build_seconds"], _ = cli(env, "ingest", str(lines), "--json")
        result["build_seconds"] = round(float(result["build_seconds"]), 1)  # type: ignore[arg-type]
        lines.unlink()
        result["store_mib"] = size_mib(home)
        key = work / "backup.key"
        cli(env, "backup", "key", "--out", str(key))
        for label, extra in (("plain", []), ("encrypted", ["--key-file", str(key)])):
            seconds, out = cli(env, "backup", "--to", str(work / label), "--json", *extra)
            taken = json.loads(out)
            path = Path(taken["path"])
            check, _ = cli(env, "backup", "verify", str(path), "--json", *extra)
            target = {**env, "COUNTERFOIL_HOME": str(work / f"restored-{label}")}
            restore, restored = cli(target, "restore", str(path), "--json", *extra)
            result[label] = {
                "entries": taken["entries"],
                "backup_seconds": round(seconds, 1),
                "backup_mib": size_mib(path),
                "verify_seconds": round(check, 1),
                "restore_seconds": round(restore, 1),
                "restored_entries": json.loads(restored)["entries"],
            }
            print(label, result[label], flush=True)
            # A 10M store is ~17 GiB: each copy is removed before the next is taken.
            shutil.rmtree(work / label, ignore_errors=True)
            shutil.rmtree(work / f"restored-{label}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
