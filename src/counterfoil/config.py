"""Where Counterfoil keeps its data, and how it reaches its database.

``COUNTERFOIL_HOME`` is the data directory (default ``~/.local/share/counterfoil``, or
``$XDG_DATA_HOME/counterfoil``): the embedded SQLite store ``counterfoil.db`` and the
merchants' keys under ``keys/``. ``COUNTERFOIL_DATABASE_URL`` points at another
database, PostgreSQL for a real deployment (``postgresql+psycopg://user@host/db``).
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
    return Settings(home=root.resolve(), database_url=url)
