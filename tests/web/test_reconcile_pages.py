"""The reconciliation console: finance reconciles a day through the form, reads the run's
summary (each side's "in" equals the sum of its outcomes) and its breaks with their
explanations, filters, sorts and exports them, matches and unmatches by hand, adopts a
line missing in the journal; a field's error is shown beside its field or its break; a
run or a break of another merchant is "not found" — in process over SQLite and
PostgreSQL; and once in Chromium against the real server over the demo data."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.reconcile import decisions, service, views
from counterfoil.services.access import Principal
from counterfoil.store.reconcile_schema import recon_decisions
from counterfoil.store.schema import audit_log
from web.conftest import Browse, DemoServer, World
from web.matrix_reconcile import run_of
from web.matrix_reconcile_pages import BILL_DAY
from web.test_browser import log_in

WECHAT_BILL = (
    Path(__file__).resolve().parents[1] / "importers" / "fixtures" / "wechat_success_20.csv"
)


def _run_day(world: World) -> tuple[int, str]:
    """Finance reconciles A's WeChat day of the imported bill through the form."""
    sent = world.request(
        "finance",
        "POST",
        "/reconcile",
        data={"merchant_no": MERCHANT, "date": BILL_DAY, "source": "wechat_trade"},
    )
    assert sent.status_code == 303, sent.text
    where = sent.headers["location"]
    found = re.fullmatch(r"/reconcile/runs/(\d+)\?done=run", where)
    assert found, where
    return int(found.group(1)), where


def _breaks(world: World, run_id: int) -> list[dict[str, Any]]:
    found = world.cf.read(
        lambda conn: views.list_breaks(
            conn, Principal.local("test"), MERCHANT, run_id=run_id, per_page=500
        )
    )
    return list(found["items"])


def test_finance_runs_a_day_and_reads_a_summary_that_adds_up(world: World) -> None:
    run_id, where = _run_day(world)
    shown = world.request("finance", "GET", where)
    assert shown.status_code == 200, shown.text
    assert f"Reconciliation run {run_id} stored." in shown.text
    run = world.cf.read(lambda conn: views.get_run(conn, Principal.local("test"), run_id))
    lines = run["statement"]["in"]["count"]
    assert lines > 0
    # the table's "in" and its sum of the outcomes, as a person reads them, are equal
    text = shown.text
    for side in ("journal", "statement"):
        got_in = re.search(rf'id="in-{side}-count">([^<]*)<', text)
        total = re.search(rf'id="total-{side}-count">([^<]*)<', text)
        assert got_in
        assert total
        assert got_in.group(1) == total.group(1)
        amount_in = re.search(rf'id="in-{side}-amount">([^<]*)<', text)
        amount_total = re.search(rf'id="total-{side}-amount">([^<]*)<', text)
        assert amount_in
        assert amount_total
        assert amount_in.group(1) == amount_total.group(1)
    assert re.search(rf'id="in-statement-count">{lines}<', text)
    assert "does not add up" not in text
    assert text.count(">adds up<") == 2
    # each line is missing in the journal: a break with its explanation and its links
    items = _breaks(world, run_id)
    assert len(items) == lines
    first = items[0]
    assert f'id="b-{first["break_id"]}"' in text
    assert first["explanation"]
    assert first["explanation"] in text.replace("&#39;", "'")
    import_id = first["line"].split(":")[0]
    assert f'href="/statements/{import_id}"' in text
    # the case the hook opened for the break is linked
    assert 'class="case-link" href="/cases/' in text
    # the runs list links the run; the auditor reads it without the forms
    listed = world.request("finance", "GET", "/reconcile")
    assert f'href="/reconcile/runs/{run_id}"' in listed.text
    assert 'id="run-day"' in listed.text
    read_only = world.request("auditor", "GET", where)
    assert read_only.status_code == 200
    assert "do-adopt" not in read_only.text
    assert "do-unmatch" not in read_only.text
    assert 'id="run-day"' not in world.request("auditor", "GET", "/reconcile").text


def test_the_runs_list_shows_an_import_run_and_refuses_a_cashier(world: World) -> None:
    """(What tests/reconcile/test_reconcile_page.py checked before this page grew.)"""
    run_id = run_of(world)
    listed = world.request("finance", "GET", "/reconcile")
    assert listed.status_code == 200
    assert f'<td><a href="/reconcile/runs/{run_id}">{run_id}</a></td>' in listed.text
    assert f"<td>import:{world.imports['a']}</td>" in listed.text
    assert world.request("cashier", "GET", "/reconcile").status_code == 403
    shown = world.request("auditor", "GET", f"/reconcile/runs/{run_id}")
    assert shown.status_code == 200
    assert f'href="/statements/{world.imports["a"]}"' in shown.text


