"""Recording terminal transactions in the journal: once, durably, by the rules.

``prepare`` validates a payload (card data refused or masked first) and reduces it to
``Ready``: a flat tuple with the transaction's canonical bytes and the fields the
rules and the look-up columns need. It is pure CPU work, so it runs wherever the
payload arrives: a request handler, or the worker processes of a bulk import
(``services/bulk.py``); a flat tuple crosses a process boundary cheaply.

``record`` runs inside the writer's transaction: for each merchant it finds which keys
are already recorded (the same payload again is a duplicate that returns the first
entry; a different payload under the same key is a conflict naming the key), resolves
originals, applies the rules, prices the entry and appends it to the chain. Offline
uploads are put in terminal time and trace order first. Every refusal is answered and
audited; nothing is dropped.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection

from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.errors import Conflict, CounterfoilError, NotFound, RuleViolation
from counterfoil.core.fees import FeeRule, rule_for
from counterfoil.core.models import Transaction, parse_transaction
from counterfoil.core.pan import card_group
from counterfoil.core.rules import (
    MerchantRules,
    Standing,
    apply_link,
    check_link,
    fee_and_net,
    undo_link,
)
from counterfoil.i18n import _
from counterfoil.journal.entries import effects_of
from counterfoil.journal.keys import KeyStore
from counterfoil.services.merchants import Merchant, fee_schedule, get_merchant
from counterfoil.store import audit
from counterfoil.store.audit import Actor
from counterfoil.store.journal import ChainWriter, find_keys, find_seq, save_standing
from counterfoil.store.journal import standing as load_standing

MAX_BATCH = 10_000
SYSTEM_INGEST = Actor("ingest", "local")


class Ready(NamedTuple):
    """A validated transaction, flat: what ``record`` needs and nothing else."""

    merchant_no: str
    key: str  # idempotency key: T|terminal|batch|trace or Q|channel|order_no
    described: str  # the key in words, for messages
    payload_hash: str
    data: bytes  # RFC 8785 bytes of the transaction's body: the entry's "data"
    type: str
    channel: str
    amount: int
    when: str  # terminal time, UTC, iso_z text
    offline: bool
    trace_no: str | None
    terminal_id: str
    original: tuple[str | None, ...] | None  # terminal_id, batch_no, trace_no, rrn, order_no
    original_text: str
    rrn: str | None
    order_no: str | None
    card_hmac: str | None
    # card_bin, card_last4, card_group, terminal_id, batch_no, trace_no, type, channel, amount,
    # currency, rrn, auth_code, order_no, offline: the look-up columns from the data
    columns: tuple[Any, ...]


def ready(txn: Transaction) -> Ready:
    data = canonical_bytes(txn.body(), trusted=True)
    o = txn.original
    card = txn.card
    return Ready(
        txn.merchant_no,
        txn.key(),
        txn.describe_key(),
        hashlib.sha256(data).hexdigest(),
        data,
        txn.type,
        txn.channel,
        txn.amount,
        txn.when,
        txn.offline,
        txn.trace_no,
        txn.terminal_id,
        (o.terminal_id, o.batch_no, o.trace_no, o.rrn, o.order_no) if o else None,
        txn.original_text,
        txn.rrn,
        txn.order_no,
        card.hmac if card else None,
        (
            card.bin if card else None,
            card.last4 if card else None,
            card_group(card.bin if card else None),
            txn.terminal_id,
            txn.batch_no,
            txn.trace_no,
            txn.type,
            txn.channel,
            txn.amount,
            txn.currency,
            txn.rrn,
            txn.auth_code,
            txn.order_no,
            txn.offline,
        ),
    )


class Prepared(NamedTuple):
    """One input item: ready to record, or why it could not be validated."""

    position: int  # where the item stood in its upload (a file's line number)
    ready: Ready | None = None
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


def prepare(index: int, payload: Any, hmac_for: Callable[[str], bytes | None]) -> Prepared:
    """Validate one payload; the card HMAC key comes from its (known) merchant only."""
    try:
        merchant_no = payload.get("merchant_no") if isinstance(payload, dict) else None
        key = hmac_for(merchant_no) if isinstance(merchant_no, str) else None
        return Prepared(index, ready(parse_transaction(payload, key)))
    except CounterfoilError as exc:
        return Prepared(index, error=exc)


def prepare_all(
    payloads: Iterable[Any], hmac_for: Callable[[str], bytes | None], start: int = 0
) -> list[Prepared]:
    return [prepare(start + i, p, hmac_for) for i, p in enumerate(payloads)]


def entry_id(merchant_no: str, seq: int) -> str:
    return f"{merchant_no}-{seq}"


def summary(
    merchant_no: str, seq: int, kind: str | None, amount: int | None, effects: dict[str, Any]
) -> dict[str, Any]:
    """What an acknowledgement says of a recorded entry."""
    return {
        "entry_id": entry_id(merchant_no, seq),
        "merchant_no": merchant_no,
        "seq": seq,
        "type": kind,
        "amount": amount,
        "fee": effects.get("fee"),
        "net": effects.get("net"),
        "original_seq": effects.get("original_seq"),
    }


@dataclass(slots=True)
class _MerchantRun:
    merchant: Merchant
    rules: MerchantRules
    chain: ChainWriter
    existing: dict[str, Any]
    schedule: list[FeeRule]
    zone: ZoneInfo
    #: key → (seq, payload hash, the acknowledgement) of what this run recorded
    recorded: dict[str, tuple[int, str, dict[str, Any]]] = field(default_factory=dict)
    #: seq → what this run recorded, as the rules need it once a later entry names it
    made: dict[int, Ready] = field(default_factory=dict)
    standings: dict[int, Standing] = field(default_factory=dict)
    moved: set[int] = field(default_factory=set)
    by_rrn: dict[str, int] = field(default_factory=dict)
    by_order: dict[str, int] = field(default_factory=dict)
    days: dict[str, date] = field(default_factory=dict)
    fees: dict[tuple[str, str], FeeRule | None] = field(default_factory=dict)

    def business_day(self, when: str) -> date:
        """The merchant's calendar day of a UTC instant, cached by the minute (uploads come
        in runs; by the hour would be wrong in a zone whose offset has minutes, where an
        hour in UTC can hold a local midnight)."""
        minute = when[:16]
        day = self.days.get(minute)
        if day is None:
            day = self.days[minute] = datetime.fromisoformat(when).astimezone(self.zone).date()
        return day

    def fee_rule(self, channel: str, when: str) -> FeeRule | None:
        """The fee rule in force for ``channel`` at a UTC instant (cached by the minute)."""
        minute = (channel, when[:16])
        if minute not in self.fees:
            self.fees[minute] = rule_for(self.schedule, channel, self.business_day(when))
        return self.fees[minute]


def _order(items: Sequence[Prepared]) -> list[Prepared]:
    """Offline uploads first, in terminal time then trace order; the rest as they came."""

    def key(item: Prepared) -> tuple[int, str, str, int]:
        r = item.ready
        if r is not None and r.offline:
            return (0, r.when, r.trace_no or "", item.position)
        return (1, "", "", item.position)

    return sorted(items, key=key)


def record(
    conn: Connection,
    keys: KeyStore,
    items: Sequence[Prepared],
    actor: Actor,
    *,
    allowed: Callable[[Ready], CounterfoilError | None] | None = None,
) -> list[ItemResult]:
    """Record prepared items in the caller's transaction; one result per item, in order."""
    results: dict[int, ItemResult] = {}
    by_merchant: dict[str, list[Prepared]] = defaultdict(list)
    for item in items:
        if item.ready is None:
            assert item.error is not None
            results[item.position] = ItemResult(item.position, "invalid", error=item.error)
        elif allowed is not None and (denied := allowed(item.ready)) is not None:
            results[item.position] = ItemResult(item.position, "refused", error=denied)
        else:
            by_merchant[item.ready.merchant_no].append(item)

    for merchant_no, group in sorted(by_merchant.items()):
        try:
            merchant = get_merchant(conn, merchant_no)
        except NotFound as exc:
            for item in group:
                results[item.position] = ItemResult(item.position, "invalid", error=exc)
            continue
        run = _MerchantRun(
            merchant,
            merchant.rules,
            ChainWriter(conn, keys, merchant_no),
            find_keys(conn, merchant_no, [i.ready.key for i in group if i.ready]),
            fee_schedule(conn, merchant_no),
            ZoneInfo(merchant.timezone),
        )
        for item in _order(group):
            results[item.position] = _record_one(conn, run, item)
        run.chain.flush()
        save_standing(conn, merchant_no, (run.standings[s] for s in sorted(run.moved)))

    _audit(conn, items, results, actor)
    return [results[item.position] for item in items]


