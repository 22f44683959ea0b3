"""Cases in the console: the board by state with the overdue first, opening a case by
the form, the case page with its timeline, evidence upload and download, the application
PDF, the work forms, adjustments proposed by one person and approved by another; forms
carry the CSRF token. In a real browser, two people take a case from opening to an
approved adjustment. SQLite and PostgreSQL (the in-process console).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select, update

from conftest import MERCHANT
from counterfoil.cases import workflow as wf
from counterfoil.store.cases_schema import case_events, cases
from web.conftest import World
from web.matrix_cases import MAKER, OPENER, PNG, _new_case, case_of
from web.test_browser import log_in, set_language

if TYPE_CHECKING:
    from collections.abc import Callable

    from web.conftest import Browse, DemoServer


def count(world: World, table: Any) -> int:
    with world.cf.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_board_groups_by_state_and_puts_the_overdue_first(world: World) -> None:
    later = _new_case(world)
    late = _new_case(world, "investigating")
    with world.cf.engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == late).values(due_on=date(2026, 1, 5)))
    page = world.request("auditor", "GET", "/cases")
    assert page.status_code == 200
    rows = re.findall(r'<tr id="case-(\d+)"( class="overdue")?', page.text)
    assert rows[0] == (str(late), ' class="overdue"')
    assert (str(later), "") in rows
    assert 'id="open-case"' not in page.text  # an auditor opens nothing
    overdue = world.request("finance", "GET", "/cases", params={"overdue": "1"})
    assert re.findall(r'<tr id="case-(\d+)"', overdue.text) == [str(late)]


def test_opening_a_case_by_the_form(world: World) -> None:
    form = world.request("supervisor", "GET", "/cases")
    assert 'id="open-case"' in form.text
    made = world.request(
        "supervisor",
        "POST",
        "/cases",
        data={
            "merchant": MERCHANT,
            "kind": "chargeback",
            "title": "拒付通知 chargeback notice",
            "difference": "-12.00",
            "entries": world.entries["a_sale"],
        },
    )
    assert made.status_code == 303, made.text
    shown = world.request("supervisor", "GET", made.headers["location"])
    assert "拒付通知 chargeback notice" in shown.text
    assert "opened." in shown.text
    wrong = world.request(
        "supervisor", "POST", "/cases", data={"merchant": MERCHANT, "kind": "other", "title": ""}
    )
    assert wrong.status_code == 422
    assert 'id="e-title"' in wrong.text


def test_a_form_without_the_csrf_token_changes_nothing(world: World) -> None:
    case_id = case_of(world)
    before = count(world, case_events)
    for path, data in (
        ("/cases", {"merchant": MERCHANT, "kind": "other", "title": "sneaky"}),
        (f"/cases/{case_id}/work", {"action": "note", "note": "sneaky"}),
        (f"/cases/{case_id}/adjustments", {"kind": "refund", "amount": "1", "reason": "x"}),
    ):
        for csrf in (None, "forged"):
            refused = world.request("finance", "POST", path, data=data, csrf=csrf)
            assert refused.status_code == 403, refused.text
    assert count(world, case_events) == before


def test_the_case_page_works_the_case_and_only_a_second_person_approves(world: World) -> None:
    case_id = _new_case(world)
    base = f"/cases/{case_id}"
    done = world.request(
        "finance", "POST", f"{base}/work", data={"action": "assign", "assignee": "finance"}
    )
    assert done.status_code == 303
    uploaded = world.request(
        "finance", "POST", f"{base}/evidence", files={"file": ("收据.png", PNG, "image/png")}
    )
    assert uploaded.status_code == 303, uploaded.text
    refused = world.request(
        "finance", "POST", f"{base}/evidence", files={"file": ("x.html", b"<script>", "text/html")}
    )
    assert refused.status_code == 422
    assert "expected a file of type" in refused.text
    page = world.request("finance", "GET", base)
    evidence_id = re.search(rf'href="{base}/evidence/(\d+)"', page.text).group(1)  # type: ignore[union-attr]
    download = world.request("auditor", "GET", f"{base}/evidence/{evidence_id}")
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    pdf = world.request("supervisor", "GET", f"{base}/application.pdf")
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-disposition"].startswith("attachment;")
    proposed = world.request(
        "finance",
        "POST",
        f"{base}/adjustments",
        data={"kind": "refund", "amount": "18.00", "reason": "acquirer agreed"},
    )
    assert proposed.status_code == 303
    mine = world.request("finance", "GET", f"{base}?done=proposed")
    assert "waits for a second person" in mine.text
    assert 'id="approve-' not in mine.text  # the proposer is offered no approval
    adjustment_id = re.search(r'<tr id="adjustment-(\d+)"', mine.text).group(1)  # type: ignore[union-attr]
    own = world.request(
        "finance",
        "POST",
        f"{base}/adjustments/{adjustment_id}/decision",
        data={"decision": "approve"},
    )
    assert own.status_code == 403
    theirs = world.request("admin", "GET", base)
    assert f'id="approve-{adjustment_id}"' in theirs.text
    approved = world.request(
        "admin",
        "POST",
        f"{base}/adjustments/{adjustment_id}/decision",
        data={"decision": "approve"},
    )
    assert approved.status_code == 303
    final = world.request("admin", "GET", approved.headers["location"])
    assert "approved and written to the journal" in final.text
    assert f"{MERCHANT}-" in final.text  # the journal entry's id
    with world.cf.engine.connect() as conn:
        shown = wf.get_case(conn, OPENER, case_id)
    assert shown["adjustments"][0]["decided_by"] == "user:admin"
    assert shown["adjustments"][0]["proposed_by"] == "user:finance"


def test_a_step_the_state_forbids_answers_409_with_the_page(world: World) -> None:
    case_id = _new_case(world)
    answer = world.request(
        "finance",
        "POST",
        f"/cases/{case_id}/work",
        data={"action": "close", "root_cause": "fraud", "lesson": "x"},
    )
    assert answer.status_code == 409
    assert "cannot move to closed" in answer.text


def test_the_report_and_the_preauth_monitor_pages(world: World) -> None:
    case_id = _new_case(world, "resolved")
    wf.close(world.cf, MAKER, case_id, root_cause="terminal_fault", lesson="replace the printer")
    report = world.request("auditor", "GET", "/cases/report")
    assert report.status_code == 200
    assert "Terminal fault" in report.text
    monitor = world.request("supervisor", "GET", "/preauths")
    assert monitor.status_code == 200
    assert 'id="open-preauth-cases"' in monitor.text
    opened = world.request("supervisor", "POST", "/preauths/cases", data={"merchant": MERCHANT})
    assert opened.status_code == 303
    assert "opened=0" in opened.headers["location"]


# --- in a real browser --------------------------------------------------------------------


@pytest.mark.slow
def test_two_people_take_a_case_to_an_approved_adjustment(
    open_browse: Callable[..., Browse], demo_server: DemoServer, tmp_path: Path
) -> None:
    finance = open_browse("finance")
    log_in(finance, "finance", demo_server.password)
    set_language(finance, "en")
    finance.page.goto(finance.url("/cases"))
    if finance.page.locator("#f-merchant").count():
        finance.page.select_option("#f-merchant", demo_server.shop)
    finance.page.select_option("#f-kind", "amount_error")
    finance.page.fill("#f-title", "Customer charged 18.00 too much")
    finance.page.fill("#f-difference", "-18.00")
    with finance.page.expect_navigation():
        finance.page.click("#do-open")
    expect(finance.page.locator("#notice")).to_contain_text("opened")
    case_url = finance.page.url.split("?")[0]
    finance.page.fill("#w-assignee", "finance")
    with finance.page.expect_navigation():
        finance.page.click("#do-assign")
    expect(finance.page.locator("#state")).to_have_text("Investigating")
    photo = tmp_path / "receipt.png"
    photo.write_bytes(PNG)
    finance.page.set_input_files("#u-file", str(photo))
    with finance.page.expect_navigation():
        finance.page.click("#do-upload")
    expect(finance.page.locator("#evidence")).to_contain_text("receipt.png")
    pdf = finance.page.request.get(case_url + "/application.pdf")
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF-")
    finance.page.select_option("#a-kind", "refund")
    finance.page.fill("#a-amount", "18.00")
    finance.page.fill("#a-reason", "the acquirer agreed to refund")
    with finance.page.expect_navigation():
        finance.page.click("#do-propose")
    expect(finance.page.locator("#adjustments")).to_contain_text("waits for a second person")
    assert finance.page.locator("button[id^='approve-']").count() == 0
    finance.shot("proposed")

    admin = open_browse("admin")
    log_in(admin, "admin", demo_server.password)
    set_language(admin, "en")
    admin.page.goto(case_url)
    approve = admin.page.locator("button[id^='approve-']")
    expect(approve).to_have_count(1)
    with admin.page.expect_navigation():
        approve.click()
    expect(admin.page.locator("#notice")).to_contain_text("approved and written to the journal")
    expect(admin.page.locator("#adjustments")).to_contain_text("Approved")
    expect(admin.page.locator("#timeline")).to_contain_text("Adjustment approved")
    admin.shot("approved")
    assert not finance.errors
    assert not admin.errors
