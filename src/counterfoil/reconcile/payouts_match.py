"""Payout matching, pure: expected payouts per settlement date against bank credits.

An ``Expected`` is what should reach the merchant's bank account on a settlement date
(in one currency): the net of the business days that settle then. A ``Credit`` is one
money-in line of a bank statement. ``match`` gives every expected payout and every
credit exactly one outcome, in passes over what is still open — each a function of one
shape, ``fn(open expected, open credits, terms) -> groups`` — so that a new rule is a new
pass:

1. ``exact``: one payout, one credit of its amount (within the tolerance) dated on the
   settlement date or up to ``lag_days`` after it; each the other's best (closest date,
   then the first line).
2. ``combined``: one credit pays several payouts — consecutive open settlement dates
   (up to ``max_group``) whose sum is the credit.
3. ``split``: one payout paid in two or three consecutive credits whose sum it is.
4. ``duplicate``: a credit of the amount of a credit already matched, within the window
   of the payouts that one paid: the bank paid it again.
5. ``mismatch``: one payout, one credit in its window whose amount differs by no more
   than ``mismatch_share`` of the payout: ``amount_mismatch`` with both amounts.

Whatever is left: a payout whose window has not yet passed the date the statements
reach (``as_of``) is ``pending``, otherwise ``missing_in_statement``; a credit the bank
marks pending is ``pending``, otherwise ``missing_in_journal``. The outcome does not
depend on the order the records come in: every choice is ordered by date and id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

OUTCOMES = (
    "matched",
    "missing_in_statement",
    "missing_in_journal",
    "amount_mismatch",
    "duplicate",
    "pending",
)
PASSES = ("exact", "combined", "split", "duplicate", "mismatch")


@dataclass(frozen=True, slots=True)
class Expected:
    settle_date: date
    currency: str
    amount: int  # fen: what should be credited
    basis: str  # journal | statement: where the amount comes from
    journal_net: int | None = None
    statement_net: int | None = None
    days: tuple[date, ...] = ()  # the business days whose net this is

    @property
    def key(self) -> tuple[date, str]:
        return (self.settle_date, self.currency)


@dataclass(frozen=True, slots=True)
class Credit:
    import_id: int
    line_no: int
    booked: date
    currency: str
    amount: int  # fen, > 0
    status: str = "booked"  # booked | pending
    reference: str | None = None
    source: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.import_id, self.line_no)


@dataclass(frozen=True, slots=True)
class Terms:
    as_of: date  # the date the bank statements reach
    lag_days: int = 3  # a credit may come this many days after the settlement date
    tolerance: int = 0  # fen either way
    max_group: int = 7
    mismatch_share: Fraction = Fraction(1, 2)


@dataclass(slots=True)
class Group:
    """One outcome: expected payouts and credits that belong together (either may be empty)."""

    outcome: str
    pass_: str
    expected: list[Expected] = field(default_factory=list)
    credits: list[Credit] = field(default_factory=list)
    other: Credit | None = None  # a duplicate's first credit
    pays: list[Expected] = field(default_factory=list)  # the payouts a duplicate pays again

    @property
    def expected_amount(self) -> int:
        return sum(e.amount for e in self.expected)

    @property
    def credited_amount(self) -> int:
        return sum(c.amount for c in self.credits)


def in_window(e: Expected, c: Credit, terms: Terms) -> bool:
    return e.currency == c.currency and e.settle_date <= c.booked <= e.settle_date + timedelta(
        days=terms.lag_days
    )


def _gap(e: Expected, c: Credit) -> int:
    return (c.booked - e.settle_date).days


Pass = Callable[[list[Expected], list[Credit], Terms, list[Group]], list[Group]]


def _mutual_best(
    pending: list[Expected],
    credits: list[Credit],
    terms: Terms,
    fits: Callable[[Expected, Credit], bool],
    rank: Callable[[Expected, Credit], tuple[int, ...]],
    outcome: Callable[[Expected, Credit], str],
    name: str,
) -> list[Group]:
    """One-to-one pairs where each side is the other's best candidate, in rounds."""
    made: list[Group] = []
    open_e, open_c = list(pending), list(credits)
    while True:
        candidates = [
            (e, c) for e in open_e for c in open_c if in_window(e, c, terms) and fits(e, c)
        ]
        best_e: dict[tuple[date, str], tuple[tuple[int, ...], Credit]] = {}
        best_c: dict[tuple[int, int], tuple[tuple[int, ...], Expected]] = {}
        for e, c in candidates:
            r = rank(e, c)
            order_e = (*r, c.booked.toordinal(), *c.key)
            order_c = (*r, e.settle_date.toordinal())
            if e.key not in best_e or order_e < best_e[e.key][0]:
                best_e[e.key] = (order_e, c)
            if c.key not in best_c or order_c < best_c[c.key][0]:
                best_c[c.key] = (order_c, e)
        pairs = [(e, c) for e, c in candidates if best_e[e.key][1] is c and best_c[c.key][1] is e]
        if not pairs:
            return made
        for e, c in pairs:
            made.append(Group(outcome(e, c), name, [e], [c]))
            open_e.remove(e)
            open_c.remove(c)


