"""What a void, refund, completion, pre-auth cancel or reversal may do to its original.

Pure functions over ``Standing`` (what is known of the original: its type, amount, fee,
time and status so far). ``check_link`` refuses what breaks a rule, naming the rule;
``apply_link`` returns the original's new standing; ``fee_and_net`` prices the entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from counterfoil.core.errors import RuleViolation
from counterfoil.core.fees import FeeRule, returned_fee
from counterfoil.core.models import ORIGINAL_TYPES, TYPES
from counterfoil.core.money import format_amount
from counterfoil.core.times import from_iso_z, iso_z
from counterfoil.i18n import _

#: Statuses of a recorded transaction, as it stands after what came later.
STATUSES = (
    "approved",
    "voided",
    "refunded",
    "partially_refunded",
    "completed",
    "cancelled",
    "reversed",
)


class Link(Protocol):
    """What the rules need to know of a transaction (a ``Transaction`` or its flat form)."""

    @property
    def type(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def when(self) -> str: ...  # terminal time, UTC, as ``iso_z`` text
    @property
    def original_text(self) -> str: ...  # the original's keys, for messages


@dataclass(frozen=True, slots=True)
class MerchantRules:
    preauth_tolerance_pct: int = 115
    preauth_validity_days: int = 30
    refund_fee_policy: str = "pro_rata"


@dataclass(frozen=True, slots=True)
class Standing:
    """A recorded transaction as the rules see it."""

    seq: int
    type: str
    channel: str
    amount: int
    fee: int
    net: int
    terminal_time_utc: str  # ISO text, comparable
    status: str = "approved"
    refunded: int = 0
    completed: int = 0
    original_seq: int | None = None

    @property
    def left_to_refund(self) -> int:
        return self.amount - self.refunded


def _refuse(rule: str, message: str, **params: object) -> RuleViolation:
    return RuleViolation(rule, message, **params)


def check_link(txn: Link, original: Standing | None, rules: MerchantRules) -> None:
    """Raise ``RuleViolation`` if ``txn`` may not act on ``original``."""
    if txn.type not in ORIGINAL_TYPES:
        return
    if original is None:
        if txn.type == "reversal":
            raise _refuse(
                "reversal_unknown",
                _("cannot reverse a transaction that was never recorded: {key}"),
                key=_original_key(txn),
            )
        raise _refuse(
            "original_unknown",
            _("the original transaction {key} is not in the journal"),
            key=_original_key(txn),
        )
    allowed = ORIGINAL_TYPES[txn.type]
    if original.type not in allowed:
        raise _refuse(
            "original_type",
            _("a {type} cannot refer to a {original_type}"),
            type=txn.type,
            original_type=original.type,
        )
    if original.channel != txn.channel:
        raise _refuse(
            "channel_mismatch",
            _("the original was paid by {original_channel}, not {channel}"),
            original_channel=original.channel,
            channel=txn.channel,
        )
    if original.status == "reversed":
        raise _refuse(
            "original_reversed",
            _("the original transaction (#{seq}) was reversed"),
            seq=original.seq,
        )
    money = {"amount": format_amount(txn.amount), "original_amount": format_amount(original.amount)}
    if txn.type == "void":
        if original.status == "voided":
            raise _refuse(
                "already_voided", _("the sale #{seq} is already voided"), seq=original.seq
            )
        if original.refunded:
            raise _refuse(
                "void_after_refund",
                _("the sale #{seq} has refunds; refund the rest instead of voiding"),
                seq=original.seq,
            )
        if txn.amount != original.amount:
            raise _refuse(
                "void_amount",
                _(
                    "a void must be for the whole sale: {amount} given, "
                    "the sale was {original_amount}"
                ),
                **money,
            )
    elif txn.type == "refund":
        if original.status == "voided":
            raise _refuse(
                "refund_of_voided",
                _("the sale #{seq} was voided; nothing is left to refund"),
                seq=original.seq,
            )
        if txn.amount > original.left_to_refund:
            raise _refuse(
                "refund_exceeds",
                _("refund of {amount} is more than the {left} left to refund on #{seq}"),
                amount=money["amount"],
                left=format_amount(original.left_to_refund),
                seq=original.seq,
            )
    elif txn.type == "completion":
        if original.status == "completed":
            raise _refuse(
                "preauth_completed",
                _("the pre-authorisation #{seq} is already completed"),
                seq=original.seq,
            )
        if original.status == "cancelled":
            raise _refuse(
                "preauth_cancelled",
                _("the pre-authorisation #{seq} was cancelled"),
                seq=original.seq,
            )
        expires = _plus_days(original.terminal_time_utc, rules.preauth_validity_days)
        if txn.when > expires:
            raise _refuse(
                "preauth_expired",
                _("the pre-authorisation #{seq} expired after {days} days"),
                seq=original.seq,
                days=rules.preauth_validity_days,
            )
        if txn.amount * 100 > original.amount * rules.preauth_tolerance_pct:
            raise _refuse(
                "completion_above_tolerance",
                _("completion of {amount} is above {pct}% of the pre-authorised {original_amount}"),
                pct=rules.preauth_tolerance_pct,
                **money,
            )
    elif txn.type == "preauth_cancel":
        if original.status in ("completed", "cancelled"):
            raise _refuse(
                "preauth_closed",
                _("the pre-authorisation #{seq} is already {status}"),
                seq=original.seq,
                status=original.status,
            )
        if txn.amount > original.amount:
            raise _refuse(
                "cancel_amount",
                _("cancel of {amount} is more than the pre-authorised {original_amount}"),
                **money,
            )
    elif txn.type == "reversal" and txn.amount != original.amount:
        raise _refuse(
            "reversal_amount",
            _(
                "a reversal must be for the original's amount: "
                "{amount} given, the original was {original_amount}"
            ),
            **money,
        )


def apply_link(txn_type: str, amount: int, original: Standing) -> Standing:
    """The original's standing once ``txn_type`` of ``amount`` has been recorded against it."""
    if txn_type == "void":
        return replace(original, status="voided")
    if txn_type == "refund":
        refunded = original.refunded + amount
        status = "refunded" if refunded >= original.amount else "partially_refunded"
        return replace(original, refunded=refunded, status=status)
    if txn_type == "completion":
        return replace(original, completed=original.completed + amount, status="completed")
    if txn_type == "preauth_cancel":
        return replace(original, status="cancelled")
    if txn_type == "reversal":
        return replace(original, status="reversed")
    return original


