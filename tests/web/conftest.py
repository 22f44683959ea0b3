"""The browser harness: the real ``counterfoil serve`` over the demo data, and Chromium.

``demo_server`` makes a data directory of its own on SQLite, runs ``counterfoil init`` and
``counterfoil demo`` and starts the server on 127.0.0.1, once per test process (each
xdist worker has its own). ``browser`` is the system's Chromium (Debian's ``chromium``
package, ``scripts/system-deps.sh``) driven by Playwright's sync API; nothing is
downloaded. ``browse`` gives a test a fresh browser context (no cookies), a page with
bounded timeouts, a recorder of the page's script errors and ``shot(step)``, which
saves a screenshot as ``<test>-<nn>-<step>.png`` under ``test-artifacts/screenshots/``
at the repository root (``COUNTERFOIL_ARTIFACTS`` moves ``test-artifacts``; the server's
log is kept there too, as ``server-<worker>.log``).

``world`` is the in-process side, for the route matrix, CSRF and isolation tests: the
application (``create_app``) over a store with two merchants, their transactions, a
logged-in person of each role, a terminal token and an integration token, and a way to
make a valid request of any route (``World.valid``).
"""

from __future__ import annotations

import glob
import importlib
import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from conftest import MERCHANT, OTHER_MERCHANT, TERMINAL, earlier_today, sale
from counterfoil.api.app import create_app
from counterfoil.config import Settings
from counterfoil.demo.load import DEMO_PASSWORD
from counterfoil.services import sessions, tokens, users
from counterfoil.services import statements as statement_svc
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from serverproc import Server, run_cli

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = (
    os.environ.get("COUNTERFOIL_CHROMIUM")
    or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    or shutil.which("chromium")
    or "/usr/bin/chromium"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
#: Every wait in a browser test is bounded: an action, a navigation, the whole launch.
ACTION_MS = 10_000
NAVIGATION_MS = 15_000
LAUNCH_MS = 30_000


def artifacts_dir() -> Path:
    return Path(os.environ.get("COUNTERFOIL_ARTIFACTS") or ROOT / "test-artifacts")


@dataclass(frozen=True)
class DemoServer:
    """The running server, its data directory and what the demo loaded."""

    url: str
    settings: Settings
    demo: dict[str, Any]
    password: str = DEMO_PASSWORD

    @property
    def shop(self) -> str:
        """The first demo merchant: the cashier's and the supervisor's."""
        return str(self.demo["merchants"][0])

    @property
    def restaurant(self) -> str:
        """The second demo merchant: the supervisor does not see it."""
        return str(self.demo["merchants"][1])


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    home = tmp_path_factory.mktemp("browser-home")
    settings = Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    run_cli(settings, "init")
    demo = json.loads(run_cli(settings, "demo", "--json").stdout)
    server = Server(settings, home / "server.log")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("COUNTERFOIL_WORKERS", "0")  # no batch workers: the pages need none
            server.start(timeout=60)
        yield DemoServer(server.url, settings, demo)
    finally:
        server.stop()  # also when it did not answer in time
        kept = artifacts_dir() / f"server-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
        kept.parent.mkdir(parents=True, exist_ok=True)
        if server.log_path.exists():
            shutil.copyfile(server.log_path, kept)  # the server's own account, kept too


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, demo_server: DemoServer) -> Iterator[Browser]:
    """Chromium; closed before the server stops (its open connections would hold the
    server's graceful shutdown)."""
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_MS
    )
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class Browse:
    """One test's page in a fresh context, its script errors and its screenshots."""

    page: Page
    base: str
    shots: Path
    name: str
    errors: list[str] = field(default_factory=list)
    taken: int = 0

    def url(self, path: str) -> str:
        return self.base + path

    def shot(self, step: str) -> Path:
        self.taken += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", step).strip("-")
        path = self.shots / f"{self.name}-{self.taken:02d}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=True, timeout=ACTION_MS)
        return path


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = artifacts_dir() / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _test_name(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")[:120]


def new_browse(
    browser: Browser, server: DemoServer, shots: Path, name: str, **options: Any
) -> tuple[Browse, Any]:
    """A fresh context (an English browser on a laptop's window unless told) and its page."""
    settings: dict[str, Any] = {
        "viewport": {"width": 1280, "height": 800},
        "locale": "en-US",
        "timezone_id": "Asia/Shanghai",
    }
    context = browser.new_context(**(settings | options))
    context.set_default_timeout(ACTION_MS)
    context.set_default_navigation_timeout(NAVIGATION_MS)
    page = context.new_page()
    browse = Browse(page, server.url, shots, name)
    page.on("pageerror", lambda exc: browse.errors.append(f"page error: {exc}"))
    page.on("console", lambda message: _console(browse, message))
    page.on("response", lambda response: _subresource(browse, response))
    return browse, context


def _console(browse: Browse, message: Any) -> None:
    """A script error or a refused script or style (CSP) is an error of the page."""
    if message.type == "error" and not message.text.startswith("Failed to load resource"):
        browse.errors.append(f"console error: {message.text}")


def _subresource(browse: Browse, response: Any) -> None:
    """A script, style or image of the page that fails (the browser's own icon aside)."""
    request = response.request
    if (
        response.status >= 400
        and request.resource_type != "document"
        and not response.url.endswith("/favicon.ico")
    ):
        browse.errors.append(f"{request.resource_type} {response.url}: {response.status}")


@pytest.fixture
def open_browse(
    browser: Browser, demo_server: DemoServer, screenshots: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Browse]]:
    """Opens pages of fresh browser contexts (another device, say); all closed after."""
    contexts: list[Any] = []
    name = _test_name(request)
    for old in screenshots.glob(f"{glob.escape(name)}-*.png"):
        old.unlink()  # a rerun's screenshots replace the last run's

    def opener(suffix: str = "", **options: Any) -> Browse:
        found, context = new_browse(
            browser, demo_server, screenshots, name + (f"-{suffix}" if suffix else ""), **options
        )
        contexts.append(context)
        return found

    try:
        yield opener
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def browse(open_browse: Callable[..., Browse]) -> Browse:
    """A page of a fresh browser context: an English browser on a laptop's window."""
    return open_browse()


