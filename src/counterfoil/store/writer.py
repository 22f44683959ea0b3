"""The single writer: one thread commits every write, grouping those that queue up.

Requests hand their write to the writer as a job (a function of a connection). The
writer takes every job waiting, runs them in one transaction and commits once — one
fsync for the whole group — then answers each. A job that raises is retried alone, so
one bad job never takes the others down with it. Nothing is answered before its
commit has returned: an answer means the write is on disk.

On SQLite a commit is durable once its pages are in the write-ahead log (fsync'd). By
default SQLite then copies the log into the database file at the end of the commit
that made the log long (an automatic checkpoint), so the writer, and every request
waiting on it, also waits for that copy. Here the writer's commits leave the log alone
and a checkpointer thread copies it after each group, on the other core, while the
writer goes on with the next group. Durability is the same: a commit is on disk when
it returns, whether or not its pages were copied yet.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine

from counterfoil.store.db import is_sqlite, wal_checkpoint, writing

Job = Callable[[Connection], Any]
MAX_GROUP = 512


class Writer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[tuple[Job, Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="counterfoil-writer", daemon=True)
        self._checkpointer = Checkpointer(engine) if is_sqlite(engine) else None
        self.groups = 0
        self.jobs = 0

    def start(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.start()
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._checkpointer is not None:
            self._checkpointer.stop()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def submit(self, job: Job) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((job, future))
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: list[tuple[Job, Future[Any]]]) -> None:
        self.groups += 1
        self.jobs += len(group)
        try:
            # the checkpointer copies the log, not the commit
            with writing(self.engine, checkpoint=self._checkpointer is None) as conn:
                if self._checkpointer is not None:
                    # 64 MiB of page cache for the connection that writes (SQLite's
                    # default is 2 MiB), taken as it is needed: the journal's indexes
                    # stay in memory while a large ingest grows them. Readers keep the
                    # default, so that a server's pool of connections stays small.
                    conn.exec_driver_sql("PRAGMA cache_size=-65536")
                results = [job(conn) for job, _ in group]
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for item in group:  # find the culprit: each job alone
                self._commit([item])
            return
        if self._checkpointer is not None:
            self._checkpointer.poke()
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)


class Checkpointer:
    """Copies SQLite's write-ahead log into the database after the writer's commits.

    A passive checkpoint never waits for a lock and never makes anyone wait: it copies
    what no reader still needs, and the log starts over from its beginning once all of
    it has been copied. It runs after the writer's groups, at most every ``GAP`` seconds
    (each checkpoint ends with an fsync of the database file, which a server committing
    a hundred small groups a second would otherwise pay a hundred times), and, so that
    other connections' writes are copied too, at least every ``EVERY`` seconds.
    """

    EVERY = 5.0  # seconds between checkpoints when the writer is idle
    GAP = 0.25  # seconds at least between two checkpoints

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._wanted = threading.Event()
        self._stopped = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="counterfoil-checkpointer", daemon=True
        )
        self.checkpoints = 0

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wanted.set()

    def stop(self) -> None:
        self._stopping = True
        self._stopped.set()
        self._wanted.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            assert driver is not None
            while not self._stopping:
                self._wanted.wait(self.EVERY)
                self._wanted.clear()
                self._checkpoint(driver)
                self._stopped.wait(self.GAP)
            self._checkpoint(driver)  # what the writer committed last is copied too

    def _checkpoint(self, driver: Any) -> None:
        wal_checkpoint(driver)
        self.checkpoints += 1