def undo_link(child: Standing, parent: Standing) -> Standing:
    """The parent's standing once ``child`` (a void, refund, …) has itself been reversed."""
    if child.type == "refund":
        refunded = max(parent.refunded - child.amount, 0)
        status = "partially_refunded" if refunded else "approved"
        return replace(parent, refunded=refunded, status=status)
    if child.type == "completion":
        return replace(parent, completed=max(parent.completed - child.amount, 0), status="approved")
    if child.type in ("void", "preauth_cancel"):
        status = "partially_refunded" if parent.refunded else "approved"
        return replace(parent, status=status)
    return parent


def fee_and_net(
    txn: Link, rule: FeeRule | None, original: Standing | None, rules: MerchantRules
) -> tuple[int, int]:
    """The fee charged (negative: returned) and the net to the merchant, in fen."""
    direction = TYPES[txn.type]
    if txn.type == "reversal" and original is not None:
        return -original.fee, -original.net
    if direction > 0:
        fee = rule.fee(txn.amount) if rule else 0
        return fee, txn.amount - fee
    if direction < 0 and original is not None:
        back = returned_fee(
            original.fee,
            original.amount,
            txn.amount,
            rules.refund_fee_policy,
            void=txn.type == "void",
        )
        return -back, -(txn.amount - back)
    return 0, 0


def _plus_days(iso_utc: str, days: int) -> str:
    return iso_z(from_iso_z(iso_utc) + timedelta(days=days))


def _original_key(txn: Link) -> str:
    return txn.original_text or "?"
