"""Who may use the settlement and report routes (web console and API): the rows of the
access matrix for these routes. Every other role gets 403, a token 403 (no token here has
these permissions), and nobody logged in 401.

A valid request names merchant A and a business day that is over (yesterday, in
Shanghai): issuing its list closes it the first time, later copies are reprints. Each
close names a day of its own, further back each time, so that every caller that may
close finds a day still open.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from conftest import MERCHANT

if TYPE_CHECKING:
    from web.conftest import World

#: settlement.read and reports.read: DESIGN.md gives settlement lists and reports to
#: finance; supervisors see their day, auditors and admins read everything
READERS = frozenset({"supervisor", "finance", "auditor", "admin"})
#: settlement.close: who ends a business day
CLOSERS = frozenset({"supervisor", "finance"})

EXPECTED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/settlement"): READERS,
    ("POST", "/settlement/issue"): READERS,
    ("POST", "/settlement/close"): CLOSERS,
    ("GET", "/reports"): READERS,
    ("GET", "/api/v1/settlement"): READERS,
    ("POST", "/api/v1/settlement/issue"): READERS,
    ("POST", "/api/v1/settlement/close"): CLOSERS,
    ("GET", "/api/v1/settlement/issues"): READERS,
    ("GET", "/api/v1/reports"): READERS,
    ("GET", "/api/v1/reports/tax"): READERS,
    ("GET", "/api/v1/reports/chart"): READERS,
}

_back = itertools.count(2)


def _day(back: int = 1) -> str:
    today = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(hours=1)  # past a 23:00 cut-off
    return (today.date() - timedelta(days=back)).isoformat()


def _month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


def _list_query(world: World) -> dict[str, Any]:
    return {"params": {"merchant": MERCHANT, "date": _day()}}


def _issue_form(world: World) -> dict[str, Any]:
    return {"data": {"merchant": MERCHANT, "date": _day(), "format": "text80"}}


def _issue_json(world: World) -> dict[str, Any]:
    return {"json": {"merchant": MERCHANT, "date": _day(), "format": "json", "locale": "en"}}


def _close_form(world: World) -> dict[str, Any]:
    return {"data": {"merchant": MERCHANT, "date": _day(next(_back))}}


def _close_json(world: World) -> dict[str, Any]:
    return {"json": {"merchant": MERCHANT, "date": _day(next(_back))}}


def _month_query(world: World) -> dict[str, Any]:
    return {"params": {"merchant": MERCHANT, "month": _month()}}


BUILDERS: dict[tuple[str, str], Callable[[World], dict[str, Any]]] = {
    ("GET", "/settlement"): _list_query,
    ("POST", "/settlement/issue"): _issue_form,
    ("POST", "/settlement/close"): _close_form,
    ("GET", "/reports"): _month_query,
    ("GET", "/api/v1/settlement"): _list_query,
    ("POST", "/api/v1/settlement/issue"): _issue_json,
    ("POST", "/api/v1/settlement/close"): _close_json,
    ("GET", "/api/v1/settlement/issues"): _list_query,
    ("GET", "/api/v1/reports"): _month_query,
    ("GET", "/api/v1/reports/tax"): _month_query,
    ("GET", "/api/v1/reports/chart"): _month_query,
}
