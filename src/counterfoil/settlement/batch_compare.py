"""Comparing a terminal's batch totals with the journal, and explaining the difference.

The journal's side is computed as the terminal computes its own: sales and completions
are debits, refunds credits, each counted once unless a void or a reversal cancelled
it (its status in the projection); pre-authorisations and their cancels hold no money.
A total that differs is explained by transactions, each on one side only or with
amounts that differ:

- ``missing_on_terminal``: the journal counts it, the terminal did not (an offline
  upload the terminal had not counted, a transaction of another batch number);
- ``missing_in_journal``: the terminal counted it, the journal does not hold it — never
  recorded (a gap in the batch's trace numbers), or voided or reversed here;
- ``amount_differs``: both hold it, with different amounts (a tip adjusted after).

With the terminal's list of transactions the comparison is trace by trace. With totals
only, the explaining transactions are searched among what the journal holds: as many
transactions as the counts differ by, whose amounts add up to the difference (offline
uploads and the latest first), voided or reversed ones, tips, and the trace numbers
missing from the batch's sequence. A difference no such search explains is stored as
unexplained, with what would explain it (the terminal's list).

Pure: no database.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from counterfoil.core.pan import DOMESTIC_BINS
from counterfoil.settlement.batch_report import SIDES, Listed, Report, Totals

#: Statuses under which a transaction no longer counts: cancelled by a void or reversal.
CANCELLED = ("voided", "reversed")
#: BIN prefixes of cards issued in China and carried by UnionPay (内卡); other card BINs
#: (Visa 4, Mastercard 2/5, American Express 34/37, JCB 35, Discover 6011/65, …) are
#: foreign cards (外卡). QR payments are domestic.
#: How many combinations a totals-only search tries before it gives up (deterministic).
SEARCH_BUDGET = 200_000
MAX_SEARCH_SIZE = 4
MAX_GAPS = 20


def card_group(channel: str | None, card_bin: str | None) -> str:
    """ "domestic" or "foreign" (内卡 / 外卡) for a transaction's channel and card BIN."""
    if channel not in ("credit", "debit") or not card_bin:
        return "domestic"
    return "domestic" if card_bin.startswith(DOMESTIC_BINS) else "foreign"


@dataclass(frozen=True, slots=True)
class JournalTxn:
    """A transaction of the batch as the journal holds it (and its status now)."""

    seq: int
    trace_no: str | None
    type: str
    amount: int
    currency: str
    status: str = "approved"
    channel: str | None = None
    card_bin: str | None = None
    tip: int = 0
    offline: bool = False

    @property
    def counted(self) -> bool:
        return self.type in SIDES and self.status not in CANCELLED

    @property
    def side(self) -> str:
        return SIDES[self.type]

    @property
    def group(self) -> str:
        return card_group(self.channel, self.card_bin)


