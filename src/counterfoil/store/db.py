"""Opening the database: SQLite (WAL, durable commits) or PostgreSQL, migrated by Alembic.

SQLite gets ``journal_mode=WAL`` and ``synchronous=FULL`` so that a commit is on disk
before it returns (WAL with NORMAL may lose the last commits on power loss), a busy
timeout, and IMMEDIATE transactions so that the writer takes its lock up front.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text

from counterfoil.config import Settings

_MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, issue BEGIN: we want BEGIN IMMEDIATE for writers.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # A new store gets 8 KiB pages (SQLite's default is 4 KiB): a journal row with its
    # indexes (~1.5 KB) then costs 28 % less CPU to write, commit and checkpoint, and
    # the file is 11 % smaller (bench/README.md). Only a new file takes it: an existing
    # store keeps the page size it was made with.
    cursor.execute("PRAGMA page_size=8192")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # Writers take the write lock up front; readers do not block anyone (WAL).
    if conn.get_execution_options().get("sqlite_immediate"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with Counterfoil's connection settings."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 8)
    return create_engine(url, **kwargs)


@contextmanager
def writing(engine: Engine, *, checkpoint: bool = True) -> Iterator[Connection]:
    """A write transaction: committed (and on disk) when the block ends without error.

    ``checkpoint=False``: on SQLite, the commit does not also copy the write-ahead log
    into the database file when the log has grown long (SQLite's automatic checkpoint);
    the caller has it copied afterwards (``checkpoint_passive``). The commit is as
    durable either way: it returns once its pages are in the log, on disk."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_immediate=True)
        if checkpoint or not is_sqlite(engine):
            with conn.begin():
                yield conn
            return
        # the driver's own calls: outside the transaction, and beginning none
        driver = conn.connection.driver_connection
        assert driver is not None
        (pages,) = driver.execute("PRAGMA wal_autocheckpoint").fetchone()
        driver.execute("PRAGMA wal_autocheckpoint=0")
        try:
            with conn.begin():
                yield conn
        finally:
            driver.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")


def wal_checkpoint(driver: Any) -> None:
    """A passive checkpoint on a SQLite driver connection: what the write-ahead log holds
    is copied into the database file as far as no reader still needs it, waiting for no
    one. The driver's own call: a transaction around it would hold a snapshot of the log
    that the copy could not pass."""
    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def checkpoint_passive(engine: Engine) -> None:
    """``wal_checkpoint`` on a connection of ``engine`` (nothing on PostgreSQL)."""
    if not is_sqlite(engine):
        return
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        wal_checkpoint(driver)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with writing(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def open_store(settings: Settings, *, upgrade: bool = True) -> Engine:
    engine = make_engine(settings.database_url)
    if upgrade:
        migrate(engine)
    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
