"""The single writer: one thread commits every write, grouping those that queue up.

Requests hand their write to the writer as a job (a function of a connection). The
writer takes every job waiting, runs them in one transaction and commits once — one
fsync for the whole group — then answers each. A job that raises is retried alone, so
one bad job never takes the others down with it. Nothing is answered before its
commit has returned: an answer means the write is on disk.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine

from counterfoil.store.db import writing

Job = Callable[[Connection], Any]
MAX_GROUP = 512


class Writer:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.Queue[tuple[Job, Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="counterfoil-writer", daemon=True)
        self.groups = 0
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

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
            with writing(self.engine) as conn:
                results = [job(conn) for job, _ in group]
        except Exception as exc:
            if len(group) == 1:
                group[0][1].set_exception(exc)
                return
            for item in group:  # find the culprit: each job alone
                self._commit([item])
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)