#: A phone's screen: 390 × 844 CSS pixels, touch, a phone's pixel ratio.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture
def phone(open_browse: Callable[..., Browse]) -> Browse:
    """A page of a fresh browser context on a phone."""
    return open_browse(**PHONE)


# --- the in-process application, for the route matrix, CSRF and isolation tests ---------

PASSWORD = "Ledger-proof-42"
PERSONS = ("cashier", "supervisor", "finance", "auditor", "admin")
#: Not routes of the application's own: the static files (checked in test_console_pages).
MOUNTS = frozenset({"/static"})


def now_local() -> str:
    """A moment of today in Shanghai (the business day the cashier sees), a little ago."""
    return earlier_today(2)


def plain(path: str) -> str:
    """``/transactions/{ref:path}`` → ``/transactions/{ref}``."""
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(METHOD, path) of every route the application answers, HEAD aside (mounts skipped)."""
    try:  # FastAPI ≥ 0.12x keeps included routers lazily: iterate their routes
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - an older FastAPI: one flat list
        routes = list(app.routes)
    found: set[tuple[str, str]] = set()
    for route in routes:
        methods = getattr(route, "methods", None)
        path = plain(str(getattr(route, "path", "")))
        if not methods:
            assert path in MOUNTS, f"a mount or route without methods: {path}"
            continue
        found.update((method, path) for method in methods if method != "HEAD")
    return found


def matrix_modules() -> list[ModuleType]:
    """The access matrix's rows kept next to their routes' tests: ``tests/web/matrix_*.py``.

    Each has ``EXPECTED`` ((METHOD, path) → the callers that succeed) and may have
    ``BUILDERS`` ((METHOD, path) → a function of the ``World`` making the rest of a valid
    request) and ``PATH_VALUES`` (a path parameter's name → a function of the ``World``
    giving a value that exists)."""
    return [
        importlib.import_module(f"web.{path.stem}")
        for path in sorted(Path(__file__).parent.glob("matrix_*.py"))
    ]


@pytest.fixture
def routes_of_app(sqlite_template: Path, tmp_path: Path) -> Iterator[set[tuple[str, str]]]:
    """The routes of the application (over an empty SQLite store; never started)."""
    shutil.copyfile(sqlite_template, tmp_path / "counterfoil.db")
    cf = Counterfoil.open(
        Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'counterfoil.db'}"),
        upgrade=False,
    )
    try:
        yield app_routes(create_app(cf))
    finally:
        cf.close()


@dataclass
class World:
    """A store with two merchants (A: ``MERCHANT``, B: ``OTHER_MERCHANT``), today's
    transactions of each, a person of each role logged in (all of A; the admin of all), a
    terminal token of each merchant, an integration token of A, and a client of the app.

    ``request`` sends one request as a caller: "anonymous", "terminal" (A's),
    "other_terminal" (B's), "integration" (A's, transactions.read) or a role's name (the
    user of that name), with the CSRF token for a person's change unless told otherwise.
    ``valid(method, path)`` gives the path and options of a request the route would
    accept: path parameters of things that exist (``url``, ``path_value``), and a body or
    query where one is needed (the builders here, and those of ``tests/web/matrix_*.py``).
    Logins are cheap here: argon2 runs at its lowest cost (``CHEAP_HASHER``).
    """

    cf: Counterfoil
    client: TestClient
    terminal_token: str
    other_terminal_token: str
    integration_token: str
    integration_id: int
    sessions: dict[str, tuple[str, str]]  # username → (session cookie, CSRF token)
    entries: dict[str, str]  # a_sale, a_qr, a_refund, b_sale, b_qr → entry id
    imports: dict[str, int]  # a, b → the id of a statement file imported for the merchant
    _code: str = ""

    OTHER_TERMINAL = "REST0001"
    OTHER_NAME = "隔壁饭店"
    A_RRN = "000049993101"
    A_REFUND_RRN = "000049993102"
    A_ORDER = "4200000001202611230000000001"
    B_RRN = "000077770001"
    B_ORDER = "4200000009202611230000000009"
    B_LAST4 = "9876"
    B_AMOUNT = 123456
    #: Requests that end the caller's session (the person logs in again after).
    ENDS_SESSION = frozenset({("DELETE", "/api/v1/session"), ("POST", "/logout")})

    def headers(self, who: str, csrf: str | None = "valid") -> dict[str, str]:
        """Headers for a request as ``who``: a person's cookie (and, unless ``csrf`` is
        None, the CSRF token: the session's if "valid", else the value given), a token's
        Authorization, or nothing for ``anonymous``."""
        bearer = {
            "terminal": self.terminal_token,
            "other_terminal": self.other_terminal_token,
            "integration": self.integration_token,
        }
        if who == "anonymous":
            return {}
        if who in bearer:
            return {"Authorization": f"Bearer {bearer[who]}"}
        cookie, token = self.sessions[who]
        found = {"Cookie": f"cf_session={cookie}"}
        if csrf is not None:
            found["X-CSRF-Token"] = token if csrf == "valid" else csrf
        return found

    def now(self) -> str:
        return now_local()

    def request(self, who: str, method: str, path: str, **options: Any) -> Any:
        """One request as ``who``, with no cookie left over from an earlier answer.

        ``csrf``: "valid" (the default), None (none sent) or a wrong value to send;
        ``cookie``: more cookies, as a Cookie header's text; the rest goes to httpx."""
        csrf = options.pop("csrf", "valid")
        headers = self.headers(who, csrf) | options.pop("headers", {})
        if extra := options.pop("cookie", None):
            headers["Cookie"] = "; ".join(c for c in (headers.get("Cookie"), extra) if c)
        self.client.cookies.clear()
        try:
            return self.client.request(method, path, headers=headers, **options)
        finally:
            self.client.cookies.clear()

    def fresh_session(self, username: str) -> None:
        """Log ``username`` in again (after a request that ended the session)."""
        token, session = sessions.log_in(self.cf, username, PASSWORD, source="testclient")
        self.sessions[username] = (token, session.csrf_token)

    def routes(self) -> set[tuple[str, str]]:
        return app_routes(self.client.app)

    # --- valid requests of each route --------------------------------------------------

    def path_values(self) -> dict[str, str]:
        """A value for each path parameter: things that exist in this store."""
        return {
            "ref": self.entries["a_sale"],
            "entry_id": self.entries["a_sale"],
            "merchant_no": MERCHANT,
            "terminal_id": TERMINAL,
            "token_id": str(self.integration_id),
            "username": "spare",  # a user of A who is no caller here: may be disabled
            "import_id": str(self.imports["a"]),
        }

    def path_value(self, name: str) -> str:
        if name == "code":
            return self.verification_code()
        values = self.path_values()
        if name in values:
            return values[name]
        for module in matrix_modules():
            given = getattr(module, "PATH_VALUES", {})
            if name in given:
                return str(given[name](self))
        raise AssertionError(
            f"no value for the path parameter {{{name}}}: add one to World.path_values "
            "or to PATH_VALUES of the routes' tests/web/matrix_*.py"
        )

    def verification_code(self) -> str:
        """The verification code of a slip of A's sale, printed once by the supervisor."""
        if not self._code:
            printed = self.request(
                "supervisor",
                "POST",
                "/api/v1/receipts",
                json={"ref": self.entries["a_sale"], "copy": "merchant", "reason": "lost"},
            )
            assert printed.status_code == 200, printed.text
            self._code = printed.headers["X-Verification-Code"]
        return self._code

    def url(self, path: str, **given: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            return given[name] if name in given else self.path_value(name)

        return re.sub(r"\{(\w+)\}", value, path)

    def valid(self, method: str, path: str) -> dict[str, Any]:
        """The path and options of a request of the route that the route would accept."""
        options: dict[str, Any] = {}
        if (method, path) in _BUILDERS:
            options = getattr(self, _BUILDERS[(method, path)])()
        else:
            for module in matrix_modules():
                build = getattr(module, "BUILDERS", {}).get((method, path))
                if build is not None:
                    options = build(self)
                    break
        values = options.pop("values", {})
        return {"path": self.url(path, **values), **options}

    def _new_sale(self) -> dict[str, Any]:
        trace = f"{next(_traces):06d}"
        return {"json": sale(trace_no=trace, rrn=f"0000500{trace[1:]}", terminal_time=now_local())}

    def _new_batch(self) -> dict[str, Any]:
        return {"json": {"transactions": [self._new_sale()["json"]]}}

    def _search(self) -> dict[str, Any]:
        return {"params": {"merchant": MERCHANT}}  # the operator's admin has no one merchant

    def _log_in_json(self) -> dict[str, Any]:
        return {"json": {"username": "supervisor", "password": PASSWORD}}

    def _log_in_form(self) -> dict[str, Any]:
        return {
            "cookie": "cf_login=matrix-login-token",
            "data": {
                "username": "supervisor",
                "password": PASSWORD,
                "login_token": "matrix-login-token",
                "next": "/dashboard",
            },
        }

    def _language(self) -> dict[str, Any]:
        return {"data": {"locale": "en", "back": "/dashboard"}}

    def _merchant_query(self) -> dict[str, Any]:
        return {"params": {"merchant": MERCHANT}}

    # the administration: each request adds something new, or acts on a spare thing

    def _user_form(self) -> dict[str, Any]:
        username = f"new{next(_serial)}"
        return {
            "data": {
                "username": username,
                "password": PASSWORD,
                "role": "supervisor",
                "merchants": MERCHANT,
                "locale": "en",
            }
        }

    def _user_json(self) -> dict[str, Any]:
        return {"json": self._user_form()["data"] | {"merchants": [MERCHANT]}}

    def _password_form(self) -> dict[str, Any]:
        return {"data": {"password": f"Another-proof-{next(_serial)}"}}

    def _terminal_form(self) -> dict[str, Any]:
        return {
            "data": {"merchant": MERCHANT, "terminal_id": f"NEWT{next(_serial):04d}", "name": "x"}
        }

    def _terminal_json(self) -> dict[str, Any]:
        form = self._terminal_form()["data"]
        return {"json": {"merchant_no": MERCHANT, "terminal_id": form["terminal_id"]}}

    def _merchant_form(self) -> dict[str, Any]:
        return {
            "data": {
                "merchant_no": f"10231004899{next(_serial):04d}",
                "name": "新商户",
                "timezone": "Asia/Shanghai",
            }
        }

    def _merchant_json(self) -> dict[str, Any]:
        return {"json": self._merchant_form()["data"]}

    def _fee_form(self) -> dict[str, Any]:
        starts = date.today() + timedelta(days=next(_serial))  # one rule a day: no conflict
        return {
            "data": {
                "merchant": MERCHANT,
                "channel": "credit",
                "rate": "0.55",
                "cap": "",
                "effective_from": starts.isoformat(),
            }
        }

    def _fee_json(self) -> dict[str, Any]:
        form = self._fee_form()["data"]
        return {
            "json": {
                "merchant_no": MERCHANT,
                "channel": "credit",
                "rate": "0.55",
                "effective_from": form["effective_from"],
            }
        }

    def _token_form(self) -> dict[str, Any]:
        return {"data": {"merchant": MERCHANT, "name": "feed", "scopes": ["transactions.read"]}}

    def _token_json(self) -> dict[str, Any]:
        return {"json": {"merchant_no": MERCHANT, "name": "feed", "scopes": ["transactions.read"]}}

    def _upload(self) -> dict[str, Any]:
        """A statement file of A's, as the console's and the API's upload send it."""
        sample = STATEMENTS / "alipay_trade.csv"
        return {
            "files": {"file": (sample.name, sample.read_bytes(), "text/csv")},
            "data": {"merchant": MERCHANT},
        }

    def _reprint_form(self) -> dict[str, Any]:
        return {"data": {"reason": "lost", "copy": "merchant", "format": "html"}}

    def _reprint_json(self) -> dict[str, Any]:
        return {
            "json": {
                "ref": self.entries["a_sale"],
                "copy": "merchant",
                "format": "text80",
                "reason": "lost",
            }
        }

    def _certificate_form(self) -> dict[str, Any]:
        return {"data": {"format": "html", "locale": "en"}}

    def _certificate_json(self) -> dict[str, Any]:
        return {"json": {"ref": self.entries["a_sale"], "format": "html", "locale": "en"}}

    def _find_payment(self) -> dict[str, Any]:
        return {"params": {"merchant": MERCHANT, "order_no": self.A_ORDER}}

    def _spare_token(self) -> dict[str, Any]:
        """A token made for the request to revoke (never the integration's own)."""
        _token, info = tokens.add_token(self.cf, MERCHANT, "spare", ["transactions.read"])
        return {"values": {"token_id": str(info.id)}, "data": {"merchant": MERCHANT}}

    def _spare_token_delete(self) -> dict[str, Any]:
        return {"values": self._spare_token()["values"]}


_traces = itertools.count(100)
_serial = itertools.count(1)
#: The routes that need more than their path to be valid (default: no body, no query).
_BUILDERS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/transactions"): "_new_sale",
    ("POST", "/api/v1/transactions/batch"): "_new_batch",
    ("GET", "/api/v1/transactions"): "_search",
    ("POST", "/api/v1/session"): "_log_in_json",
    ("POST", "/login"): "_log_in_form",
    ("POST", "/language"): "_language",
    ("POST", "/admin/users"): "_user_form",
    ("POST", "/admin/users/{username}/password"): "_password_form",
    ("POST", "/admin/terminals"): "_terminal_form",
    ("POST", "/admin/merchants"): "_merchant_form",
    ("POST", "/admin/fees"): "_fee_form",
    ("POST", "/admin/tokens"): "_token_form",
    ("POST", "/admin/tokens/{token_id}/revoke"): "_spare_token",
    ("POST", "/api/v1/admin/users"): "_user_json",
    ("POST", "/api/v1/admin/terminals"): "_terminal_json",
    ("POST", "/api/v1/admin/merchants"): "_merchant_json",
    ("GET", "/api/v1/admin/fee-rules"): "_merchant_query",
    ("POST", "/api/v1/admin/fee-rules"): "_fee_json",
    ("POST", "/api/v1/admin/tokens"): "_token_json",
    ("DELETE", "/api/v1/admin/tokens/{token_id}"): "_spare_token_delete",
    ("POST", "/statements"): "_upload",
    ("POST", "/api/v1/statements"): "_upload",
    ("POST", "/transactions/{ref}/reprint"): "_reprint_form",
    ("POST", "/api/v1/receipts"): "_reprint_json",
    ("POST", "/transactions/{ref}/certificate"): "_certificate_form",
    ("POST", "/api/v1/certificates"): "_certificate_json",
    ("GET", "/api/v1/certificates/find"): "_find_payment",
}


