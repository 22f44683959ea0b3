"""Who may use the payout routes (API): the rows of the access matrix for these routes.
Every other role gets 403, a token 403 (no token has these permissions), and nobody
logged in 401.

``reconcile.run`` (finance) runs a payout reconciliation; ``reconcile.read`` (finance,
auditor, admin) reads runs and breaks. ``run_of(world)`` makes (once) a payout run of
merchant A for the ``{run_id}`` path parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT
from counterfoil.reconcile import payouts
from counterfoil.services.access import Principal

if TYPE_CHECKING:
    from web.conftest import World

RUNNERS = frozenset({"finance"})
READERS = frozenset({"finance", "auditor", "admin"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/payouts"): RUNNERS,
    ("GET", "/api/v1/payouts"): READERS,
    ("GET", "/api/v1/payouts/breaks"): READERS,
    ("GET", "/api/v1/payouts/{run_id}"): READERS,
}


def run_of(world: World) -> str:
    """A payout run of merchant A, made once per world by a finance person."""
    made: int | None = getattr(world, "_payout_run_id", None)
    if made is None:
        who = Principal(
            "person", "user:finance", "testclient", role="finance", merchants=(MERCHANT,)
        )
        made = int(payouts.run_payouts(world.cf, who, merchant_no=MERCHANT)["run_id"])
        world._payout_run_id = made  # type: ignore[attr-defined]
    return str(made)


def _run_json(world: World) -> dict[str, Any]:
    return {"json": {"merchant": MERCHANT, "lag_days": 3}}


def _merchant_query(world: World) -> dict[str, Any]:
    return {"params": {"merchant": MERCHANT}}


BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/api/v1/payouts"): _run_json,
    ("GET", "/api/v1/payouts"): _merchant_query,
    ("GET", "/api/v1/payouts/breaks"): _merchant_query,
}

#: Values for the path parameters of these routes, made from the matrix's world.
PATH_VALUES = {"run_id": run_of}
