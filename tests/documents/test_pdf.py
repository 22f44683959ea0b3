"""PDF slips, read back: the text (pypdf), the page sizes, the embedded font, the QR code
(rebuilt from the content stream and decoded by zxing-cpp) and the bytes themselves.

Golden files: ``golden/<slip>.<page>.pdf.txt`` holds the SHA-256 of the document and a
dump of what is drawn where (millimetres from the top left), so that a change of layout
shows as a readable diff; regenerate them on purpose only, with
``COUNTERFOIL_REGENERATE_GOLDEN=1`` (see ``test_golden``). The SHA-256 depends on the
ReportLab version and on the font file (Debian's fonts-wqy-microhei): an upgrade of
either changes it, and the dump says whether anything else changed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from counterfoil.core.errors import ValidationError
from counterfoil.documents.code import verify_code
from counterfoil.documents.fonts import (
    DEBIAN_PACKAGE,
    FontFile,
    FontMissing,
    cjk_font,
    find_cjk_font,
)
from counterfoil.documents.pdf import (
    LAYOUTS,
    MM,
    MONO,
    PAGES,
    Frame,
    Qr,
    Rule,
    Text,
    paginate,
    render_pdf,
    slip_blocks,
    text_width,
)
from counterfoil.documents.slip import Slip
from counterfoil.i18n import translate

from .samples import CARD_SALE, GOLDEN, MERCHANT, PUBLIC_KEYS, WECHAT, slip_for
from .test_golden import assert_golden

QR_PATH = re.compile(
    rb"q 0 g ([\d.]+) 0 0 [\d.]+ ([\d.]+) ([\d.]+) cm\n((?:\d+ \d+ \d+ 1 re\n)+)f Q"
)
CHINESE = "商户名称老街坊小吃店漕溪北路上海市徐汇区银联微信支付宝退货撤销（）【】，。、：；！？　"


def reader(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def page_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in reader(data).pages)


def squeezed(text: str) -> str:
    return "".join(text.split())


# --- what the document says -------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_pdf_carries_every_field_of_the_slip(name: str, page: str) -> None:
    slip = GOLDEN[name]
    text = squeezed(page_text(render_pdf(slip, page)))
    for section in slip.sections():
        for item in section:
            assert squeezed(item.label) in text, item.label
            assert squeezed(item.value) in text, (item.label, item.value)
    for header in (slip.title, slip.copy_label, *slip.consent):
        assert squeezed(header) in text
    assert slip.verification
    assert slip.verification in text  # printed under the QR code, whole
    assert ("持卡人签名CARDHOLDERSIGNATURE" in text) == slip.needs_signature


def test_a_card_sale_shows_the_merchant_the_amounts_and_the_card() -> None:
    text = page_text(render_pdf(GOLDEN["card_sale_merchant"], "roll80"))
    assert "老街坊小吃店（漕溪北路店）" in text
    assert "商户存根 MERCHANT COPY" in text
    assert "RMB 123.50" in text
    assert "RMB 5.00" in text
    assert "RMB 128.50" in text
    assert "622202******0123" in text
    assert "重打印" not in text


def test_a_reprint_is_marked_with_its_number() -> None:
    text = page_text(render_pdf(GOLDEN["card_sale_cardholder_reprint2"], "a6"))
    assert "重打印 DUPLICATE NO.2" in text
    assert "持卡人存根 CARDHOLDER COPY" in text
    blocks = slip_blocks(GOLDEN["card_sale_cardholder_reprint2"], LAYOUTS["a6"])
    assert sum(isinstance(op, Frame) for block in blocks for op in block.ops) == 1  # framed


def test_a_refund_shows_money_given_back_and_the_original() -> None:
    text = page_text(render_pdf(GOLDEN["refund"], "roll58"))
    assert "RMB -45.00" in text
    assert "原参考号ORIG.REFERNO." in squeezed(text)
    assert "000049993190" in text


def test_the_amount_to_pay_is_the_largest_bold_value() -> None:
    for page, layout in LAYOUTS.items():
        slip = GOLDEN["card_sale_merchant"]
        texts = [op for b in slip_blocks(slip, layout) for op in b.ops if isinstance(op, Text)]
        total = next(op for op in texts if op.text == "RMB 128.50")
        assert total.bold, page
        assert total.size == layout.amount > layout.body, page
        assert next(op for op in texts if op.text == "RMB 5.00").bold, page  # the tip: bold
        assert not next(op for op in texts if op.text == "000123").bold, page


# --- the same slip, the same bytes -------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_the_same_slip_gives_the_same_bytes(page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    slip = GOLDEN["card_sale_merchant"]
    first = render_pdf(slip, page)
    assert render_pdf(slip, page) == first
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # ReportLab's clock for its dates
    assert render_pdf(slip, page) == first


def test_the_bytes_do_not_depend_on_the_process() -> None:
    """A fresh interpreter, with another hash seed, writes the same document."""
    slip = GOLDEN["preauth_completion"]
    script = (
        "import hashlib, sys\n"
        "from documents.samples import GOLDEN\n"
        "from counterfoil.documents.pdf import render_pdf\n"
        "sys.stdout.write(hashlib.sha256(render_pdf(GOLDEN['preauth_completion'], 'a6'))"
        ".hexdigest())\n"
    )
    tests = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(tests)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout == hashlib.sha256(render_pdf(slip, "a6")).hexdigest()


def test_the_document_is_dated_at_the_transaction_and_named_by_its_content() -> None:
    slip = GOLDEN["card_sale_merchant"]
    document = reader(render_pdf(slip, "roll80"))
    assert document.metadata is not None
    assert str(document.metadata["/CreationDate"]) == "D:20261120140509+08'00'"
    assert str(document.metadata["/ModDate"]) == "D:20261120140509+08'00'"
    other = reader(render_pdf(GOLDEN["refund"], "roll80"))
    assert document.trailer["/ID"] != other.trailer["/ID"]


@pytest.mark.parametrize("page", PAGES)
def test_a_reprint_differs_from_the_first_print_only_in_its_marking(page: str) -> None:
    first, again = slip_for(CARD_SALE, "cardholder"), slip_for(CARD_SALE, "cardholder", 3)
    mark = "重打印 DUPLICATE NO.3"

    def drawn(slip: Slip) -> list[str]:
        blocks = slip_blocks(slip, LAYOUTS[page])
        return [op.text for block in blocks for op in block.ops if isinstance(op, Text)]

    assert [text for text in drawn(again) if text != mark] == drawn(first)
    first_text = squeezed(page_text(render_pdf(first, page)))
    assert squeezed(page_text(render_pdf(again, page))).replace(squeezed(mark), "") == first_text


# --- pages ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_a_roll_is_as_long_as_its_slip_and_a6_is_one_a6_page(name: str) -> None:
    sizes = {}
    for page in PAGES:
        pages = reader(render_pdf(GOLDEN[name], page)).pages
        assert len(pages) == 1, page
        box = pages[0].mediabox
        sizes[page] = (round(float(box.width) / MM, 1), round(float(box.height) / MM, 1))
    assert sizes["roll58"][0] == 58.0
    assert sizes["roll80"][0] == 80.0
    assert sizes["a6"] == (105.0, 148.0)
    assert 100 < sizes["roll58"][1] < 250
    assert 100 < sizes["roll80"][1] < 250


def test_a_slip_longer_than_a6_goes_on_to_a_second_page_whole() -> None:
    remarks = "，".join(["桌号 12 两位客人 加一份小笼包 不要香菜"] * 12)
    slip = slip_for({**CARD_SALE, "remarks": remarks})
    data = render_pdf(slip, "a6")
    assert len(reader(data).pages) == 2
    text = squeezed(page_text(data))
    assert squeezed(remarks) in text
    layout = LAYOUTS["a6"]
    assert layout.height is not None
    for _height, blocks in paginate(slip_blocks(slip, layout), layout):
        assert sum(b.height for b in blocks) <= layout.height - 2 * layout.margin


def test_only_the_known_pages() -> None:
    with pytest.raises(ValidationError) as caught:
        render_pdf(GOLDEN["refund"], "a4")
    assert caught.value.field == "page"


def assert_inside_the_column(slip: Slip) -> None:
    for page, layout in LAYOUTS.items():
        left, right = layout.margin, layout.width - layout.margin
        for block in slip_blocks(slip, layout):
            for op in block.ops:
                if isinstance(op, Text):
                    end = op.x + text_width(op.text, op.size, op.font)
                    assert left - 0.01 <= op.x <= end <= right + 0.01, (page, op.text)
                elif isinstance(op, Rule):
                    assert left - 0.01 <= op.x0 <= op.x1 <= right + 0.01, page
                elif isinstance(op, Qr | Frame):
                    width = op.side if isinstance(op, Qr) else op.width
                    assert left - 0.01 <= op.x <= op.x + width <= right + 0.01, page


@given(
    name=st.text(alphabet=st.sampled_from(CHINESE + "ABCxyz0123456789 -&.()·é"), max_size=120),
    remarks=st.text(max_size=200),
)
def test_any_merchant_name_and_remarks_stay_inside_the_page(name: str, remarks: str) -> None:
    slip = slip_for({**CARD_SALE, "remarks": remarks or None}, merchant={**MERCHANT, "name": name})
    assert_inside_the_column(slip)


def test_a_verification_url_and_long_numbers_stay_inside_the_page() -> None:
    slip = slip_for({**WECHAT, "order_no": "4200002311202611201234567890" * 3})
    url = f"https://counterfoil.example.com/v/{slip.verification}"
    assert_inside_the_column(replace(slip, verification=url))
    text = squeezed(page_text(render_pdf(replace(slip, verification=url), "roll58")))
    assert url in text


# --- the QR code ------------------------------------------------------------------------


def qr_from_pdf(data: bytes) -> tuple[list[list[int]], float]:
    """The QR code drawn on the first page, rebuilt module by module from its path, and
    the size of a module in millimetres."""
    content = reader(data).pages[0].get_contents()
    assert content is not None
    found = QR_PATH.findall(content.get_data())
    assert len(found) == 1
    module, _x, _y, rects = found[0]
    runs = [tuple(map(int, line.split()[:3])) for line in rects.decode().splitlines()]
    size = max(y for _x, y, _n in runs) + 1  # the finder patterns reach the top row
    grid = [[0] * size for _ in range(size)]
    for x, y, n in runs:
        for column in range(x, x + n):
            grid[size - 1 - y][column] = 1
    return grid, float(module) / MM


def qr_image(grid: list[list[int]], scale: int = 4, border: int = 4) -> memoryview:
    size = (len(grid) + 2 * border) * scale
    pixels = bytearray(b"\xff" * size * size)
    for y, row in enumerate(grid):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    start = ((y + border) * scale + dy) * size + (x + border) * scale
                    pixels[start : start + scale] = b"\x00" * scale
    return memoryview(bytes(pixels)).cast("B", (size, size))


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_the_qr_code_in_the_pdf_reads_back_and_verifies(name: str, page: str) -> None:
    slip = GOLDEN[name]
    grid, module = qr_from_pdf(render_pdf(slip, page))
    found = zxingcpp.read_barcode(qr_image(grid))
    assert found is not None
    assert found.text == slip.verification
    assert verify_code(found.text, PUBLIC_KEYS).genuine
    assert module >= 0.45  # printable and scannable: about half a millimetre a module


def test_a_verification_url_in_the_qr_code_reads_back() -> None:
    slip = GOLDEN["card_sale_merchant"]
    url = f"https://counterfoil.example.com/v/{slip.verification}"
    grid, module = qr_from_pdf(render_pdf(replace(slip, verification=url), "a6"))
    found = zxingcpp.read_barcode(qr_image(grid))
    assert found is not None
    assert found.text == url
    assert module >= 0.4


def test_a_slip_without_a_code_has_no_qr_code() -> None:
    slip = replace(GOLDEN["card_sale_merchant"], verification=None)
    for page in PAGES:
        data = render_pdf(slip, page)
        content = reader(data).pages[0].get_contents()
        assert content is not None
        assert not QR_PATH.search(content.get_data())
        assert "扫码验证" not in page_text(data)


# --- the font ---------------------------------------------------------------------------


def test_the_chinese_font_is_embedded_as_a_subset() -> None:
    data = render_pdf(GOLDEN["card_sale_merchant"], "roll80")
    resources = reader(data).pages[0]["/Resources"]
    assert isinstance(resources, DictionaryObject)
    font_dict = resources["/Font"].get_object()
    assert isinstance(font_dict, DictionaryObject)
    fonts = [font.get_object() for font in font_dict.values()]
    assert all(isinstance(font, DictionaryObject) for font in fonts)
    names = sorted(str(font["/BaseFont"]) for font in fonts)
    embedded = [
        font["/FontDescriptor"].get_object()["/FontFile2"].get_object()
        for font in fonts
        if "/FontDescriptor" in font
    ]
    assert embedded
    assert any("WenQuanYi" in name for name in names)
    assert all(re.fullmatch(r"/[A-Z]{6}\+\S+", n) for n in names if "WenQuanYi" in n)
    assert f"/{MONO}" in names  # the code: a standard font, not embedded
    assert sum(len(stream.get_data()) for stream in embedded) < 200_000  # of a 5 MB file
    assert len(data) < 120_000


def test_the_font_is_found_on_the_system() -> None:
    font = cjk_font()
    assert font.path.is_file()
    assert font == find_cjk_font()


def test_fontconfig_finds_the_font_where_the_known_places_do_not(tmp_path: Path) -> None:
    font = find_cjk_font([FontFile(tmp_path / "missing.ttc")])
    assert font.path.is_file()
    assert font.path.suffix in (".ttc", ".ttf")


def test_a_missing_font_names_the_debian_package_to_install(tmp_path: Path) -> None:
    with pytest.raises(FontMissing) as caught:
        find_cjk_font([FontFile(tmp_path / "missing.ttc")], ask_fontconfig=False)
    assert DEBIAN_PACKAGE == "fonts-wqy-microhei"
    assert "fonts-wqy-microhei" in str(caught.value)
    chinese = caught.value.render("zh_CN")
    assert "fonts-wqy-microhei" in chinese
    assert chinese != str(caught.value)
    assert translate(caught.value.message, "zh_CN", package="x") != caught.value.message


# --- golden files -----------------------------------------------------------------------


def layout_dump(slip: Slip, page: str) -> str:
    """What is drawn where: millimetres from the left and from the top of each page."""
    layout = LAYOUTS[page]
    lines = []
    for number, (height, blocks) in enumerate(paginate(slip_blocks(slip, layout), layout), 1):
        lines.append(f"page {number}: {layout.width / MM:.1f} x {height / MM:.1f} mm")
        top = layout.margin
        for block in blocks:
            for op in block.ops:
                if isinstance(op, Text):
                    style = f"{op.size:g}pt{' bold' if op.bold else ''}"
                    style += " mono" if op.font == MONO else ""
                    y = (top + op.baseline) / MM
                    lines.append(f"{op.x / MM:6.1f} {y:6.1f}  {style:<12} {op.text}")
                elif isinstance(op, Rule):
                    kind = "rule" if op.dashed else "line"
                    y = (top + op.y) / MM
                    lines.append(f"{op.x0 / MM:6.1f} {y:6.1f}  {kind} to {op.x1 / MM:.1f}")
                elif isinstance(op, Frame):
                    y = (top + op.y) / MM
                    size = f"{op.width / MM:.1f} x {op.height / MM:.1f}"
                    lines.append(f"{op.x / MM:6.1f} {y:6.1f}  frame {size}")
                else:
                    rows = "".join(bytes(row).hex() for row in op.matrix).encode()
                    modules = f"{len(op.matrix)} modules {hashlib.sha256(rows).hexdigest()[:16]}"
                    side = op.side / MM
                    y = (top + op.y) / MM
                    lines.append(f"{op.x / MM:6.1f} {y:6.1f}  qr {side:.1f} mm, {modules}")
            top += block.height
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_pdf_slip_matches_its_golden_file(name: str, page: str) -> None:
    data = render_pdf(GOLDEN[name], page)
    font = cjk_font()
    golden = (
        f"sha256 {hashlib.sha256(data).hexdigest()}\n"
        f"bytes {len(data)}\n"
        f"font {font.path.name} #{font.index}\n" + layout_dump(GOLDEN[name], page)
    )
    assert_golden(golden, f"{name}.{page}.pdf.txt")


def test_the_golden_pdf_dumps_show_what_a_slip_must_carry() -> None:
    golden = Path(__file__).parent / "golden"
    reprint = (golden / "card_sale_cardholder_reprint2.a6.pdf.txt").read_text(encoding="utf-8")
    assert "重打印 DUPLICATE NO.2" in reprint
    assert "frame" in reprint
    assert re.search(r"12pt bold +RMB 128\.50", reprint)
    merchant = (golden / "card_sale_merchant.roll80.pdf.txt").read_text(encoding="utf-8")
    assert "持卡人签名 CARDHOLDER SIGNATURE" in merchant
    assert "page 1: 80.0 x" in merchant
    assert " qr " in merchant
