"""Backup and restore drill, on SQLite and PostgreSQL: a backup taken while transactions
keep arriving holds one consistent moment (its manifest's counts and chain heads are
those of the restored store), a restore into a fresh store verifies, encrypted backups
carry the merchants' keys and plain ones do not, and a damaged backup is refused."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import create_engine, text

from conftest import MERCHANT, sale
from counterfoil.backup.crypto import BackupKey, new_key_file
from counterfoil.backup.manifest import Manifest, summarise
from counterfoil.backup.restore import restore, verify_backup
from counterfoil.backup.take import backups_in, take_backup
from counterfoil.config import Settings
from counterfoil.core.errors import Conflict, IntegrityFailure, NotFound, ValidationError
from counterfoil.services import ingest, verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store.audit import Actor
from pgserver import PgServer

ACTOR = Actor("test", "local")


def record(cf: Counterfoil, start: int, count: int) -> None:
    payloads = [
        sale(trace_no=f"{n:06d}", rrn=f"{n:012d}", amount=1000 + n)
        for n in range(start, start + count)
    ]
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    results = cf.write(lambda conn: ingest.record(conn, cf.keys, items, ACTOR))
    assert {r.status for r in results} == {"recorded"}


def fresh_settings(settings: Settings, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A fresh store of the same kind: a new data directory, and an empty database."""
    home = tmp_path / f"restored-{uuid.uuid4().hex[:6]}"
    if settings.is_sqlite:
        return Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    server: PgServer = request.getfixturevalue("pg_server")
    name = f"r_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return Settings(home=home, database_url=server.url_for(name))