@dataclass(frozen=True, slots=True)
class Explanation:
    """One transaction that explains (part of) a difference."""

    reason: str  # missing_on_terminal | missing_in_journal | amount_differs
    seq: int | None = None
    trace_no: str | None = None
    type: str | None = None
    journal_amount: int | None = None
    terminal_amount: int | None = None
    detail: str = ""  # offline | voided | reversed | trace_gap | tip | ""

    def effect(self) -> tuple[int, int | None]:
        """What it adds to (journal − terminal): count and amount (None: unknown)."""
        if self.reason == "missing_on_terminal":
            return 1, self.journal_amount
        if self.reason == "missing_in_journal":
            return -1, None if self.terminal_amount is None else -self.terminal_amount
        if self.journal_amount is None or self.terminal_amount is None:
            return 0, None
        return 0, self.journal_amount - self.terminal_amount

    def as_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "seq": self.seq,
            "trace_no": self.trace_no,
            "type": self.type,
            "journal_amount": self.journal_amount,
            "terminal_amount": self.terminal_amount,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Difference:
    """One total (a side of a card group) where the terminal and the journal differ."""

    group: str  # all | domestic | foreign
    side: str  # debit | credit
    terminal_count: int
    terminal_amount: int
    journal_count: int
    journal_amount: int
    explanations: tuple[Explanation, ...] = ()

    @property
    def kind(self) -> str:
        count = self.terminal_count != self.journal_count
        amount = self.terminal_amount != self.journal_amount
        if count and amount:
            return "count_and_amount"
        if count:
            return "count"
        return "amount" if amount else "transactions"

    @property
    def explained(self) -> bool:
        """Whether the explanations name transactions that add up to the difference."""
        if not self.explanations:
            return False
        if any(x.seq is None and x.trace_no is None for x in self.explanations):
            return False
        effects = [x.effect() for x in self.explanations]
        if any(amount is None for _count, amount in effects):
            return False
        count = sum(c for c, _a in effects)
        amount = sum(a or 0 for _c, a in effects)
        return (count, amount) == (
            self.journal_count - self.terminal_count,
            self.journal_amount - self.terminal_amount,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "side": self.side,
            "kind": self.kind,
            "terminal_count": self.terminal_count,
            "terminal_amount": self.terminal_amount,
            "journal_count": self.journal_count,
            "journal_amount": self.journal_amount,
            "explained": self.explained,
            "explanations": [x.as_dict() for x in self.explanations],
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """The answer to a batch close: balanced (对账平) or the differences (不平)."""

    terminal: dict[str, Totals]  # by group, as the terminal reported
    journal: dict[str, Totals]  # by the same groups
    differences: tuple[Difference, ...]
    by_list: bool  # compared transaction by transaction (the terminal sent its list)
    other_currency: int = 0  # transactions of the batch in another currency: not compared
    trace_gaps: tuple[str, ...] = field(default=())

    @property
    def balanced(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "by_list": self.by_list,
            "terminal": {g: t.as_dict() for g, t in self.terminal.items()},
            "journal": {g: t.as_dict() for g, t in self.journal.items()},
            "differences": [d.as_dict() for d in self.differences],
            "other_currency": self.other_currency,
            "trace_gaps": list(self.trace_gaps),
        }


def _totals(txns: Iterable[JournalTxn]) -> Totals:
    found = Totals()
    for t in txns:
        if t.side == "debit":
            found += Totals(1, t.amount, 0, 0)
        else:
            found += Totals(0, 0, 1, t.amount)
    return found


def trace_gaps(txns: Sequence[JournalTxn]) -> tuple[str, ...]:
    """Trace numbers missing between the batch's first and last (every transaction a
    terminal makes, voids and pre-authorisations too, takes the next trace number)."""
    traces = sorted({int(t.trace_no) for t in txns if t.trace_no and t.trace_no.isdigit()})
    if len(traces) < 2:
        return ()
    held = set(traces)
    gaps = [n for n in range(traces[0], traces[-1] + 1) if n not in held]
    return tuple(f"{n:06d}" for n in gaps[:MAX_GAPS])


def compare(report: Report, txns: Sequence[JournalTxn]) -> Comparison:
    """The terminal's report against the journal's transactions of the same batch."""
    mine = [t for t in txns if t.currency == report.currency]
    other = sum(1 for t in txns if t.currency != report.currency and t.counted)
    groups = tuple(report.totals)

    def group_of(t: JournalTxn) -> str:
        return t.group if report.split else "all"

    counted = [t for t in mine if t.counted]
    journal = {g: _totals(t for t in counted if group_of(t) == g) for g in groups}
    gaps = trace_gaps(mine)
    explanations: dict[tuple[str, str], list[Explanation]] = {}
    if report.transactions is not None:
        explanations = _by_list(report.transactions, mine, group_of, report.split)
    differences: list[Difference] = []
    for g in groups:
        for side in ("debit", "credit"):
            t_count, t_amount = report.totals[g].side(side)
            j_count, j_amount = journal[g].side(side)
            found = explanations.get((g, side), [])
            if (t_count, t_amount) == (j_count, j_amount) and not found:
                continue
            if report.transactions is None:
                pool = [t for t in mine if group_of(t) == g and t.type in SIDES and t.side == side]
                found = _search(j_count - t_count, j_amount - t_amount, pool, gaps)
            differences.append(
                Difference(g, side, t_count, t_amount, j_count, j_amount, tuple(found))
            )
    return Comparison(
        dict(report.totals),
        journal,
        tuple(differences),
        report.transactions is not None,
        other,
        gaps,
    )


def _by_list(
    listed: Sequence[Listed],
    txns: Sequence[JournalTxn],
    group_of: Any,
    split: bool,
) -> dict[tuple[str, str], list[Explanation]]:
    """Trace by trace: what each side holds that the other does not, or holds otherwise."""
    found: dict[tuple[str, str], list[Explanation]] = {}

    def add(group: str, side: str, item: Explanation) -> None:
        found.setdefault((group, side), []).append(item)

    by_trace: dict[str, JournalTxn] = {}
    for t in txns:
        if t.trace_no and t.type in SIDES and (t.counted or t.trace_no not in by_trace):
            by_trace[t.trace_no] = t
    terminal = {x.trace_no: x for x in listed}
    for t in sorted((t for t in txns if t.counted), key=lambda t: t.seq):
        x = terminal.get(t.trace_no or "")
        if x is None or x.side != t.side:
            detail = "offline" if t.offline else ""
            add(
                group_of(t),
                t.side,
                Explanation(
                    "missing_on_terminal", t.seq, t.trace_no, t.type, t.amount, None, detail
                ),
            )
        elif x.amount != t.amount:
            detail = "tip" if t.tip and t.amount - t.tip == x.amount else ""
            add(
                group_of(t),
                t.side,
                Explanation(
                    "amount_differs", t.seq, t.trace_no, t.type, t.amount, x.amount, detail
                ),
            )
    for x in listed:
        held = by_trace.get(x.trace_no)
        if held is not None and held.counted and held.side == x.side:
            continue
        group = "all" if not split else ("foreign" if x.foreign else "domestic")
        if held is not None and not held.counted:
            add(
                group,
                x.side,
                Explanation(
                    "missing_in_journal", held.seq, x.trace_no, x.type, None, x.amount, held.status
                ),
            )
        else:
            add(
                group,
                x.side,
                Explanation("missing_in_journal", None, x.trace_no, x.type, None, x.amount),
            )
    return found


def _subset(
    pool: Sequence[JournalTxn], size: int, target: int, value: Any = None
) -> tuple[JournalTxn, ...] | None:
    """The first ``size`` transactions of ``pool`` (in its order) whose values add up to
    ``target``; None if none within the search budget."""
    value = value or (lambda t: t.amount)
    if size < 1 or size > MAX_SEARCH_SIZE or size > len(pool):
        return None
    if size == 1:
        return next(((t,) for t in pool if value(t) == target), None)
    for combo in itertools.islice(itertools.combinations(pool, size), SEARCH_BUDGET):
        if sum(value(t) for t in combo) == target:
            return combo
    return None


def _preferred(pool: Iterable[JournalTxn]) -> list[JournalTxn]:
    """Offline uploads first, then the latest recorded: the likeliest to be uncounted."""
    return sorted(pool, key=lambda t: (not t.offline, -t.seq))


def _search(
    count: int, amount: int, pool: Sequence[JournalTxn], gaps: Sequence[str]
) -> list[Explanation]:
    """Totals only: transactions that explain a difference of ``count`` transactions and
    ``amount`` fen (journal − terminal) on one side of one card group."""
    if count > 0:  # the journal holds transactions the terminal did not count
        combo = _subset(_preferred(t for t in pool if t.counted), count, amount)
        if combo is not None:
            return [
                Explanation(
                    "missing_on_terminal",
                    t.seq,
                    t.trace_no,
                    t.type,
                    t.amount,
                    None,
                    "offline" if t.offline else "",
                )
                for t in sorted(combo, key=lambda t: t.seq)
            ]
        return []
    if count < 0:  # the terminal counted transactions the journal does not
        cancelled = _preferred(t for t in pool if not t.counted)
        combo = _subset(cancelled, -count, -amount)
        if combo is not None:
            return [
                Explanation(
                    "missing_in_journal", t.seq, t.trace_no, t.type, None, t.amount, t.status
                )
                for t in sorted(combo, key=lambda t: t.seq)
            ]
        if -count == len(gaps):
            known = -amount if len(gaps) == 1 else None
            return [
                Explanation("missing_in_journal", None, gap, None, None, known, "trace_gap")
                for gap in gaps
            ]
        return []
    if amount:  # as many transactions, other amounts: tips the terminal did not count
        combo = _subset(_preferred(t for t in pool if t.counted and t.tip), 1, amount, _tip)
        for size in range(2, MAX_SEARCH_SIZE + 1):
            if combo is not None:
                break
            combo = _subset(_preferred(t for t in pool if t.counted and t.tip), size, amount, _tip)
        if combo is not None:
            return [
                Explanation(
                    "amount_differs", t.seq, t.trace_no, t.type, t.amount, t.amount - t.tip, "tip"
                )
                for t in sorted(combo, key=lambda t: t.seq)
            ]
    return []


def _tip(t: JournalTxn) -> int:
    return t.tip
