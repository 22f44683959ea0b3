"""Who may use the case and pre-authorisation routes (web console and API): the rows of
the access matrix for these routes. Every other role gets 403, a token 403 (no token has
these permissions), and nobody logged in 401.

A valid request needs a case the callers may see, in the state the step needs: the
builders make a fresh case (or a fresh proposal, made by a finance person who is no
caller here, so that every approver is a second person) for each request that moves a
case on, and name it through ``values``; the rest share one case of merchant A.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conftest import MERCHANT
from counterfoil.cases import adjustments, evidence
from counterfoil.cases import workflow as wf
from counterfoil.services.access import Principal

if TYPE_CHECKING:
    from web.conftest import World

READERS = frozenset({"supervisor", "finance", "auditor", "admin"})  # cases.read
OPENERS = frozenset({"supervisor", "finance"})  # cases.open
WORKERS = frozenset({"finance"})  # cases.work
PROPOSERS = frozenset({"finance"})  # adjustments.propose
APPROVERS = frozenset({"finance", "admin"})  # adjustments.approve

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    # the console
    ("GET", "/cases"): READERS,
    ("POST", "/cases"): OPENERS,
    ("GET", "/cases/report"): READERS,
    ("GET", "/cases/{case_id}"): READERS,
    ("POST", "/cases/{case_id}/work"): WORKERS,
    ("POST", "/cases/{case_id}/evidence"): WORKERS,
    ("GET", "/cases/{case_id}/evidence/{evidence_id}"): READERS,
    ("GET", "/cases/{case_id}/application.pdf"): READERS,
    ("POST", "/cases/{case_id}/adjustments"): PROPOSERS,
    ("POST", "/cases/{case_id}/adjustments/{adjustment_id}/decision"): APPROVERS,
    ("GET", "/preauths"): READERS,
    ("POST", "/preauths/cases"): OPENERS,
    # the API
    ("GET", "/api/v1/cases"): READERS,
    ("POST", "/api/v1/cases"): OPENERS,
    ("GET", "/api/v1/cases/report"): READERS,
    ("GET", "/api/v1/cases/{case_id}"): READERS,
    ("POST", "/api/v1/cases/{case_id}/assign"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/notes"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/submit"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/respond"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/close"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/notify"): WORKERS,
    ("POST", "/api/v1/cases/{case_id}/evidence"): WORKERS,
    ("GET", "/api/v1/cases/{case_id}/evidence/{evidence_id}"): READERS,
    ("GET", "/api/v1/cases/{case_id}/application.pdf"): READERS,
    ("POST", "/api/v1/cases/{case_id}/adjustments"): PROPOSERS,
    ("POST", "/api/v1/cases/{case_id}/adjustments/{adjustment_id}/decision"): APPROVERS,
    ("GET", "/api/v1/preauths"): READERS,
    ("POST", "/api/v1/preauths/cases"): OPENERS,
}

OPENER = Principal(
    "person", "user:matrix-opener", "testclient", role="supervisor", merchants=(MERCHANT,)
)
MAKER = Principal(
    "person", "user:matrix-maker", "testclient", role="finance", merchants=(MERCHANT,)
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _new_case(world: World, state: str = "open") -> int:
    found = wf.open_case(
        world.cf,
        OPENER,
        merchant=MERCHANT,
        kind="amount_error",
        title="charged too much",
        difference=-100_000_00,
        entries=[world.entries["a_sale"]],
    )
    case_id = int(found["id"])
    if state != "open":
        wf.assign(world.cf, MAKER, case_id, "finance")
    if state == "resolved":
        wf.respond(world.cf, MAKER, case_id, outcome="accepted")
    return case_id


def case_of(world: World) -> str:
    """The shared case of merchant A, with one file of evidence; made once per world."""
    made: int | None = getattr(world, "_case_id", None)
    if made is None:
        made = _new_case(world)
        found = evidence.attach_file(world.cf, MAKER, made, [PNG], "receipt.png")
        world._case_id = made  # type: ignore[attr-defined]
        world._evidence_id = found["evidence"][-1]["id"]  # type: ignore[attr-defined]
    return str(made)


def evidence_of(world: World) -> str:
    case_of(world)
    return str(world._evidence_id)  # type: ignore[attr-defined]


def _proposal(world: World) -> dict[str, Any]:
    case_id = _new_case(world, "investigating")
    found = adjustments.propose(world.cf, MAKER, case_id, kind="refund", amount=100, reason="x")
    return {"case_id": str(case_id), "adjustment_id": str(found["adjustments"][0]["id"])}


def _open_form(world: World) -> dict[str, Any]:
    return {
        "data": {
            "merchant": MERCHANT,
            "kind": "chargeback",
            "title": "chargeback notice",
            "priority": "high",
            "difference": "-12.00",
            "entries": world.entries["a_sale"],
        }
    }


def _open_json(world: World) -> dict[str, Any]:
    return {
        "json": {
            "merchant": MERCHANT,
            "kind": "retrieval_request",
            "title": "retrieval request",
            "entries": [world.entries["a_sale"]],
        }
    }


def _merchant_query(world: World) -> dict[str, Any]:
    return {"params": {"merchant": MERCHANT}}


def _note_form(world: World) -> dict[str, Any]:
    return {"data": {"action": "note", "note": "called the acquirer"}}


def _upload(world: World) -> dict[str, Any]:
    return {"files": {"file": ("photo.png", PNG, "image/png")}, "data": {"note": "photo"}}


def _propose_form(world: World) -> dict[str, Any]:
    return {"data": {"kind": "refund", "amount": "1.00", "reason": "agreed"}}


def _propose_json(world: World) -> dict[str, Any]:
    return {"json": {"kind": "refund", "amount": 100, "reason": "agreed"}}


def _decide_form(world: World) -> dict[str, Any]:
    return {"values": _proposal(world), "data": {"decision": "approve"}}


def _decide_json(world: World) -> dict[str, Any]:
    return {"values": _proposal(world), "json": {"decision": "approve"}}


def _assign_json(world: World) -> dict[str, Any]:
    return {"json": {"assignee": "finance", "priority": "high"}}


def _note_json(world: World) -> dict[str, Any]:
    return {"json": {"note": "called the acquirer"}}


def _submit_json(world: World) -> dict[str, Any]:
    return {"values": {"case_id": str(_new_case(world, "investigating"))}, "json": {}}


def _respond_json(world: World) -> dict[str, Any]:
    return {
        "values": {"case_id": str(_new_case(world, "investigating"))},
        "json": {"outcome": "accepted"},
    }


def _close_json(world: World) -> dict[str, Any]:
    return {
        "values": {"case_id": str(_new_case(world, "resolved"))},
        "json": {"root_cause": "operator_error", "lesson": "read it back"},
    }


def _notify_json(world: World) -> dict[str, Any]:
    return {"json": {"channel": "phone", "to": "13800138000", "template": "case_opened"}}


def _link_json(world: World) -> dict[str, Any]:
    return {"json": {"kind": "slip", "ref": world.entries["a_sale"]}}


def _preauth_cases_form(world: World) -> dict[str, Any]:
    return {"data": {"merchant": MERCHANT, "within_days": "3"}}


def _preauth_cases_json(world: World) -> dict[str, Any]:
    return {"json": {"merchant": MERCHANT}}


#: The routes that need more than their path to be valid.
BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("POST", "/cases"): _open_form,
    ("POST", "/api/v1/cases"): _open_json,
    ("GET", "/api/v1/cases/report"): _merchant_query,
    ("POST", "/cases/{case_id}/work"): _note_form,
    ("POST", "/cases/{case_id}/evidence"): _upload,
    ("POST", "/cases/{case_id}/adjustments"): _propose_form,
    ("POST", "/api/v1/cases/{case_id}/adjustments"): _propose_json,
    ("POST", "/cases/{case_id}/adjustments/{adjustment_id}/decision"): _decide_form,
    ("POST", "/api/v1/cases/{case_id}/adjustments/{adjustment_id}/decision"): _decide_json,
    ("POST", "/api/v1/cases/{case_id}/assign"): _assign_json,
    ("POST", "/api/v1/cases/{case_id}/notes"): _note_json,
    ("POST", "/api/v1/cases/{case_id}/submit"): _submit_json,
    ("POST", "/api/v1/cases/{case_id}/respond"): _respond_json,
    ("POST", "/api/v1/cases/{case_id}/close"): _close_json,
    ("POST", "/api/v1/cases/{case_id}/notify"): _notify_json,
    ("POST", "/api/v1/cases/{case_id}/evidence"): _link_json,
    ("GET", "/api/v1/preauths"): _merchant_query,
    ("POST", "/preauths/cases"): _preauth_cases_form,
    ("POST", "/api/v1/preauths/cases"): _preauth_cases_json,
}

#: Values for the path parameters of these routes, made from the matrix's world.
PATH_VALUES = {
    "case_id": case_of,
    "evidence_id": evidence_of,
    "adjustment_id": lambda world: _proposal(world)["adjustment_id"],
}
