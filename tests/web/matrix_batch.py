"""Who may use the batch-close routes (web console and API): the rows of the access matrix
for these routes. A terminal closes its own batches with its token, a supervisor closes
for a terminal (``batch.close``); supervisors, finance, auditors and admins read closes
(``batch.read``). Every other person gets 403, the integration token 403, nobody 401.

``close_of(world)`` makes (once) a close of merchant A for the ``{close_id}`` path
parameter; ``BUILDERS`` makes the body of a valid close.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT, TERMINAL
from counterfoil.services.access import Principal
from counterfoil.settlement import batch

if TYPE_CHECKING:
    from web.conftest import World

#: batch.read: who looks at closes (DESIGN.md, Roles: the supervisor closes batches)
BATCH_READERS = frozenset({"supervisor", "finance", "auditor", "admin"})
#: a batch close: the terminal itself (its token) or the supervisor at the counter
BATCH_CLOSERS = frozenset({"terminal", "supervisor"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # the console
    ("GET", "/batches"): BATCH_READERS,
    ("POST", "/batches"): frozenset({"supervisor"}),
    ("GET", "/batches/{close_id}"): BATCH_READERS,
    ("GET", "/batches/{close_id}/slip"): BATCH_READERS,
    # the API
    ("POST", "/api/v1/batches/close"): BATCH_CLOSERS,
    ("GET", "/api/v1/batches"): BATCH_READERS,
    ("GET", "/api/v1/batches/{close_id}"): BATCH_READERS,
    ("GET", "/api/v1/batches/{close_id}/slip"): BATCH_READERS,
}

#: Totals for A's batch 000001 as World holds it (a sale of 4,768.00, a refund of 500.00,
#: a WeChat payment of 25.00): any totals make a valid close; these do not balance.
TOTALS = {"debit_count": 1, "debit_amount": 476800, "credit_count": 1, "credit_amount": 50000}


def close_of(world: World) -> str:
    """A close of merchant A's batch 000001, made once per world."""
    made: int | None = getattr(world, "_close_id", None)
    if made is None:
        report = {"merchant_no": MERCHANT, "terminal_id": TERMINAL, "batch_no": "000001"}
        made = int(batch.close_batch(world.cf, Principal.local(), report | TOTALS)["id"])
        world._close_id = made  # type: ignore[attr-defined]
    return str(made)


def _close_json(world: World) -> dict[str, Any]:
    return {
        "json": {"merchant_no": MERCHANT, "terminal_id": TERMINAL, "batch_no": "000001"} | TOTALS
    }


def _close_form(world: World) -> dict[str, Any]:
    return {
        "data": {
            "merchant_no": MERCHANT,
            "terminal_id": TERMINAL,
            "batch_no": "000001",
            "debit_count": "1",
            "debit_amount": "4768.00",
            "credit_count": "1",
            "credit_amount": "500.00",
        }
    }


#: The routes that need more than their path to be valid.
BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/batches/close"): _close_json,
    ("POST", "/batches"): _close_form,
}

#: Values for the path parameters of these routes, made from the matrix's world.
PATH_VALUES = {"close_id": close_of}
