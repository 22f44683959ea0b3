"""Recording terminal transactions in the journal: once, durably, by the rules.

``prepare`` validates a payload (card data refused or masked first); it is pure CPU
work and runs wherever the request is. ``record`` runs inside the writer's
transaction: for each merchant it finds which keys are already recorded (the same
payload again is a duplicate that returns the first entry; a different payload under
the same key is a conflict naming the key), resolves originals, applies the rules,
prices the entry, and appends it to the chain. Offline uploads are put in terminal
time and trace order first. Every refusal is answered and audited; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection

from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.errors import Conflict, CounterfoilError, NotFound, RuleViolation
from counterfoil.core.fees import rule_for
from counterfoil.core.models import Transaction, parse_transaction
from counterfoil.core.rules import Standing, apply_link, check_link, fee_and_net, undo_link
from counterfoil.core.times import iso_z
from counterfoil.i18n import _, translate
from counterfoil.journal.keys import KeyStore
from counterfoil.services.merchants import Merchant, fee_schedule, get_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.journal import ChainWriter, find_keys, find_seq, save_standing
from counterfoil.store.journal import standing as load_standing

MAX_BATCH = 10_000


@dataclass(slots=True)
class Prepared:
    """One input item: its validated transaction, or why it could not be validated."""

    index: int
    txn: Transaction | None = None
    payload_hash: str | None = None
    error: CounterfoilError | None = None
    actor: Actor | None = None  # who sent it, when items of several callers go together


@dataclass(slots=True)
class ItemResult:
    index: int
    status: str  # recorded | duplicate | refused | invalid | conflict
    entry: dict[str, Any] | None = None
    error: CounterfoilError | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("recorded", "duplicate")


@dataclass(slots=True)
class _MerchantRun:
    merchant: Merchant
    chain: ChainWriter
    existing: dict[str, Any]
    recorded: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    standings: dict[int, Standing] = field(default_factory=dict)
    moved: set[int] = field(default_factory=set)
    by_rrn: dict[str, int] = field(default_factory=dict)
    by_order: dict[str, int] = field(default_factory=dict)


def payload_hash(txn: Transaction) -> str:
    return hashlib.sha256(canonical_bytes(txn.body(), trusted=True)).hexdigest()


def prepare(index: int, payload: Any, hmac_for: Callable[[str], bytes | None]) -> Prepared:
    """Validate one payload; the card HMAC key comes from its (known) merchant only."""
    try:
        merchant_no = payload.get("merchant_no") if isinstance(payload, dict) else None
        key = hmac_for(merchant_no) if isinstance(merchant_no, str) else None
        txn = parse_transaction(payload, key)
    except CounterfoilError as exc:
        return Prepared(index, error=exc)
    return Prepared(index, txn, payload_hash(txn))


def entry_id(merchant_no: str, seq: int) -> str:
    return f"{merchant_no}-{seq}"


def summary(merchant_no: str, seq: int, data: dict[str, Any]) -> dict[str, Any]:
    """What an acknowledgement says of a recorded entry."""
    return {
        "entry_id": entry_id(merchant_no, seq),
        "merchant_no": merchant_no,
        "seq": seq,
        "type": data.get("type"),
        "amount": data.get("amount"),
        "fee": data.get("fee"),
        "net": data.get("net"),
        "original_seq": data.get("original_seq"),
    }


def _order(items: Sequence[Prepared]) -> list[Prepared]:
    """Offline uploads first, in terminal time then trace order; the rest as they came."""

    def key(item: Prepared) -> tuple[int, str, str, int]:
        txn = item.txn
        if txn is not None and txn.offline:
            return (0, iso_z(txn.terminal_time), txn.trace_no or "", item.index)
        return (1, "", "", item.index)

    return sorted(items, key=key)


def record(
    conn: Connection,
    keys: KeyStore,
    items: Sequence[Prepared],
    actor: Actor,
    *,
    allowed: Callable[[Transaction], CounterfoilError | None] | None = None,
) -> list[ItemResult]:
    """Record prepared items in the caller's transaction; one result per item, in order."""
    results: dict[int, ItemResult] = {}
    by_merchant: dict[str, list[Prepared]] = defaultdict(list)
    for item in items:
        if item.txn is None:
            assert item.error is not None
            results[item.index] = ItemResult(item.index, "invalid", error=item.error)
        elif allowed is not None and (denied := allowed(item.txn)) is not None:
            results[item.index] = ItemResult(item.index, "refused", error=denied)
        else:
            by_merchant[item.txn.merchant_no].append(item)

    for merchant_no, group in sorted(by_merchant.items()):
        try:
            merchant = get_merchant(conn, merchant_no)
        except NotFound as exc:
            for item in group:
                results[item.index] = ItemResult(item.index, "invalid", error=exc)
            continue
        run = _MerchantRun(
            merchant,
            ChainWriter(conn, keys, merchant_no),
            find_keys(conn, merchant_no, [i.txn.key() for i in group if i.txn]),
        )
        schedule = fee_schedule(conn, merchant_no)
        zone = ZoneInfo(merchant.timezone)
        for item in _order(group):
            results[item.index] = _record_one(conn, run, item, schedule, zone, actor)
        run.chain.flush()
        save_standing(conn, merchant_no, (run.standings[s] for s in sorted(run.moved)))

    _audit(conn, items, results, actor)
    return [results[item.index] for item in items]


