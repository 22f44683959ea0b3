"""Who may use the reconciliation routes (web console and API): the rows of the access
matrix for these routes. ``reconcile.run`` (finance) runs, decides and adopts;
``reconcile.read`` (finance, auditor, admin) reads. Every other role gets 403, a token
403 (no token has these permissions), and nobody logged in 401.

A valid request needs a run of merchant A and its breaks: ``run_of(world)`` reconciles
A's imported WeChat bill once (its lines are in no journal: each is a break) and names
the run, ``break_of`` one of its breaks; ``BUILDERS`` makes the bodies and queries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT
from counterfoil.reconcile import service, views
from counterfoil.services.access import Principal

if TYPE_CHECKING:
    from web.conftest import World

RECON_READERS = frozenset({"finance", "auditor", "admin"})
RECON_RUNNERS = frozenset({"finance"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # the console
    ("GET", "/reconcile"): RECON_READERS,
    # the API
    ("POST", "/api/v1/reconcile/runs"): RECON_RUNNERS,
    ("GET", "/api/v1/reconcile/runs"): RECON_READERS,
    ("GET", "/api/v1/reconcile/runs/{run_id}"): RECON_READERS,
    ("GET", "/api/v1/reconcile/breaks"): RECON_READERS,
    ("GET", "/api/v1/reconcile/breaks/export"): RECON_READERS,
    ("GET", "/api/v1/reconcile/breaks/{break_id}"): RECON_READERS,
    ("POST", "/api/v1/reconcile/decisions"): RECON_RUNNERS,
    ("POST", "/api/v1/reconcile/adoptions"): RECON_RUNNERS,
    ("GET", "/api/v1/reconcile/tolerances"): RECON_READERS,
    ("PUT", "/api/v1/reconcile/tolerances/{source}"): RECON_RUNNERS,
}


def run_of(world: World) -> str:
    """A run of merchant A's imported WeChat bill (made once per world)."""
    made: int | None = getattr(world, "_recon_run", None)
    if made is None:
        found = service.reconcile(world.cf, Principal.local("test"), import_id=world.imports["a"])
        made = int(found["run_id"])
        world._recon_run = made  # type: ignore[attr-defined]
    return str(made)


def break_of(world: World) -> str:
    run_of(world)
    found = world.cf.read(
        lambda conn: views.list_breaks(conn, Principal.local("test"), MERCHANT, per_page=1)
    )
    return str(found["items"][0]["break_id"])


def _merchant(world: World) -> dict[str, Any]:
    run_of(world)
    return {"params": {"merchant": MERCHANT}}


def _export(world: World) -> dict[str, Any]:
    run_of(world)
    return {"params": {"merchant": MERCHANT, "format": "xlsx"}}


def _run(world: World) -> dict[str, Any]:
    return {"json": {"import_id": world.imports["a"]}}


def _decision(world: World) -> dict[str, Any]:
    run_of(world)
    seq = int(world.entries["a_sale"].rsplit("-", 1)[1])
    return {
        "json": {
            "action": "match",
            "merchant": MERCHANT,
            "seq": seq,
            "line": f"{world.imports['a']}:2",
            "reason": "the customer's order, checked on the phone",
        }
    }


def _adoption(world: World) -> dict[str, Any]:
    run_of(world)
    return {"json": {"line": f"{world.imports['a']}:3", "reason": "terminal lost it"}}


def _tolerance(world: World) -> dict[str, Any]:
    return {"json": {"merchant": MERCHANT, "amount": 0, "time_window": 600}}


BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("GET", "/reconcile"): _merchant,
    ("POST", "/api/v1/reconcile/runs"): _run,
    ("GET", "/api/v1/reconcile/runs"): _merchant,
    ("GET", "/api/v1/reconcile/breaks"): _merchant,
    ("GET", "/api/v1/reconcile/breaks/export"): _export,
    ("POST", "/api/v1/reconcile/decisions"): _decision,
    ("POST", "/api/v1/reconcile/adoptions"): _adoption,
    ("GET", "/api/v1/reconcile/tolerances"): _merchant,
    ("PUT", "/api/v1/reconcile/tolerances/{source}"): _tolerance,
}

PATH_VALUES = {
    "run_id": run_of,
    "break_id": break_of,
    "source": lambda world: "wechat_trade",
}
