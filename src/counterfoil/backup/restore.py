"""Checking a backup, and restoring one into a fresh store.

``verify_backup`` refuses a backup that is not whole: a file missing, cut short, padded
or changed (size and SHA-256 against the manifest), a file the manifest does not list,
an encrypted file whose parts do not authenticate, a manifest whose seal does not match
the key; it then opens the database copy and compares its chains with the manifest.

``restore`` puts a backup into a fresh store — a data directory without a database for
SQLite, an empty database for PostgreSQL — migrates it to this version's schema, compares
every chain's count and head with the manifest and verifies every journal. Nothing is
put in place before the copy has been checked (SQLite), or the restore runs as one
transaction (PostgreSQL), so a refused restore leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy import create_engine, inspect, make_url

from counterfoil.backup import pg
from counterfoil.backup.crypto import BackupKey, read_chunks
from counterfoil.backup.manifest import Manifest, differences, sha256_of, summarise
from counterfoil.backup.take import KEYS_FILE, PG_FILE, SQLITE_FILE, finish_tool, iter_files
from counterfoil.config import Settings
from counterfoil.core.errors import Conflict, IntegrityFailure, StoreUnavailable, ValidationError
from counterfoil.i18n import _
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.db import make_engine

_FILE_NAME = re.compile(r"[a-z]+\.[a-z.]+")
_KEY_NAME = re.compile(r"[0-9A-Za-z_-]{1,32}/[0-9A-Za-z_-][0-9A-Za-z_.-]{0,63}")


def _database_file(manifest: Manifest) -> str:
    base = SQLITE_FILE if manifest.database == "sqlite" else PG_FILE
    return f"{base}.enc" if manifest.encrypted else base


def check_files(path: Path, manifest: Manifest) -> None:
    """Every listed file present with its size and SHA-256; nothing unlisted."""
    for name, facts in manifest.files.items():
        if not _FILE_NAME.fullmatch(name):
            raise IntegrityFailure(
                _("the manifest of {path} is damaged: it names a file {name}"),
                path=str(path),
                name=name[:80],
            )
        file = path / name
        if not file.is_file():
            raise IntegrityFailure(
                _("backup {path} is damaged: {name} is missing"), path=str(path), name=name
            )
        size = file.stat().st_size
        if size != facts.get("bytes"):
            raise IntegrityFailure(
                _(
                    "backup {path} is damaged: {name} has {found} bytes, the manifest says "
                    "{expected} (cut short or added to)"
                ),
                path=str(path),
                name=name,
                found=size,
                expected=facts.get("bytes"),
            )
        if sha256_of(file) != facts.get("sha256"):
            raise IntegrityFailure(
                _("backup {path} is damaged: the SHA-256 of {name} is not the manifest's"),
                path=str(path),
                name=name,
            )
    for file in iter_files(path):
        if file.name not in manifest.files:
            raise IntegrityFailure(
                _("backup {path} holds a file its manifest does not list: {name}"),
                path=str(path),
                name=file.name,
            )
    if _database_file(manifest) not in manifest.files:
        raise IntegrityFailure(
            _("backup {path} is damaged: it has no database file"), path=str(path)
        )


def check_key(path: Path, manifest: Manifest, key: BackupKey | None) -> None:
    if not manifest.encrypted:
        return
    if key is None:
        raise ValidationError(
            "key-file",
            _("backup {path} is encrypted: give its key file with --key-file"),
            path=str(path),
        )
    if key.key_id != manifest.key_id:
        raise ValidationError(
            "key-file",
            _("backup {path} was encrypted with key {expected}, not with this key ({found})"),
            path=str(path),
            expected=manifest.key_id,
            found=key.key_id,
        )
    if not manifest.seal or not key.seal_ok(manifest.signed_bytes(), manifest.seal):
        raise IntegrityFailure(
            _("the manifest of {path} was altered: its seal does not match"), path=str(path)
        )


def _plain_chunks(
    path: Path, manifest: Manifest, name: str, key: BackupKey | None
) -> Iterator[bytes]:
    """The plain bytes of a backup file, decrypted (and authenticated) when encrypted."""
    with (path / name).open("rb") as handle:
        if manifest.encrypted:
            assert key is not None
            yield from key.decrypt(name.removesuffix(".enc"), handle)
        else:
            yield from read_chunks(handle)


def _write_file(target: Path, chunks: Iterator[bytes]) -> None:
    with target.open("wb") as handle:
        for piece in chunks:
            handle.write(piece)
        handle.flush()
        os.fsync(handle.fileno())


def check_sqlite_copy(copy: Path, manifest: Manifest, origin: Path) -> None:
    """The copy is a sound SQLite database and its chains are the manifest's."""
    try:
        connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
        try:
            result = connection.execute("PRAGMA quick_check").fetchone()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise IntegrityFailure(
            _("the database in backup {path} is damaged: {reason}"),
            path=str(origin),
            reason=str(exc),
        ) from None
    if not result or result[0] != "ok":
        raise IntegrityFailure(
            _("the database in backup {path} is damaged: {reason}"),
            path=str(origin),
            reason=str(result[0] if result else "no answer")[:200],
        )
    engine = create_engine(f"sqlite:///file:{copy}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            found = summarise(conn)
    finally:
        engine.dispose()
    problems = differences(manifest.chains(), found)
    if problems:
        raise IntegrityFailure(
            _("the database in backup {path} does not hold what its manifest says: {problems}"),
            path=str(origin),
            problems="; ".join(problems[:5]),
        )


def verify_backup(path: Path, key: BackupKey | None = None) -> dict[str, Any]:
    """Check a backup through and through; raise at the first thing wrong with it."""
    path = path.expanduser().resolve()
    manifest = Manifest.read(path)
    check_files(path, manifest)
    contents = not manifest.encrypted or key is not None
    if manifest.encrypted and key is not None:
        check_key(path, manifest, key)
        for name in manifest.files:
            if name != _database_file(manifest) or manifest.database != "sqlite":
                for _piece in _plain_chunks(path, manifest, name, key):
                    pass
    if contents and manifest.database == "sqlite":
        if manifest.encrypted:
            with tempfile.TemporaryDirectory(prefix="counterfoil-verify-") as work:
                copy = Path(work) / SQLITE_FILE
                _write_file(copy, _plain_chunks(path, manifest, _database_file(manifest), key))
                check_sqlite_copy(copy, manifest, path)
        else:
            check_sqlite_copy(path / SQLITE_FILE, manifest, path)
    elif contents:
        _pg_list(path, manifest, key)
    return {
        "ok": True,
        "path": str(path),
        "created_at": manifest.created_at,
        "database": manifest.database,
        "encrypted": manifest.encrypted,
        "keys_included": manifest.keys_included,
        "contents_checked": contents,
        "journals": len(manifest.journals),
        "entries": sum(int(j["entries"]) for j in manifest.journals.values()),
        "files": manifest.files,
    }


def _pg_list(path: Path, manifest: Manifest, key: BackupKey | None) -> None:
    """``pg_restore --list`` reads the archive's table of contents through."""
    process = subprocess.Popen(
        [pg.tool("pg_restore"), "--list"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _feed(process, _plain_chunks(path, manifest, _database_file(manifest), key))
    code, stderr = finish_tool(process, 600)
    if code != 0:
        raise IntegrityFailure(
            _("the database in backup {path} is damaged: {reason}"),
            path=str(path),
            reason=stderr.strip()[-300:],
        )


def _feed(process: subprocess.Popen[bytes], chunks: Iterator[bytes]) -> None:
    stdin: IO[bytes] | None = process.stdin
    assert stdin is not None
    try:
        for piece in chunks:
            stdin.write(piece)
    except BrokenPipeError:
        pass
    except BaseException:
        process.kill()
        raise
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _fresh_target(settings: Settings, manifest: Manifest) -> None:
    kind = "sqlite" if settings.is_sqlite else "postgresql"
    if manifest.database != kind:
        raise ValidationError(
            "database",
            _("this is a backup of a {backup} store; the store to restore into is {target}"),
            backup=manifest.database,
            target=kind,
        )
    if settings.is_sqlite:
        db = Path(make_url(settings.database_url).database or "")
        for file in (db, Path(f"{db}-wal")):
            if file.exists() and file.stat().st_size > 0:
                raise Conflict(
                    _("restore needs a fresh store: {path} already exists"), path=str(file)
                )
    else:
        engine = make_engine(settings.database_url)
        try:
            tables = inspect(engine).get_table_names()
        except Exception as exc:
            raise StoreUnavailable(
                _("the database to restore into cannot be reached: {reason}"), reason=str(exc)[:200]
            ) from None
        finally:
            engine.dispose()
        if tables:
            raise Conflict(
                _("restore needs an empty database: {database} already has tables"),
                database=make_url(settings.database_url).database,
            )
    keys = settings.keys_dir
    if manifest.keys_included and keys.is_dir() and any(keys.rglob("*")):
        raise Conflict(
            _("restore needs a fresh store: the key directory {path} is not empty"), path=str(keys)
        )


def restore(
    settings: Settings,
    path: Path,
    key: BackupKey | None = None,
    *,
    full: bool = False,
    actor: Actor = audit.SYSTEM,
) -> dict[str, Any]:
    """Restore ``path`` into the fresh store of ``settings``; check it against the manifest."""
    from counterfoil.services import verification
    from counterfoil.services.context import Counterfoil

    path = path.expanduser().resolve()
    manifest = Manifest.read(path)
    check_files(path, manifest)
    check_key(path, manifest, key)
    settings.home.mkdir(parents=True, exist_ok=True)
    _fresh_target(settings, manifest)
    if settings.is_sqlite:
        _restore_sqlite(settings, path, manifest, key)
    else:
        _restore_postgres(settings, path, manifest, key)
    keys = _restore_keys(settings, path, manifest, key) if manifest.keys_included else 0
    cf = Counterfoil.open(settings)  # migrated to this version's schema
    try:
        found = cf.read(summarise)
        problems = differences(manifest.chains(), found)
        if problems:
            raise IntegrityFailure(
                _("the restored store does not hold what the manifest says: {problems}"),
                problems="; ".join(problems[:5]),
            )
        reports = verification.verify(cf, full=full, actor=actor)
        bad = [r for r in reports if not r.ok]
        if bad:
            raise IntegrityFailure(
                _("the restored journal of {merchant_no} does not verify: {problem}"),
                merchant_no=bad[0].merchant_no,
                problem=bad[0].problem,
            )
        cf.write(
            lambda conn: audit.record(
                conn,
                actor,
                "backup.restore",
                object_type="backup",
                object_id=path.name,
                details={"path": str(path), "keys": keys, "created_at": manifest.created_at},
            )
        )
    finally:
        cf.close()
    return {
        "ok": True,
        "path": str(path),
        "home": str(settings.home),
        "database": manifest.database,
        "journals": {r.merchant_no: r.as_dict() for r in reports},
        "entries": sum(r.entries for r in reports),
        "keys_restored": keys,
        "can_sign": manifest.keys_included,
    }


def _restore_sqlite(
    settings: Settings, path: Path, manifest: Manifest, key: BackupKey | None
) -> None:
    db = Path(make_url(settings.database_url).database or "")
    db.parent.mkdir(parents=True, exist_ok=True)
    for stale in (Path(f"{db}-wal"), Path(f"{db}-shm"), db):
        stale.unlink(missing_ok=True)  # empty leftovers only: _fresh_target refused the rest
    work = db.with_name(db.name + ".restoring")
    try:
        _write_file(work, _plain_chunks(path, manifest, _database_file(manifest), key))
        check_sqlite_copy(work, manifest, path)
        work.rename(db)
    finally:
        work.unlink(missing_ok=True)
    fd = os.open(db.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _restore_postgres(
    settings: Settings, path: Path, manifest: Manifest, key: BackupKey | None
) -> None:
    url = make_url(settings.database_url)
    process = subprocess.Popen(
        [
            pg.tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={url.database}",
        ],
        env=pg.environment(url),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _feed(process, _plain_chunks(path, manifest, _database_file(manifest), key))
    code, stderr = finish_tool(process, 3600)
    if code != 0:
        raise StoreUnavailable(
            _("pg_restore failed; nothing was restored: {reason}"), reason=stderr.strip()[-300:]
        )


def _restore_keys(settings: Settings, path: Path, manifest: Manifest, key: BackupKey | None) -> int:
    name = f"{KEYS_FILE}.enc"
    if name not in manifest.files:
        raise IntegrityFailure(
            _("backup {path} is damaged: its keys file is missing"), path=str(path)
        )
    found = orjson.loads(b"".join(_plain_chunks(path, manifest, name, key)))
    root = settings.keys_dir
    written = 0
    for relative, secret in sorted(found.items()):
        if not _KEY_NAME.fullmatch(relative) or ".." in relative:
            raise IntegrityFailure(
                _("backup {path} names a key file outside the key directory: {name}"),
                path=str(path),
                name=str(relative)[:80],
            )
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        for folder in (root, target.parent):
            folder.chmod(0o700)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, str(secret).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        written += 1
    return written
