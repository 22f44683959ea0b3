"""One open Counterfoil: its settings, database engine, keys and the single writer."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine

from counterfoil.config import Settings, load_settings
from counterfoil.journal.keys import KeyStore
from counterfoil.store.db import open_store, writing

T = TypeVar("T")


@dataclass
class Counterfoil:
    settings: Settings
    engine: Engine
    keys: KeyStore
    _writer: Any = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, upgrade: bool = True) -> Counterfoil:
        settings = settings or load_settings()
        settings.home.mkdir(parents=True, exist_ok=True)
        engine = open_store(settings, upgrade=upgrade)
        return cls(settings=settings, engine=engine, keys=KeyStore(settings.keys_dir))

    def write(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in one durable transaction: through the writer thread if one runs."""
        if self._writer is not None:
            result: T = self._writer.submit(job).result()
            return result
        with writing(self.engine) as conn:
            return job(conn)

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
        self.engine.dispose()

    def __enter__(self) -> Counterfoil:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