def _post(client: TestClient, token: str, payload: dict[str, Any]) -> str:
    response = client.post(
        "/api/v1/transactions", json=payload, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["entry"]["entry_id"])


def _qr(card_sale: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A WeChat Pay sale of the same terminal: an order number, no card."""
    payload = {k: v for k, v in card_sale.items() if k not in ("card", "rrn", "auth_code")}
    return payload | {"channel": "wechat", "entry_mode": "qr_scan"} | changes


#: Statement files of the importers' tests, in the formats the upload recognises.
STATEMENTS = Path(__file__).resolve().parents[1] / "importers" / "fixtures"

#: argon2id at its cheapest: these tests are about who may do what, not about hashing
#: (services/test_users.py tests the real parameters); each login would cost 0.3 s.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def world(
    cf: Counterfoil, shop: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    monkeypatch.setattr(users, "_hasher", CHEAP_HASHER)
    add_merchant(cf, OTHER_MERCHANT, World.OTHER_NAME)
    _row, other_token = add_terminal(cf, OTHER_MERCHANT, World.OTHER_TERMINAL, "Front desk")
    users.add_user(cf, "spare", PASSWORD, "supervisor", [MERCHANT], locale="en")
    for role in PERSONS:
        users.add_user(
            cf,
            role,
            PASSWORD,
            role,
            [] if role == "admin" else [MERCHANT],
            locale="en",
            terminals=[(MERCHANT, TERMINAL)] if role == "cashier" else None,
        )
    integration, info = tokens.add_token(cf, MERCHANT, "erp", ["transactions.read"])
    imports = {
        "a": statement_svc.import_file(
            cf, STATEMENTS / "wechat_success_20.csv", merchant_no=MERCHANT
        ).import_id,
        "b": statement_svc.import_file(
            cf, STATEMENTS / "cmb_flow.csv", merchant_no=OTHER_MERCHANT
        ).import_id,
    }
    # An address of its own (TEST-NET-1): what is limited by address (the public
    # verification of slips) is not used up by other tests of the process.
    address = (f"192.0.2.{next(_serial) % 250 + 1}", 50000)
    with TestClient(
        create_app(cf), follow_redirects=False, raise_server_exceptions=False, client=address
    ) as client:
        token, when = shop["token"], now_local()
        a_sale = sale(rrn=World.A_RRN, terminal_time=when)
        entries = {"a_sale": _post(client, token, a_sale)}
        entries["a_refund"] = _post(
            client,
            token,
            a_sale
            | {
                "trace_no": "000002",
                "type": "refund",
                "amount": 50000,
                "rrn": World.A_REFUND_RRN,
                "original": {"rrn": World.A_RRN},
            },
        )
        entries["a_qr"] = _post(
            client, token, _qr(a_sale, trace_no="000003", amount=2500, order_no=World.A_ORDER)
        )
        b_sale = sale(
            merchant_no=OTHER_MERCHANT,
            terminal_id=World.OTHER_TERMINAL,
            rrn=World.B_RRN,
            amount=World.B_AMOUNT,
            card=f"622202******{World.B_LAST4}",
            terminal_time=when,
        )
        entries["b_sale"] = _post(client, other_token, b_sale)
        entries["b_qr"] = _post(
            client,
            other_token,
            _qr(b_sale, trace_no="000002", amount=4321, order_no=World.B_ORDER),
        )
        found = World(cf, client, token, other_token, integration, info.id, {}, entries, imports)
        for role in PERSONS:
            found.fresh_session(role)
        yield found
