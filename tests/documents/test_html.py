"""HTML slips, parsed back: the fields in order, every value escaped, nothing to fetch and
no script, the QR code rebuilt from its SVG path and decoded; and in Chromium, printed
on an 80 mm roll and photographed, the QR code read from the screenshot.

Golden files: ``golden/<slip>.html``, regenerated on purpose only, with
``COUNTERFOIL_REGENERATE_GOLDEN=1`` (see ``test_golden``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import zxingcpp
from pypdf import PdfReader

from counterfoil.documents.code import verify_code
from counterfoil.documents.html import qr_svg, render_html
from counterfoil.documents.pdf import MM

from .samples import CARD_SALE, GOLDEN, MERCHANT, PUBLIC_KEYS, slip_for
from .test_golden import assert_golden
from .test_pdf import qr_image

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM = os.environ.get("COUNTERFOIL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
HOSTILE = '<script>alert("x")</script> & <img src=x onerror=alert(1)> "店"'
RUN = re.compile(r"M(\d+) (\d+)h(\d+)v1h-\3z")


class Parsed(HTMLParser):
    """The document's elements, the fields (dt, dd) and the text of a few classes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.fields: list[tuple[str, str]] = []
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str]] = []
        self._dt = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "path", "br"):
            self._open.append((tag, dict(attrs).get("class") or ""))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag not in ("meta", "path", "br"):
            assert self._open.pop()[0] == tag

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        tag, classes = self._open[-1]
        if tag == "dt":
            self._dt = data
        elif tag == "dd":
            self.fields.append((self._dt, data))
        elif classes:
            self.texts[classes] = self.texts.get(classes, "") + data
        elif tag in ("h1", "title", "figcaption", "style"):
            self.texts[tag] = self.texts.get(tag, "") + data


def parse(html: str) -> Parsed:
    parsed = Parsed()
    parsed.feed(html)
    parsed.close()
    assert not parsed._open, "an element is not closed"
    return parsed


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_html_slip_matches_its_golden_file(name: str) -> None:
    assert_golden(render_html(GOLDEN[name]), f"{name}.html")


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_html_carries_every_field_of_the_slip_in_order(name: str) -> None:
    slip = GOLDEN[name]
    parsed = parse(render_html(slip))
    assert parsed.fields == [(f.label, f.value) for s in slip.sections() for f in s]
    assert parsed.texts["h1"] == slip.title
    assert parsed.texts["copy"] == slip.copy_label
    assert parsed.texts["code"] == slip.verification
    assert ("reprint" in parsed.texts) == bool(slip.reprint_no)
    assert any(c == "signature" for _tag, a in parsed.tags for c in [a.get("class")]) == (
        slip.needs_signature
    )


def test_a_reprint_is_marked_with_its_number_and_the_total_stands_out() -> None:
    parsed = parse(render_html(GOLDEN["card_sale_cardholder_reprint2"]))
    assert parsed.texts["reprint"] == "重打印 DUPLICATE NO.2"
    classes = [a.get("class") for tag, a in parsed.tags if tag in ("dl", "div")]
    assert "amounts" in classes
    assert "field total" in classes


def test_every_value_is_escaped() -> None:
    entry = {**CARD_SALE, "remarks": HOSTILE, "issuer": "</dd><script>x()</script>"}
    slip = slip_for(entry, merchant={**MERCHANT, "name": HOSTILE})
    html = render_html(slip)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in html
    parsed = parse(html)
    assert {tag for tag, _attrs in parsed.tags} <= {
        "html", "head", "meta", "title", "style", "body", "article", "header", "h1", "p",
        "dl", "div", "dt", "dd", "figure", "figcaption", "svg", "path",
    }  # fmt: skip
    assert not any(name.startswith("on") for _tag, attrs in parsed.tags for name in attrs)
    assert dict(parsed.fields)["商户名称 MERCHANT NAME"] == slip.merchant_name
    assert dict(parsed.fields)["备注 REFERENCE"] == slip.remarks


def test_the_document_stands_alone_without_script() -> None:
    html = render_html(GOLDEN["card_sale_merchant"])
    parsed = parse(html)
    for _tag, attrs in parsed.tags:
        assert "src" not in attrs
        assert "href" not in attrs
    assert "url(" not in parsed.texts["style"]
    assert "@import" not in parsed.texts["style"]
    policy = next(a["content"] for t, a in parsed.tags if a.get("http-equiv"))
    assert policy is not None
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # none: default-src 'none' forbids every script
    assert "@media print" in parsed.texts["style"]
    assert html.startswith("<!DOCTYPE html>\n")


def test_the_same_slip_gives_the_same_document() -> None:
    slip = GOLDEN["refund"]
    assert render_html(slip) == render_html(slip)


def qr_from_svg(html: str) -> list[list[int]]:
    path = re.search(r'<path d="([^"]*)"/>', html)
    side = re.search(r'viewBox="0 0 (\d+) \1"', html)
    assert path is not None
    assert side is not None
    size = int(side.group(1))
    grid = [[0] * size for _ in range(size)]
    runs = RUN.findall(path.group(1))
    assert "".join(f"M{x} {y}h{n}v1h-{n}z" for x, y, n in runs) == path.group(1)
    for x, y, n in runs:
        for column in range(int(x), int(x) + int(n)):
            grid[int(y)][column] = 1
    return [row[4:-4] for row in grid[4:-4]]  # without the quiet zone


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_qr_code_in_the_html_reads_back_and_verifies(name: str) -> None:
    slip = GOLDEN[name]
    found = zxingcpp.read_barcode(qr_image(qr_from_svg(render_html(slip))))
    assert found is not None
    assert found.text == slip.verification
    assert verify_code(found.text, PUBLIC_KEYS).genuine


def test_a_slip_without_a_code_has_no_qr_code() -> None:
    html = render_html(replace(GOLDEN["card_sale_merchant"], verification=None))
    assert "<svg" not in html
    assert "扫码验证" not in html
    assert qr_svg("x")[0] == 21 + 8


# --- in a browser -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/system-deps.sh (Debian's chromium)")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            timeout=30_000,
        )
        try:
            yield chromium
        finally:
            chromium.close()


def test_in_a_browser_the_qr_code_scans_and_the_slip_prints_on_an_80mm_roll(
    browser: Browser,
) -> None:
    slip = slip_for(CARD_SALE, merchant={**MERCHANT, "name": HOSTILE}, reprint_no=1)
    page = browser.new_page(viewport={"width": 480, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.set_content(render_html(slip), timeout=15_000)
        assert page.evaluate("() => document.scripts.length") == 0
        shot = page.locator("figure.verify svg").screenshot(timeout=10_000)
        found = zxingcpp.read_barcode(_grey(shot))
        assert found is not None
        assert found.text == slip.verification
        assert verify_code(found.text, PUBLIC_KEYS).genuine
        assert page.locator("dd").first.inner_text() == slip.merchant_name  # as text

        page.emulate_media(media="print")
        width = page.evaluate("() => document.querySelector('.slip').getBoundingClientRect().width")
        assert abs(width - 80 * 96 / 25.4) < 1  # 80 mm at 96 CSS pixels an inch
        pdf = page.pdf(width="80mm", height="297mm", print_background=True)
        printed = PdfReader(io.BytesIO(pdf))
        assert len(printed.pages) == 1
        assert round(float(printed.pages[0].mediabox.width) / MM) == 80
        text = "".join(printed.pages[0].extract_text().split())
        assert "RMB128.50" in text
        assert "重打印DUPLICATENO.1" in text
    finally:
        page.close()
    assert not errors, errors


def _grey(png: bytes) -> object:
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("L")
