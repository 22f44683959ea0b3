"""What a reconciliation speaks of: outcomes, tolerances, sources and staged columns.

Every journal entry and every statement line of a run ends in exactly one ``OUTCOMES``
value. ``pending`` is not a break (it is inside the settlement window, or the source
itself says pending); every other non-match is a break, kept across runs under a stable
id. Tolerances are per source: the amount tolerance is zero unless configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from counterfoil.i18n import _

OUTCOMES: Final = (
    "matched",
    "missing_in_statement",
    "missing_in_journal",
    "amount_mismatch",
    "type_mismatch",
    "status_mismatch",
    "fee_mismatch",
    "duplicate",
    "pending",
)
#: Outcomes that are not breaks.
NOT_BREAKS: Final = frozenset({"matched", "pending"})
BREAKS: Final = tuple(o for o in OUTCOMES if o not in NOT_BREAKS)
OUTCOME_LABELS: Final[Mapping[str, str]] = {
    "matched": _("matched"),
    "missing_in_statement": _("missing in statement"),
    "missing_in_journal": _("missing in journal"),
    "amount_mismatch": _("amount mismatch"),
    "type_mismatch": _("type mismatch"),
    "status_mismatch": _("status mismatch"),
    "fee_mismatch": _("fee mismatch"),
    "duplicate": _("duplicate"),
    "pending": _("pending"),
}
PASSES: Final = ("manual", "split", "exact", "platform", "composite", "tolerant")
LIFECYCLE: Final = ("new", "persisting", "resolved")

#: Statement sources that list transactions (the bank and fund-flow sources are the
#: payout level's), and the journal channels each of them settles.
SOURCE_CHANNELS: Final[Mapping[str, tuple[str, ...]]] = {
    "unionpay_zm": ("credit", "debit", "unionpay_qr"),
    "wechat_trade": ("wechat",),
    "alipay_trade": ("alipay",),
}
CHANNEL_SOURCE: Final[Mapping[str, str]] = {
    channel: source for source, channels in SOURCE_CHANNELS.items() for channel in channels
}
QR_CHANNELS: Final = frozenset({"wechat", "alipay", "unionpay_qr"})


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a source's line may differ from its entry and still be the same record.

    ``amount``: fen either way (0: exact). ``time_window``: seconds between the entry's
    terminal time and the line's time in the tolerant pass (and how far past the day a
    line is still looked at). ``settlement_window``: seconds before the day's end in which
    an entry not yet on the statement is ``pending``, not missing.
    """

    source: str
    amount: int = 0
    time_window: int = 300
    settlement_window: int = 1800

    def as_dict(self) -> dict[str, int | str]:
        return {
            "source": self.source,
            "amount": self.amount,
            "time_window": self.time_window,
            "settlement_window": self.settlement_window,
        }


DEFAULT_TOLERANCES: Final[Mapping[str, Tolerance]] = {
    source: Tolerance(source) for source in SOURCE_CHANNELS
}

#: The staged files, column by column (name, SQL type): the store's own columns, as
#: plain as the database can give them; ``passes.ENTRIES`` and ``passes.LINES`` make the
#: tables below from them inside the engine. Text columns hold identifiers only; times are
#: seconds since the epoch (UTC), so that no engine has to agree on time zones.
STAGED_ENTRY_COLUMNS: Final = (
    ("seq", "BIGINT"),
    ("channel", "VARCHAR"),
    ("rrn", "VARCHAR"),
    ("order_no", "VARCHAR"),
    ("terminal_id", "VARCHAR"),
    ("trace_no", "VARCHAR"),
    ("type", "VARCHAR"),
    ("amount", "BIGINT"),
    ("fee", "BIGINT"),
    ("last4", "VARCHAR"),
    ("ts", "BIGINT"),
    ("state", "VARCHAR"),  # entry_state.status: voided, reversed … or empty
)
STAGED_LINE_COLUMNS: Final = (
    ("import_id", "BIGINT"),
    ("line_no", "BIGINT"),
    ("src", "VARCHAR"),
    ("rrn", "VARCHAR"),
    ("order_no", "VARCHAR"),
    ("platform_id", "VARCHAR"),
    ("terminal_id", "VARCHAR"),
    ("trace_no", "VARCHAR"),
    ("txn_type", "VARCHAR"),
    ("amount", "BIGINT"),
    ("fee", "BIGINT"),
    ("last4", "VARCHAR"),
    ("ts", "BIGINT"),
    ("status", "VARCHAR"),
)

#: The tables every pass reads (``passes.ENTRIES``, ``passes.LINES``). Money is integer
#: fen, signed: + to the merchant.
ENTRY_COLUMNS: Final = (
    ("eid", "BIGINT"),  # the journal sequence number
    ("src", "VARCHAR"),  # the statement source that settles the entry's channel
    ("k1", "VARCHAR"),  # exact key: R:<rrn> for cards, O:<order no> for QR payments
    ("terminal_id", "VARCHAR"),
    ("trace_no", "VARCHAR"),
    ("kind", "VARCHAR"),  # sale (sale, completion) | refund (refund, void)
    ("amount", "BIGINT"),
    ("fee", "BIGINT"),
    ("last4", "VARCHAR"),
    ("ts", "BIGINT"),
    ("status", "VARCHAR"),  # success | revoked (voided or reversed)
)
LINE_COLUMNS: Final = (
    ("lid", "BIGINT"),  # import_id * LINE_BASE + line_no
    ("src", "VARCHAR"),
    ("k1", "VARCHAR"),  # R:<rrn>, else O:<order no>
    ("k2", "VARCHAR"),  # O:<platform id>
    ("terminal_id", "VARCHAR"),
    ("trace_no", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("amount", "BIGINT"),
    ("fee", "BIGINT"),
    ("last4", "VARCHAR"),
    ("ts", "BIGINT"),
    ("status", "VARCHAR"),  # success | pending | revoked (failed, revoked, closed)
)
DECISION_COLUMNS: Final = (("eid", "BIGINT"), ("lid", "BIGINT"), ("action", "VARCHAR"))
TOLERANCE_COLUMNS: Final = (
    ("src", "VARCHAR"),
    ("amount", "BIGINT"),
    ("time_window", "BIGINT"),
    ("settlement_window", "BIGINT"),
)
LINE_BASE: Final = 1_000_000_000
#: How many records one stored set of outcomes (``recon_outcome_sets``) holds at most.
SET_SIZE: Final = 5_000
#: The staged files' field separator (ASCII unit separator: never inside an identifier).
SEPARATOR: Final = "\x1f"


def line_id(import_id: int, line_no: int) -> int:
    return import_id * LINE_BASE + line_no


def line_ref(lid: int) -> tuple[int, int]:
    """(import_id, line_no) of a staged line id."""
    return divmod(lid, LINE_BASE)
