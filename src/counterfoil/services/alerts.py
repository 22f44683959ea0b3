"""Reprint alerts: the warning signs the merchant guides name, found in the reprint record.

Seed 001 tells the shop to check the system's record "是否有其他异常情况发生，如多次尝试
打印同一笔交易的小票": a slip printed again and again is how a lost — or a sold — receipt
shows. Five rules read ``document_prints`` (every reprint, append-only) with the journal:

- ``repeated_reprints``: a transaction reprinted ``repeat_count`` (3) times or more;
- ``late_reprint``: a reprint more than ``late_days`` (30) days after the sale;
- ``voided_or_refunded``: a reprint of a transaction since voided, refunded or reversed;
- ``operator_above_norm``: one person reprinting more than ``operator_factor`` (3) times
  the shop's median per person over the last ``operator_window_days`` (30) days, and at
  least ``operator_min`` (10) times;
- ``cardholder_without_evidence``: a cardholder copy with no evidence recorded — the
  service refuses to print one, but older or imported records may hold one.

Thresholds are per merchant: ``settings["reprint_alerts"]`` (a JSON object of the names
above) over ``DEFAULTS``; ``check_thresholds`` is the strict check for the merchant's
settings form, and a stored value that is not valid falls back to its default here.

An alert names its rule, the merchant, the transaction or the person, and the facts that
raised it; ``first_seen`` is when the rule was first met. A period (the merchant's
business days, by default the last 30) selects the reprints looked at; the order is
deterministic: merchant, first seen, rule, transaction, person.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, and_, exists, func, select

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _, translate
from counterfoil.services import lookups
from counterfoil.services.access import Principal
from counterfoil.services.ingest import entry_id
from counterfoil.services.merchants import Merchant, get_merchant, list_merchants
from counterfoil.store.schema import document_prints, entry_state, journal_entries

RULES = (
    "repeated_reprints",
    "late_reprint",
    "voided_or_refunded",
    "operator_above_norm",
    "cardholder_without_evidence",
)
#: What each rule is called on screen.
TITLES: dict[str, str] = {
    "repeated_reprints": _("Repeated reprints"),
    "late_reprint": _("Late reprint"),
    "voided_or_refunded": _("Reprint of a voided or refunded transaction"),
    "operator_above_norm": _("Reprints above the shop's norm"),
    "cardholder_without_evidence": _("Cardholder copy without evidence"),
}
#: One sentence per rule, filled from the alert's facts.
SENTENCES: dict[str, str] = {
    "repeated_reprints": _(
        "{reprints} reprints of this transaction (the alert starts at {threshold})"
    ),
    "late_reprint": _(
        "reprinted {days} days after the sale (the alert starts after {threshold} days)"
    ),
    "voided_or_refunded": _("reprint {print_no} of a transaction that is now {status}"),
    "operator_above_norm": _(
        "{reprints} reprints in {window} days; the shop's norm is {norm} "
        "({factor} × the median of {median} per person)"
    ),
    "cardholder_without_evidence": _(
        "cardholder copy {print_no} printed with no evidence from the requester"
    ),
}
SETTING = "reprint_alerts"
DEFAULTS: dict[str, int] = {
    "repeat_count": 3,
    "late_days": 30,
    "operator_factor": 3,
    "operator_min": 10,
    "operator_window_days": 30,
}
LIMITS: dict[str, tuple[int, int]] = {
    "repeat_count": (2, 1000),
    "late_days": (1, 3650),
    "operator_factor": (1, 100),
    "operator_min": (1, 100_000),
    "operator_window_days": (7, 365),
}
DEFAULT_DAYS = 30
MAX_DAYS = 366
#: Statuses that make a reprint suspect: the payment was taken back.
TAKEN_BACK = ("voided", "refunded", "partially_refunded", "reversed")
TAKING_BACK = ("void", "refund", "reversal")
#: A taken-back status as a sentence says it.
STATUS_WORDS: dict[str, str] = {
    "voided": _("voided"),
    "refunded": _("refunded"),
    "partially_refunded": _("partly refunded"),
    "reversed": _("reversed"),
}


@dataclass(frozen=True, slots=True)
class Thresholds:
    repeat_count: int = DEFAULTS["repeat_count"]
    late_days: int = DEFAULTS["late_days"]
    operator_factor: int = DEFAULTS["operator_factor"]
    operator_min: int = DEFAULTS["operator_min"]
    operator_window_days: int = DEFAULTS["operator_window_days"]


def _valid(name: str, value: Any) -> bool:
    low, high = LIMITS[name]
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_thresholds(values: Mapping[str, Any]) -> dict[str, int]:
    """The merchant's alert thresholds over the defaults, or a ``ValidationError``."""
    if not isinstance(values, Mapping):
        raise ValidationError(SETTING, _("expected an object of alert thresholds"))
    for name in sorted(values):
        if name not in DEFAULTS:
            raise ValidationError(f"{SETTING}.{name}", _("is not an alert threshold"))
        if not _valid(name, values[name]):
            low, high = LIMITS[name]
            raise ValidationError(
                f"{SETTING}.{name}",
                _("expected a whole number from {low} to {high}"),
                low=low,
                high=high,
            )
    return {**DEFAULTS, **values}


