"""Who may use the reconciliation console's pages beyond the runs list: one run's page and
its export (``reconcile.read``: finance, auditor, admin), running a day and deciding on a
break — manual match or unmatch, adopting a line (``reconcile.run``: finance). Every
other role gets 403, a token 403, nobody logged in 401.

The ``{run_id}`` and ``{break_id}`` values are ``tests/web/matrix_reconcile.py``'s (a run
of merchant A's imported WeChat bill, and one of its breaks: a line missing in the
journal); ``BUILDERS`` makes the forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT
from web.matrix_reconcile import RECON_READERS, RECON_RUNNERS, run_of

if TYPE_CHECKING:
    from web.conftest import World

#: The business day of the WeChat bill the World imports for merchant A.
BILL_DAY = "2019-07-23"

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/reconcile"): RECON_RUNNERS,
    ("GET", "/reconcile/runs/{run_id}"): RECON_READERS,
    ("GET", "/reconcile/runs/{run_id}/export"): RECON_READERS,
    ("POST", "/reconcile/breaks/{break_id}/decision"): RECON_RUNNERS,
    ("POST", "/reconcile/breaks/{break_id}/adopt"): RECON_RUNNERS,
}


def _run_day(world: World) -> dict[str, Any]:
    return {"data": {"merchant_no": MERCHANT, "date": BILL_DAY, "source": "wechat_trade"}}


def _export(world: World) -> dict[str, Any]:
    run_of(world)
    return {"params": {"format": "csv", "status": "all"}}


def _decision(world: World) -> dict[str, Any]:
    run_of(world)
    return {
        "data": {
            "action": "unmatch",
            "other": world.entries["a_qr"],
            "reason": "not the same payment: the order numbers differ",
        }
    }


def _adoption(world: World) -> dict[str, Any]:
    run_of(world)
    return {"data": {"reason": "the terminal lost it; the bill shows it paid"}}


BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/reconcile"): _run_day,
    ("GET", "/reconcile/runs/{run_id}/export"): _export,
    ("POST", "/reconcile/breaks/{break_id}/decision"): _decision,
    ("POST", "/reconcile/breaks/{break_id}/adopt"): _adoption,
}
