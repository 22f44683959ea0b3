"""One open Counterfoil: its settings, database engine, keys and the single writer."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine

from counterfoil.config import Settings, load_settings
from counterfoil.core.errors import Forbidden, NotFound
from counterfoil.journal.keys import KeyStore
from counterfoil.store import audit
from counterfoil.store.db import checkpoint_passive, open_store, writing

if TYPE_CHECKING:
    from counterfoil.services.access import Principal

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Counterfoil:
    settings: Settings
    engine: Engine
    keys: KeyStore
    _writer: Any = field(default=None, repr=False)
    #: the threads copying a large transaction's log into the database (``write``)
    _copying: list[threading.Thread] = field(default_factory=list, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool = True) -> Counterfoil:
        settings = settings or load_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = open_store(settings, upgrade=upgrade)
        return cls(settings=settings, engine=engine, keys=KeyStore(settings.keys_dir))

    def write(self, job: Callable[[Connection], T], *, large: bool = False) -> T:
        """Run ``job`` in one durable transaction: through the writer thread if one runs.

        ``large``: a transaction that writes hundreds of megabytes (a statement import).
        SQLite would copy its whole log into the database file at the end of the commit
        (0.55 s of a million-line import); it is copied on a thread of its own instead,
        as the writer's checkpointer does, and ``close`` waits for it."""
        if self._writer is not None:
            result: T = self._writer.submit(job).result()
            return result
        with writing(self.engine, checkpoint=not large) as conn:
            done = job(conn)
        if large:
            self._copy_log()
        return done

    def _copy_log(self) -> None:
        def copy() -> None:
            try:
                checkpoint_passive(self.engine)
            except Exception:  # the next checkpoint copies it: SQLite's, or this one's
                log.warning("the write-ahead log was not copied now", exc_info=True)

        self._copying = [t for t in self._copying if t.is_alive()]
        copying = threading.Thread(
            target=copy,
            name="counterfoil-checkpoint",
            daemon=True,
        )
        copying.start()
        self._copying.append(copying)

    def submit(self, job: Callable[[Connection], T]) -> Future[T]:
        """Hand ``job`` to the writer thread and return at once (run now without one)."""
        if self._writer is not None:
            future: Future[T] = self._writer.submit(job)
            return future
        done: Future[T] = Future()
        try:
            done.set_result(self.write(job))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def read(self, job: Callable[[Connection], T]) -> T:
        with self.engine.connect() as conn:
            return job(conn)

    def start_writer(self) -> None:
        from counterfoil.store.writer import Writer

        if self._writer is None:
            self._writer = Writer(self.engine)
            self._writer.start()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        for copying in self._copying:
            copying.join()
        self._copying.clear()
        self.engine.dispose()

    def __enter__(self) -> Counterfoil:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def audit_refusal(
    cf: Counterfoil,
    who: Principal,
    action: str,
    object_type: str,
    object_id: str,
    job: Callable[[], T],
    *,
    merchant_no: str | None = None,
) -> T:
    """Run a change; if it is refused (not allowed, or not found for this reader), the
    refusal is audited too (PCI DSS 10.2), then raised."""
    try:
        return job()
    except (Forbidden, NotFound) as refused:
        why = refused.render("en")
        cf.write(
            lambda conn: audit.record(
                conn,
                who.actor,
                action,
                "denied",
                object_type=object_type,
                object_id=object_id[:64],
                merchant_no=merchant_no,
                details={"why": why},
            )
        )
        raise
