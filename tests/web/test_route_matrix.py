"""Every route × every kind of caller: who gets through, who is refused, and how.

``EXPECTED`` is written out by hand, one row per (METHOD, path): the callers that succeed
(2xx or 3xx). Every other person gets 403, anonymous gets 401, and a token (terminal or
integration) gets the row's ``tokens_refused``: 403 where the route checks a permission,
401 where only a person's session counts (``/api/v1/me``, log out). The callers: nobody
("anonymous"), merchant A's terminal token, A's integration token (transactions.read
only) and a person of each role (all of A; the admin of all merchants). The rows of some
routes are kept next to those routes' tests, in ``tests/web/matrix_*.py``
(``matrix_admin_audit.py``: the audit log and the administration; ``EXPECTED``: (METHOD,
path) → the callers that succeed; see ``matrix_modules`` in conftest.py), and are checked
here the same way.

The application's routes are listed from the app itself, and a route without a row fails
(so that no route is added without deciding who may use it), as does a row whose route
is gone. Each request is valid for the route (a real entry id, a fresh trace number, the
session's CSRF token for a person's change) so that the answer is about the caller, not
the request: ``World.valid`` in conftest.py makes one for each route that needs more than
its path. HEAD and OPTIONS are not tried. SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from web import matrix_admin_audit
from web.conftest import matrix_modules

if TYPE_CHECKING:
    from web.conftest import World

PERSONS = ("cashier", "supervisor", "finance", "auditor", "admin")
TOKENS = ("terminal", "integration")
CALLERS = ("anonymous", *TOKENS, *PERSONS)

PEOPLE = frozenset(PERSONS)
EVERYONE = frozenset(CALLERS)  # public: anonymous too
READERS = PEOPLE | frozenset(TOKENS)  # transactions.read: every person, both tokens here
STATEMENT_READERS = frozenset({"finance", "auditor", "admin"})
PRINTERS = frozenset({"cashier", "supervisor"})
ISSUERS = frozenset({"supervisor"})


@dataclass(frozen=True)
class Row:
    ok: frozenset[str]
    tokens_refused: int = 403  # 401 where only a person's session counts


SESSION_ONLY = 401

EXPECTED: dict[tuple[str, str], Row] = {
    # the framework's own pages: public
    ("GET", "/openapi.json"): Row(EVERYONE),
    ("GET", "/docs"): Row(EVERYONE),
    ("GET", "/docs/oauth2-redirect"): Row(EVERYONE),
    ("GET", "/redoc"): Row(EVERYONE),
    ("GET", "/health"): Row(EVERYONE),
    ("GET", "/ready"): Row(EVERYONE),
    # the API
    ("POST", "/api/v1/transactions"): Row(frozenset({"terminal"})),
    ("POST", "/api/v1/transactions/batch"): Row(frozenset({"terminal"})),
    ("GET", "/api/v1/transactions"): Row(READERS),
    ("GET", "/api/v1/transactions/{ref}"): Row(READERS),
    ("POST", "/api/v1/session"): Row(EVERYONE),  # logging in: anyone with a password
    ("GET", "/api/v1/me"): Row(PEOPLE, SESSION_ONLY),
    ("DELETE", "/api/v1/session"): Row(PEOPLE, SESSION_ONLY),
    # the console
    ("GET", "/"): Row(EVERYONE),  # a redirect to the dashboard
    ("GET", "/login"): Row(EVERYONE),
    ("POST", "/login"): Row(EVERYONE),
    ("POST", "/logout"): Row(PEOPLE, SESSION_ONLY),
    ("POST", "/language"): Row(EVERYONE),  # a visitor's cookie, or a person's own setting
    ("GET", "/dashboard"): Row(PEOPLE),
    # A token with transactions.read may open the search and a transaction's page (the
    # same permission, the same confinement to its merchant and terminal as the API).
    ("GET", "/transactions"): Row(READERS),
    ("GET", "/transactions/{ref}"): Row(READERS),
    ("GET", "/transactions/{ref}/slip"): Row(READERS),  # to look at: an auditor too
    # statements: finance imports; finance, auditors and admins read (the integration
    # token here has transactions.read only)
    ("GET", "/statements"): Row(STATEMENT_READERS),
    ("GET", "/statements/{import_id}"): Row(STATEMENT_READERS),
    ("POST", "/statements"): Row(frozenset({"finance"})),
    ("GET", "/api/v1/statements"): Row(STATEMENT_READERS),
    ("GET", "/api/v1/statements/{import_id}"): Row(STATEMENT_READERS),
    ("POST", "/api/v1/statements"): Row(frozenset({"finance"})),
    # slips: a cashier and a supervisor reprint (DESIGN.md "Roles"); anyone checks a code
    ("POST", "/transactions/{ref}/reprint"): Row(PRINTERS),
    ("POST", "/api/v1/receipts"): Row(PRINTERS),
    ("GET", "/v/{code}"): Row(EVERYONE),
    ("GET", "/api/v1/receipts/verify/{code}"): Row(EVERYONE),
    # proofs of payment: a supervisor issues them (DESIGN.md "Roles")
    ("POST", "/transactions/{ref}/certificate"): Row(ISSUERS),
    ("POST", "/api/v1/certificates"): Row(ISSUERS),
    ("GET", "/api/v1/certificates/find"): Row(ISSUERS),
}


def _kept_rows() -> dict[tuple[str, str], Row]:
    """The rows kept next to their routes' tests (``tests/web/matrix_*.py``)."""
    modules = matrix_modules()
    assert matrix_admin_audit in modules  # the audit log's and the administration's rows
    rows: dict[tuple[str, str], Row] = {}
    for module in modules:
        for (method, path), ok in module.EXPECTED.items():
            unknown = set(ok) - set(CALLERS)
            assert not unknown, f"{module.__name__} names callers not known here: {unknown}"
            key = (method, plain(path))
            assert key not in rows, f"{key} has rows in two matrix files"
            rows[key] = Row(frozenset(ok))
    return rows