def thresholds_of(settings: Mapping[str, Any]) -> Thresholds:
    """The thresholds a merchant's settings give (a value not valid: its default)."""
    given = settings.get(SETTING)
    given = given if isinstance(given, Mapping) else {}
    return Thresholds(
        **{
            name: given[name] if _valid(name, given.get(name)) else DEFAULTS[name]
            for name in DEFAULTS
        }
    )


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    merchant_no: str
    entry_id: str | None
    actor: str | None
    facts: dict[str, Any]
    first_seen: datetime
    _order: tuple[Any, ...] = field(default=(), compare=False, repr=False)

    def describe(self, locale: str | None = None) -> str:
        params = {"days": self.facts.get("days_after_sale"), **self.facts}
        if "status" in params:  # a word of the catalogue: shown in the reader's language
            params["status"] = STATUS_WORDS.get(str(params["status"]), str(params["status"]))
        return translate(SENTENCES[self.rule], locale, **params)

    def as_dict(self, locale: str | None = None) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "title": translate(TITLES[self.rule], locale),
            "merchant_no": self.merchant_no,
            "entry_id": self.entry_id,
            "actor": self.actor,
            "facts": self.facts,
            "first_seen": self.first_seen.isoformat(),
            "description": self.describe(locale),
        }


def _aware(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _has_evidence(text: str | None) -> bool:
    """Last four + amount + date, or the order number, as the reprint service records it."""
    try:
        values = orjson.loads(text or "")
    except orjson.JSONDecodeError:
        return False
    if not isinstance(values, dict):
        return False
    if values.get("order_no"):
        return True
    return all(values.get(name) not in (None, "") for name in ("last4", "amount", "date"))


def period(
    merchant: Merchant, date_from: date | None, date_to: date | None, now: datetime
) -> tuple[date, date]:
    """The business days looked at: as given, else the last ``DEFAULT_DAYS`` to today."""
    today = lookups.business_day(now, merchant.timezone)
    last = date_to or today
    first = date_from or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationError("date_to", _("expected an end date on or after the start"))
    if (last - first).days >= MAX_DAYS:
        raise ValidationError(
            "date_from", _("expected a period of at most {days} days"), days=MAX_DAYS
        )
    return first, last


# --- the rules ---------------------------------------------------------------------------


def _prints(conn: Connection, merchant_no: str, start: datetime, end: datetime) -> list[Any]:
    """Every reprint, up to ``end``, of each transaction reprinted in [start, end)."""
    d, j, s = document_prints.c, journal_entries.c, entry_state.c
    other = document_prints.alias("other")
    in_period = exists().where(
        and_(
            other.c.merchant_no == d.merchant_no,
            other.c.seq == d.seq,
            other.c.printed_at >= start,
            other.c.printed_at < end,
        )
    )
    joined = document_prints.join(
        journal_entries, and_(j.merchant_no == d.merchant_no, j.seq == d.seq)
    ).outerjoin(entry_state, and_(s.merchant_no == d.merchant_no, s.seq == d.seq))
    query = (
        select(
            d.id,
            d.seq,
            d.copy,
            d.print_no,
            d.reason,
            d.evidence,
            d.actor,
            d.printed_at,
            j.terminal_time,
            j.type,
            func.coalesce(s.status, "approved").label("status"),
        )
        .select_from(joined)
        .where(and_(d.merchant_no == merchant_no, d.printed_at < end, in_period))
        .order_by(d.seq, d.printed_at, d.id)
    )
    return list(conn.execute(query).all())


def _repeated(merchant_no: str, prints: list[Any], limits: Thresholds) -> list[Alert]:
    by_entry: dict[int, list[Any]] = defaultdict(list)
    for p in prints:
        by_entry[int(p.seq)].append(p)
    found = []
    for seq, rows in by_entry.items():
        if len(rows) < limits.repeat_count:
            continue
        copies: dict[str, int] = defaultdict(int)
        for r in rows:
            copies[r.copy] += 1
        found.append(
            Alert(
                "repeated_reprints",
                merchant_no,
                entry_id(merchant_no, seq),
                None,
                {
                    "reprints": len(rows),
                    "threshold": limits.repeat_count,
                    "copies": dict(sorted(copies.items())),
                    "actors": sorted({r.actor for r in rows}),
                    "last_printed_at": _aware(rows[-1].printed_at).isoformat(),
                },
                _aware(rows[limits.repeat_count - 1].printed_at),
                (seq, "", int(rows[limits.repeat_count - 1].id)),
            )
        )
    return found


def _per_print(
    conn: Connection,
    merchant_no: str,
    prints: list[Any],
    limits: Thresholds,
    start: datetime,
) -> list[Alert]:
    """The rules that judge one reprint: late, of a taken-back payment, without evidence."""
    found = []
    taken_back: dict[int, list[dict[str, Any]]] = {}
    for p in prints:
        printed = _aware(p.printed_at)
        if printed < start:
            continue
        seq, order = int(p.seq), (int(p.seq), p.actor, int(p.id))
        ref = entry_id(merchant_no, seq)
        basics = {
            "print_no": p.print_no,
            "copy": p.copy,
            "reason": p.reason,
            "printed_at": printed.isoformat(),
        }
        sold = _aware(p.terminal_time) if p.terminal_time is not None else None
        if sold is not None and printed - sold > timedelta(days=limits.late_days):
            facts = basics | {
                "sold_at": sold.isoformat(),
                "days_after_sale": (printed - sold).days,
                "threshold": limits.late_days,
            }
            found.append(Alert("late_reprint", merchant_no, ref, p.actor, facts, printed, order))
        if p.status in TAKEN_BACK:
            if seq not in taken_back:
                taken_back[seq] = [
                    {
                        "entry_id": link["entry_id"],
                        "type": link["type"],
                        "recorded_at": link["recorded_at"],
                    }
                    for link in lookups.links(conn, merchant_no, seq)
                    if link["type"] in TAKING_BACK
                ]
            later = taken_back[seq]
            facts = basics | {
                "status": p.status,
                "later": later,
                "printed_after_it": any(
                    printed > datetime.fromisoformat(str(x["recorded_at"])) for x in later
                ),
            }
            found.append(
                Alert("voided_or_refunded", merchant_no, ref, p.actor, facts, printed, order)
            )
        if p.copy == "cardholder" and not _has_evidence(p.evidence):
            found.append(
                Alert(
                    "cardholder_without_evidence",
                    merchant_no,
                    ref,
                    p.actor,
                    basics | {"evidence": (p.evidence or "")[:200]},
                    printed,
                    order,
                )
            )
    return found


def _operators(
    conn: Connection, merchant_no: str, start: datetime, end: datetime, limits: Thresholds
) -> list[Alert]:
    """People reprinting far above the shop's median per person, over the window that
    ends with the period."""
    d = document_prints.c
    window_start = end - timedelta(days=limits.operator_window_days)
    times: dict[str, list[datetime]] = defaultdict(list)
    for actor, printed in conn.execute(
        select(d.actor, d.printed_at)
        .where(and_(d.merchant_no == merchant_no, d.printed_at >= window_start, d.printed_at < end))
        .order_by(d.actor, d.printed_at, d.id)
    ).all():
        times[actor].append(_aware(printed))
    if not times:
        return []
    median = int(statistics.median_low(len(t) for t in times.values()))
    norm = limits.operator_factor * median
    found = []
    for actor in sorted(times):
        printed = times[actor]
        if len(printed) <= norm or len(printed) < limits.operator_min or printed[-1] < start:
            continue
        crossing = printed[max(norm + 1, limits.operator_min) - 1]
        facts = {
            "reprints": len(printed),
            "median": median,
            "factor": limits.operator_factor,
            "norm": norm,
            "minimum": limits.operator_min,
            "window": limits.operator_window_days,
            "people": len(times),
            "window_from": window_start.isoformat(),
            "window_to": end.isoformat(),
        }
        found.append(
            Alert("operator_above_norm", merchant_no, None, actor, facts, crossing, (0, actor, 0))
        )
    return found


def merchant_alerts(
    conn: Connection,
    merchant: Merchant,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    now: datetime | None = None,
) -> list[Alert]:
    """Every alert of one merchant's reprints in the period."""
    first, last = period(merchant, date_from, date_to, now or datetime.now(UTC))
    start = lookups.day_bounds(first, merchant.timezone)[0]
    end = lookups.day_bounds(last, merchant.timezone)[1]
    limits = thresholds_of(merchant.settings)
    prints = _prints(conn, merchant.merchant_no, start, end)
    return [
        *_repeated(merchant.merchant_no, prints, limits),
        *_per_print(conn, merchant.merchant_no, prints, limits, start),
        *_operators(conn, merchant.merchant_no, start, end, limits),
    ]


def _key(alert: Alert) -> tuple[Any, ...]:
    return (alert.merchant_no, alert.first_seen, RULES.index(alert.rule), *alert._order)


def alerts(
    conn: Connection,
    who: Principal,
    merchant: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    rule: str | None = None,
    now: datetime | None = None,
) -> list[Alert]:
    """The reprint alerts of ``merchant`` (None: every merchant ``who`` sees) in the
    period, optionally of one rule, in a deterministic order."""
    who.require("alerts.read", merchant or None)
    if rule is not None and rule not in RULES:
        raise ValidationError("rule", _("expected one of {options}"), options=", ".join(RULES))
    if merchant:
        chosen = [get_merchant(conn, merchant)]
    elif who.all_merchants:
        chosen = list_merchants(conn)
    else:
        chosen = [get_merchant(conn, m) for m in who.merchants]
    found = [
        alert
        for m in chosen
        for alert in merchant_alerts(conn, m, date_from, date_to, now=now)
        if rule is None or alert.rule == rule
    ]
    return sorted(found, key=_key)
