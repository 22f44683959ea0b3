"""The restore drill through the commands, with the real server: backups taken on a
schedule while it serves and records, then `backup verify`, `restore` into a fresh data
directory and `verify`; a damaged backup refused with a one-line reason and exit code 6.
SQLite (the commands are the same on PostgreSQL; the services are tested on both)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx2 as httpx
import orjson
import pytest

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.backup.crypto import BackupKey, new_key_file
from counterfoil.config import Settings
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from serverproc import Server, run_cli


@pytest.fixture
def store(sqlite_template: Path, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(sqlite_template, home / "counterfoil.db")
    return Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")


def test_scheduled_backups_while_serving_then_the_restore_drill(
    store: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Counterfoil.open(store, upgrade=False) as cf:
        add_merchant(cf, MERCHANT, "测试便利店")
        _, token = add_terminal(cf, MERCHANT, TERMINAL)
    key_file = tmp_path / "backup.key"
    new_key_file(key_file)
    backups = tmp_path / "backups"
    monkeypatch.setenv("COUNTERFOIL_BACKUP_DIR", str(backups))
    monkeypatch.setenv("COUNTERFOIL_BACKUP_EVERY", "1s")
    monkeypatch.setenv("COUNTERFOIL_BACKUP_KEEP", "3")
    monkeypatch.setenv("COUNTERFOIL_BACKUP_KEY_FILE", str(key_file))
    server = Server(store, tmp_path / "server.log").start()
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            for n in range(1, 41):
                answer = client.post(
                    "/api/v1/transactions", json=sale(trace_no=f"{n:06d}", rrn=f"{n:012d}")
                )
                assert answer.status_code == 201
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(list(backups.glob("counterfoil-*"))) < 2:
                time.sleep(0.2)
            metrics = client.get("/metrics").text
    finally:
        server.stop()
    assert 'counterfoil_backups_total{outcome="success"}' in metrics
    taken = sorted(p for p in backups.iterdir() if not p.name.endswith(".partial"))
    assert 2 <= len(taken) <= 3  # the schedule ran, and retention kept at most three
    newest = taken[-1]

    checked = orjson.loads(run_cli(store, "backup", "verify", str(newest), "--json").stdout)
    assert checked["ok"]
    assert checked["contents_checked"]
    assert checked["encrypted"]

    target = Settings(
        home=tmp_path / "fresh", database_url=f"sqlite:///{tmp_path / 'fresh' / 'counterfoil.db'}"
    )
    restored = orjson.loads(run_cli(target, "restore", str(newest), "--json").stdout)
    manifest = orjson.loads((newest / "manifest.json").read_bytes())
    assert restored["journals"][MERCHANT]["entries"] == manifest["journals"][MERCHANT]["entries"]
    assert (
        restored["journals"][MERCHANT]["head_hash"] == manifest["journals"][MERCHANT]["head_hash"]
    )
    assert restored["can_sign"] is True
    verified = orjson.loads(run_cli(target, "verify", "--full", "--json").stdout)
    assert verified["ok"]

    # A damaged copy: refused, one line, exit code 6; nothing restored.
    damaged = tmp_path / "damaged"
    shutil.copytree(newest, damaged)
    enc = damaged / "database.sqlite.enc"
    enc.write_bytes(enc.read_bytes()[:-1000])
    again = Settings(
        home=tmp_path / "again", database_url=f"sqlite:///{tmp_path / 'again' / 'c.db'}"
    )
    refused = run_cli(again, "restore", str(damaged), check=False)
    assert refused.returncode == 6
    reason = " ".join(refused.stderr.decode().split())  # Rich wraps at the terminal's width
    assert "database.sqlite.enc has" in reason
    assert "cut short" in reason
    assert not (tmp_path / "again" / "c.db").exists()


def test_a_plain_backup_by_command_leaves_the_keys_out(store: Settings, tmp_path: Path) -> None:
    with Counterfoil.open(store, upgrade=False) as cf:
        add_merchant(cf, MERCHANT, "测试便利店")
    result = run_cli(store, "backup", "--to", str(tmp_path / "b"), "--json")
    document = orjson.loads(result.stdout)
    assert document["keys_included"] is False
    assert document["entries"] == 1
    assert set(document["files"]) == {"database.sqlite"}
    listed = orjson.loads(
        run_cli(store, "backup", "list", "--to", str(tmp_path / "b"), "--json").stdout
    )
    assert [item["path"] for item in listed] == [document["path"]]


def test_the_key_file_is_made_once_and_read_strictly(tmp_path: Path) -> None:
    path = tmp_path / "k"
    key = new_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert BackupKey.from_file(path).key_id == key.key_id
    store = Settings(home=tmp_path / "h", database_url=f"sqlite:///{tmp_path / 'h' / 'c.db'}")
    again = run_cli(store, "backup", "key", "--out", str(path), check=False)
    assert again.returncode == 2
    assert b"never overwritten" in again.stderr
    path.write_text("not hex")
    from counterfoil.core.errors import ValidationError

    with pytest.raises(ValidationError, match="must hold 64 hex digits"):
        BackupKey.from_file(path)
