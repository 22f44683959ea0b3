"""Realistic demo traffic, as the JSON payloads terminals send (FORMATS.md).

What the demo contains:

* **惠邻便利店（静安寺店）**, a convenience store, merchant 898310054110027, terminals
  SHOP0001 (main till), SHOP0002 and SHOP0003: 150–400 small sales a day (3.50–200.00)
  from 07:00 to 23:00 with breakfast, lunch and evening peaks, more at weekends; mostly
  WeChat Pay and Alipay, some UnionPay QR, a few debit and credit cards; same-day voids
  of card sales, full and partial refunds days later. SHOP0001's trace number starts near
  999999 and wraps. On one day SHOP0002 loses its network for about two hours: it keeps
  taking card sales offline (``offline: true``, no RRN) and uploads them out of order a
  few minutes after the network returns; QR customers go to the other tills meanwhile.
* **云栖酒店·江南厅餐厅**, a hotel restaurant, merchant 898310058120016, terminals REST0001
  (front desk), REST0002 (bar) and REST0003 (table-side): 40–100 transactions a day at
  lunch and dinner, more at weekends; bills of 80.00–3,000.00, mostly by card, tips on
  some card bills (the tip is part of the amount); banquet pre-authorisations completed
  hours or days later (some for less, some for exactly the hold, some above it within
  115 %), some cancelled and a few left open; voids and partial refunds.
* One reversal of a card sale (the shop) and one reversal of a void (the restaurant: the
  void timed out, so the sale stands).

Card numbers are masked BIN + last four with real Chinese BINs; RRNs are the usual
hhmmss + trace; WeChat, Alipay and UnionPay QR order numbers have their platforms' shapes.
Batch numbers advance per terminal per day, trace numbers per terminal.

``generate`` is pure and deterministic: no database, no clock, its own ``random.Random``.
The same seed and window give the same payloads, and a shorter window that starts on the
same day gives a prefix of a longer one. Every void, refund, completion, pre-auth cancel
and reversal is checked against what was emitted before it, so the journal accepts all.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import partial
from typing import Any

CST = timezone(timedelta(hours=8))  # China Standard Time; the terminals print +08:00
QR_CHANNELS = ("wechat", "alipay", "unionpay_qr")
CARD_CHANNELS = ("credit", "debit")
TRACE_MAX = 999_999
PREAUTH_VALIDITY = timedelta(days=30)
PREAUTH_TOLERANCE_PCT = 115


@dataclass(frozen=True, slots=True)
class MerchantSpec:
    merchant_no: str
    name: str
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    merchant_no: str
    terminal_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Profile:
    """How one merchant trades: hours, volumes, channels, amounts, and what goes wrong."""

    merchant: MerchantSpec
    terminals: tuple[TerminalSpec, ...]
    terminal_weights: tuple[int, ...]
    operators: tuple[str, ...]
    hours: Mapping[int, int]  # hour of the day → weight of the payments made in it
    daily_sales: tuple[int, int]  # sales on a weekday, from … to
    weekend_pct: int  # Saturday and Sunday traffic, in % of a weekday's
    channels: Mapping[str, int]  # channel → weight
    amounts: tuple[tuple[int, int, int], ...]  # (from, to, weight), fen
    step: int  # most prices are whole multiples of this many fen
    void_permille: int  # of card sales, voided a few minutes later
    refund_permille: int  # of sales, refunded days later
    tip_permille: int = 0  # of card sales, with a tip
    preauths: tuple[int, int] = (0, 0)  # pre-authorisations a day, from … to


SHOP = MerchantSpec("898310054110027", "惠邻便利店（静安寺店）")
RESTAURANT = MerchantSpec("898310058120016", "云栖酒店·江南厅餐厅")

SHOP_PROFILE = Profile(
    merchant=SHOP,
    terminals=tuple(
        TerminalSpec(SHOP.merchant_no, f"SHOP000{n}", name)
        for n, name in ((1, "收银台1"), (2, "收银台2"), (3, "收银台3（早晚高峰）"))
    ),
    terminal_weights=(50, 35, 15),
    operators=("01", "02", "03", "04"),
    hours=dict(enumerate((6, 9, 6, 4, 6, 9, 6, 4, 4, 5, 8, 10, 9, 7, 6, 4), start=7)),  # 07–22
    daily_sales=(170, 290),
    weekend_pct=125,
    channels={"wechat": 46, "alipay": 33, "unionpay_qr": 6, "debit": 9, "credit": 6},
    amounts=((350, 1_000, 30), (1_000, 3_000, 40), (3_000, 8_000, 20), (8_000, 20_000, 10)),
    step=10,
    void_permille=40,
    refund_permille=12,
)

RESTAURANT_PROFILE = Profile(
    merchant=RESTAURANT,
    terminals=tuple(
        TerminalSpec(RESTAURANT.merchant_no, f"REST000{n}", name)
        for n, name in ((1, "前台收银"), (2, "吧台"), (3, "移动POS（桌边结账）"))
    ),
    terminal_weights=(50, 20, 30),
    operators=("01", "02", "03", "05", "06"),
    hours={11: 1, 12: 5, 13: 4, 14: 1, 17: 1, 18: 3, 19: 5, 20: 5, 21: 3, 22: 1},
    daily_sales=(36, 58),
    weekend_pct=140,
    channels={"credit": 40, "debit": 18, "wechat": 22, "alipay": 14, "unionpay_qr": 6},
    amounts=(
        (8_000, 30_000, 35),
        (30_000, 80_000, 35),
        (80_000, 150_000, 20),
        (150_000, 300_000, 10),
    ),
    step=100,
    void_permille=30,
    refund_permille=30,
    tip_permille=200,
    preauths=(2, 5),
)

PROFILES = (SHOP_PROFILE, RESTAURANT_PROFILE)
PREAUTH_HOURS = {10: 2, 11: 3, 14: 2, 15: 3, 16: 3, 17: 2}
BANQUET_ROOMS = ("牡丹厅", "兰亭厅", "听雨轩", "观澜阁")

#: Real BINs of Chinese issuers: (BIN, issuer).
DEBIT_BINS = (
    ("622202", "工商银行"),
    ("621226", "工商银行"),
    ("621700", "建设银行"),
    ("622848", "农业银行"),
    ("621661", "中国银行"),
    ("622588", "招商银行"),
)
CREDIT_BINS = (("436742", "建设银行"), ("622575", "招商银行"), ("518710", "招商银行"))


@dataclass(slots=True)
class _Till:
    """A terminal as the simulation runs it: its batch and trace counters, its outage."""

    spec: TerminalSpec
    profile: Profile
    index: int
    batch_base: int
    trace: int  # the last trace number used
    down: tuple[datetime, datetime] | None = None

    def online(self, when: datetime) -> bool:
        return self.down is None or not self.down[0] <= when < self.down[1]


@dataclass(slots=True)
class _Txn:
    """What the generator remembers of a transaction it emitted, to keep follow-ups valid."""

    payload: dict[str, Any]
    till: _Till
    kind: str
    channel: str
    amount: int
    when: datetime
    known_at: datetime  # when the journal can know it (offline: the upload)
    card: tuple[str, str] | None = None
    status: str = "approved"
    refunded: int = 0
    of: _Txn | None = None

    def keys(self) -> dict[str, str]:
        """The ``original`` object a later transaction names this one by."""
        p = self.payload
        if self.channel in QR_CHANNELS:
            return {"order_no": p["order_no"]}
        keys = {
            "terminal_id": p["terminal_id"],
            "batch_no": p["batch_no"],
            "trace_no": p["trace_no"],
        }
        if "rrn" in p:
            keys["rrn"] = p["rrn"]
        return keys


class _Simulation:
    """Walks the days in order; every payment and follow-up is an event at its moment."""

    def __init__(self, seed: int, first: date) -> None:
        self.rng = random.Random(seed)
        self.first = first
        self.out: list[dict[str, Any]] = []
        self.queue: list[tuple[datetime, int, Callable[[], None]]] = []
        self.counter = itertools.count()
        self.used: set[str] = set()
        self.offline: list[dict[str, Any]] = []
        self.now = datetime.combine(first, time(), CST)  # the moment of the current event
        self.tills: dict[str, list[_Till]] = {}
        for profile in PROFILES:
            self.tills[profile.merchant.merchant_no] = [
                _Till(
                    spec,
                    profile,
                    i,
                    batch_base=self.rng.randint(1, 400),
                    trace=self.rng.randint(1, 60_000),
                )
                for i, spec in enumerate(profile.terminals)
            ]
        shop = self.tills[SHOP.merchant_no]
        shop[0].trace = TRACE_MAX - self.rng.randint(150, 400)  # wraps in the first days
        # The outage: SHOP0002, on the second to fifth day, about two hours.
        day = first + timedelta(days=self.rng.randint(1, 4))
        start = datetime.combine(day, time(self.rng.randint(11, 16), self.rng.randrange(60)), CST)
        end = start + timedelta(minutes=self.rng.randint(100, 140))
        shop[1].down = (start, end)
        self._at(end + timedelta(minutes=self.rng.randint(2, 9)), self._upload)
        self.shop_reversal_day = first + timedelta(days=self.rng.randint(0, 5))
        self.void_reversal_day = first + timedelta(days=self.rng.randint(0, 6))

    # --- the clock --------------------------------------------------------------------

    def run(self, days: int) -> list[dict[str, Any]]:
        for offset in range(days):
            day = self.first + timedelta(days=offset)
            for profile in PROFILES:
                self._open_day(profile, day)
            midnight = datetime.combine(day + timedelta(days=1), time(), CST)
            while self.queue and self.queue[0][0] < midnight:
                self.now, _, action = heapq.heappop(self.queue)
                action()
        return self.out  # what is still queued falls after the window

    def _at(self, when: datetime, action: Callable[[], None]) -> None:
        assert when >= self.now, "an event cannot happen before the one that caused it"
        heapq.heappush(self.queue, (when, next(self.counter), action))

    def _open_day(self, p: Profile, day: date) -> None:
        count = self.rng.randint(*p.daily_sales)
        if day.weekday() >= 5:
            count = count * p.weekend_pct // 100
        for _ in range(count):
            when = self._moment(day, p.hours)
            self._at(when, partial(self._sale, p, when))
        for _ in range(self.rng.randint(*p.preauths)):
            when = self._moment(day, PREAUTH_HOURS)
            self._at(when, partial(self._preauth, p, when))

    # --- chance -----------------------------------------------------------------------

    def _chance(self, permille: int) -> bool:
        return self.rng.randrange(1000) < permille

    def _weighted(self, weights: Mapping[Any, int]) -> Any:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def _moment(self, day: date, hours: Mapping[int, int]) -> datetime:
        hour: int = self._weighted(hours)
        return datetime.combine(
            day, time(hour, self.rng.randrange(60), self.rng.randrange(60)), CST
        )

    def _later(self, when: datetime, days: tuple[int, int], p: Profile) -> datetime:
        """A moment in opening hours on a later day (``days``: from … to days after)."""
        day = when.date() + timedelta(days=self.rng.randint(*days))
        return self._moment(day, p.hours)

    def _amount(self, p: Profile) -> int:
        low, high, _ = self.rng.choices(p.amounts, [b[2] for b in p.amounts])[0]
        amount = self.rng.randint(low, high)
        if self._chance(850):  # most prices are round; some are weighed or discounted
            amount = max(amount - amount % p.step, p.step)
        return amount

    def _part(self, left: int, step: int) -> int:
        """A partial refund of what is left: a fifth to four fifths, in whole steps."""
        amount = self.rng.randint(left // 5, left * 4 // 5)
        amount -= amount % step
        return amount if 0 < amount < left else left

    def _unique(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self.used:
            value = make()
        self.used.add(value)
        return value

    def _digits(self, n: int) -> str:
        return f"{self.rng.randrange(10**n):0{n}d}"

    # --- numbers the terminal and the platforms give ----------------------------------

    def _batch(self, till: _Till, when: datetime) -> str:
        return f"{(till.batch_base + (when.date() - self.first).days) % 1_000_000:06d}"

    def _trace(self, till: _Till) -> str:
        till.trace = till.trace % TRACE_MAX + 1
        return f"{till.trace:06d}"

    def _operator(self, till: _Till, when: datetime) -> str:
        ops = till.profile.operators
        return ops[(till.index * 2 + (when.hour >= 15)) % len(ops)]

    def _rrn(self, when: datetime, trace: str) -> str:
        rrn = when.strftime("%H%M%S") + trace
        if rrn in self.used:
            return self._unique(lambda: self._digits(12))
        self.used.add(rrn)
        return rrn

    def _order_no(self, channel: str, when: datetime, refund: bool) -> str:
        day, moment = when.strftime("%Y%m%d"), when.strftime("%Y%m%d%H%M%S")
        shapes: dict[tuple[str, bool], Callable[[], str]] = {
            ("wechat", False): lambda: f"4200{self._digits(6)}{day}{self._digits(10)}",
            ("wechat", True): lambda: f"503{self._digits(7)}{day}{self._digits(11)}",
            ("alipay", False): lambda: f"{day}22001{self._digits(15)}",
            ("alipay", True): lambda: f"RF{moment}{self._digits(6)}",
            ("unionpay_qr", False): lambda: f"{moment}{self._digits(6)}",
            ("unionpay_qr", True): lambda: f"R{moment}{self._digits(6)}",
        }
        return self._unique(shapes[channel, refund])

    def _card(self, channel: str) -> tuple[str, str]:
        bin_, issuer = self.rng.choice(CREDIT_BINS if channel == "credit" else DEBIT_BINS)
        return f"{bin_}******{self._digits(4)}", issuer

    # --- emitting ---------------------------------------------------------------------

    def _transact(
        self,
        till: _Till,
        when: datetime,
        kind: str,
        channel: str,
        amount: int,
        *,
        of: _Txn | None = None,
        offline: bool = False,
        tip: int = 0,
        remarks: str | None = None,
    ) -> _Txn:
        trace = self._trace(till)
        p: dict[str, Any] = {
            "merchant_no": till.spec.merchant_no,
            "terminal_id": till.spec.terminal_id,
            "batch_no": self._batch(till, when),
            "trace_no": trace,
            "type": kind,
            "channel": channel,
            "amount": amount,
            "currency": "CNY",
            "terminal_time": when.isoformat(timespec="seconds"),
            "operator": self._operator(till, when),
        }
        card: tuple[str, str] | None = None
        if channel in QR_CHANNELS:
            p["order_no"] = self._order_no(channel, when, refund=kind != "sale")
            if kind == "sale":
                p["entry_mode"] = "qr_scan" if self._chance(850) else "qr_present"
        else:
            card = of.card if of is not None and of.card else self._card(channel)
            p["card"], p["issuer"] = card
            p["entry_mode"] = self._entry_mode(kind, amount, of)
            if not offline and kind != "reversal":
                p["rrn"] = self._rrn(when, trace)
            if kind == "completion" and of is not None:
                p["auth_code"] = of.payload["auth_code"]
            elif kind in ("sale", "preauth") and not offline:
                p["auth_code"] = self._digits(6)
        if of is not None:
            p["original"] = of.keys()
        if tip:
            p["tip"] = tip
        if remarks:
            p["remarks"] = remarks
        if offline:
            p["offline"] = True
            self.offline.append(p)
        else:
            self.out.append(p)
        known = till.down[1] if offline and till.down else when
        return _Txn(p, till, kind, channel, amount, when, known, card, of=of)

    def _entry_mode(self, kind: str, amount: int, of: _Txn | None) -> str:
        if kind == "reversal" and of is not None:
            return str(of.payload["entry_mode"])
        if kind in ("completion", "preauth_cancel"):
            return "manual"
        if kind == "sale":
            roll = self.rng.randrange(100)
            if roll < 40 and amount <= 100_000:  # QuickPass without PIN up to 1,000.00
                return "contactless"
            return "swipe" if roll >= 95 else "chip"
        return "chip"

    def _upload(self) -> None:
        """The outage is over: the offline sales go up in one batch, not in order."""
        self.rng.shuffle(self.offline)
        self.out.extend(self.offline)
        self.offline = []

    def _online_till(self, p: Profile, when: datetime, preferred: _Till | None = None) -> _Till:
        if preferred is not None and preferred.online(when):
            return preferred
        return next(t for t in self.tills[p.merchant.merchant_no] if t.online(when))

    # --- what customers and cashiers do ----------------------------------------------

    def _sale(self, p: Profile, when: datetime) -> None:
        tills = self.tills[p.merchant.merchant_no]
        till: _Till = self.rng.choices(tills, p.terminal_weights)[0]
        channel: str = self._weighted(p.channels)
        offline = False
        if not till.online(when):
            if self._chance(800):  # pays by card; the terminal approves it offline
                channel, offline = self.rng.choice(CARD_CHANNELS), True
            else:  # goes to another till
                till = self._online_till(p, when)
        amount, tip = self._amount(p), 0
        if channel in CARD_CHANNELS and self._chance(p.tip_permille):
            tip = max(amount * self.rng.randint(5, 15) // 100 // 100 * 100, 100)
            amount += tip
        sale = self._transact(till, when, "sale", channel, amount, tip=tip, offline=offline)
        if offline:
            return
        card = channel in CARD_CHANNELS
        if p is SHOP_PROFILE and card and when.date() == self.shop_reversal_day and when.hour >= 12:
            self.shop_reversal_day = date.min  # once
            self._at(
                when + timedelta(seconds=self.rng.randint(30, 90)), partial(self._reverse, sale)
            )
        elif (
            p is RESTAURANT_PROFILE
            and card
            and when.date() == self.void_reversal_day
            and when.hour >= 19
        ):
            self.void_reversal_day = date.min
            self._at(
                when + timedelta(minutes=self.rng.randint(2, 6)),
                partial(self._void, sale, reverse=True),
            )
        elif card and self._chance(p.void_permille):
            self._at(when + timedelta(minutes=self.rng.randint(1, 20)), partial(self._void, sale))
        elif self._chance(p.refund_permille):
            self._at(self._later(when, (1, 6), p), partial(self._refund, p, sale))

    def _void(self, sale: _Txn, *, reverse: bool = False) -> None:
        when = self.now
        if (
            sale.status != "approved"
            or sale.refunded
            or when.date() != sale.when.date()
            or not sale.till.online(when)
        ):
            return  # a void is for the whole sale, on its terminal, in its batch
        void = self._transact(sale.till, when, "void", sale.channel, sale.amount, of=sale)
        sale.status = "voided"
        if reverse:  # the void's answer never came back: the terminal reverses it
            self._at(
                when + timedelta(seconds=self.rng.randint(30, 60)), partial(self._reverse, void)
            )

    def _reverse(self, target: _Txn) -> None:
        when = self.now
        if target.status == "reversed" or not target.till.online(when):
            return
        self._transact(target.till, when, "reversal", target.channel, target.amount, of=target)
        target.status = "reversed"
        if target.kind == "void" and target.of is not None:
            target.of.status = "stands"  # the voided sale is back; the demo leaves it alone

    def _refund(self, p: Profile, sale: _Txn) -> None:
        when = self.now
        left = sale.amount - sale.refunded
        if (
            sale.status not in ("approved", "partially_refunded")
            or left <= 0
            or when <= sale.known_at
        ):
            return
        amount = left if self._chance(450) else self._part(left, p.step)
        till = self._online_till(p, when, sale.till)
        self._transact(till, when, "refund", sale.channel, amount, of=sale)
        sale.refunded += amount
        sale.status = "refunded" if sale.refunded == sale.amount else "partially_refunded"
        if sale.status == "partially_refunded" and self._chance(250):
            self._at(self._later(when, (1, 3), p), partial(self._refund, p, sale))

    def _preauth(self, p: Profile, when: datetime) -> None:
        till = self._online_till(p, when, self.tills[p.merchant.merchant_no][0])
        channel = "credit" if self._chance(850) else "debit"
        hold = self.rng.randint(5, 30) * 10_000  # 500.00 to 3,000.00
        room = self.rng.choice(BANQUET_ROOMS)
        pre = self._transact(till, when, "preauth", channel, hold, remarks=f"宴会预授权 {room}")
        pre.status = "open"
        fate = self.rng.randrange(100)
        if fate < 12:  # the banquet is called off
            self._at(
                self._later(when, (1, 2), p)
                if self._chance(500)
                else when + timedelta(hours=self.rng.randint(1, 3)),
                partial(self._cancel, p, pre),
            )
        elif fate < 17:  # left open: the guest has not come back yet
            return
        else:
            roll = self.rng.randrange(100)
            if roll < 30:  # more was ordered than was held, within the tolerance
                amount = hold * self.rng.randint(101, PREAUTH_TOLERANCE_PCT) // 100
            elif roll < 45:
                amount = hold
            else:
                amount = hold * self.rng.randint(60, 99) // 100
            amount -= amount % 100
            later = (
                when + timedelta(hours=self.rng.randint(3, 6))
                if self._chance(600)
                else self._later(when, (1, 3), p)
            )
            self._at(later, partial(self._complete, p, pre, amount))

    def _complete(self, p: Profile, pre: _Txn, amount: int) -> None:
        when = self.now
        if (
            pre.status != "open"
            or when > pre.when + PREAUTH_VALIDITY
            or amount * 100 > pre.amount * PREAUTH_TOLERANCE_PCT
        ):
            return
        till = self._online_till(p, when, pre.till)
        done = self._transact(
            till, when, "completion", pre.channel, amount, of=pre, remarks="宴会结账"
        )
        pre.status = "completed"
        if self._chance(80):  # a dish is taken off the bill afterwards
            self._at(self._later(when, (1, 4), p), partial(self._refund, p, done))

    def _cancel(self, p: Profile, pre: _Txn) -> None:
        when = self.now
        if pre.status != "open":
            return
        till = self._online_till(p, when, pre.till)
        self._transact(till, when, "preauth_cancel", pre.channel, pre.amount, of=pre)
        pre.status = "cancelled"


def generate(
    seed: int,
    days: int,
    end: date,
) -> tuple[list[MerchantSpec], list[TerminalSpec], list[dict[str, Any]]]:
    """The demo's merchants, terminals and payloads for ``days`` days ending on ``end``."""
    if days < 1:
        raise ValueError("days must be at least 1")
    first = end - timedelta(days=days - 1)
    payloads = _Simulation(seed, first).run(days)
    merchants = [p.merchant for p in PROFILES]
    terminals = [t for p in PROFILES for t in p.terminals]
    return merchants, terminals, payloads


def tally(payloads: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Counts per merchant: transactions, by type, by channel, and offline uploads."""
    counts: dict[str, dict[str, Any]] = {}
    for p in payloads:
        mine = counts.setdefault(
            p["merchant_no"],
            {"transactions": 0, "types": Counter(), "channels": Counter(), "offline": 0},
        )
        mine["transactions"] += 1
        mine["types"][p["type"]] += 1
        mine["channels"][p["channel"]] += 1
        mine["offline"] += bool(p.get("offline"))
    for mine in counts.values():
        for name in ("types", "channels"):
            mine[name] = dict(sorted(mine[name].items()))
    return dict(sorted(counts.items()))
