"""What each code is called for people: transaction types, statuses, channels, roles and
audit outcomes, as catalogue messages (translated when shown). One table for the
console, the documents and the CLI."""

from __future__ import annotations

from counterfoil.core.models import CHANNELS
from counterfoil.i18n import _

LABELS: dict[str, str] = {
    "sale": _("Sale"),
    "void": _("Void"),
    "refund": _("Refund"),
    "preauth": _("Pre-authorisation"),
    "completion": _("Pre-auth completion"),
    "preauth_cancel": _("Pre-auth cancellation"),
    "reversal": _("Reversal"),
    "approved": _("Approved"),
    "voided": _("Voided"),
    "refunded": _("Refunded"),
    "partially_refunded": _("Partly refunded"),
    "completed": _("Completed"),
    "cancelled": _("Cancelled"),
    "reversed": _("Reversed"),
    "expired": _("Expired"),
    "cashier": _("Cashier"),
    "supervisor": _("Supervisor"),
    "finance": _("Finance"),
    "auditor": _("Auditor"),
    "admin": _("Administrator"),
    "success": _("Success"),
    "denied": _("Denied"),
    "refused": _("Refused"),
    "failed": _("Failed"),
    **{code: channel.label for code, channel in CHANNELS.items()},
}
