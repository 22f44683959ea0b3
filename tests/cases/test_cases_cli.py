"""``counterfoil cases`` and ``counterfoil preauths``: every step of a case from the
command line, each with ``--json``; a second operator (``--as``) approves an adjustment;
errors end with a reason and a non-zero exit code. SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from clirunner import Run, invoker
from conftest import MERCHANT
from counterfoil.config import Settings
from counterfoil.services.context import Counterfoil

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\n%%EOF\n"


@pytest.fixture
def run(settings: Settings) -> Run:
    return invoker(settings)


def ok(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_case_from_the_command_line(
    run: Run, cf: Counterfoil, entries: list[str], tmp_path: Path
) -> None:
    opened = ok(
        run(
            "cases", "open", "-m", MERCHANT, "--kind", "amount_error",
            "--title", "多扣 18.00", "--difference", "-18.00", "-e", entries[0], "--json",
        )
    )  # fmt: skip
    case_id = str(opened["id"])
    assert opened["difference"] == -1800
    assert ok(run("cases", "assign", case_id, "qian", "--json"))["state"] == "investigating"
    ok(run("cases", "note", case_id, "called the hotline", "--json"))
    evidence = tmp_path / "statement.pdf"
    evidence.write_bytes(PDF)
    attached = ok(run("cases", "attach", case_id, str(evidence), "--json"))
    assert attached["evidence"][-1]["content_type"] == "application/pdf"
    ok(run("cases", "attach", case_id, "--slip", entries[1], "--json"))
    application = tmp_path / "application.pdf"
    written = run("cases", "application", case_id, "-o", str(application))
    assert written.exit_code == 0, written.output
    assert application.read_bytes().startswith(b"%PDF-")
    submitted = ok(run("cases", "submit", case_id, "--reference", "ACQ-5", "--json"))
    assert submitted["state"] == "awaiting_response"
    proposed = ok(
        run(
            "cases", "adjust", case_id, "--kind", "refund", "--amount", "18.00",
            "--reason", "agreed", "--as", "qian", "--json",
        )
    )  # fmt: skip
    adjustment_id = str(proposed["adjustments"][0]["id"])
    own = run("cases", "approve", case_id, adjustment_id, "--as", "qian")
    assert own.exit_code == 5
    assert "second person" in own.output
    approved = ok(run("cases", "approve", case_id, adjustment_id, "--as", "sun", "--json"))
    assert approved["adjustments"][0]["entry_id"].startswith(f"{MERCHANT}-")
    told = ok(
        run(
            "cases", "notify", case_id, "--channel", "sms", "--to", "13800138000",
            "--template", "resolved", "--json",
        )
    )  # fmt: skip
    assert told["events"][-1]["details"]["outcome"] == "recorded"
    ok(run("cases", "respond", case_id, "--outcome", "accepted", "--json"))
    closed = ok(
        run(
            "cases", "close", case_id, "--root-cause", "operator_error",
            "--lesson", "read the amount back", "--json",
        )
    )  # fmt: skip
    assert closed["state"] == "closed"
    shown = ok(run("cases", "show", case_id, "--json"))
    assert shown == closed
    listed = ok(run("cases", "list", "--state", "closed", "--json"))
    assert [c["id"] for c in listed["items"]] == [int(case_id)]
    report = ok(run("cases", "report", "-m", MERCHANT, "--json"))
    assert report["by_root_cause"] == {"operator_error": 1}
    human = run("cases", "show", case_id)
    assert human.exit_code == 0
    assert "Timeline" in human.output


def test_deadlines_and_the_preauth_monitor(run: Run, entries: list[str]) -> None:
    days = ok(
        run("cases", "deadline", "-m", MERCHANT, "--kind", "chargeback", "--days", "3", "--json")
    )
    assert days["days"]["chargeback"] == 3
    assert ok(run("cases", "deadline", "-m", MERCHANT, "--json"))["days"]["other"] == 14
    found = ok(run("preauths", "list", "-m", MERCHANT, "--json"))
    assert found["open"] == []
    opened = ok(run("preauths", "open-cases", "-m", MERCHANT, "--json"))
    assert opened["opened"] == []


def test_errors_end_with_a_reason_and_an_exit_code(run: Run, entries: list[str]) -> None:
    bad = run("cases", "open", "-m", MERCHANT, "--kind", "wallet", "--title", "x")
    assert bad.exit_code == 2
    assert "expected one of amount_error" in bad.output
    missing = run("cases", "show", "999")
    assert missing.exit_code != 0
    assert "no case 999" in missing.output
