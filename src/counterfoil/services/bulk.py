"""Recording a JSON Lines file of transactions: every line recorded or reported.

A file is cut into chunks; each chunk is one durable transaction of the writer. With
``workers``, the CPU-heavy work that does not depend on the journal runs in worker
processes, on every core and outside the GIL: reading and validating lines (to the
flat ``Ready`` form; a validated item comes back as a plain tuple, which crosses the
pipe at a third of the cost of the named tuples) and making the chunk's Ed25519
signatures (in threads of this process they would wait for the GIL behind the writer:
``journal/keys.py``). The journal's own sequential part — idempotency, links and rules,
the chain — stays in this process. Workers load keys from the key files themselves: no
secret crosses a pipe.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection

from counterfoil.core.errors import CounterfoilError, ValidationError
from counterfoil.i18n import _
from counterfoil.journal.keys import KeyStore
from counterfoil.services.ingest import MAX_BATCH, Prepared, Ready, prepare, record
from counterfoil.store.audit import Actor

CHUNK = 5_000
Submit = Callable[[Callable[[Connection], Any]], Future[Any]]


@dataclass(slots=True)
class FileReport:
    """What an ingest of a file did: every line is counted as one of these or rejected."""

    lines: int = 0
    recorded: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    merchants: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "rejected_lines": self.rejected,
            "merchants": sorted(self.merchants),
        }


def _prepare_lines(
    lines: list[tuple[int, bytes]], hmac_for: Callable[[str], bytes | None]
) -> list[Prepared]:
    """Each line to a ``Prepared`` whose index is its line number."""
    prepared = []
    for number, text in lines:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            prepared.append(
                Prepared(
                    number,
                    error=ValidationError("$", _("line {line} is not valid JSON"), line=number),
                )
            )
            continue
        prepared.append(prepare(number, payload, hmac_for))
    return prepared


# --- in the worker processes -----------------------------------------------------------

_KEYS: KeyStore | None = None
_KNOWN: frozenset[str] = frozenset()


def _start_worker(keys_dir: str, known: list[str], parent: int) -> None:
    global _KEYS, _KNOWN
    _KEYS, _KNOWN = KeyStore(Path(keys_dir)), frozenset(known)
    if os.getppid() != parent:  # the parent died while this worker was still starting
        os._exit(0)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()


def _exit_with_parent(parent: int) -> None:
    """A worker outlives a parent killed with SIGKILL (it holds its own queue open, so no
    end-of-file ever comes): it watches for the parent and leaves with it. ``parent`` is
    the pid the parent gave, not the worker's own reading: a worker that starts after
    its parent died would otherwise take its new parent, init, for the one to watch."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(0)


#: A ``Prepared`` as it crosses the pipe: (position, the ``Ready`` fields or None, error).
Sent = tuple[int, tuple[Any, ...] | None, CounterfoilError | None]


def _send(items: list[Prepared]) -> list[Sent]:
    return [(p.position, None if p.ready is None else tuple(p.ready), p.error) for p in items]


def received(items: list[Sent]) -> list[Prepared]:
    """What a worker sent, as the ``Prepared`` items it made."""
    make = Ready._make
    return [
        Prepared(position, make(fields)) if fields is not None else Prepared(position, error=error)
        for position, fields, error in items
    ]


def _worker_prepare(lines: list[tuple[int, bytes]]) -> list[Sent]:
    keys = _KEYS
    assert keys is not None
    return _send(_prepare_lines(lines, lambda m: keys.hmac_key(m) if m in _KNOWN else None))


def _worker_prepare_batch(body: bytes, merchant_no: str) -> list[Sent]:
    """A batch request's body to prepared items; card HMACs under the caller's merchant."""
    keys = _KEYS
    assert keys is not None
    items = batch_items(body)
    return _send(
        [
            prepare(i, p, lambda m: keys.hmac_key(m) if m == merchant_no else None)
            for i, p in enumerate(items)
        ]
    )