def _record_one(conn: Connection, run: _MerchantRun, item: Prepared) -> ItemResult:
    r = item.ready
    assert r is not None
    merchant_no = r.merchant_no
    seen = run.recorded.get(r.key)
    if seen is None and r.key in run.existing:
        row = run.existing[r.key]
        body = orjson.loads(row.body)
        effects = body.get("effects", {})
        seen = (
            row.seq,
            row.payload_hash,
            summary(merchant_no, row.seq, r.type, body["data"]["amount"], effects),
        )
    if seen is not None:
        seq, digest, entry = seen
        if digest == r.payload_hash:
            return ItemResult(item.position, "duplicate", entry)
        return ItemResult(
            item.position,
            "conflict",
            error=Conflict(
                _("{key} is already recorded with different details (entry {entry_id})"),
                key=r.described,
                entry_id=entry_id(merchant_no, seq),
            ),
        )

    original = _original_standing(conn, run, r)
    try:
        check_link(r, original, run.rules)
    except RuleViolation as exc:
        return ItemResult(item.position, "refused", error=exc)

    fee, net = fee_and_net(r, run.fee_rule(r.channel, r.when), original, run.rules)
    effects = effects_of(fee, net, original.seq if original is not None else None)
    seq = run.chain.append_transaction(r, effects)
    entry = summary(merchant_no, seq, r.type, r.amount, effects)
    run.recorded[r.key] = (seq, r.payload_hash, entry)
    run.made[seq] = r
    if r.rrn:
        run.by_rrn.setdefault(r.rrn, seq)
    if r.order_no:
        run.by_order.setdefault(r.order_no, seq)
    if original is not None:
        _move(run, apply_link(r.type, r.amount, original))
        if r.type == "reversal" and original.original_seq is not None:
            parent = _standing(conn, run, original.original_seq)
            if parent is not None:
                _move(run, undo_link(original, parent))
    return ItemResult(item.position, "recorded", entry)


