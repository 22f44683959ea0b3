"""One statement of a camt file: what it says about itself, and the checks it must pass.

Per statement (``Stmt`` or ``Ntfctn``): its facts (id, account, sequence, period,
balances) become ``Info`` values ``statement.N.key``; the opening booked balance (OPBD,
else PRCD) plus the booked entries must give the closing booked balance (CLBD); the
transaction summary (``TxsSummry``), when the bank sends one, must match the entries;
and the parts of each batch booking that states them must add up to the entry.
"""

from __future__ import annotations

from collections.abc import Iterator

from counterfoil.core.errors import ValidationError
from counterfoil.importers.lines import ControlCheck, check, scrub_pans
from counterfoil.importers.result import Info
from counterfoil.importers.text import count_of, to_fen
from counterfoil.importers.xmlsafe import Element, child, text

OPENING = ("OPBD", "PRCD")


class Statement:
    """What one statement says about itself, and what its entries add up to."""

    def __init__(self, element: Element, number: int) -> None:
        self.number = number
        self.id = text(element, "Id") or f"#{number}"
        acct = child(element, "Acct")
        self.account = scrub_pans(text(acct, "Id", "IBAN") or text(acct, "Id", "Othr", "Id") or "")
        self.currency = text(acct, "Ccy")
        period = child(element, "FrToDt")
        self.facts = {
            "id": self.id,
            "account": self.account,
            "sequence": text(element, "ElctrncSeqNb") or "",
            "created_at": text(element, "CreDtTm") or "",
            "from": text(period, "FrDtTm") or text(period, "FrDt") or "",
            "to": text(period, "ToDtTm") or text(period, "ToDt") or "",
        }
        self.balances: dict[str, tuple[int, str] | str] = {}  # code → (minor units, ccy)
        self.summary: Element | None = None
        self.booked: dict[str, int] = {}  # currency → sum of booked entries
        self.counts = {"CRDT": [0, 0], "DBIT": [0, 0]}  # [entries, minor units]
        self.entries = self.rejected = 0
        self.batches = 0  # batch entries whose parts state their amounts
        self.batch_problems: list[str] = []  # those whose parts do not add up, and why


def statement_end(statement: Statement) -> Iterator[Info | ControlCheck]:
    """Facts about the statement (``statement.N.key`` → text), then its checks."""
    for key, value in statement.facts.items():
        if value:
            yield Info(f"statement.{statement.number}.{key}", value)
    yield from _statement_checks(statement)


def _statement_checks(statement: Statement) -> Iterator[ControlCheck]:
    scope = f"statement {statement.id}"
    detail = (
        f"{statement.rejected} rejected entr{'y' if statement.rejected == 1 else 'ies'} not counted"
        if statement.rejected
        else ""
    )
    for code, value in statement.balances.items():
        if isinstance(value, str):
            yield ControlCheck(f"balance {code} readable", 1, 0, False, scope=scope, detail=value)
    opening = next((statement.balances[c] for c in OPENING if c in statement.balances), None)
    closing = statement.balances.get("CLBD")
    if isinstance(opening, tuple) and isinstance(closing, tuple):
        currencies = {opening[1], closing[1], *statement.booked}
        moved = sum(statement.booked.values())
        problems = [detail] if detail else []
        if len(currencies) > 1:
            problems.append(f"currencies differ: {', '.join(sorted(currencies))}")
        yield ControlCheck(
            "opening balance + booked entries = closing balance (CLBD)",
            closing[0],
            opening[0] + moved,
            len(currencies) == 1 and closing[0] == opening[0] + moved,
            unit=closing[1],
            scope=scope,
            detail="; ".join(problems),
        )
    if statement.batches:
        problems = statement.batch_problems
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        yield check(
            "batch entries whose parts add up to the entry",
            statement.batches,
            statement.batches - len(problems),
            scope=scope,
            detail="; ".join(problems[:5]) + more,
        )
    summary = statement.summary
    if summary is not None:
        yield from _summary_checks(summary, statement, scope, detail)


def _summary_checks(
    summary: Element, statement: Statement, scope: str, detail: str
) -> Iterator[ControlCheck]:
    total = count_of(text(summary, "TtlNtries", "NbOfNtries") or "")
    if total is not None:
        yield check(
            "TxsSummry entries",
            total,
            statement.entries - statement.rejected,
            scope=scope,
            detail=detail,
        )
    currency = statement.currency or next(iter(statement.booked), "EUR")
    for side, path in (("CRDT", "TtlCdtNtries"), ("DBIT", "TtlDbtNtries")):
        entries = count_of(text(summary, path, "NbOfNtries") or "")
        amount = text(summary, path, "Sum")
        if entries is not None:
            yield check(
                f"TxsSummry {side} entries",
                entries,
                statement.counts[side][0],
                scope=scope,
                detail=detail,
            )
        if amount:
            try:
                stated = to_fen(amount, path, currency)
            except ValidationError as exc:
                yield ControlCheck(
                    f"TxsSummry {side} sum", 0, 0, False, scope=scope, detail=exc.render("en")
                )
                continue
            yield check(
                f"TxsSummry {side} sum",
                stated,
                statement.counts[side][1],
                unit=currency,
                scope=scope,
                detail=detail,
            )
