"""Documents and statements in a real browser: a supervisor reprints a slip from the
transaction's page, its QR code is read back from the screen with a real decoder and a
stranger checks it on the public page; one altered character makes it not genuine.
Finance uploads the real UnionPay ZM sample and sees its format, lines and totals.
Screenshots of every step go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from web.test_browser import log_in, set_language

if TYPE_CHECKING:
    from collections.abc import Callable

    from web.conftest import Browse, DemoServer

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
ZM = SAMPLES / "unionpay" / "INN15090588ZM_802310048993424"


@pytest.fixture(scope="module")
def approved_sale(demo_server: DemoServer) -> dict[str, Any]:
    """An approved credit-card sale of the shop, read through the API."""
    with httpx.Client(base_url=demo_server.url, timeout=30) as client:
        login = client.post(
            "/api/v1/session", json={"username": "supervisor", "password": demo_server.password}
        )
        assert login.status_code == 200, login.text
        found = client.get(
            "/api/v1/transactions",
            params={"status": "approved", "type": "sale", "channel": "credit", "per_page": 1},
        )
        assert found.status_code == 200, found.text
        assert found.json()["items"], "the demo has no approved credit-card sale"
        sale: dict[str, Any] = found.json()["items"][0]
        client.delete("/api/v1/session", headers={"X-CSRF-Token": login.json()["csrf_token"]})
    return sale


def test_reprint_then_verify_the_printed_code(
    open_browse: Callable[..., Browse], demo_server: DemoServer, approved_sale: dict[str, Any]
) -> None:
    b = open_browse()
    log_in(b, "supervisor", demo_server.password)
    set_language(b, "en")
    b.page.goto(b.url(f"/transactions/{approved_sale['entry_id']}"))
    expect(b.page.locator("#reprint")).to_be_visible()
    b.page.select_option("#r-copy", "merchant")
    b.page.select_option("#r-reason", "lost")
    b.page.select_option("#r-format", "html")
    b.shot("reprint-form")
    with b.page.context.expect_page() as opened:
        b.page.click("#do-reprint")  # the slip opens in its own tab, ready to print
    slip = opened.value
    slip.wait_for_load_state()
    text = slip.locator("body").inner_text()
    assert "重打印 DUPLICATE" in text
    assert "MERCHANT COPY" in text
    slip.screenshot(path=str(b.shots / f"{b.name}-slip.png"), full_page=True)

    qr = slip.locator("svg").first
    picture = Image.open(io.BytesIO(qr.screenshot())).convert("L")
    read = zxingcpp.read_barcodes(picture)
    assert read, "no QR code could be read from the slip on the screen"
    code = read[0].text.rsplit("/", 1)[-1]
    assert code.startswith("CF1.")

    stranger = open_browse("stranger")  # no login: anyone holding the slip
    response = stranger.page.goto(stranger.url(f"/v/{code}"))
    assert response is not None
    assert response.status == 200
    expect(stranger.page.locator("#verdict")).to_have_class(re.compile("good"))
    amount = int(approved_sale["amount"])
    expect(stranger.page.locator("#amount")).to_contain_text(
        f"{amount // 100:,}.{amount % 100:02d}"
    )
    stranger.shot("genuine")

    position = len(code) // 2
    altered = code[:position] + ("A" if code[position] != "A" else "B") + code[position + 1 :]
    stranger.page.goto(stranger.url(f"/v/{altered}"))
    expect(stranger.page.locator("#verdict")).to_have_class(re.compile("bad"))
    stranger.shot("not-genuine")
    assert not b.errors
    assert not stranger.errors


def test_finance_uploads_a_statement_and_sees_its_totals(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    log_in(b, "finance", demo_server.password)
    set_language(b, "en")
    b.page.goto(b.url("/statements"))
    b.page.set_input_files("#u-file", str(ZM))
    b.shot("upload-form")
    with b.page.expect_navigation(url=re.compile(r"/statements/\d+")):
        b.page.click("#do-upload")
    expect(b.page.locator("#format")).to_have_text("unionpay_zm")
    expect(b.page.locator("#lines")).to_have_text("8")
    expect(b.page.locator("#rejected")).to_have_text("0")
    assert b.page.locator("#checks tbody tr").count() >= 1
    b.shot("import-report")
    b.page.goto(b.url("/statements"))
    expect(b.page.locator("table")).to_contain_text(ZM.name)
    assert not b.errors
