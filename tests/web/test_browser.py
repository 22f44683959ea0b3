"""The console in a real browser: Chromium, the real ``counterfoil serve``, the demo data.

Each of the five demo users logs in and sees the navigation of their role, and every
link in it opens; a wrong password keeps the form with its reason (401); a voided sale
is found by amount and card's last four, its page leads to the void and the void's back
to it; the language switch shows Chinese and is kept for the person; on a phone's
screen nothing scrolls sideways; the keyboard reaches the skip link first, then the
navigation; logging out ends the session. Every page is photographed into
``test-artifacts/screenshots/``.

The demo users are Chinese-first (their language is zh_CN until they switch), so a test
that reads English sets the language first; the tests share one server per process.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:
    from collections.abc import Callable

    from web.conftest import Browse, DemoServer

#: Each test process (xdist worker) that runs some of them starts one server and one
#: browser for all it runs: about ten seconds, once.
pytestmark = pytest.mark.slow

ROLES = ("cashier", "supervisor", "finance", "auditor", "admin")
#: The links of the main navigation each role sees (DESIGN.md "Roles"; services/access.py
#: decides, and this is written out so that a change to the permissions shows here).
_DAY = {"/settlement", "/batches", "/reports", "/cases"}  # a day's lists, batches, reports, cases
NAVIGATION = {
    "cashier": {"/dashboard", "/transactions", "/incidents"},
    "supervisor": {"/dashboard", "/transactions", "/incidents", "/alerts", *_DAY},
    "finance": {
        "/dashboard",
        "/transactions",
        "/statements",
        "/reconcile",
        "/incidents",
        "/alerts",
        *_DAY,
    },
    "auditor": {
        "/dashboard",
        "/transactions",
        "/statements",
        "/reconcile",
        "/incidents",
        "/alerts",
        "/audit",
        *_DAY,
    },
    "admin": {
        "/dashboard",
        "/transactions",
        "/statements",
        "/reconcile",
        "/incidents",
        "/alerts",
        "/audit",
        "/admin/users",
        "/admin/terminals",
        "/admin/merchants",
        "/admin/tokens",
        "/admin/fees",
        *_DAY,
    },
}


# --- helpers ---------------------------------------------------------------------------


def log_in(b: Browse, username: str, password: str, *, expect_status: int = 200) -> Any:
    """Log in through the form; the answer to the form (after its redirect)."""
    if not b.page.url.endswith("/login"):
        b.page.goto(b.url("/login"))
    b.page.fill("#username", username)
    b.page.fill("#password", password)
    with b.page.expect_navigation() as navigation:
        b.page.click("#log-in")
    response = navigation.value
    assert response is not None
    assert response.status == expect_status, (response.status, response.url)
    return response


def language(b: Browse) -> str:
    return str(b.page.get_attribute("html", "lang"))


def set_language(b: Browse, wanted: str) -> None:
    """Switch the console to ``wanted`` ("en" or "zh-CN") with the header's button."""
    if language(b) == wanted:
        return
    with b.page.expect_navigation():
        b.page.click("form[action='/language'] button[name='locale']")
    assert language(b) == wanted


def nav_links(b: Browse) -> list[str]:
    return [str(a.get_attribute("href")) for a in b.page.locator("header nav a").all()]


def sideways_scroll(b: Browse) -> str | None:
    """Why the page is wider than the screen, or None. A phone's browser widens its layout
    viewport to fit (and zooms out), so the page is measured against the screen's width."""
    screen = b.page.viewport_size
    assert screen is not None
    widths = b.page.evaluate(
        "() => ({document: document.documentElement.scrollWidth,"
        " body: document.body.scrollWidth, window: window.innerWidth})"
    )
    if max(widths.values()) <= screen["width"]:
        return None
    return (
        f"{b.page.url} is wider than the screen ({screen['width']} px): {widths}; "
        f"widest: {widest(b, screen['width'])}"
    )


