"""Where Counterfoil keeps its data, and how it reaches its database.

``COUNTERFOIL_HOME`` is the data directory (default ``~/.local/share/counterfoil``, or
``$XDG_DATA_HOME/counterfoil``): the embedded SQLite store ``counterfoil.db`` and the
merchants' keys under ``keys/``. ``COUNTERFOIL_DATABASE_URL`` points at another
database, PostgreSQL for a real deployment (``postgresql+psycopg://user@host/db``).

Backups (``counterfoil backup``): ``COUNTERFOIL_BACKUP_DIR`` (default ``backups/`` in the
data directory — put it on another disk), ``COUNTERFOIL_BACKUP_KEY_FILE`` (encrypt with
this key; only encrypted backups hold the merchants' private keys),
``COUNTERFOIL_BACKUP_KEEP`` (how many backups to keep, default 7) and
``COUNTERFOIL_BACKUP_EVERY`` (while serving, take one every so often: ``6h``, ``30m``,
``86400``; unset: never).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def default_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "counterfoil"


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    database_url: str
    backup_dir: Path | None = None
    backup_key_file: Path | None = None
    backup_keep: int = 7
    backup_every: str | None = None

    @property
    def backups_dir(self) -> Path:
        """Where backups go: ``backup_dir``, else ``backups/`` in the data directory."""
        return self.backup_dir or self.home / "backups"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(home: str | Path | None = None, database_url: str | None = None) -> Settings:
    root = Path(home or os.environ.get("COUNTERFOIL_HOME") or default_home()).expanduser()
    url = (
        database_url
        or os.environ.get("COUNTERFOIL_DATABASE_URL")
        or (f"sqlite:///{root / 'counterfoil.db'}")
    )
    backup_dir = os.environ.get("COUNTERFOIL_BACKUP_DIR")
    key_file = os.environ.get("COUNTERFOIL_BACKUP_KEY_FILE")
    keep = os.environ.get("COUNTERFOIL_BACKUP_KEEP", "").strip()
    return Settings(
        home=root.resolve(),
        database_url=url,
        backup_dir=Path(backup_dir).expanduser() if backup_dir else None,
        backup_key_file=Path(key_file).expanduser() if key_file else None,
        backup_keep=int(keep) if keep.isdigit() else 7,
        backup_every=os.environ.get("COUNTERFOIL_BACKUP_EVERY") or None,
    )
