"""What a case is, as data: its kinds, its states and the moves between them, its
priorities, root causes and the days allowed per kind. Pure: no database, no files.

The states follow the merchant guide's process (seed 003: verify, contact the acquirer,
submit the application, wait for the answer, adjust the accounts, learn from it):

    open → investigating → submitted → awaiting_response
         → resolved_accepted | resolved_rejected → closed

A case found to be the merchant's own (an operator error, say) may be resolved straight
from ``investigating``, without an application to the acquirer.
"""

from __future__ import annotations

from counterfoil.i18n import _

KINDS: dict[str, str] = {
    "amount_error": _("Amount error"),
    "type_error": _("Type error"),
    "status_error": _("Status error"),
    "preauth_mismatch": _("Pre-authorisation mismatch"),
    "missing_record": _("Missing record"),
    "duplicate_charge": _("Duplicate charge"),
    "batch_mismatch": _("Batch mismatch"),
    "retrieval_request": _("Retrieval request (调单)"),
    "chargeback": _("Chargeback (拒付)"),
    "other": _("Other"),
}

STATES: dict[str, str] = {
    "open": _("Open"),
    "investigating": _("Investigating"),
    "submitted": _("Submitted to the acquirer"),
    "awaiting_response": _("Awaiting the acquirer's response"),
    "resolved_accepted": _("Resolved: accepted"),
    "resolved_rejected": _("Resolved: rejected"),
    "closed": _("Closed"),
}

#: state → the states it may move to; nothing else is allowed.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("investigating",),
    "investigating": ("submitted", "resolved_accepted", "resolved_rejected"),
    "submitted": ("awaiting_response",),
    "awaiting_response": ("resolved_accepted", "resolved_rejected"),
    "resolved_accepted": ("closed",),
    "resolved_rejected": ("closed",),
    "closed": (),
}
RESOLVED = ("resolved_accepted", "resolved_rejected")
#: States in which a case still needs work (and can be overdue).
ACTIVE = ("open", "investigating", "submitted", "awaiting_response")

PRIORITIES: dict[str, str] = {
    "low": _("Low"),
    "normal": _("Normal"),
    "high": _("High"),
    "urgent": _("Urgent"),
}

ROOT_CAUSES: dict[str, str] = {
    "operator_error": _("Operator error"),
    "terminal_fault": _("Terminal fault"),
    "network_outage": _("Network outage"),
    "acquirer_error": _("Acquirer error"),
    "fraud": _("Fraud"),
    "customer_dispute": _("Customer dispute"),
    "other": _("Other"),
}

ORIGINS: dict[str, str] = {
    "manual": _("Opened by hand"),
    "reconciliation": _("Reconciliation break"),
    "batch_close": _("Batch-close difference"),
    "preauth": _("Pre-authorisation monitor"),
}

#: Calendar days allowed to settle a case of each kind, unless set for the merchant
#: (``counterfoil cases deadline``). A retrieval request and a chargeback have the
#: acquirer's short answer windows; the rest the guides' "as soon as possible".
DEFAULT_DUE_DAYS: dict[str, int] = {
    "amount_error": 7,
    "type_error": 7,
    "status_error": 7,
    "preauth_mismatch": 5,
    "missing_record": 7,
    "duplicate_charge": 5,
    "batch_mismatch": 3,
    "retrieval_request": 5,
    "chargeback": 7,
    "other": 14,
}
MAX_DUE_DAYS = 365

#: Adjustments: what each does to the merchant's money (+1 in, -1 out, 0 booked only).
ADJUSTMENT_KINDS: dict[str, str] = {
    "refund": _("Refund"),
    "supplement": _("Supplement"),
    "write_off": _("Write-off"),
}

EVIDENCE_KINDS: dict[str, str] = {
    "file": _("File"),
    "slip": _("Slip"),
    "statement_line": _("Statement line"),
    "journal_entry": _("Journal entry"),
}

CHANNELS: dict[str, str] = {
    "email": _("Email"),
    "sms": _("SMS"),
    "phone": _("Phone call"),
}


def may_move(state: str, to: str) -> bool:
    return to in TRANSITIONS.get(state, ())
