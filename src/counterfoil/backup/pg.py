"""PostgreSQL's own tools, pg_dump and pg_restore, run for a backup and a restore.

The binaries are found on ``PATH``, else in ``COUNTERFOIL_PG_BIN``, else in the newest
``/usr/lib/postgresql/*/bin`` (Debian's layout). The connection is given to them in the
environment (``PGHOST``, ``PGPASSWORD``…), never on a command line that ``ps`` shows.
"""

from __future__ import annotations

import glob
import os
import shutil
from pathlib import Path

from sqlalchemy.engine import URL

from counterfoil.core.errors import StoreUnavailable
from counterfoil.i18n import _


def tool(name: str) -> str:
    """The path of ``pg_dump`` or ``pg_restore``."""
    directory = os.environ.get("COUNTERFOIL_PG_BIN")
    if directory and (Path(directory) / name).exists():
        return str(Path(directory) / name)
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[-3]) if p.split("/")[-3].isdigit() else 0,
    )
    if versions:
        return versions[-1]
    raise StoreUnavailable(
        _("{tool} was not found: install PostgreSQL's client programs or set COUNTERFOIL_PG_BIN"),
        tool=name,
    )


def environment(url: URL) -> dict[str, str]:
    """libpq's variables for ``url``, added to this process's environment."""
    env = dict(os.environ)
    query = {k: (v if isinstance(v, str) else v[0]) for k, v in url.query.items()}
    values = {
        "PGHOST": url.host or query.get("host"),
        "PGPORT": str(url.port) if url.port else query.get("port"),
        "PGUSER": url.username or query.get("user"),
        "PGPASSWORD": url.password if url.password is not None else query.get("password"),
        "PGDATABASE": url.database,
        "PGSSLMODE": query.get("sslmode"),
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env