def batch_items(body: bytes) -> list[Any]:
    """The transactions of a store-and-forward upload, or why it is not one."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("$", _("the request body is not valid JSON")) from None
    items = payload.get("transactions") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError("transactions", _("expected a non-empty list of transactions"))
    if len(items) > MAX_BATCH:
        raise ValidationError(
            "transactions", _("expected at most {max} transactions in one batch"), max=MAX_BATCH
        )
    return items


class Workers:
    """Worker processes of a running server: batch validation, and signing for the writer.

    Signing has its own pool so that a commit never waits behind validation of requests
    still to come; it is a pool of processes, not the writer's threads, because a
    signing thread waits for the GIL behind every busy Python thread of the server
    (``journal/keys.py``).
    """

    def __init__(self, keys: KeyStore, count: int, known: set[str] | None = None) -> None:
        self.keys = keys
        self.count = count
        self.pool = _pool(keys, known or set(), count)
        self.signers = _pool(keys, known or set(), count)
        keys.sign_elsewhere = _signing_in(self.signers)

    def warm(self, timeout: float = 60.0) -> None:
        """Start the processes now, and wait until each has started, rather than on the
        first batch: a server whose workers are still importing when the first requests
        come shares its cores with them (a soak at 500/s had p99 958 ms in its first
        minute that way, 231 ms since). Each pool gets twice as many short tasks as it
        has processes, so that every process takes one."""
        started = [
            executor.submit(_pause)
            for executor in (self.pool, self.signers)
            for _task in range(2 * self.count)
        ]
        wait(started, timeout=timeout)

    def prepare_batch(self, body: bytes, merchant_no: str) -> Future[list[Sent]]:
        """The batch's items, validated by a worker: ``received`` makes them ``Prepared``."""
        return self.pool.submit(_worker_prepare_batch, body, merchant_no)

    def close(self) -> None:
        self.keys.sign_elsewhere = None
        for executor in (self.pool, self.signers):
            executor.shutdown(cancel_futures=True)


def _pause() -> None:
    time.sleep(0.05)


def _worker_sign(merchant_no: str, key_id: str, messages: list[bytes]) -> list[str]:
    assert _KEYS is not None
    key = _KEYS.signer(merchant_no, key_id)
    return [key.sign(m).hex() for m in messages]


def _signing_in(pool: ProcessPoolExecutor) -> Callable[[str, str, list[bytes]], Future[list[str]]]:
    def sign(merchant_no: str, key_id: str, messages: list[bytes]) -> Future[list[str]]:
        return pool.submit(_worker_sign, merchant_no, key_id, messages)

    return sign


# --- here ------------------------------------------------------------------------------


def _chunks(lines: Iterable[bytes], report: FileReport) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for number, raw in enumerate(lines, start=1):
        report.lines = number
        text = raw.strip()
        if not text:  # a blank line carries nothing; it is counted, not rejected
            continue
        chunk.append((number, text))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ingest_lines(
    submit: Submit,
    keys: KeyStore,
    lines: Iterable[bytes],
    actor: Actor,
    known: set[str],
    progress: Callable[[int], None] | None = None,
    *,
    workers: int = 0,
) -> FileReport:
    """Record a JSON Lines stream; a chunk's lines count as recorded once it committed."""
    report = FileReport()
    pool = signers = None
    if workers > 0:
        # Two pools, so that signatures (which hold up a commit) never queue behind the
        # validation of chunks that are still to come.
        pool, signers = _pool(keys, known, workers), _pool(keys, known, workers)
        keys.sign_elsewhere = _signing_in(signers)
    try:
        _run(submit, keys, lines, actor, known, report, progress, pool, workers)
    finally:
        keys.sign_elsewhere = None
        for executor in (pool, signers):
            if executor is not None:
                executor.shutdown(cancel_futures=True)
    report.rejected.sort(key=lambda item: int(item["line"]))
    if progress:
        progress(report.lines)
    return report


def _pool(keys: KeyStore, known: set[str], workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(str(keys.directory), sorted(known), os.getpid()),
    )


def _run(
    submit: Submit,
    keys: KeyStore,
    lines: Iterable[bytes],
    actor: Actor,
    known: set[str],
    report: FileReport,
    progress: Callable[[int], None] | None,
    pool: ProcessPoolExecutor | None,
    workers: int,
) -> None:
    def hmac_for(merchant_no: str) -> bytes | None:
        return keys.hmac_key(merchant_no) if merchant_no in known else None

    def account(done: Future[Any]) -> None:
        for result in done.result():
            if result.status == "recorded":
                report.recorded += 1
            elif result.status == "duplicate":
                report.duplicates += 1
            else:
                assert result.error is not None
                report.rejected.append(
                    {
                        "line": result.index,
                        "status": result.status,
                        "code": result.error.code,
                        "field": getattr(result.error, "field", None),
                        "reason": result.error.render(),
                    }
                )
            if result.entry:
                report.merchants.add(result.entry["merchant_no"])

    validating: deque[Future[list[Sent]]] = deque()
    recording: deque[tuple[Future[Any], int]] = deque()

    def record_next() -> None:
        prepared = received(validating.popleft().result())
        recording.append(
            (submit(lambda conn: record(conn, keys, prepared, actor)), prepared[-1].position)
        )
        while len(recording) > 1:  # one chunk in the writer, the next one waiting
            done, last_line = recording.popleft()
            account(done)
            if progress:
                progress(last_line)

    for chunk in _chunks(lines, report):
        if pool is None:
            done: Future[list[Sent]] = Future()
            done.set_result(_send(_prepare_lines(chunk, hmac_for)))
            validating.append(done)
        else:
            validating.append(pool.submit(_worker_prepare, chunk))
        while len(validating) > max(1, workers):
            record_next()
    while validating:
        record_next()
    while recording:
        account(recording.popleft()[0])