def _audit(
    conn: Connection, items: Sequence[Prepared], results: dict[int, ItemResult], default: Actor
) -> None:
    """Every refusal on its own; what each caller had recorded, in one record per caller."""
    by_actor: dict[Actor, list[ItemResult]] = defaultdict(list)
    for item in items:
        by_actor[item.actor or default].append(results[item.index])
    for actor, mine in by_actor.items():
        for result in mine:
            if not result.ok:
                assert result.error is not None
                audit.record(
                    conn,
                    actor,
                    "transaction.ingest",
                    "refused",
                    object_type="transaction",
                    details={
                        "index": result.index,
                        "status": result.status,
                        "code": result.error.code,
                        "reason": result.error.render("en"),
                    },
                )
        done = [r.entry["entry_id"] for r in mine if r.status == "recorded" and r.entry]
        if done:
            audit.record(
                conn,
                actor,
                "transaction.ingest",
                "success",
                object_type="journal",
                details={
                    "recorded": len(done),
                    "first": done[0],
                    "last": done[-1],
                    "duplicates": sum(r.status == "duplicate" for r in mine),
                },
            )


def _record_one(
    conn: Connection, run: _MerchantRun, item: Prepared, schedule: Any, zone: ZoneInfo, actor: Actor
) -> ItemResult:
    txn = item.txn
    assert txn is not None
    assert item.payload_hash is not None
    key, merchant_no = txn.key(), txn.merchant_no
    seen = run.recorded.get(key)
    if seen is None and key in run.existing:
        row = run.existing[key]
        seen = (row.seq, row.payload_hash, orjson.loads(row.body)["data"])
    if seen is not None:
        seq, digest, data = seen
        if digest == item.payload_hash:
            return ItemResult(item.index, "duplicate", summary(merchant_no, seq, data))
        return ItemResult(
            item.index,
            "conflict",
            error=Conflict(
                _("{key} is already recorded with different details (entry {entry_id})"),
                key=txn.describe_key(),
                entry_id=entry_id(merchant_no, seq),
            ),
        )

    original = _original_standing(conn, run, txn)
    when = iso_z(txn.terminal_time)
    try:
        check_link(txn, original, run.merchant.rules)
    except RuleViolation as exc:
        return ItemResult(item.index, "refused", error=exc)

    local_day = txn.terminal_time.astimezone(zone).date()
    fee, net = fee_and_net(
        txn, rule_for(schedule, txn.channel, local_day), original, run.merchant.rules
    )
    data = txn.body()
    data.update(fee=fee, net=net)
    if original is not None:
        data["original_seq"] = original.seq
    row = run.chain.append(
        "transaction",
        data,
        extra={
            "idem_key": key,
            "payload_hash": item.payload_hash,
            "card_hmac": txn.card.hmac if txn.card else None,
        },
    )
    seq = int(row["seq"])
    run.recorded[key] = (seq, item.payload_hash, data)
    run.standings[seq] = Standing(
        seq,
        txn.type,
        txn.channel,
        txn.amount,
        fee,
        net,
        when,
        original_seq=data.get("original_seq"),
    )
    if txn.rrn:
        run.by_rrn.setdefault(txn.rrn, seq)
    if txn.order_no:
        run.by_order.setdefault(txn.order_no, seq)
    if original is not None:
        _move(run, apply_link(txn.type, txn.amount, original))
        if txn.type == "reversal" and original.original_seq is not None:
            parent = _standing(conn, run, original.original_seq)
            if parent is not None:
                _move(run, undo_link(original, parent))
    return ItemResult(item.index, "recorded", summary(merchant_no, seq, data))


def _move(run: _MerchantRun, state: Standing) -> None:
    run.standings[state.seq] = state
    run.moved.add(state.seq)


def _standing(conn: Connection, run: _MerchantRun, seq: int) -> Standing | None:
    if seq not in run.standings:
        found = load_standing(conn, run.merchant.merchant_no, seq)
        if found is None:
            return None
        run.standings[seq] = found
    return run.standings[seq]


def _original_standing(conn: Connection, run: _MerchantRun, txn: Transaction) -> Standing | None:
    if txn.original is None:
        return None
    o = txn.original
    keys: list[str] = []
    if o.trace_no:
        keys.append(f"T|{o.terminal_id or txn.terminal_id}|{o.batch_no}|{o.trace_no}")
    if o.order_no:
        keys.append(f"Q|{txn.channel}|{o.order_no}")
    seq: int | None = None
    for key in keys:
        if key in run.recorded:
            seq = run.recorded[key][0]
            break
    if seq is None and o.rrn:
        seq = run.by_rrn.get(o.rrn)
    if seq is None and o.order_no:
        seq = run.by_order.get(o.order_no)
    if seq is None:
        seq = find_seq(
            conn, run.merchant.merchant_no, idem_keys=keys, rrn=o.rrn, order_no=o.order_no
        )
    return _standing(conn, run, seq) if seq is not None else None


