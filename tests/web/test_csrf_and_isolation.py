"""A person's change needs the session's CSRF token; one merchant never sees another's.

CSRF: every route that changes something (any method but GET), console or API, reached
with a logged-in person's cookie but without the CSRF token, with a forged one or with
another session's, answers 403 naming the CSRF token, and changes nothing in the store
(the audit log may record the refusal, never a success). Logging in through the form
needs the double-submit token (the ``cf_login`` cookie echoed in ``login_token``).

Isolation: with merchant A's people and tokens, merchant B's transaction is not found by
entry id, RRN or order number (404: not even a hint that it exists), asking for B by
``?merchant=`` is refused (403) on the dashboard, the search and the API, B's audit
records stay out of sight, and nothing of B (merchant number, name, RRN, order number,
entry ids, amount, statement files) appears on any page A's people open. The administrator of all
merchants sees B's transaction: the 404s are about who asks. SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, sale
from counterfoil.services.context import Counterfoil
from counterfoil.store import schema

if TYPE_CHECKING:
    from web.conftest import World

PERSONS = ("cashier", "supervisor", "finance", "auditor", "admin")
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: Changes a person makes without a session yet: they cannot carry a session's token.
NO_SESSION_YET = {
    ("POST", "/login"): "the login form: its own double-submit token (tested below)",
    ("POST", "/api/v1/session"): "logging in through the API: JSON only, no cookie yet",
}


def fingerprint(cf: Counterfoil) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log, and sessions without their last use."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with cf.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if table is schema.audit_log:
                continue
            columns = [
                c for c in table.columns if (table.name, c.name) != ("sessions", "last_seen")
            ]
            order = list(table.primary_key.columns) or columns
            rows = conn.execute(select(*columns).order_by(*order)).all()
            tables[table.name] = [tuple(row) for row in rows]
    return tables


def changed(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> list[str]:
    return [name for name in before if before[name] != after.get(name)]


def last_audit(cf: Counterfoil) -> int:
    with cf.engine.connect() as conn:
        return int(
            conn.execute(select(func.coalesce(func.max(schema.audit_log.c.seq), 0))).scalar_one()
        )


def audit_since(cf: Counterfoil, seq: int) -> list[Any]:
    a = schema.audit_log.c
    with cf.engine.connect() as conn:
        return list(conn.execute(select(a.action, a.outcome, a.actor).where(a.seq > seq)).all())


# --- CSRF ------------------------------------------------------------------------------


def test_every_change_needs_the_sessions_csrf_token(world: World) -> None:
    changes = sorted(
        key for key in world.routes() if key[0] not in SAFE and key not in NO_SESSION_YET
    )
    assert ("POST", "/logout") in changes
    assert ("DELETE", "/api/v1/session") in changes
    requests = {key: world.valid(*key) for key in changes}  # made before the fingerprint
    before, audited = fingerprint(world.cf), last_audit(world.cf)
    wrong: list[str] = []
    for (method, path), options in requests.items():
        for who in PERSONS:
            someone_else = world.sessions["supervisor" if who != "supervisor" else "finance"][1]
            variants: dict[str, dict[str, Any]] = {
                "no token": {"csrf": None},
                "a forged token": {"csrf": "forged-csrf-token"},
                "another session's token": {"csrf": someone_else},
            }
            if "data" in options:  # a form: the token in the form's field too
                variants["a forged form field"] = {
                    "csrf": None,
                    "data": options["data"] | {"csrf_token": "forged-csrf-token"},
                }
            for variant, extra in variants.items():
                response = world.request(who, method, **(options | extra))
                if response.status_code != 403 or "CSRF" not in response.text:
                    wrong.append(
                        f"{method} {path} as {who} with {variant}: {response.status_code} "
                        f"{response.text[:160]!r}"
                    )
    assert not wrong, f"{len(wrong)} changes went past the CSRF check:\n" + "\n".join(wrong)
    altered = changed(before, fingerprint(world.cf))
    assert not altered, f"a refused change changed the tables {altered}"
    successes = [r for r in audit_since(world.cf, audited) if r.outcome == "success"]
    assert not successes, f"a refused change was audited as done: {successes[:5]}"
    for who in PERSONS:  # nobody was logged out
        assert world.request(who, "GET", "/api/v1/me").status_code == 200, who


def _log_in_form(world: World, *, cookie: str | None, field: str | None) -> Any:
    data = {"username": "supervisor", "password": "Ledger-proof-42", "next": "/dashboard"}
    if field is not None:
        data["login_token"] = field
    return world.request(
        "anonymous",
        "POST",
        "/login",
        data=data,
        cookie=f"cf_login={cookie}" if cookie is not None else None,
    )


def test_logging_in_through_the_form_needs_its_double_submit_token(world: World) -> None:
    with world.cf.engine.connect() as conn:
        sessions_before = conn.execute(select(func.count()).select_from(schema.sessions)).scalar()
    for cookie, field in (
        (None, None),  # neither
        (None, "a-login-token"),  # the field without the cookie: a page of another site
        ("a-login-token", None),  # the cookie without the field
        ("a-login-token", "another-token"),  # not the same
        ("", ""),  # empty both
    ):
        response = _log_in_form(world, cookie=cookie, field=field)
        assert response.status_code == 403, (cookie, field, response.status_code)
        assert 'id="log-in"' in response.text  # the form again, with a fresh token
        assert "cf_session=" not in response.headers.get("set-cookie", "")
    with world.cf.engine.connect() as conn:
        sessions_after = conn.execute(select(func.count()).select_from(schema.sessions)).scalar()
    assert sessions_after == sessions_before
    accepted = _log_in_form(world, cookie="a-login-token", field="a-login-token")
    assert accepted.status_code == 303
    assert "cf_session=" in accepted.headers.get("set-cookie", "")


# --- merchant isolation ----------------------------------------------------------------


def b_facts(world: World) -> dict[str, str]:
    """What would give merchant B away on a page of A's."""
    return {
        "B's merchant number": OTHER_MERCHANT,
        "B's name": world.OTHER_NAME,
        "B's RRN": world.B_RRN,
        "B's order number": world.B_ORDER,
        "B's sale": world.entries["b_sale"],
        "B's QR sale": world.entries["b_qr"],
        "B's amount": "1,234.56",
        "B's terminal": world.OTHER_TERMINAL,
        "B's statement file": "cmb_flow.csv",
    }


