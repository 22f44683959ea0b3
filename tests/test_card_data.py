"""No full card number anywhere: full numbers go in through every path (API one, API batch,
CLI file, remarks, a refused payload), then every byte Counterfoil wrote — the database
files with their WAL (PostgreSQL's whole data directory on that run), the server's log, the
CLI's outputs and the exports — is searched for them. None may be found."""

from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from sqlalchemy import text

from conftest import MERCHANT, TERMINAL, sale
from counterfoil.config import Settings
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant, add_terminal
from serverproc import Server, run_cli

# Luhn-valid numbers of 13 to 19 digits; each goes in through a different door.
PANS = {
    "api_one": "6222021234567890128",
    "api_batch": "4111111111111111",
    "cli_file": "5555555555554444",
    "remarks": "378282246310005",
    "refused": "6011111111111117",
    "batch_remarks": "4000056655665556",
}


def _digits_forms(pan: str) -> list[bytes]:
    spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    return [pan.encode(), spaced.encode(), pan.encode("utf-16-le")]


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _read_present(places: list[Path]) -> dict[str, bytes]:
    """Every file's bytes; a running PostgreSQL removes caches such as pg_internal.init
    between the listing and the read, and a file that is gone holds nothing to find."""
    blobs: dict[str, bytes] = {}
    for place in places:
        try:
            blobs[str(place)] = place.read_bytes()
        except FileNotFoundError:
            continue
    return blobs


@pytest.mark.slow
def test_no_full_card_number_is_ever_written(
    settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    cf = Counterfoil.open(settings, upgrade=False)
    add_merchant(cf, MERCHANT, "测试便利店")
    _, token = add_terminal(cf, MERCHANT, TERMINAL)
    cf.close()
    outputs: list[bytes] = []

    server = Server(settings, tmp_path / "server.log").start()
    try:
        with httpx.Client(
            base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            one = client.post("/api/v1/transactions", json=sale(card=PANS["api_one"]))
            assert one.status_code == 201, one.text
            batch = client.post(
                "/api/v1/transactions/batch",
                json={
                    "transactions": [
                        sale(trace_no="000002", rrn="000000000002", card=PANS["api_batch"]),
                        sale(
                            trace_no="000003",
                            rrn="000000000003",
                            remarks=f"card {PANS['batch_remarks']} tapped twice",
                        ),
                    ]
                },
            )
            assert batch.json()["counts"] == {"recorded": 2}
            remark = client.post(
                "/api/v1/transactions",
                json=sale(trace_no="000004", rrn="000000000004", remarks=f"PAN {PANS['remarks']}"),
            )
            assert remark.status_code == 201
            refused = client.post(
                "/api/v1/transactions",
                json=sale(trace_no="000005", rrn="000000000005", card=PANS["refused"], amount=-1),
            )
            assert refused.status_code == 422
            for response in (one, batch, remark, refused):
                outputs.append(response.content)
            outputs.append(client.get(f"/api/v1/transactions/{MERCHANT}-2").content)
            outputs.append(client.get("/api/v1/transactions").content)
        # While the server runs, SQLite's WAL holds the newest pages: read it now.
        live = {f"live {p}": p.read_bytes() for p in _files_under(settings.home)}
    finally:
        server.stop()

    jsonl = tmp_path / "upload.jsonl"
    jsonl.write_bytes(
        orjson.dumps(sale(trace_no="000006", rrn="000000000006", card=PANS["cli_file"])) + b"\n"
    )
    outputs.append(run_cli(settings, "ingest", str(jsonl), "--json").stdout)
    for args in (
        ("transactions", "search", "-m", MERCHANT, "--json"),
        ("transactions", "show", "TERM0001:000001:000006", "--json"),
        ("checkpoint", "export", "-m", MERCHANT),
        ("verify", "--full", "--json"),
    ):
        result = run_cli(settings, *args)
        outputs.append(result.stdout + result.stderr)
    assert b"5555******4444" in outputs[-4] or b"555555******4444" in outputs[-4]

    places: list[Path] = _files_under(settings.home)
    if settings.database_url.startswith("postgresql"):
        server_pg = request.getfixturevalue("pg_server")
        store = Counterfoil.open(settings, upgrade=False)
        with store.engine.connect() as conn:
            conn.execute(text("CHECKPOINT"))
        store.close()
        places += _files_under(server_pg.data)
    assert any(name.endswith("-wal") for name in live) or any("pg_wal" in str(p) for p in places)
    blobs = _read_present(places)
    blobs.update(live)
    blobs.update({f"output {i}": out for i, out in enumerate(outputs)})
    found: list[Any] = [
        (door, where)
        for door, pan in PANS.items()
        for where, blob in blobs.items()
        for form in _digits_forms(pan)
        if form in blob
    ]
    assert not found, f"full card numbers found: {found}"
    # The masked forms did arrive, so the search looked at the right bytes.
    assert any(b"622202******0128" in blob for blob in blobs.values())