def test_breaks_filter_sort_page_and_export(world: World) -> None:
    run_id, _where = _run_day(world)
    items = _breaks(world, run_id)
    base = f"/reconcile/runs/{run_id}"
    none = world.request("finance", "GET", base, params={"outcome": "missing_in_statement"})
    assert none.status_code == 200
    assert 'id="no-breaks"' in none.text
    missing = world.request(
        "finance", "GET", base, params={"outcome": "missing_in_journal", "sort": "amount"}
    )
    shown = re.findall(r'<article class="card break" id="b-([0-9A-Za-z]+)"', missing.text)
    by_amount = sorted(items, key=lambda b: (b["amount_statement"] or 0, b["break_id"]))
    assert shown == [b["break_id"] for b in by_amount][: len(shown)]
    descending = world.request(
        "finance", "GET", base, params={"sort": "amount", "desc": "1", "status": "all"}
    )
    down = re.findall(r'<article class="card break" id="b-([0-9A-Za-z]+)"', descending.text)
    assert down[0] == sorted(items, key=lambda b: -(b["amount_statement"] or 0))[0]["break_id"]
    bad = world.request("finance", "GET", base, params={"sort": "colour"})
    assert bad.status_code == 200
    assert "expected one of time, amount, outcome, status" in bad.text
    page_two = world.request("finance", "GET", base, params={"page": "2"})
    assert page_two.status_code == 200
    assert (len(items) > 50) == ('id="b-' in page_two.text)
    exported = world.request("auditor", "GET", f"{base}/export", params={"format": "csv"})
    assert exported.status_code == 200
    assert exported.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Break"
    assert sorted(r[0] for r in rows[1:]) == sorted(b["break_id"] for b in items)
    xlsx = world.request("finance", "GET", f"{base}/export", params={"format": "xlsx"})
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert f'href="{base}/export?format=xlsx' in missing.text


def test_finance_matches_unmatches_and_adopts_a_break(world: World) -> None:
    run_id, _where = _run_day(world)
    items = _breaks(world, run_id)
    lone, adopted = items[0], items[1]
    url = f"/reconcile/breaks/{lone['break_id']}/decision"
    # no entry named: the error beside the break
    empty = world.request(
        "finance", "POST", url, data={"action": "match", "reason": "x", "run": str(run_id)}
    )
    assert empty.status_code == 422
    assert f'id="e-{lone["break_id"]}"' in empty.text
    assert "expected the journal entry to pair with" in empty.text
    other = world.request(
        "finance",
        "POST",
        url,
        data={"action": "match", "other": "102310048990001-1", "reason": "x", "run": str(run_id)},
    )
    assert other.status_code == 422
    assert "expected a journal entry of merchant" in other.text
    reason = "the customer's order, checked on the phone"
    matched = world.request(
        "finance",
        "POST",
        url,
        data={"action": "match", "other": world.entries["a_qr"], "reason": reason},
    )
    assert matched.status_code == 303, matched.text
    assert matched.headers["location"].startswith(f"/reconcile/runs/{run_id}?done=match")
    notice = world.request("finance", "GET", matched.headers["location"].split("#")[0])
    assert "Matched by hand" in notice.text
    unmatched = world.request(
        "finance",
        "POST",
        url,
        data={"action": "unmatch", "other": world.entries["a_qr"], "reason": "wrong order"},
    )
    assert unmatched.status_code == 303
    seq = int(world.entries["a_qr"].rsplit("-", 1)[1])
    kept = world.cf.read(
        lambda conn: conn.execute(
            select(recon_decisions.c.action, recon_decisions.c.seq, recon_decisions.c.reason)
            .where(recon_decisions.c.merchant_no == MERCHANT)
            .order_by(recon_decisions.c.id)
        ).all()
    )
    assert [(a, s, r) for a, s, r in kept] == [
        ("match", seq, reason),
        ("unmatch", seq, "wrong order"),
    ]
    # adopting a line missing in the journal: a recovered entry, linked from the notice
    adopt = f"/reconcile/breaks/{adopted['break_id']}/adopt"
    sent = world.request("finance", "POST", adopt, data={"reason": "the terminal lost it"})
    assert sent.status_code == 303, sent.text
    location = sent.headers["location"]
    entry = re.search(r"entry=([0-9A-Za-z%-]+)", location)
    assert entry
    assert "done=adopt" in location
    shown = world.request("finance", "GET", location.split("#")[0])
    entry_id = entry.group(1)
    assert f"The line was adopted as recovered entry {entry_id}." in shown.text
    assert world.request("finance", "GET", f"/transactions/{entry_id}").status_code == 200
    again = world.request("finance", "POST", adopt, data={"reason": "the terminal lost it"})
    assert again.status_code == 422
    assert "was already adopted" in again.text
    actions = world.cf.read(
        lambda conn: [
            row[0]
            for row in conn.execute(
                select(audit_log.c.action).where(audit_log.c.action.like("reconcile.%"))
            )
        ]
    )
    assert {"reconcile.run", "reconcile.match", "reconcile.unmatch", "reconcile.adopt"} <= set(
        actions
    )


