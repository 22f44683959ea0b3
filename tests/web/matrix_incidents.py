"""Who may use the incident and alert routes (web console and API): the rows of the access
matrix for these routes. Every other role gets 403, a token 403 (no token has these
permissions), and nobody logged in 401.

Keys are (METHOD, route path exactly as FastAPI shows it in ``route.path``).

A valid request of these routes needs an incident the callers may see — the cashier's
own (a cashier reads the incidents they recorded) — and, for some, a body or a merchant:
``incident_of(world)`` makes (once) and names that incident, for the ``{incident_id}``
path parameter, and ``BUILDERS`` makes the rest of a valid request, as
``World.valid``'s builders do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT, TERMINAL
from counterfoil.services import incidents
from counterfoil.services.access import Principal

if TYPE_CHECKING:
    from web.conftest import World

#: incidents.read: everyone of the merchant (a cashier: their own incidents)
INCIDENT_READERS = frozenset({"cashier", "supervisor", "finance", "auditor", "admin"})
#: incidents.write: who records a lost document and what was done (DESIGN.md, Roles)
INCIDENT_WRITERS = frozenset({"cashier", "supervisor"})
#: alerts.read: the reprint alerts are for those who watch the cashiers
ALERT_READERS = frozenset({"supervisor", "finance", "auditor", "admin"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # the console
    ("GET", "/incidents"): INCIDENT_READERS,
    ("POST", "/incidents"): INCIDENT_WRITERS,
    ("GET", "/incidents/report"): INCIDENT_READERS,
    ("GET", "/incidents/{incident_id}"): INCIDENT_READERS,
    ("POST", "/incidents/{incident_id}/events"): INCIDENT_WRITERS,
    ("GET", "/alerts"): ALERT_READERS,
    # the API
    ("GET", "/api/v1/incidents"): INCIDENT_READERS,
    ("POST", "/api/v1/incidents"): INCIDENT_WRITERS,
    ("GET", "/api/v1/incidents/report"): INCIDENT_READERS,
    ("GET", "/api/v1/incidents/{incident_id}"): INCIDENT_READERS,
    ("POST", "/api/v1/incidents/{incident_id}/events"): INCIDENT_WRITERS,
    ("GET", "/api/v1/alerts"): ALERT_READERS,
}


def incident_of(world: World) -> str:
    """An open incident of merchant A recorded by the cashier (user "cashier"), so that
    every reader may see it; made once per world."""
    made: int | None = getattr(world, "_incident_id", None)
    if made is None:
        cashier = Principal(
            "person",
            "user:cashier",
            "testclient",
            role="cashier",
            merchants=(MERCHANT,),
            terminals=((MERCHANT, TERMINAL),),
        )
        made = int(
            incidents.add_incident(
                world.cf,
                cashier,
                merchant=MERCHANT,
                kind="merchant_stub",
                found_at=world.now(),
                place="counter drawer",
                people="cashier 01",
                entries=[world.entries["a_sale"]],
                action="searched the drawer",
            )["id"]
        )
        world._incident_id = made  # type: ignore[attr-defined]
    return str(made)


def _record_form(world: World) -> dict[str, Any]:
    return {
        "data": {
            "merchant": MERCHANT,
            "kind": "customer_receipt",
            "found_date": world.now()[:10],
            "found_time": world.now()[11:16],
            "place": "front counter",
            "people": "the customer",
            "entries": world.entries["a_sale"],
            "action": "offered a reprint",
        }
    }


def _record_json(world: World) -> dict[str, Any]:
    form = _record_form(world)["data"]
    return {
        "json": {
            "merchant": MERCHANT,
            "kind": form["kind"],
            "found_at": f"{form['found_date']}T{form['found_time']}",
            "place": form["place"],
            "entries": [form["entries"]],
            "action": form["action"],
        }
    }


def _action_form(world: World) -> dict[str, Any]:
    return {"data": {"kind": "action", "note": "asked the acquirer"}}


def _action_json(world: World) -> dict[str, Any]:
    return {"json": {"kind": "action", "note": "asked the acquirer"}}


def _merchant_query(world: World) -> dict[str, Any]:
    return {"params": {"merchant": MERCHANT}}


#: The routes that need more than their path to be valid.
BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/incidents"): _record_form,
    ("POST", "/api/v1/incidents"): _record_json,
    ("POST", "/incidents/{incident_id}/events"): _action_form,
    ("POST", "/api/v1/incidents/{incident_id}/events"): _action_json,
    ("GET", "/api/v1/incidents/report"): _merchant_query,
}


#: Values for the path parameters of these routes, made from the matrix's world.
PATH_VALUES = {"incident_id": incident_of}