def test_a_backup_taken_under_load_restores_to_exactly_its_manifest(
    cf: Counterfoil, shop: Any, settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    record(cf, 1, 200)
    cf.start_writer()
    stop = threading.Event()

    def keep_recording() -> None:
        for round_no in range(200):  # bounded
            if stop.is_set():
                return
            record(cf, 1000 + round_no * 20, 20)

    writer = threading.Thread(target=keep_recording)
    writer.start()
    try:
        result = take_backup(cf, to=tmp_path / "backups", actor=ACTOR)
    finally:
        stop.set()
        writer.join(timeout=120)
    assert not writer.is_alive()
    manifest = result.manifest
    assert manifest.journals[MERCHANT]["entries"] >= 201  # genesis + the first 200
    assert manifest.journals[MERCHANT]["last_seq"] == manifest.journals[MERCHANT]["entries"]
    assert not manifest.keys_included
    assert not manifest.encrypted

    checked = verify_backup(result.path)
    assert checked["ok"]
    assert checked["contents_checked"]

    target = fresh_settings(settings, request, tmp_path)
    restored = restore(target, result.path, actor=ACTOR)
    assert restored["entries"] == manifest.journals[MERCHANT]["entries"]
    assert restored["can_sign"] is False
    with Counterfoil.open(target) as again:
        found = again.read(summarise)
        assert found[MERCHANT].as_dict() == manifest.journals[MERCHANT]
        [report] = verification.verify(again, MERCHANT, full=True)
        assert report.ok, report.problem
        assert report.head_hash == manifest.journals[MERCHANT]["head_hash"]
        # Without its keys the restored store verifies but cannot sign, and makes no new
        # card key under which the card look-ups of its entries would find nothing.
        key_id = next(
            iter(
                again.read(
                    lambda conn: (
                        conn.execute(
                            text("SELECT key_id FROM signing_keys WHERE merchant_no = :m"),
                            {"m": MERCHANT},
                        )
                        .scalars()
                        .all()
                    )
                )
            )
        )
        with pytest.raises(NotFound, match=r"can be verified but not signed"):
            again.keys.signer(MERCHANT, key_id)
        with pytest.raises(NotFound, match=r"restore it from an encrypted backup"):
            again.keys.hmac_key(MERCHANT)


def test_an_encrypted_backup_carries_the_keys_and_the_restored_store_signs(
    cf: Counterfoil, shop: Any, settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    record(cf, 1, 50)
    cf.keys.hmac_key(MERCHANT)
    key = new_key_file(tmp_path / "backup.key")
    result = take_backup(cf, to=tmp_path / "backups", key=key, actor=ACTOR)
    names = set(result.manifest.files)
    assert names == {
        "database.sqlite.enc" if settings.is_sqlite else "database.pgdump.enc",
        "keys.json.enc",
    }
    # No plain key and no plain database page is in the backup's files.
    signing = next((settings.keys_dir / MERCHANT).glob("*.ed25519")).read_text().strip()
    for file in result.path.iterdir():
        assert signing.encode() not in file.read_bytes()
    assert not list(settings.home.glob(".backup-*"))  # the plain copy was removed

    with pytest.raises(ValidationError, match=r"is encrypted: give its key file"):
        restore(fresh_settings(settings, request, tmp_path), result.path)
    other = BackupKey.from_file(new_key_file_path(tmp_path))
    with pytest.raises(ValidationError, match=r"was encrypted with key"):
        verify_backup(result.path, other)
    assert verify_backup(result.path)["contents_checked"] is False
    assert verify_backup(result.path, key)["contents_checked"] is True

    target = fresh_settings(settings, request, tmp_path)
    restored = restore(target, result.path, key, actor=ACTOR)
    assert restored["keys_restored"] == 2  # the signing key and the card-HMAC key
    assert (target.keys_dir / MERCHANT / "card-hmac.key").stat().st_mode & 0o777 == 0o600
    with Counterfoil.open(target) as again:
        record(again, 5000, 3)  # signs with the restored key
        [report] = verification.verify(again, MERCHANT, full=True)
        assert report.ok
        assert report.entries == 54


def new_key_file_path(tmp_path: Path) -> Path:
    path = tmp_path / f"other-{uuid.uuid4().hex[:6]}.key"
    new_key_file(path)
    return path


def test_a_restore_refuses_a_store_that_is_not_fresh(
    cf: Counterfoil, shop: Any, settings: Settings, tmp_path: Path
) -> None:
    result = take_backup(cf, to=tmp_path / "backups", actor=ACTOR)
    with pytest.raises(Conflict, match=r"restore needs a"):
        restore(settings, result.path)  # the very store it came from


def test_retention_keeps_the_newest(cf: Counterfoil, shop: Any, tmp_path: Path) -> None:
    taken = [take_backup(cf, to=tmp_path / "b", keep=2, actor=ACTOR) for _ in range(3)]
    assert [p.name for p in backups_in(tmp_path / "b")] == [t.path.name for t in taken[1:]]
    assert taken[2].removed == [taken[0].path.name]
    assert not list((tmp_path / "b").glob("*.partial"))


# --- damaged backups (SQLite is enough: the checks are of files) -------------------------


@pytest.fixture
def sqlite_cf(sqlite_template: Path, tmp_path: Path) -> Iterator[Counterfoil]:
    """A SQLite store with the merchant and 30 sales: the file checks are the same for
    both databases, so these tests run on one."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(sqlite_template, home / "counterfoil.db")
    store = Counterfoil.open(
        Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}"), upgrade=False
    )
    add_merchant(store, MERCHANT, "测试便利店")
    record(store, 1, 30)
    yield store
    store.close()


@pytest.fixture
def plain_backup(sqlite_cf: Counterfoil, tmp_path: Path) -> Path:
    return take_backup(sqlite_cf, to=tmp_path / "backups", actor=ACTOR).path


def test_a_truncated_database_file_is_refused(plain_backup: Path, tmp_path: Path) -> None:
    db = plain_backup / "database.sqlite"
    size = db.stat().st_size
    with db.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(IntegrityFailure, match=r"database.sqlite has \d+ bytes, the manifest says"):
        verify_backup(plain_backup)
    target = Settings(home=tmp_path / "r", database_url=f"sqlite:///{tmp_path / 'r' / 'c.db'}")
    with pytest.raises(IntegrityFailure):
        restore(target, plain_backup)
    assert not (tmp_path / "r" / "c.db").exists()  # nothing put in place


def test_a_changed_byte_is_refused(plain_backup: Path) -> None:
    db = plain_backup / "database.sqlite"
    data = bytearray(db.read_bytes())
    data[len(data) // 2] ^= 0x01
    db.write_bytes(bytes(data))
    with pytest.raises(IntegrityFailure, match=r"the SHA-256 of database.sqlite"):
        verify_backup(plain_backup)


def test_missing_and_extra_files_and_a_broken_manifest_are_refused(plain_backup: Path) -> None:
    (plain_backup / "notes.txt").write_text("hello")
    with pytest.raises(IntegrityFailure, match=r"does not list: notes.txt"):
        verify_backup(plain_backup)
    (plain_backup / "notes.txt").unlink()
    (plain_backup / "database.sqlite").rename(plain_backup / "elsewhere")
    with pytest.raises(IntegrityFailure, match=r"database.sqlite is missing"):
        verify_backup(plain_backup)
    (plain_backup / "elsewhere").rename(plain_backup / "database.sqlite")
    manifest = plain_backup / "manifest.json"
    manifest.write_bytes(manifest.read_bytes()[:-40])
    with pytest.raises(IntegrityFailure, match=r"manifest of .* is damaged: it is not JSON"):
        verify_backup(plain_backup)
    manifest.unlink()
    with pytest.raises(IntegrityFailure, match=r"has no manifest.json"):
        verify_backup(plain_backup)


def test_a_manifest_that_lies_about_the_journals_is_refused(plain_backup: Path) -> None:
    path = plain_backup / "manifest.json"
    document = orjson.loads(path.read_bytes())
    document["journals"][MERCHANT]["entries"] += 1
    path.write_bytes(orjson.dumps(document))
    with pytest.raises(IntegrityFailure, match=r"does not hold what its manifest says"):
        verify_backup(plain_backup)


def test_an_encrypted_backup_cut_short_or_resealed_is_refused(
    sqlite_cf: Counterfoil, tmp_path: Path
) -> None:
    key = new_key_file(tmp_path / "k")
    path = take_backup(sqlite_cf, to=tmp_path / "b", key=key, actor=ACTOR).path
    db = path / "database.sqlite.enc"
    original = db.read_bytes()
    # Cut short, and the manifest's size and hash "fixed" to match: the seal refuses it.
    db.write_bytes(original[: len(original) - 100])
    document = orjson.loads((path / "manifest.json").read_bytes())
    from counterfoil.backup.manifest import sha256_of

    document["files"]["database.sqlite.enc"] = {"bytes": db.stat().st_size, "sha256": sha256_of(db)}
    (path / "manifest.json").write_bytes(orjson.dumps(document))
    with pytest.raises(IntegrityFailure, match=r"manifest of .* was altered"):
        verify_backup(path, key)
    # Even with a matching seal (someone holding the key), the cut is found in the parts.
    manifest = Manifest.read(path)
    manifest.seal = key.seal(manifest.signed_bytes())
    manifest.write(path)
    with pytest.raises(IntegrityFailure, match=r"cut short|is damaged at part"):
        verify_backup(path, key)