def test_a_bad_field_of_the_run_form_is_shown_beside_it(world: World) -> None:
    sent = world.request(
        "finance", "POST", "/reconcile", data={"merchant_no": MERCHANT, "date": "23/07/2019"}
    )
    assert sent.status_code == 422
    assert 'id="e-date"' in sent.text
    assert "expected a date as YYYY-MM-DD" in sent.text
    assert 'value="23/07/2019"' in sent.text
    source = world.request(
        "finance",
        "POST",
        "/reconcile",
        data={"merchant_no": MERCHANT, "date": BILL_DAY, "source": "bank"},
    )
    assert source.status_code == 422
    assert 'id="e-source"' in source.text


def test_another_merchants_run_and_breaks_are_not_found(world: World) -> None:
    local = Principal.local("test")
    decisions.set_tolerance(
        world.cf, local, merchant_no=OTHER_MERCHANT, source="wechat_trade", settlement_window=0
    )
    decisions.set_tolerance(
        world.cf, local, merchant_no=OTHER_MERCHANT, source="unionpay_zm", settlement_window=0
    )
    today = world.now()[:10]
    other = service.reconcile(
        world.cf, local, merchant_no=OTHER_MERCHANT, day=date.fromisoformat(today)
    )
    run_id = int(other["run_id"])
    theirs = world.cf.read(
        lambda conn: views.list_breaks(conn, local, OTHER_MERCHANT, run_id=run_id)
    )["items"]
    assert theirs, "B's sales of today are on no statement: breaks"
    assert world.request("finance", "GET", f"/reconcile/runs/{run_id}").status_code == 404
    assert world.request("finance", "GET", f"/reconcile/runs/{run_id}/export").status_code == 404
    assert world.request("admin", "GET", f"/reconcile/runs/{run_id}").status_code == 200
    break_id = theirs[0]["break_id"]
    for path, data in (
        (f"/reconcile/breaks/{break_id}/decision", {"action": "unmatch", "other": "1:1"}),
        (f"/reconcile/breaks/{break_id}/adopt", {}),
    ):
        sent = world.request("finance", "POST", path, data=data | {"reason": "looking"})
        assert sent.status_code == 404, sent.text
    assert (
        f'href="/reconcile/runs/{run_id}"' not in world.request("finance", "GET", "/reconcile").text
    )


def test_finance_reconciles_a_day_and_adopts_a_line_in_the_browser(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    log_in(b, "finance", demo_server.password)
    b.page.goto(b.url("/statements"))
    b.page.set_input_files("#u-file", str(WECHAT_BILL))
    with b.page.expect_navigation(url=re.compile(r"/statements/\d+")):
        b.page.click("#do-upload")
    b.page.goto(b.url("/reconcile"))
    b.page.fill("#f-date", BILL_DAY)
    b.page.select_option("#f-source", "wechat_trade")
    with b.page.expect_navigation(url=re.compile(r"/reconcile/runs/\d+")):
        b.page.click("#do-run")
    assert b.page.locator("#notice").count() == 1
    assert b.page.inner_text("#in-statement-count") == b.page.inner_text("#total-statement-count")
    first = b.page.locator("article.break").first
    assert first.locator(".explanation").inner_text().strip()
    b.shot("run")
    first.locator("summary").click()
    first.locator("form.adopt input[name=reason]").fill("lost by the terminal")
    with b.page.expect_navigation(url=re.compile(r"done=adopt")):
        first.locator(".do-adopt").click()
    assert b.page.locator("#notice").count() == 1
    b.shot("adopted")
    assert b.errors == []