def leaks(world: World, text: str, *asked: str) -> list[str]:
    """B's facts in ``text``, but for what the request itself asked about (echoed back)."""
    return [
        name
        for name, fact in b_facts(world).items()
        if fact in text and not any(a and (fact in a or a in fact) for a in asked)
    ]


def test_admin_of_all_merchants_sees_b_so_the_refusals_are_about_who_asks(
    world: World,
) -> None:
    for ref in (world.entries["b_sale"], world.B_RRN, world.B_ORDER):
        assert world.request("admin", "GET", f"/api/v1/transactions/{ref}").status_code == 200
        assert world.request("admin", "GET", f"/transactions/{ref}").status_code == 200
    assert (
        world.request("other_terminal", "GET", f"/api/v1/transactions/{world.B_RRN}").json()[
            "entry_id"
        ]
        == (world.entries["b_sale"])
    )


def test_people_of_merchant_a_never_see_merchant_b(world: World) -> None:
    wrong: list[str] = []

    def check(who: str, path: str, status: int, asked: str = "", **options: Any) -> Any:
        response = world.request(who, "GET", path, **options)
        if response.status_code != status:
            wrong.append(f"{who} GET {path} {options}: {response.status_code}, not {status}")
        if found := leaks(world, response.text, asked, *options.get("params", {}).values()):
            wrong.append(f"{who} GET {path} {options} shows {found}")
        return response

    for who in ("cashier", "supervisor", "finance", "auditor"):
        for ref in (world.entries["b_sale"], world.B_RRN, world.B_ORDER):
            check(who, f"/transactions/{ref}", 404, ref)
            check(who, f"/api/v1/transactions/{ref}", 404, ref)
            check(who, f"/transactions/{ref}", 403, ref, params={"merchant": OTHER_MERCHANT})
            check(who, f"/api/v1/transactions/{ref}", 403, ref, params={"merchant": OTHER_MERCHANT})
        for path in ("/dashboard", "/transactions", "/api/v1/transactions"):
            check(who, path, 403, OTHER_MERCHANT, params={"merchant": OTHER_MERCHANT})
        for field, value in (("rrn", world.B_RRN), ("order_no", world.B_ORDER)):
            found = check(who, "/api/v1/transactions", 200, value, params={field: value})
            if found.status_code == 200 and found.json()["total"] != 0:
                wrong.append(f"{who} searching {field}={value} found {found.json()['total']}")
            page = check(who, "/transactions", 200, value, params={field: value})
            if 'id="result-count">0 ' not in page.text:
                wrong.append(f"{who} searching the console for {field}={value} found some")
        # A's own pages: everything of A, nothing of B
        for path in (
            "/dashboard",
            "/transactions",
            f"/transactions/{world.entries['a_sale']}",
            "/api/v1/transactions",
            "/api/v1/me",
        ):
            check(who, path, 200)
        assert world.request(who, "GET", f"/api/v1/transactions/{world.A_RRN}").status_code == 200
        if who in ("finance", "auditor"):  # the readers of statements
            b_import = str(world.imports["b"])
            check(who, f"/statements/{b_import}", 404, b_import)
            check(who, f"/api/v1/statements/{b_import}", 404, b_import)
            for path in ("/statements", "/api/v1/statements", f"/statements/{world.imports['a']}"):
                check(who, path, 200)
    assert not wrong, "\n".join(wrong)