def _audit(
    conn: Connection, items: Sequence[Prepared], results: dict[int, ItemResult], default: Actor
) -> None:
    """Every refusal on its own; what each caller had recorded, in one record per caller."""
    by_actor: dict[Actor, list[ItemResult]] = defaultdict(list)
    for item in items:
        by_actor[item.actor or default].append(results[item.position])
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


def _move(run: _MerchantRun, state: Standing) -> None:
    run.standings[state.seq] = state
    run.moved.add(state.seq)


def _standing(conn: Connection, run: _MerchantRun, seq: int) -> Standing | None:
    if seq not in run.standings:
        made = run.made.get(seq)
        if made is not None:  # recorded by this run: as it was made, nothing done to it yet
            entry = run.recorded[made.key][2]
            run.standings[seq] = Standing(
                seq,
                made.type,
                made.channel,
                made.amount,
                entry["fee"],
                entry["net"],
                made.when,
                original_seq=entry["original_seq"],
            )
            return run.standings[seq]
        found = load_standing(conn, run.merchant.merchant_no, seq)
        if found is None:
            return None
        run.standings[seq] = found
    return run.standings[seq]


def _original_standing(conn: Connection, run: _MerchantRun, r: Ready) -> Standing | None:
    if r.original is None:
        return None
    terminal_id, batch_no, trace_no, rrn, order_no = r.original
    keys: list[str] = []
    if trace_no:
        keys.append(f"T|{terminal_id or r.terminal_id}|{batch_no}|{trace_no}")
    if order_no:
        keys.append(f"Q|{r.channel}|{order_no}")
    seq: int | None = None
    for key in keys:
        if key in run.recorded:
            seq = run.recorded[key][0]
            break
    if seq is None and rrn:
        seq = run.by_rrn.get(rrn)
    if seq is None and order_no:
        seq = run.by_order.get(order_no)
    if seq is None:
        seq = find_seq(conn, run.merchant.merchant_no, idem_keys=keys, rrn=rrn, order_no=order_no)
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
        items = [p._replace(position=i) for i, (p, _answer) in enumerate(taken)]
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
        error = done.exception()
        for i, (item, answer) in enumerate(self.taken or []):
            if error is not None:
                answer.set_exception(error)
            else:
                result = done.result()[i]
                answer.set_result(
                    ItemResult(item.position, result.status, result.entry, result.error)
                )