def widest(b: Browse, width: int) -> list[str]:
    """The elements that reach past ``width`` and have no wider parent doing so: culprits."""
    return list(
        b.page.evaluate(
            """width => {
              const out = [];
              for (const e of document.querySelectorAll('body *')) {
                const r = e.getBoundingClientRect();
                if (r.right > width + 1 && !e.closest('.table-wrap')) {
                  const p = e.parentElement && e.parentElement.getBoundingClientRect();
                  if (!p || p.right <= width + 1)
                    out.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                      + (e.className ? '.' + e.className : '') + ' right=' + Math.round(r.right));
                }
              }
              return out.slice(0, 5);
            }""",
            width,
        )
    )


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


@pytest.fixture(scope="module")
def voided(demo_server: DemoServer) -> dict[str, Any]:
    """A voided card sale of the shop and its void, read through the API."""
    with httpx.Client(base_url=demo_server.url, timeout=30) as client:
        login = client.post(
            "/api/v1/session",
            json={"username": "supervisor", "password": demo_server.password},
        )
        assert login.status_code == 200, login.text
        found = client.get(
            "/api/v1/transactions",
            params={"status": "voided", "type": "sale", "channel": "credit", "per_page": 1},
        )
        assert found.status_code == 200, found.text
        assert found.json()["items"], "the demo has no voided credit-card sale"
        sale = found.json()["items"][0]
        entry = client.get(f"/api/v1/transactions/{sale['entry_id']}").json()
        client.delete("/api/v1/session", headers={"X-CSRF-Token": login.json()["csrf_token"]})
    voids = [link for link in entry["links"] if link["type"] == "void"]
    assert len(voids) == 1, entry["links"]
    return {"sale": entry, "void": voids[0], "last4": str(entry["card"])[-4:]}


# --- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_navigation_and_every_link_opens(
    browse: Browse, demo_server: DemoServer, role: str
) -> None:
    b = browse
    b.page.goto(b.url("/login"))
    b.shot("login")
    log_in(b, role, demo_server.password)
    assert b.page.url == b.url("/dashboard")
    b.shot("dashboard")
    links = nav_links(b)
    assert set(links) == NAVIGATION[role], links
    assert len(links) == len(set(links))
    expect(b.page.locator("#logout")).to_be_visible()
    broken = []
    for link in links:
        response = b.page.goto(b.url(link))
        assert response is not None
        if response.status != 200:
            broken.append(f"{link} answered {response.status}")
        elif nav_links(b) != links:  # the same navigation on every page
            broken.append(f"{link} has another navigation: {nav_links(b)}")
        b.shot(link)
    assert not broken, f"{role}: {broken}"
    if role in ("supervisor", "finance", "auditor", "admin"):
        b.page.goto(b.url("/dashboard"))
        expect(b.page.locator("#chart")).to_be_visible()  # thirty days of the merchant
    if role in ("cashier", "supervisor"):  # the shop's people: the restaurant is not theirs
        response = b.page.goto(b.url(f"/dashboard?merchant={demo_server.restaurant}"))
        assert response is not None
        assert response.status == 403
        expect(b.page.locator("#chart")).to_have_count(0)
        b.shot("another-merchant-refused")
    assert not b.errors