def _close(a: int, b: int, terms: Terms) -> bool:
    return abs(a - b) <= terms.tolerance


def exact(
    open_e: list[Expected], open_c: list[Credit], terms: Terms, done: list[Group]
) -> list[Group]:
    return _mutual_best(
        open_e,
        open_c,
        terms,
        lambda e, c: _close(e.amount, c.amount, terms),
        lambda e, c: (_gap(e, c),),
        lambda e, c: "pending" if c.status == "pending" else "matched",
        "exact",
    )


def _run_summing(
    amounts: Sequence[int], target: int, longest: int, terms: Terms
) -> tuple[int, int] | None:
    """The first run [i, j) of two or more consecutive amounts that sums to ``target``."""
    for i in range(len(amounts)):
        total = amounts[i]
        for j in range(i + 1, min(len(amounts), i + longest)):
            total += amounts[j]
            if _close(total, target, terms):
                return (i, j + 1)
    return None


def combined(
    open_e: list[Expected], open_c: list[Credit], terms: Terms, done: list[Group]
) -> list[Group]:
    made: list[Group] = []
    taken: set[tuple[date, str]] = set()
    for c in sorted(open_c, key=lambda x: (x.booked, x.key)):
        near = sorted(
            (e for e in open_e if e.key not in taken and in_window(e, c, terms)),
            key=lambda e: e.settle_date,
        )
        found = _run_summing([e.amount for e in near], c.amount, terms.max_group, terms)
        if found:
            group = near[found[0] : found[1]]
            taken.update(e.key for e in group)
            made.append(
                Group("pending" if c.status == "pending" else "matched", "combined", group, [c])
            )
    return made


def split(
    open_e: list[Expected], open_c: list[Credit], terms: Terms, done: list[Group]
) -> list[Group]:
    made: list[Group] = []
    taken: set[tuple[int, int]] = set()
    for e in sorted(open_e, key=lambda x: x.key):
        near = sorted(
            (c for c in open_c if c.key not in taken and in_window(e, c, terms)),
            key=lambda c: (c.booked, c.key),
        )
        found = _run_summing([c.amount for c in near], e.amount, 3, terms)
        if found:
            group = near[found[0] : found[1]]
            taken.update(c.key for c in group)
            pending = any(c.status == "pending" for c in group)
            made.append(Group("pending" if pending else "matched", "split", [e], group))
    return made


def duplicate(
    open_e: list[Expected], open_c: list[Credit], terms: Terms, done: list[Group]
) -> list[Group]:
    made: list[Group] = []
    paid = [g for g in done if g.credits and g.expected and g.outcome == "matched"]
    for c in sorted(open_c, key=lambda x: (x.booked, x.key)):
        for g in paid:
            first = g.credits[0]
            if (
                len(g.credits) == 1
                and _close(first.amount, c.amount, terms)
                and first.key < c.key
                and all(in_window(e, c, terms) for e in g.expected)
            ):
                made.append(
                    Group("duplicate", "duplicate", [], [c], other=first, pays=list(g.expected))
                )
                break
    return made


def mismatch(
    open_e: list[Expected], open_c: list[Credit], terms: Terms, done: list[Group]
) -> list[Group]:
    def near(e: Expected, c: Credit) -> bool:
        return abs(e.amount - c.amount) <= abs(e.amount) * terms.mismatch_share

    return _mutual_best(
        open_e,
        open_c,
        terms,
        near,
        lambda e, c: (_gap(e, c), abs(e.amount - c.amount)),
        lambda e, c: "pending" if c.status == "pending" else "amount_mismatch",
        "mismatch",
    )


PIPELINE: tuple[tuple[str, Pass], ...] = (
    ("exact", exact),
    ("combined", combined),
    ("split", split),
    ("duplicate", duplicate),
    ("mismatch", mismatch),
)


def match(expected: Sequence[Expected], credits: Sequence[Credit], terms: Terms) -> list[Group]:
    """Every expected payout and every credit in exactly one group."""
    open_e = sorted(expected, key=lambda e: e.key)
    open_c = sorted(credits, key=lambda c: (c.booked, c.key))
    groups: list[Group] = []
    for _name, step in PIPELINE:
        for g in step(open_e, open_c, terms, groups):
            groups.append(g)
            for e in g.expected:
                open_e.remove(e)
            for c in g.credits:
                open_c.remove(c)
    for e in open_e:
        due = e.settle_date + timedelta(days=terms.lag_days)
        groups.append(
            Group("pending" if due > terms.as_of else "missing_in_statement", "none", [e])
        )
    for c in open_c:
        groups.append(
            Group("pending" if c.status == "pending" else "missing_in_journal", "none", [], [c])
        )
    return groups
