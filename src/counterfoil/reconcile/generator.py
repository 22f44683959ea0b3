"""A day with known truth: entries and lines with every kind of break injected.

``make_day`` builds a merchant's day of card (credit, RRN) and WeChat (platform order
number) payments, mostly clean, and injects at ``break_rate`` each kind of break the
passes must find — missing on either side, wrong amount, type, status or fee, a
duplicated line, an entry inside the settlement window, a line just past midnight, a
payment settled in two lines, a voided payment, lines keyed only by terminal and trace
or only by card, amount and time — and records the outcome each record must get. The
same day can be recorded through ingest (``payloads``), stored as statement lines
(``line_rows``) or written straight to staged files (``write_staged``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from counterfoil.core.fees import DEFAULT_RULES
from counterfoil.reconcile.model import SEPARATOR
from counterfoil.store.statement_blocks import key_hash

RULES = {r.channel: r for r in DEFAULT_RULES}
KINDS = (
    "missing_in_journal",
    "missing_in_statement",
    "amount_mismatch",
    "type_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "duplicate",
    "pending",
    "past_midnight",
    "split",
    "voided",
    "composite",
    "tolerant",
)


@dataclass(slots=True)
class Entry:
    index: int
    seq: int
    terminal_id: str
    batch_no: str
    trace_no: str
    channel: str
    amount: int
    fee: int
    at: datetime
    rrn: str | None
    order_no: str | None
    last4: str | None
    voided: bool = False
    type: str = "sale"


@dataclass(slots=True)
class Line:
    line_no: int
    source: str
    at: datetime
    amount: int
    fee: int | None
    txn_type: str
    status: str
    rrn: str | None = None
    trace_no: str | None = None
    terminal_id: str | None = None
    order_no: str | None = None
    platform_id: str | None = None
    last4: str | None = None


@dataclass(slots=True)
class Day:
    merchant_no: str
    day: date
    zone: str
    entries: list[Entry] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    #: what each record must end as: seq → outcome, line_no → outcome ("set_aside": none)
    entry_truth: dict[int, str] = field(default_factory=dict)
    line_truth: dict[int, str] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.day, datetime.min.time(), ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=1)


def make_day(
    merchant_no: str,
    day: date,
    n: int,
    *,
    break_rate: float = 0.02,
    seed: int = 7,
    zone: str = "Asia/Shanghai",
    first_seq: int = 2,
    settlement_window: int = 1800,
) -> Day:
    """About ``n`` entries and ``n`` lines; each kind of break at ``break_rate`` (≥ 1 each)."""
    rng = random.Random(seed)
    out = Day(merchant_no, day, zone)
    per_kind = max(1, round(n * break_rate / len(KINDS)))
    plan = [k for k in KINDS for _ in range(per_kind)]
    plan += ["clean"] * max(0, n - len(plan))
    rng.shuffle(plan)
    # normal times keep clear of the day's edges (the settlement window, the margins)
    span = 86_400 - settlement_window - 1200
    for i, kind in enumerate(plan):
        seq = first_seq + len(out.entries)  # a record never recorded takes no number
        qr = kind not in ("composite", "tolerant", "split") and i % 5 == 4
        channel = "wechat" if qr else "credit"
        amount = 100 + (i * 7919) % 4_999_000
        at = out.start + timedelta(seconds=600 + rng.randrange(span))
        if kind == "pending":
            at = out.end - timedelta(seconds=rng.randrange(60, settlement_window - 60))
        if kind == "past_midnight":
            at = out.end - timedelta(seconds=rng.randrange(30, 120))
        terminal = f"T{i // 999_999:07d}"
        trace = f"{i % 999_999 + 1:06d}"
        entry = Entry(
            index=i,
            seq=seq,
            terminal_id=terminal,
            batch_no="000001",
            trace_no=trace,
            channel=channel,
            amount=amount,
            fee=RULES[channel].fee(amount),
            at=at,
            rrn=None if qr else f"{i:012d}",
            order_no=f"WX{i:026d}" if qr else None,
            last4=None if qr else f"{rng.randrange(10_000):04d}",
        )
        _inject(out, kind, entry, rng)
    out.injected = {k: per_kind for k in KINDS}
    return out


def _line_of(day: Day, e: Entry, **changes: Any) -> Line:
    qr = e.channel == "wechat"
    line = Line(
        line_no=len(day.lines) + 1,
        source="wechat_trade" if qr else "unionpay_zm",
        at=e.at,
        amount=e.amount,
        fee=e.fee,
        txn_type="sale",
        status="success",
        rrn=e.rrn,
        trace_no=None if qr else e.trace_no,
        terminal_id=None if qr else e.terminal_id,
        order_no=f"M{e.index:020d}" if qr else None,
        platform_id=e.order_no,
        last4=e.last4,
    )
    for name, value in changes.items():
        setattr(line, name, value)
    day.lines.append(line)
    return line


def _inject(day: Day, kind: str, e: Entry, rng: random.Random) -> None:
    outcome = {
        "amount_mismatch": "amount_mismatch",
        "type_mismatch": "type_mismatch",
        "status_mismatch": "status_mismatch",
        "fee_mismatch": "fee_mismatch",
    }.get(kind, "matched")
    if kind == "missing_in_journal":
        line = _line_of(day, e)  # the entry is never recorded
        day.line_truth[line.line_no] = "missing_in_journal"
        return
    day.entries.append(e)
    if kind == "missing_in_statement":
        day.entry_truth[e.seq] = "missing_in_statement"
        return
    if kind == "pending":
        day.entry_truth[e.seq] = "pending"
        return
    if kind == "voided":
        e.voided = True
        day.entry_truth[e.seq] = "set_aside"
        return
    if kind == "split":
        first = e.amount // 3
        a = _line_of(day, e, amount=first, fee=None)
        b = _line_of(day, e, amount=e.amount - first, fee=None)
        day.entry_truth[e.seq] = "matched"
        day.line_truth[a.line_no] = day.line_truth[b.line_no] = "matched"
        return
    changes: dict[str, Any] = {}
    if kind == "amount_mismatch":
        changes["amount"] = e.amount + rng.choice((-1, 1)) * rng.randrange(1, 5000)
    elif kind == "type_mismatch":
        changes.update(txn_type="refund", amount=-e.amount, fee=-e.fee)
    elif kind == "status_mismatch":
        changes["status"] = "failed"
    elif kind == "fee_mismatch":
        changes["fee"] = e.fee + rng.randrange(1, 300)
    elif kind == "past_midnight":
        changes["at"] = day.end + timedelta(seconds=rng.randrange(10, 200))
    elif kind == "composite":
        changes["rrn"] = None  # only terminal and trace tie it to the entry
    elif kind == "tolerant":
        changes.update(rrn=None, trace_no=None, terminal_id=None)
        changes["at"] = e.at + timedelta(seconds=rng.randrange(-60, 60))
    line = _line_of(day, e, **changes)
    day.entry_truth[e.seq] = outcome
    day.line_truth[line.line_no] = outcome
    if kind == "duplicate":
        again = _line_of(day, e)
        day.line_truth[again.line_no] = "duplicate"


# --- the same day in the forms the tests and the benchmark need ---------------------------


def payloads(day: Day) -> Iterator[dict[str, Any]]:
    """The entries as terminal payloads, in sequence order, then the voids."""
    for e in day.entries:
        payload: dict[str, Any] = {
            "merchant_no": day.merchant_no,
            "terminal_id": e.terminal_id,
            "batch_no": e.batch_no,
            "trace_no": e.trace_no,
            "type": "sale",
            "channel": e.channel,
            "amount": e.amount,
            "currency": "CNY",
            "terminal_time": e.at.isoformat(),
        }
        if e.rrn:
            payload.update(rrn=e.rrn, card=f"622202******{e.last4}", auth_code="123456")
        if e.order_no:
            payload["order_no"] = e.order_no
        yield payload
    for n, e in enumerate(x for x in day.entries if x.voided):
        void: dict[str, Any] = {
            "merchant_no": day.merchant_no,
            "terminal_id": e.terminal_id,
            "batch_no": e.batch_no,
            "trace_no": f"{900_000 + n:06d}",
            "type": "void",
            "channel": e.channel,
            "amount": e.amount,
            "currency": "CNY",
            "terminal_time": (e.at + timedelta(seconds=5)).isoformat(),
            "original": {
                "terminal_id": e.terminal_id,
                "batch_no": e.batch_no,
                "trace_no": e.trace_no,
            },
        }
        if e.rrn:
            void.update(card=f"622202******{e.last4}", auth_code="123456")
        else:
            void["order_no"] = f"V{e.order_no}"
            void["original"] = {"order_no": e.order_no}
        yield void


def line_rows(day: Day, import_id: int) -> Iterator[dict[str, Any]]:
    """The lines as ``statement_lines`` rows of import ``import_id``."""
    for line in day.lines:
        yield {
            "import_id": import_id,
            "line_no": line.line_no,
            "source": line.source,
            "occurred_at": line.at,
            "amount": line.amount,
            "currency": "CNY",
            "txn_type": line.txn_type,
            "status": line.status,
            "rrn": line.rrn,
            "trace_no": line.trace_no,
            "terminal_id": line.terminal_id,
            "merchant_no": day.merchant_no,
            "order_no": line.order_no,
            "platform_id": line.platform_id,
            "refund_id": None,
            "fee": line.fee,
            "net": None if line.fee is None else line.amount - line.fee,
            "card_masked": f"622202******{line.last4}" if line.last4 else None,
            "card_last4": line.last4,
            "counterparty": None,
            "description": None,
            "natural_key": f"gen|{import_id}|{line.line_no}",
            "key_hash": key_hash(f"gen|{import_id}|{line.line_no}"),
            "duplicate_of": None,
        }


def _cells(values: tuple[Any, ...]) -> str:
    return SEPARATOR.join("" if v is None else str(v) for v in values)


def write_staged(day: Day, folder: Path, import_id: int = 1) -> tuple[Path, Path, Path]:
    """The day as an engine's staged files, without a database (as ``staging`` writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    entries, lines, decisions = (
        folder / "entries.tsv",
        folder / "lines.tsv",
        folder / "decisions.tsv",
    )
    with entries.open("w", encoding="utf-8") as out:
        for e in day.entries:
            row: tuple[Any, ...] = (
                e.seq, e.channel, e.rrn, e.order_no, e.terminal_id, e.trace_no, e.type,
                e.amount, e.fee, e.last4, int(e.at.timestamp()), "voided" if e.voided else None,
            )  # fmt: skip
            out.write(_cells(row) + "\n")
    with lines.open("w", encoding="utf-8") as out:
        for x in day.lines:
            row = (
                import_id, x.line_no, x.source, x.rrn, x.order_no, x.platform_id, x.terminal_id,
                x.trace_no, x.txn_type, x.amount, x.fee, x.last4, int(x.at.timestamp()), x.status,
            )  # fmt: skip
            out.write(_cells(row) + "\n")
    decisions.write_text("", encoding="utf-8")
    return entries, lines, decisions