def test_the_audit_log_of_merchant_b_is_out_of_sight(world: World) -> None:
    """The auditor of A reads A's audit records only; the supervisor reads none.

    The auditor's own pages are read first: once the auditor has asked about B, the
    record of that asking (with what was asked) is one of A's records, rightly shown."""
    routes = world.routes()
    paths = ("/audit", "/audit/export", "/api/v1/audit", "/api/v1/audit/export")
    b_terminal = f"terminal:{OTHER_MERCHANT}/{world.OTHER_TERMINAL}"  # B's records' actor
    wrong = [f"GET {path} is not a route (yet)" for path in paths if ("GET", path) not in routes]
    present = [path for path in paths if ("GET", path) in routes]
    for path in present:
        own = world.request("auditor", "GET", path)
        if own.status_code != 200:
            wrong.append(f"auditor GET {path}: {own.status_code}, not 200")
        elif found := leaks(world, own.text):
            wrong.append(f"auditor GET {path} shows {found}")
        elif MERCHANT not in own.text:
            wrong.append(f"auditor GET {path} does not show A's own records")
        supervisor = world.request("supervisor", "GET", path)
        if supervisor.status_code != 403:
            wrong.append(f"supervisor GET {path}: {supervisor.status_code}, not 403")
    for path in present:
        refused = world.request("auditor", "GET", path, params={"merchant": OTHER_MERCHANT})
        if refused.status_code != 403:
            wrong.append(f"auditor GET {path}?merchant=B: {refused.status_code}, not 403")
        for query in ({"actor": "terminal:"}, {"action": "transaction"}):
            found_text = world.request("auditor", "GET", path, params=query).text
            if b_terminal in found_text or world.OTHER_NAME in found_text:
                wrong.append(f"auditor GET {path} {query} shows B's records")
    assert not wrong, "\n".join(wrong)


def test_tokens_of_merchant_a_never_see_merchant_b(world: World) -> None:
    wrong: list[str] = []
    for who in ("terminal", "integration"):
        for ref in (world.entries["b_sale"], world.B_RRN, world.B_ORDER):
            response = world.request(who, "GET", f"/api/v1/transactions/{ref}")
            if response.status_code != 404 or leaks(world, response.text, ref):
                wrong.append(f"{who} reading {ref}: {response.status_code} {response.text[:120]}")
            asked = world.request(
                who, "GET", f"/api/v1/transactions/{ref}", params={"merchant": OTHER_MERCHANT}
            )
            if asked.status_code != 403:
                wrong.append(f"{who} reading {ref} of B by name: {asked.status_code}")
        search = world.request(
            who, "GET", "/api/v1/transactions", params={"merchant": OTHER_MERCHANT}
        )
        if search.status_code != 403:
            wrong.append(f"{who} searching B: {search.status_code}")
        mine = world.request(who, "GET", "/api/v1/transactions", params={"rrn": world.B_RRN})
        if mine.status_code != 200 or mine.json()["total"] != 0:
            wrong.append(f"{who} searching B's RRN: {mine.status_code} {mine.text[:120]}")
        if leaks(world, world.request(who, "GET", "/api/v1/transactions").text):
            wrong.append(f"{who}'s own search shows B")
    # and the other way round: B's terminal does not read A's sale
    other = world.request(
        "other_terminal", "GET", f"/api/v1/transactions/{world.entries['a_sale']}"
    )
    if other.status_code != 404:
        wrong.append(f"B's terminal reading A's sale: {other.status_code}")
    assert not wrong, "\n".join(wrong)


def test_a_terminal_of_merchant_a_cannot_record_for_merchant_b(world: World) -> None:
    before = fingerprint(world.cf)["journal_entries"]
    for payload in (
        sale(merchant_no=OTHER_MERCHANT, terminal_id=world.OTHER_TERMINAL, trace_no="000900"),
        sale(merchant_no=MERCHANT, terminal_id="TERM0009", trace_no="000901"),
    ):
        response = world.request("terminal", "POST", "/api/v1/transactions", json=payload)
        assert response.status_code == 403, response.text
    assert fingerprint(world.cf)["journal_entries"] == before
    own = sale(trace_no="000902", rrn="000049993902", terminal_time=world.now())
    assert own["terminal_id"] == TERMINAL
    assert world.request("terminal", "POST", "/api/v1/transactions", json=own).status_code == 201