def plain(path: str) -> str:
    """``/transactions/{ref:path}`` → ``/transactions/{ref}``, as the routes are listed."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def expected() -> dict[tuple[str, str], Row]:
    extra = _kept_rows()
    both = set(EXPECTED) & set(extra)
    assert not both, f"rows both here and in a tests/web/matrix_*.py: {sorted(both)}"
    return EXPECTED | extra


def test_every_route_has_a_row_and_every_row_a_route(
    routes_of_app: set[tuple[str, str]],
) -> None:
    routes = routes_of_app
    table = expected()
    missing = sorted(routes - set(table))
    assert not missing, (
        "routes with no row in the access matrix (add one to EXPECTED in "
        f"tests/web/test_route_matrix.py or in the routes' tests/web/matrix_*.py): {missing}"
    )
    gone = sorted(set(table) - routes)
    assert not gone, f"rows in the access matrix for routes that do not exist: {gone}"


def _verdict(row: Row, who: str, status: int) -> str | None:
    """None if ``status`` is right for ``who``; else what was expected."""
    if who in row.ok:
        return None if 200 <= status < 400 else "2xx or 3xx"
    wanted = 401 if who == "anonymous" else row.tokens_refused if who in TOKENS else 403
    return None if status == wanted else str(wanted)


def test_each_caller_gets_what_its_role_allows(world: World) -> None:
    table = expected()
    present = world.routes() & set(table)  # the rest fail the test above
    order = sorted(present, key=lambda key: (key[0] != "GET", key))  # reads first
    wrong: list[str] = []
    for method, path in order:
        row = table[(method, path)]
        for who in CALLERS:
            response = world.request(who, method, **world.valid(method, path))
            if (method, path) in world.ENDS_SESSION and who in PERSONS:
                world.fresh_session(who)
            problem = _verdict(row, who, response.status_code)
            if problem:
                wrong.append(
                    f"{method} {path} as {who}: expected {problem}, got "
                    f"{response.status_code} {response.text[:160]!r}"
                )
    assert not wrong, f"{len(wrong)} answers not as the matrix says:\n" + "\n".join(wrong)
