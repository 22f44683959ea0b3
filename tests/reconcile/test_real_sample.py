"""The real UnionPay ZM sample (8 consumption lines, settled 2015-09-05, times on the 6th)
against journal entries made to match it: one line left out of the journal, one entry
the acquirer never listed, one amount keyed wrong at the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from counterfoil.importers import StatementLine, open_statement
from counterfoil.reconcile import service
from counterfoil.services import merchants as merchant_svc
from counterfoil.services import statements
from counterfoil.services.context import Counterfoil
from reconcile.recon_helpers import finance, outcomes, record

SAMPLE = (
    Path(__file__).parents[2]
    / ".."
    / "shared"
    / "samples"
    / "unionpay"
    / "INN15090588ZM_802310048993424"
)
MERCHANT = "802310048993424"


def _payload(line: StatementLine, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "merchant_no": MERCHANT,
        "terminal_id": line.terminal_id,
        "batch_no": "000001",
        "trace_no": line.trace_no,
        "type": "sale",
        "channel": "credit",
        "amount": line.amount,
        "currency": "CNY",
        "terminal_time": line.occurred_at.isoformat(),
        "rrn": f"{int(line.trace_no or 0):012d}",
        "auth_code": "123456",
        "card": line.card_masked,
        "entry_mode": "chip",
        "operator": "01",
    }
    payload.update(overrides)
    return payload


@pytest.mark.skipif(not SAMPLE.exists(), reason="shared samples not beside the project")
def test_the_real_unionpay_sample_reconciles_with_its_breaks_explained(cf: Counterfoil) -> None:
    merchant_svc.add_merchant(cf, MERCHANT, "银联样例商户")
    lines = [r for r in open_statement(SAMPLE).records() if isinstance(r, StatementLine)]
    assert len(lines) == 8
    # line 1: amount keyed 4,786.00 at the terminal, the statement says 4,768.00
    # line 8: never reached the journal; an extra entry the acquirer never listed
    payloads = [_payload(lines[0], amount=478600)]
    payloads += [_payload(line) for line in lines[1:7]]
    payloads.append(
        _payload(
            lines[0],
            trace_no="999999",
            rrn="000000999999",
            amount=1200,
            terminal_time="2015-09-06T12:00:00+08:00",
        )
    )
    record(cf, *payloads)
    report = statements.import_file(cf, SAMPLE, merchant_no=MERCHANT)
    assert report.balanced

    from datetime import date

    run = service.reconcile(cf, finance(MERCHANT), merchant_no=MERCHANT, day=date(2015, 9, 6))

    journal, statement = run["journal"], run["statement"]
    assert journal["in"]["count"] == 8
    assert statement["in"]["count"] == 8
    assert journal["outcomes"]["matched"]["count"] == 6
    assert journal["outcomes"]["amount_mismatch"]["count"] == 1
    assert journal["outcomes"]["missing_in_statement"] == {"count": 1, "amount": 1200}
    assert statement["outcomes"]["missing_in_journal"]["count"] == 1
    assert statement["outcomes"]["amount_mismatch"]["amount"] == 476800
    assert journal["complete"]
    assert statement["complete"]
    assert run["breaks"] == {"new": 3, "persisting": 0, "resolved": 0}
    rows = outcomes(cf, run["run_id"])
    assert {r[3] for r in rows if r[2] == 8} == {"missing_in_journal"}
    assert all(r[4] == "composite" for r in rows if r[3] == "matched")
    from sqlalchemy import select

    from counterfoil.store.reconcile_schema import recon_breaks

    texts = cf.read(
        lambda conn: sorted(r[0] for r in conn.execute(select(recon_breaks.c.explanation)))
    )
    assert "RRN 000000190624: 4,786.00 in the journal, 4,768.00 in the statement" in texts
    assert any("line 8 of import" in t and "not in the journal" in t for t in texts), texts
