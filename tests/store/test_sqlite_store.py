"""The embedded store's file: how a new one is made, and an older one kept as it is."""

import sqlite3
from pathlib import Path

from sqlalchemy import text

from counterfoil.config import Settings
from counterfoil.services.context import Counterfoil
from counterfoil.store.db import checkpoint_passive, make_engine, migrate, writing
from counterfoil.store.writer import Checkpointer, Writer


def _page_size(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA page_size").fetchone()[0])


def test_a_new_store_gets_8_kib_pages_and_the_write_ahead_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    assert _page_size(tmp_path / "new.db") == 8192


def test_a_store_made_with_4_kib_pages_keeps_them_and_takes_writes(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # as stores were made before 8 KiB pages
        conn.execute("PRAGMA page_size=4096")
        conn.execute("CREATE TABLE kept (n INTEGER)")
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with writing(engine) as conn:
        conn.execute(text("INSERT INTO kept VALUES (1)"))
    engine.dispose()
    assert _page_size(path) == 4096
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone()[0] == 1


def _rows_in_file(path: Path) -> int | None:
    """Rows of ``t`` in the database file itself, the write-ahead log ignored (what has
    been checkpointed); None while the table is not in the file yet."""
    with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
        except sqlite3.OperationalError:
            return None


def _fill(writer: Writer) -> None:
    writer.submit(
        lambda conn: conn.exec_driver_sql("CREATE TABLE t (n INTEGER, pad BLOB)")
    ).result()
    for start in range(0, 20_000, 2_000):
        writer.submit(
            lambda conn, s=start: conn.exec_driver_sql(
                "INSERT INTO t WITH RECURSIVE c(n) AS (SELECT ? UNION ALL "
                "SELECT n + 1 FROM c WHERE n < ?) SELECT n, zeroblob(1000) FROM c",
                (s, s + 1_999),
            )
        ).result()


def test_the_checkpointer_copies_the_log_after_the_writer_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    writer = Writer(engine)
    writer.start()
    try:
        _fill(writer)
    finally:
        writer.stop()  # waits for the checkpointer, which copies what was committed
    assert writer._checkpointer is not None
    assert writer._checkpointer.checkpoints >= 1
    assert _rows_in_file(path) == 20_000
    engine.dispose()


def test_the_writer_itself_leaves_the_log_alone(tmp_path: Path) -> None:
    """Without its checkpointer running, nothing the writer commits reaches the file:
    its commits do not checkpoint (that is the checkpointer's work, on another core)."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    writer = Writer(engine)
    writer._checkpointer = _Idle(engine)
    writer.start()
    try:
        _fill(writer)
        assert _rows_in_file(path) is None
        with engine.connect() as conn:  # and it is all there, in the log
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 20_000
    finally:
        writer.stop()
        engine.dispose()


class _Idle(Checkpointer):
    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


_FILL = (
    "INSERT INTO t WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
    "WHERE n < 20000) SELECT n, zeroblob(1000) FROM c"
)


def test_a_large_write_leaves_the_log_to_be_copied_afterwards(tmp_path: Path) -> None:
    """``writing(checkpoint=False)``: 20 MB committed, the commit did not copy the log
    into the file (SQLite would have: 2,500 pages is past its 1,000); the connection's
    setting is as it was; a passive checkpoint then copies it all."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with writing(engine) as conn:
        conn.exec_driver_sql("CREATE TABLE t (n INTEGER, pad BLOB)")
    try:
        with writing(engine, checkpoint=False) as conn:
            conn.exec_driver_sql(_FILL)
        assert _rows_in_file(path) in (None, 0)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 20_000
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        checkpoint_passive(engine)
        assert _rows_in_file(path) == 20_000
    finally:
        engine.dispose()


def test_the_same_write_with_sqlites_own_checkpoint_copies_it_at_once(tmp_path: Path) -> None:
    """The control for the test above: the default commit copies the log itself."""
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    try:
        with writing(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER, pad BLOB)")
            conn.exec_driver_sql(_FILL)
        assert _rows_in_file(path) == 20_000
    finally:
        engine.dispose()


def test_a_large_write_is_copied_into_the_file_by_a_thread_of_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cf = Counterfoil.open(Settings(home=home, database_url=f"sqlite:///{home / 'cf.db'}"))
    cf.write(lambda conn: conn.exec_driver_sql("CREATE TABLE t (n INTEGER, pad BLOB)"))
    assert cf.write(lambda conn: conn.exec_driver_sql(_FILL).rowcount, large=True) == 20_000
    with cf.engine.connect() as conn:  # committed: every reader sees it
        assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 20_000
    try:
        (copying,) = cf._copying
        copying.join()  # the thread's copy, while the store is open
        assert _rows_in_file(home / "cf.db") == 20_000
    finally:
        cf.close()
