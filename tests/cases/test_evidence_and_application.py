"""Evidence of a case — files kept once by SHA-256 under the data directory, refused past
the size limit or outside the allowed types; slips, journal entries and statement lines
named — and the application to the acquirer, a PDF in Chinese and English that gathers
what seed 003 says to submit, the same bytes for the same case. SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from cases.conftest import AUDITOR, FINANCE, NEIGHBOUR, SUPERVISOR, audited
from conftest import MERCHANT, TERMINAL
from counterfoil.cases import application, evidence
from counterfoil.cases import workflow as wf
from counterfoil.core.errors import Forbidden, NotFound, TooLarge, ValidationError
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture
def case_id(cf: Counterfoil, entries: list[str]) -> int:
    found = wf.open_case(
        cf,
        SUPERVISOR,
        merchant=MERCHANT,
        kind="amount_error",
        title="多扣 18.00",
        description="顾客称金额多扣 18.00 元 (customer charged 18.00 too much)",
        difference=-1800,
        entries=[entries[0]],
    )
    wf.assign(cf, FINANCE, found["id"], "qian")
    return int(found["id"])


def test_a_file_is_kept_once_by_its_sha256_and_named_on_the_timeline(
    cf: Counterfoil, case_id: int
) -> None:
    found = evidence.attach_file(cf, FINANCE, case_id, [PNG[:10], PNG[10:]], "../../收据 photo.png")
    again = evidence.attach_file(cf, FINANCE, case_id, [PNG], "copy.png", note="same photo")
    files = [e for e in again["evidence"] if e["kind"] == "file"]
    sha = hashlib.sha256(PNG).hexdigest()
    assert [f["ref"] for f in files] == [sha, sha]
    assert files[0]["filename"] == "收据 photo.png"  # no path, tame characters
    assert files[0]["content_type"] == "image/png"
    assert files[0]["size"] == len(PNG)
    kept = cf.settings.home / "evidence" / sha[:2] / sha
    assert kept.read_bytes() == PNG
    assert [p.name for p in kept.parent.iterdir()] == [sha]  # once, no leftovers
    assert [e["kind"] for e in found["events"]][-1] == "evidence"
    download = evidence.evidence_file(cf, AUDITOR, case_id, files[0]["id"])
    assert download.path == kept
    assert download.content_type == "image/png"
    assert len(audited(cf, "case.evidence.read")) == 1
    with pytest.raises(NotFound):
        evidence.evidence_file(cf, NEIGHBOUR, case_id, files[0]["id"])


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"<html><script>alert(1)</script></html>", "page.html", "expected a file of type"),
        (b"MZ\x90\x00 program", "tool.exe", "expected a file of type"),
        (b"not really a picture", "photo.png", "not a .png file"),
        (b"%PDF-1.4 but named", "photo.jpg", "not a .jpg file"),
        (b"binary\x00\x01\x02", "notes.txt", "not a .txt file"),
        (b"", "empty.pdf", "empty"),
    ],
)
def test_only_the_allowed_types_are_kept(
    cf: Counterfoil, case_id: int, content: bytes, name: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message) as refused:
        evidence.attach_file(cf, FINANCE, case_id, [content], name)
    assert refused.value.field == "file"
    stored = cf.settings.home / "evidence"
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]


def test_a_file_past_the_limit_is_refused_and_nothing_is_left(
    cf: Counterfoil, case_id: int
) -> None:
    blocks = [PDF] + [b"x" * 1024] * 20
    with pytest.raises(TooLarge):
        evidence.attach_file(cf, FINANCE, case_id, blocks, "big.pdf", limit=8 * 1024)
    assert not [p for p in (cf.settings.home / "evidence").rglob("*") if p.is_file()]
    found = evidence.attach_file(cf, FINANCE, case_id, [PDF], "small.pdf", limit=8 * 1024)
    assert [e["content_type"] for e in found["evidence"] if e["kind"] == "file"] == [
        "application/pdf"
    ]


def test_a_text_file_in_gb18030_is_allowed(cf: Counterfoil, case_id: int) -> None:
    content = "日期,金额\n2026-11-20,4786.00\n".encode("gb18030")
    found = evidence.attach_file(cf, FINANCE, case_id, [content], "对账.csv")
    assert found["evidence"][-1]["content_type"] == "text/csv"


def test_only_those_who_work_the_case_attach(cf: Counterfoil, case_id: int) -> None:
    with pytest.raises(Forbidden):
        evidence.attach_file(cf, SUPERVISOR, case_id, [PNG], "a.png")
    with pytest.raises(NotFound):
        evidence.attach_file(cf, NEIGHBOUR, case_id, [PNG], "a.png")
    assert not (cf.settings.home / "evidence").exists()  # refused before a byte was kept


def test_slips_and_entries_are_named_by_any_reference(
    cf: Counterfoil, case_id: int, entries: list[str]
) -> None:
    found = evidence.attach_link(cf, FINANCE, case_id, "slip", "000049993191", note="merchant copy")
    assert found["evidence"][-1] == found["evidence"][-1] | {"kind": "slip", "ref": entries[1]}
    with pytest.raises(ValidationError) as theirs:
        evidence.attach_link(cf, FINANCE, case_id, "journal_entry", entries[2])
    assert theirs.value.field == "ref"
    with pytest.raises(ValidationError) as line:
        evidence.attach_link(cf, FINANCE, case_id, "statement_line", "99:1")
    assert line.value.field == "ref"


def test_the_application_gathers_what_the_guide_says_to_submit(
    cf: Counterfoil, case_id: int, entries: list[str]
) -> None:
    evidence.attach_file(cf, FINANCE, case_id, [PNG], "receipt.png")
    name, first = application.application_pdf(cf, AUDITOR, case_id)
    _, second = application.application_pdf(cf, FINANCE, case_id)
    assert name == f"case-{case_id}-application.pdf"
    assert first.startswith(b"%PDF-")
    assert first == second
    words = "".join(page.extract_text() for page in PdfReader(io.BytesIO(first)).pages)
    for expected in (
        "差错处理申请",
        "Application for discrepancy handling",
        "商户编号",
        MERCHANT,
        TERMINAL,
        "000049993190",  # the transaction's RRN
        "-18.00",  # the difference
        "receipt.png",  # the evidence list
        "多扣",
    ):
        assert expected in words, expected
    wf.submit(cf, FINANCE, case_id, reference="ACQ-991")
    _, submitted = application.application_pdf(cf, FINANCE, case_id)
    assert "ACQ-991" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(submitted)).pages)
    assert len(audited(cf, "case.application")) == 3


def test_submitting_with_the_acquirers_reference_awaits_its_response(
    cf: Counterfoil, case_id: int
) -> None:
    found: dict[str, Any] = wf.submit(cf, FINANCE, case_id, reference="ACQ-1")
    assert (found["state"], found["acquirer_ref"]) == ("awaiting_response", "ACQ-1")
    submitted = [e for e in found["events"] if e["to_state"] == "submitted"]
    assert submitted[0]["details"]["evidence"] == 1  # the sale named at opening


def test_a_statement_line_of_the_merchant_is_named_as_evidence(cf: Counterfoil, shop: Any) -> None:
    from sqlalchemy import select

    from counterfoil.services import statements
    from counterfoil.services.merchants import add_merchant
    from counterfoil.store.schema import statement_lines

    zm = Path(__file__).resolve().parents[3] / "shared" / "samples" / "unionpay"
    merchant = "802310048993424"  # the merchant the UnionPay sample file is of
    add_merchant(cf, merchant, "样例商户")
    statements.import_file(cf, zm / "INN15090588ZM_802310048993424")
    with cf.engine.connect() as conn:
        import_id, line_no = conn.execute(
            select(statement_lines.c.import_id, statement_lines.c.line_no).order_by(
                statement_lines.c.import_id, statement_lines.c.line_no
            )
        ).first()  # type: ignore[misc]
    who = Principal.local()
    found = wf.open_case(cf, who, merchant=merchant, kind="missing_record", title="line only")
    named = evidence.attach_link(cf, who, found["id"], "statement_line", f"{import_id}/{line_no}")
    assert named["evidence"][-1]["ref"] == f"{import_id}:{line_no}"
    ours = wf.open_case(cf, who, merchant=MERCHANT, kind="other", title="another shop's line")
    with pytest.raises(ValidationError):
        evidence.attach_link(cf, who, ours["id"], "statement_line", f"{import_id}:{line_no}")
