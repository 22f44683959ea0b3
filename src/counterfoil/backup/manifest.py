"""A backup's manifest: what is in it, to check a backup and a restore against.

``manifest.json`` lists every file of the backup with its size and SHA-256 (of the bytes
as stored, encrypted or not), and for each merchant's journal the number of entries, the
last sequence number and the chain's head hash, read from the very snapshot that was
backed up — so that a restore can be compared with it entry for entry. An encrypted
backup's manifest is sealed with a key derived from the backup key.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.core.errors import IntegrityFailure
from counterfoil.i18n import _
from counterfoil.store.audit import AUDIT_CHAIN
from counterfoil.store.schema import audit_log, chain_heads, journal_entries

FORMAT = "counterfoil-backup/1"
MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class Journal:
    entries: int
    last_seq: int
    head_hash: str

    def as_dict(self) -> dict[str, Any]:
        return {"entries": self.entries, "last_seq": self.last_seq, "head_hash": self.head_hash}


def summarise(conn: Connection) -> dict[str, Journal]:
    """Every chain of the store (the merchants' journals and "audit"): count and head."""
    heads = {
        row.chain: (int(row.seq), str(row.head_hash))
        for row in conn.execute(
            select(chain_heads.c.chain, chain_heads.c.seq, chain_heads.c.head_hash)
        )
    }
    counts: dict[str, int] = {
        str(merchant_no): int(n)
        for merchant_no, n in conn.execute(
            select(journal_entries.c.merchant_no, func.count()).group_by(
                journal_entries.c.merchant_no
            )
        )
    }
    counts[AUDIT_CHAIN] = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
    chains = set(heads) | {k for k, v in counts.items() if v}
    return {
        chain: Journal(int(counts.get(chain, 0)), *heads.get(chain, (0, "")))
        for chain in sorted(chains)
    }


def differences(expected: dict[str, Any], found: dict[str, Journal]) -> list[str]:
    """How the chains found differ from the manifest's, one line each (none: equal)."""
    problems = []
    for chain in sorted(set(expected) | set(found)):
        want = expected.get(chain)
        have = found[chain].as_dict() if chain in found else None
        if want != have:
            problems.append(f"{chain}: manifest {want}, store {have}")
    return problems


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


@dataclass
class Manifest:
    created_at: str
    version: str
    database: str  # "sqlite" or "postgresql"
    schema_revision: str | None
    encrypted: bool
    keys_included: bool
    key_id: str | None
    journals: dict[str, dict[str, Any]]
    audit: dict[str, Any] | None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    seal: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": self.created_at,
            "counterfoil_version": self.version,
            "database": self.database,
            "schema_revision": self.schema_revision,
            "encrypted": self.encrypted,
            "keys_included": self.keys_included,
            "key_id": self.key_id,
            "journals": self.journals,
            "audit": self.audit,
            "files": self.files,
        }

    def signed_bytes(self) -> bytes:
        return orjson.dumps(self.body(), option=orjson.OPT_SORT_KEYS)

    def write(self, directory: Path) -> None:
        document = {**self.body(), "seal": self.seal}
        path = directory / MANIFEST
        with path.open("wb") as handle:
            handle.write(orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def read(cls, directory: Path) -> Manifest:
        path = directory / MANIFEST
        if not directory.is_dir():
            raise IntegrityFailure(
                _("{path} is not a backup: a backup is a directory"), path=str(directory)
            )
        try:
            document = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise IntegrityFailure(
                _("{path} is not a Counterfoil backup: it has no manifest.json"),
                path=str(directory),
            ) from None
        except orjson.JSONDecodeError:
            raise IntegrityFailure(
                _("the manifest of {path} is damaged: it is not JSON"), path=str(directory)
            ) from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise IntegrityFailure(
                _("the manifest of {path} is not of a backup format this version reads ({format})"),
                path=str(directory),
                format=FORMAT,
            )
        try:
            return cls(
                created_at=str(document["created_at"]),
                version=str(document["counterfoil_version"]),
                database=str(document["database"]),
                schema_revision=document.get("schema_revision"),
                encrypted=bool(document["encrypted"]),
                keys_included=bool(document["keys_included"]),
                key_id=document.get("key_id"),
                journals=dict(document["journals"]),
                audit=document.get("audit"),
                files=dict(document["files"]),
                seal=document.get("seal"),
            )
        except (KeyError, TypeError, ValueError):
            raise IntegrityFailure(
                _("the manifest of {path} is damaged: a field is missing or wrong"),
                path=str(directory),
            ) from None

    def chains(self) -> dict[str, Any]:
        """The chains as ``summarise`` gives them: the merchants' journals and the audit log."""
        found = dict(self.journals)
        if self.audit is not None:
            found[AUDIT_CHAIN] = self.audit
        return found