def test_a_wrong_password_shows_the_reason_and_stays_401(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    b.page.goto(b.url("/login"))
    log_in(b, "supervisor", "Not-the-password-1", expect_status=401)
    expect(b.page.locator("#login-error")).to_be_visible()
    assert b.page.url == b.url("/login")
    assert b.page.input_value("#username") == "supervisor"
    assert not [c for c in b.page.context.cookies() if c["name"] == "cf_session"]
    b.shot("wrong-password")
    response = b.page.goto(b.url("/dashboard"))
    assert response is not None
    assert response.status == 401
    assert not b.errors


def test_search_finds_a_voided_sale_whose_void_links_back(
    browse: Browse, demo_server: DemoServer, voided: dict[str, Any]
) -> None:
    b, sale, void = browse, voided["sale"], voided["void"]
    log_in(b, "supervisor", demo_server.password)
    set_language(b, "en")
    b.page.goto(b.url("/transactions"))
    b.shot("search-form")
    b.page.fill("#f-amount", yuan(sale["amount"]))
    b.page.fill("#f-last4", voided["last4"])
    b.page.click("#do-search")  # HTMX: the results are replaced in place, the address kept
    b.page.wait_for_url(re.compile(r"last4=" + voided["last4"]))
    count = b.page.locator("#result-count")
    expect(count).to_have_text(re.compile(r"^\s*[1-9]\d* transactions"))
    assert int(count.inner_text().split()[0]) <= 10  # a narrow search, not the whole month
    row = b.page.locator(f"#results a[href='/transactions/{sale['entry_id']}']")
    expect(row).to_have_count(1)
    cells = (
        b.page.locator("#results tbody tr")
        .filter(has=b.page.locator(f"a[href='/transactions/{sale['entry_id']}']"))
        .inner_text()
    )
    assert sale["rrn"] in cells
    card_shown = []  # checked last, so that the links are checked whatever the card shows
    if voided["last4"] not in cells:
        card_shown.append(f"the result's row does not show the card's last four: {cells!r}")
    b.shot("search-results")

    with b.page.expect_navigation():
        row.click()
    assert b.page.url == b.url(f"/transactions/{sale['entry_id']}")
    expect(b.page.locator("#entry-id")).to_have_text(sale["entry_id"])
    expect(b.page.locator("#status")).to_have_text("Voided")
    facts = b.page.locator("dl.facts").inner_text()
    for fact in (sale["merchant_no"], sale["terminal_id"], sale["rrn"], sale["auth_code"]):
        assert fact in facts, f"{fact} is not on the page"
    assert f"¥{int(sale['amount']) // 100:,}.{int(sale['amount']) % 100:02d}" in facts
    card = b.page.locator("dl.facts dt:text-is('Card') + dd")  # BIN and last four
    if card.count() != 1 or not card.inner_text().endswith(voided["last4"]):
        card_shown.append(f"the sale's page does not show the card: {facts!r}")
    links = b.page.locator("#links a")
    expect(links).to_have_count(1)
    assert links.get_attribute("href") == f"/transactions/{void['entry_id']}"
    b.shot("voided-sale")

    with b.page.expect_navigation():
        links.click()
    expect(b.page.locator("#entry-id")).to_have_text(void["entry_id"])
    original = b.page.locator("#original a")
    assert original.get_attribute("href") == f"/transactions/{sale['entry_id']}"
    expect(b.page.locator("#links")).to_have_count(0)  # nothing acts on the void
    b.shot("void")
    with b.page.expect_navigation():
        original.click()
    expect(b.page.locator("#entry-id")).to_have_text(sale["entry_id"])
    assert not b.errors
    assert not card_shown, "\n".join(card_shown)


def test_chinese_is_kept_for_the_person_across_logins(
    open_browse: Callable[..., Browse], demo_server: DemoServer
) -> None:
    b = open_browse("laptop")
    log_in(b, "auditor", demo_server.password)
    set_language(b, "en")
    expect(b.page.locator("header nav")).to_contain_text("Transactions")
    expect(b.page.locator("#logout")).to_have_text("Log out")
    expect(b.page.locator("form[action='/language'] button")).to_have_text("中文")
    b.shot("english")

    set_language(b, "zh-CN")
    expect(b.page.locator("header nav")).to_contain_text("交易")
    expect(b.page.locator("#logout")).to_have_text("退出登录")
    expect(b.page.locator("form[action='/language'] button")).to_have_text("English")
    assert b.page.url == b.url("/dashboard")  # the switch comes back to the same page
    b.shot("chinese-dashboard")
    b.page.goto(b.url("/transactions"))
    expect(b.page.locator("h1")).to_have_text("交易")
    b.shot("chinese-transactions")

    with b.page.expect_navigation():
        b.page.click("#logout")
    assert b.page.url == b.url("/login")
    log_in(b, "auditor", demo_server.password)
    assert language(b) == "zh-CN"
    expect(b.page.locator("#logout")).to_have_text("退出登录")

    # Another device, with an English browser and no cookie of ours: the person's own.
    other = open_browse("phone")
    other.page.goto(other.url("/login"))
    assert language(other) == "en"
    log_in(other, "auditor", demo_server.password)
    assert language(other) == "zh-CN"
    other.shot("chinese-elsewhere")
    set_language(other, "en")  # and back, for the tests that follow
    assert not b.errors
    assert not other.errors


def test_a_phone_screen_never_scrolls_sideways(
    phone: Browse, demo_server: DemoServer, voided: dict[str, Any]
) -> None:
    """The admin's pages carry the most: every link of the navigation, a merchant picker."""
    b, problems = phone, []
    b.page.goto(b.url("/login"))
    problems.append(sideways_scroll(b))
    log_in(b, "admin", demo_server.password)
    for wanted in ("en", "zh-CN"):
        set_language(b, wanted)
        for path in (
            f"/dashboard?merchant={demo_server.shop}",
            f"/transactions?merchant={demo_server.shop}",
            f"/transactions/{voided['sale']['entry_id']}",
        ):
            b.page.goto(b.url(path))
            problems.append(sideways_scroll(b))
            b.shot(f"{wanted}-{path.split('?')[0]}")
    set_language(b, "en")
    found = [p for p in problems if p]
    assert not found, "\n".join(found)
    assert not b.errors


def test_the_keyboard_reaches_the_skip_link_then_the_navigation(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    log_in(b, "finance", demo_server.password)
    b.page.goto(b.url("/transactions"))
    b.page.keyboard.press("Tab")
    focused = b.page.evaluate_handle("document.activeElement")
    assert focused.evaluate("e => e.classList.contains('skip')"), focused.evaluate(
        "e => e.outerHTML"
    )
    box = b.page.locator("a.skip").bounding_box()
    assert box is not None
    assert box["x"] >= 0  # shown on screen when it has the focus
    assert box["y"] >= 0
    b.shot("skip-link")
    order: list[str] = []
    for _step in range(6):
        b.page.keyboard.press("Tab")
        where = b.page.evaluate(
            "() => { const e = document.activeElement;"
            " return (e.closest('nav') ? 'nav ' : e.closest('main') ? 'main ' : 'other ')"
            " + (e.getAttribute('href') || e.id || e.tagName); }"
        )
        order.append(where)
        if where.startswith("nav"):
            break
    assert order[-1] == "nav /dashboard", order
    assert not [w for w in order if w.startswith("main")], order
    b.shot("navigation-focused")

    b.page.goto(b.url("/transactions"))
    b.page.keyboard.press("Tab")
    b.page.keyboard.press("Enter")  # follow the skip link: the focus goes to the content
    assert b.page.evaluate("document.activeElement.id") == "main"
    b.page.keyboard.press("Tab")
    assert b.page.evaluate("!!document.activeElement.closest('main')")
    assert not b.errors


def test_logging_out_ends_the_session(browse: Browse, demo_server: DemoServer) -> None:
    b = browse
    log_in(b, "cashier", demo_server.password)
    b.page.goto(b.url("/transactions"))
    b.shot("cashier-transactions")
    with b.page.expect_navigation():
        b.page.click("#logout")
    assert b.page.url == b.url("/login")
    b.shot("logged-out")
    response = b.page.goto(b.url("/dashboard"))
    assert response is not None
    assert response.status == 401
    expect(b.page.locator("#log-in")).to_be_visible()
    expect(b.page.locator("#logout")).to_have_count(0)
    b.page.go_back()
    b.page.go_back()  # the pages seen before are not kept (no-store): the login again
    expect(b.page.locator("#log-in")).to_be_visible()
    b.shot("back-after-logout")
    assert not b.errors