class IngestQueue:
    """Merges single transactions that arrive together into one ``record`` call.

    Each request's item waits in a list and a drain job goes to the writer; the first
    drain to run takes every item waiting, records them together — one chain write, one
    head update, one commit — and, once the commit has returned, answers each request.
    """

    def __init__(
        self, submit: Callable[[Callable[[Connection], Any]], Future[Any]], keys: KeyStore
    ) -> None:
        self._submit = submit
        self._keys = keys
        self._lock = threading.Lock()
        self._waiting: list[tuple[Prepared, Future[ItemResult]]] = []

    def put(self, item: Prepared) -> Future[ItemResult]:
        answer: Future[ItemResult] = Future()
        with self._lock:
            self._waiting.append((item, answer))
        drain = _Drain(self)
        self._submit(drain).add_done_callback(drain.answer)
        return answer

    def take(self) -> list[tuple[Prepared, Future[ItemResult]]]:
        with self._lock:
            taken, self._waiting = self._waiting, []
        return taken

    def record(
        self, conn: Connection, taken: list[tuple[Prepared, Future[ItemResult]]]
    ) -> list[ItemResult]:
        items = [
            Prepared(i, p.txn, p.payload_hash, p.error, p.actor)
            for i, (p, _answer) in enumerate(taken)
        ]
        return record(conn, self._keys, items, SYSTEM_INGEST)


class _Drain:
    """One writer job; if the writer retries it alone, it keeps the items it took."""

    def __init__(self, queue: IngestQueue) -> None:
        self.queue = queue
        self.taken: list[tuple[Prepared, Future[ItemResult]]] | None = None

    def __call__(self, conn: Connection) -> list[ItemResult]:
        if self.taken is None:
            self.taken = self.queue.take()
        return self.queue.record(conn, self.taken) if self.taken else []

    def answer(self, done: Future[Any]) -> None:
        taken = self.taken or []
        error = done.exception()
        for i, (_item, answer) in enumerate(taken):
            if error is not None:
                answer.set_exception(error)
            else:
                result = done.result()[i]
                answer.set_result(
                    ItemResult(_item.index, result.status, result.entry, result.error)
                )


SYSTEM_INGEST = Actor("ingest", "local")


def prepare_all(
    payloads: Iterable[Any], hmac_for: Callable[[str], bytes | None], start: int = 0
) -> list[Prepared]:
    return [prepare(start + i, p, hmac_for) for i, p in enumerate(payloads)]


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


CHUNK = 5_000


def ingest_lines(
    submit: Callable[[Callable[[Connection], Any]], Future[Any]],
    keys: KeyStore,
    lines: Iterable[bytes],
    actor: Actor,
    known: set[str],
    progress: Callable[[int], None] | None = None,
) -> FileReport:
    """Record a JSON Lines stream in chunks, each chunk one durable transaction.

    While the writer records one chunk (signing and the database release the GIL), the
    next one is read and validated here: the two overlap on two cores. A chunk's lines
    are counted as recorded only once its commit has returned.
    """
    report = FileReport()

    def hmac_for(merchant_no: str) -> bytes | None:
        return keys.hmac_key(merchant_no) if merchant_no in known else None

    def account(pending: tuple[Future[Any], dict[int, int]] | None) -> None:
        if pending is None:
            return
        future, line_nos = pending
        for result in future.result():
            if result.status == "recorded":
                report.recorded += 1
            elif result.status == "duplicate":
                report.duplicates += 1
            else:
                assert result.error is not None
                report.rejected.append(
                    {
                        "line": line_nos[result.index],
                        "status": result.status,
                        "code": result.error.code,
                        "field": getattr(result.error, "field", None),
                        "reason": result.error.render(),
                    }
                )
            if result.entry:
                report.merchants.add(result.entry["merchant_no"])
        if progress:
            progress(max(line_nos.values(), default=report.lines))

    def send(chunk: list[Prepared], line_nos: dict[int, int]) -> tuple[Future[Any], dict[int, int]]:
        return submit(lambda conn: record(conn, keys, chunk, actor)), line_nos

    pending: tuple[Future[Any], dict[int, int]] | None = None
    chunk: list[Prepared] = []
    line_nos: dict[int, int] = {}
    for number, raw in enumerate(lines, start=1):
        report.lines = number
        text = raw.strip()
        if not text:  # a blank line carries nothing; it is counted, not rejected
            continue
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError:
            report.rejected.append(
                {
                    "line": number,
                    "status": "invalid",
                    "code": "invalid",
                    "field": None,
                    "reason": translate(_("not valid JSON")),
                }
            )
            continue
        index = len(line_nos)
        line_nos[index] = number
        chunk.append(prepare(index, payload, hmac_for))
        if len(chunk) >= CHUNK:
            account(pending)
            pending = send(chunk, line_nos)
            chunk, line_nos = [], {}
    account(pending)
    if chunk:
        account(send(chunk, line_nos))
    report.rejected.sort(key=lambda item: int(item["line"]))
    if progress:
        progress(report.lines)
    return report
