"""Taking a backup while Counterfoil runs: one consistent snapshot, a manifest, retention.

SQLite: the online backup API copies the database page by page inside one read
transaction, so writers carry on (WAL) and the copy is one moment of the store; the copy
is made a single self-contained file (no WAL beside it). PostgreSQL: a REPEATABLE READ
transaction exports its snapshot, the manifest's counts and chain heads are read in it,
and ``pg_dump --snapshot`` dumps exactly that moment. The manifest therefore describes
the very data in the backup, even with transactions arriving all the time.

A backup is written into ``<name>.partial`` and renamed when complete, so a backup
directory that has its final name is whole. With a key file every file is encrypted
(``crypto.py``) and the merchants' private keys (signing and card-HMAC) are added;
without one they are left out: such a backup restores a store that verifies but cannot
sign until its keys are put back.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, text

from counterfoil import __version__
from counterfoil.backup import pg
from counterfoil.backup.crypto import BackupKey, read_chunks
from counterfoil.backup.manifest import MANIFEST, Journal, Manifest, sha256_of, summarise
from counterfoil.core.errors import CounterfoilError, StoreUnavailable
from counterfoil.i18n import _
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit
from counterfoil.store.audit import AUDIT_CHAIN, Actor

#: A complete backup's directory name: counterfoil-20261122T031500Z (-2 if taken twice).
NAME = re.compile(r"counterfoil-\d{8}T\d{6}Z(-\d+)?")
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
KEYS_FILE = "keys.json"


@dataclass
class BackupResult:
    path: Path
    manifest: Manifest
    seconds: float
    removed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "database": self.manifest.database,
            "encrypted": self.manifest.encrypted,
            "keys_included": self.manifest.keys_included,
            "journals": self.manifest.journals,
            "entries": sum(j["entries"] for j in self.manifest.journals.values()),
            "files": self.manifest.files,
            "seconds": round(self.seconds, 3),
            "removed": self.removed,
        }


def take_backup(
    cf: Counterfoil,
    *,
    to: Path | None = None,
    key: BackupKey | None = None,
    keep: int | None = None,
    actor: Actor = audit.SYSTEM,
) -> BackupResult:
    """Back the store up into a new directory under ``to``; keep the newest ``keep``."""
    from counterfoil.observe.metrics import observe_backup

    started = time.monotonic()
    directory = (to or cf.settings.backups_dir).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    name = _free_name(directory)
    partial = directory / f"{name}.partial"
    partial.mkdir(mode=0o700)
    try:
        if cf.engine.dialect.name == "sqlite":
            files, chains, revision = _sqlite(cf, partial, key)
        else:
            files, chains, revision = _postgres(cf, partial, key)
        if key is not None:
            files.append(_keys(cf, partial, key))
        audit_chain = chains.pop(AUDIT_CHAIN, None)
        manifest = Manifest(
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            version=__version__,
            database=cf.engine.dialect.name,
            schema_revision=revision,
            encrypted=key is not None,
            keys_included=key is not None,
            key_id=key.key_id if key else None,
            journals={chain: j.as_dict() for chain, j in chains.items()},
            audit=audit_chain.as_dict() if audit_chain else None,
        )
        for file in files:
            _fsync(file)
            manifest.files[file.name] = {"bytes": file.stat().st_size, "sha256": sha256_of(file)}
        if key is not None:
            manifest.seal = key.seal(manifest.signed_bytes())
        manifest.write(partial)
        _fsync(partial)
        final = directory / name
        partial.rename(final)
        _fsync(directory)
    except Exception as exc:
        reason = str(exc)[:300]
        shutil.rmtree(partial, ignore_errors=True)
        observe_backup(time.monotonic() - started, ok=False)
        with contextlib.suppress(Exception):
            cf.write(
                lambda conn: audit.record(
                    conn,
                    actor,
                    "backup.create",
                    "failed",
                    object_type="backup",
                    object_id=name,
                    details={"reason": reason},
                )
            )
        if isinstance(exc, CounterfoilError):
            raise
        raise StoreUnavailable(
            _("the backup failed and was removed: {reason}"), reason=str(exc)[:300]
        ) from exc
    removed = prune(directory, cf.settings.backup_keep if keep is None else keep)
    seconds = time.monotonic() - started
    observe_backup(seconds, ok=True)
    result = BackupResult(final, manifest, seconds, removed)
    cf.write(
        lambda conn: audit.record(
            conn,
            actor,
            "backup.create",
            "success",
            object_type="backup",
            object_id=name,
            details={
                "path": str(final),
                "encrypted": manifest.encrypted,
                "entries": result.as_dict()["entries"],
                "removed": removed,
            },
        )
    )
    return result


def _free_name(directory: Path) -> str:
    base = "counterfoil-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 1
    while (directory / name).exists() or (directory / f"{name}.partial").exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _revision(conn: Connection) -> str | None:
    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        return None


def _sqlite(
    cf: Counterfoil, partial: Path, key: BackupKey | None
) -> tuple[list[Path], dict[str, Journal], str | None]:
    source_path = cf.engine.url.database
    if not source_path:
        raise StoreUnavailable(_("an in-memory database cannot be backed up"))
    # Encrypted: the plain copy is made next to the live database (the same protection),
    # never in the backup directory, and removed once encrypted.
    plain = (
        partial / SQLITE_FILE
        if key is None
        else cf.settings.home / f".backup-{partial.name}.sqlite"
    )
    try:
        source = sqlite3.connect(source_path, timeout=30)
        try:
            target = sqlite3.connect(plain)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                target.close()
        finally:
            source.close()
        engine = create_engine(f"sqlite:///file:{plain}?mode=ro&uri=true")
        try:
            with engine.connect() as conn:
                chains, revision = summarise(conn), _revision(conn)
        finally:
            engine.dispose()
        if key is None:
            return [plain], chains, revision
        out = partial / f"{SQLITE_FILE}.enc"
        with plain.open("rb") as source_file, out.open("wb") as handle:
            key.encrypt(SQLITE_FILE, read_chunks(source_file), handle)
        return [out], chains, revision
    finally:
        if key is not None:
            plain.unlink(missing_ok=True)


def _postgres(
    cf: Counterfoil, partial: Path, key: BackupKey | None
) -> tuple[list[Path], dict[str, Journal], str | None]:
    out = partial / (PG_FILE if key is None else f"{PG_FILE}.enc")
    with cf.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            chains, revision = summarise(conn), _revision(conn)
            command = [
                pg.tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
            ]
            process = subprocess.Popen(
                command,
                env=pg.environment(cf.engine.url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert process.stdout is not None
            try:
                with out.open("wb") as handle:
                    if key is None:
                        for piece in read_chunks(process.stdout):
                            handle.write(piece)
                    else:
                        key.encrypt(PG_FILE, read_chunks(process.stdout), handle)
            finally:
                process.stdout.close()
                code, stderr = finish_tool(process, 600)
            if code != 0:
                raise StoreUnavailable(
                    _("pg_dump failed ({code}): {reason}"), code=code, reason=stderr.strip()[-300:]
                )
    return [out], chains, revision


def finish_tool(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, str]:
    stderr = ""
    if process.stderr is not None:
        with process.stderr:
            stderr = process.stderr.read().decode(errors="replace")
    return process.wait(timeout=timeout), stderr


def _keys(cf: Counterfoil, partial: Path, key: BackupKey) -> Path:
    """The merchants' private keys, as one encrypted JSON document."""
    found: dict[str, str] = {}
    root = cf.settings.keys_dir
    if root.is_dir():
        for merchant in sorted(p for p in root.iterdir() if p.is_dir()):
            for file in sorted(p for p in merchant.iterdir() if p.is_file()):
                found[f"{merchant.name}/{file.name}"] = file.read_text().strip()
    out = partial / f"{KEYS_FILE}.enc"
    with out.open("wb") as handle:
        key.encrypt(KEYS_FILE, [orjson.dumps(found)], handle)
    return out


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backups_in(directory: Path) -> list[Path]:
    """The complete backups in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(
        (
            p
            for p in directory.iterdir()
            if p.is_dir() and NAME.fullmatch(p.name) and (p / MANIFEST).exists()
        ),
        key=_order,
    )


def _order(path: Path) -> tuple[str, int]:
    """counterfoil-20261122T031500Z, then …Z-2, …Z-3: by time, then by number."""
    match = NAME.fullmatch(path.name)
    again = match.group(1) if match else None
    return (path.name[:28], int(again[1:]) if again else 1)


def prune(directory: Path, keep: int) -> list[str]:
    """Remove all but the newest ``keep`` backups (0: keep all); return the names removed."""
    if keep <= 0:
        return []
    found = backups_in(directory)
    removed = []
    for old in found[: max(0, len(found) - keep)]:
        shutil.rmtree(old)
        removed.append(old.name)
    return removed


def iter_files(directory: Path) -> Iterator[Path]:
    yield from sorted(p for p in directory.iterdir() if p.is_file() and p.name != MANIFEST)
