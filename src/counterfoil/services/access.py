"""Who may do what: the one table of permissions every face (web, API, CLI) consults.

A *principal* is whoever makes a request: a person logged in with a session, a
terminal with its token, an integration with a scoped token, or the operator at the
machine's command line (``local``: the owner of the data directory, every merchant).
Each is confined to its merchants (a person's list; a terminal's or integration
token's one merchant), and a cashier and a terminal further to their terminals.
``Principal.require`` is the only check a route makes; it raises ``Forbidden`` naming
what was refused.

The roles and what they may do are DESIGN.md's "Roles" table, written out as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from counterfoil.core.errors import Forbidden
from counterfoil.i18n import _
from counterfoil.store.audit import Actor

ROLES = ("cashier", "supervisor", "finance", "auditor", "admin")
EVERYONE = frozenset(ROLES)

#: permission → the roles that have it. A route names one permission.
PERMISSIONS: dict[str, frozenset[str]] = {
    # the day's transactions of a cashier's terminals; everything of the merchant for others
    "transactions.read": EVERYONE,
    "transactions.write": frozenset(),  # terminals only
    "dashboard.read": EVERYONE,
    "statements.read": frozenset({"finance", "auditor", "admin"}),
    "statements.import": frozenset({"finance"}),
    "reports.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    "audit.read": frozenset({"auditor", "admin"}),
    "journal.verify": frozenset({"auditor", "admin"}),
    "users.manage": frozenset({"admin"}),
    "terminals.manage": frozenset({"admin"}),
    "merchants.manage": frozenset({"admin"}),
    "fees.manage": frozenset({"admin"}),
    "fees.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    "tokens.manage": frozenset({"admin"}),
    # a cashier: merchant copies of the day at their terminals; a supervisor: any copy
    "receipts.print": frozenset({"cashier", "supervisor"}),
    "certificates.issue": frozenset({"supervisor"}),
    # lost-document incidents: cashiers and supervisors record them (a supervisor closes);
    # everyone of the merchant reads them (a cashier: the ones they recorded)
    "incidents.write": frozenset({"cashier", "supervisor"}),
    "incidents.read": EVERYONE,
    "alerts.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    # settlement lists of a day (reports.read covers the reports); closing a day
    "settlement.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    "settlement.close": frozenset({"supervisor", "finance"}),
    # a terminal's batch close: the supervisor at the counter (terminals through their token)
    "batch.close": frozenset({"supervisor"}),
    "batch.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    # reconciliation: finance runs it and decides manual matches; the rest read
    "reconcile.run": frozenset({"finance"}),
    "reconcile.read": frozenset({"finance", "auditor", "admin"}),
    # cases: supervisors and finance open them; finance works them and proposes
    # adjustments; finance or admin approve one someone else proposed
    "cases.read": frozenset({"supervisor", "finance", "auditor", "admin"}),
    "cases.open": frozenset({"supervisor", "finance"}),
    "cases.work": frozenset({"finance"}),
    "adjustments.propose": frozenset({"finance"}),
    "adjustments.approve": frozenset({"finance", "admin"}),
    "backups.manage": frozenset({"admin"}),
}

#: What an integration token may be given (services.tokens.SCOPES is the same list).
INTEGRATION_SCOPES = (
    "transactions.read",
    "statements.import",
    "statements.read",
    "audit.read",
    "reports.read",
)
TERMINAL_SCOPES = frozenset({"transactions.read", "transactions.write"})

Kind = Literal["person", "terminal", "integration", "local"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    name: str
    source: str
    role: str | None = None
    merchants: tuple[str, ...] = ()  # empty: every merchant (the operator's admin)
    terminals: tuple[tuple[str, str], ...] | None = None  # None: every terminal
    scopes: frozenset[str] = field(default_factory=frozenset)
    locale: str = "en"

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.source)

    @property
    def all_merchants(self) -> bool:
        if self.kind == "local":
            return True
        return self.kind == "person" and self.role == "admin" and not self.merchants

    @property
    def today_only(self) -> bool:
        """A cashier sees only the current business day."""
        return self.role == "cashier"

    @classmethod
    def local(cls, name: str = "cli") -> Principal:
        """The operator at the machine's command line: the data's owner, every merchant."""
        return cls("local", name, "local", role="supervisor")

    def may(self, permission: str) -> bool:
        if permission not in PERMISSIONS:
            raise KeyError(permission)
        if self.kind == "local":
            return True
        if self.kind == "person":
            return self.role in PERMISSIONS[permission]
        return permission in self.scopes

    def sees(self, merchant_no: str) -> bool:
        return self.all_merchants or merchant_no in self.merchants

    def sees_terminal(self, merchant_no: str, terminal_id: str) -> bool:
        if not self.sees(merchant_no):
            return False
        return self.terminals is None or (merchant_no, terminal_id) in self.terminals

    def terminals_of(self, merchant_no: str) -> tuple[str, ...] | None:
        """The terminals of ``merchant_no`` this principal is confined to (None: all)."""
        if self.terminals is None:
            return None
        return tuple(t for m, t in self.terminals if m == merchant_no)

    def require(self, permission: str, merchant_no: str | None = None) -> None:
        if not self.may(permission):
            raise Forbidden(_("your access does not include {permission}"), permission=permission)
        if merchant_no is not None and not self.sees(merchant_no):
            raise Forbidden(
                _("you have no access to merchant {merchant_no}"), merchant_no=merchant_no
            )

    def default_merchant(self, requested: str | None) -> str | None:
        """The merchant a request is about: the one asked for, else the only one there is."""
        if requested:
            if not self.sees(requested):
                raise Forbidden(
                    _("you have no access to merchant {merchant_no}"), merchant_no=requested
                )
            return requested
        return self.merchants[0] if self.merchants else None
