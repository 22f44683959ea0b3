"""The settlement and report pages and routes: the day's list with its download buttons
(each a recorded copy: the original, then reprints), closing a day, the reports with
their chart and exports, the CLI, and one short walk in Chromium."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from PIL import Image
from playwright.sync_api import expect
from typer.testing import CliRunner

from conftest import MERCHANT, OTHER_MERCHANT
from counterfoil.cli.main import app as cli_app
from web.matrix_settlement import BUILDERS
from web.test_browser import log_in, set_language

if TYPE_CHECKING:
    from web.conftest import Browse, DemoServer, World

SHANGHAI = ZoneInfo("Asia/Shanghai")


def yesterday() -> str:
    return (datetime.now(SHANGHAI) + timedelta(hours=1) - timedelta(days=1)).date().isoformat()


def test_the_page_shows_the_list_and_downloads_are_original_then_reprint(world: World) -> None:
    day = yesterday()
    page = world.request(
        "finance", "GET", "/settlement", params={"merchant": MERCHANT, "date": day}
    )
    assert page.status_code == 200, page.text
    assert 'id="download-pdf"' in page.text
    assert 'id="close-day"' in page.text
    first = world.request(
        "finance",
        "POST",
        "/settlement/issue",
        data={"merchant": MERCHANT, "date": day, "format": "text80"},
    )
    assert first.status_code == 200, first.text
    assert first.headers["X-Issue-No"] == "0"
    assert "attachment" in first.headers["Content-Disposition"]
    again = world.request(
        "auditor", "POST", "/api/v1/settlement/issue", json={"merchant": MERCHANT, "date": day}
    )
    assert again.headers["X-Issue-No"] == "1"
    assert "REPRINT / 重印 No. 1" in again.text
    issued = world.request(
        "admin", "GET", "/api/v1/settlement/issues", params={"merchant": MERCHANT, "date": day}
    ).json()["items"]
    assert [x["issue_no"] for x in issued] == [0, 1]
    closed = world.request(
        "finance", "GET", "/settlement", params={"merchant": MERCHANT, "date": day}
    )
    assert 'id="close-day"' not in closed.text  # closed by the first issue


def test_a_day_not_over_is_shown_provisional_and_not_issued(world: World) -> None:
    today = (datetime.now(SHANGHAI) + timedelta(hours=1)).date().isoformat()
    shown = world.request(
        "supervisor", "GET", "/api/v1/settlement", params={"merchant": MERCHANT, "date": today}
    )
    assert shown.status_code == 200
    assert shown.json()["closed"] is False
    refused = world.request(
        "supervisor", "POST", "/api/v1/settlement/issue", json={"merchant": MERCHANT, "date": today}
    )
    assert refused.status_code in (409, 422), refused.text
    assert refused.json()["error"]["code"] in ("conflict", "invalid")


def test_another_merchants_list_is_refused(world: World) -> None:
    found = world.request(
        "finance",
        "GET",
        "/api/v1/settlement",
        params={"merchant": OTHER_MERCHANT, "date": yesterday()},
    )
    assert found.status_code == 403


def test_reports_show_a_chart_and_export(world: World) -> None:
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    shown = world.request(
        "finance", "GET", "/reports", params={"merchant": MERCHANT, "month": month}
    )
    assert shown.status_code == 200, shown.text
    assert "<svg" in shown.text
    assert 'id="tax-summary"' in shown.text
    data = world.request(
        "finance", "GET", "/api/v1/reports", params={"merchant": MERCHANT, "month": month}
    ).json()
    assert data["total"]["count"] >= 1
    assert data["total"]["volume"] == sum(r["volume"] for r in data["rows"])
    xlsx = world.request(
        "finance",
        "GET",
        "/api/v1/reports",
        params={"merchant": MERCHANT, "month": month, "format": "xlsx"},
    )
    assert zipfile.ZipFile(io.BytesIO(xlsx.content)).testzip() is None
    png = world.request(
        "auditor",
        "GET",
        "/api/v1/reports/chart",
        params={"merchant": MERCHANT, "month": month, "format": "png"},
    )
    assert Image.open(io.BytesIO(png.content)).size == (720, 240)
    tax = world.request(
        "finance", "GET", "/api/v1/reports/tax", params={"merchant": MERCHANT, "month": month}
    )
    assert tax.json()["turnover"] == data["total"]["volume"]


def test_the_cli_issues_and_reports(world: World, monkeypatch: Any, tmp_path: Any) -> None:
    settings = world.cf.settings
    monkeypatch.setenv("COUNTERFOIL_HOME", str(settings.home))
    monkeypatch.setenv("COUNTERFOIL_DATABASE_URL", settings.database_url)
    runner = CliRunner()
    out = tmp_path / "list.pdf"
    day = yesterday()
    done = runner.invoke(
        cli_app,
        [
            "settlement",
            "--merchant",
            MERCHANT,
            "--date",
            day,
            "--format",
            "pdf",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["issue_no"] == 0
    assert out.read_bytes().startswith(b"%PDF")
    month = datetime.now(SHANGHAI).strftime("%Y-%m")
    chart = tmp_path / "chart.svg"
    done = runner.invoke(
        cli_app,
        ["report", "--merchant", MERCHANT, "--month", month, "--chart", str(chart), "--json"],
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["total"]["count"] >= 1
    assert chart.read_text().startswith("<svg")
    bad = runner.invoke(cli_app, ["settlement", "--merchant", MERCHANT, "--date", "2026-13-01"])
    assert bad.exit_code != 0


def test_matrix_builders_name_a_merchant(world: World) -> None:
    assert all("merchant" in str(build(world)) for build in BUILDERS.values())


def test_finance_looks_at_a_day_and_a_months_report_in_chromium(
    browse: Browse, demo_server: DemoServer
) -> None:
    b = browse
    log_in(b, "finance", demo_server.password)
    set_language(b, "en")
    b.page.goto(b.url(f"/settlement?merchant={demo_server.shop}&date={yesterday()}"))
    expect(b.page.locator("#settlement-list")).to_be_visible()
    expect(b.page.locator("#download-pdf")).to_be_enabled()
    b.shot("settlement-list")
    b.page.goto(b.url(f"/reports?merchant={demo_server.shop}"))
    expect(b.page.locator("#report-chart svg")).to_be_visible()
    expect(b.page.locator("#report-rows")).to_contain_text(re.compile(r"\d"))
    b.shot("report")
    assert not b.errors
