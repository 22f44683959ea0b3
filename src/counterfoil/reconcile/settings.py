"""Tolerances per merchant and source, and people's effective decisions, as runs read them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select

from counterfoil.core.errors import ValidationError
from counterfoil.i18n import _
from counterfoil.reconcile.model import DEFAULT_TOLERANCES, SOURCE_CHANNELS, Tolerance, line_id
from counterfoil.store.reconcile_schema import recon_decisions, recon_tolerances

MAX_AMOUNT_TOLERANCE = 100_000  # 1,000.00
MAX_WINDOW = 7 * 86_400


def tolerances_for(conn: Connection, merchant_no: str) -> dict[str, Tolerance]:
    """Each transaction source's tolerance for the merchant: configured, else the default."""
    found = dict(DEFAULT_TOLERANCES)
    t = recon_tolerances.c
    for row in conn.execute(select(recon_tolerances).where(t.merchant_no == merchant_no)):
        if row.source in found:
            found[row.source] = Tolerance(
                row.source, int(row.amount), int(row.time_window), int(row.settlement_window)
            )
    return found


def check_source(source: str | None) -> str | None:
    if source is not None and source not in SOURCE_CHANNELS:
        raise ValidationError(
            "source", _("expected one of {options}"), options=", ".join(SOURCE_CHANNELS)
        )
    return source


def save_tolerance(conn: Connection, merchant_no: str, tolerance: Tolerance, actor: str) -> None:
    check_source(tolerance.source)
    if not 0 <= tolerance.amount <= MAX_AMOUNT_TOLERANCE:
        raise ValidationError(
            "amount",
            _("expected a whole number of fen from 0 to {most}"),
            most=MAX_AMOUNT_TOLERANCE,
        )
    for name in ("time_window", "settlement_window"):
        value = getattr(tolerance, name)
        if not 0 <= value <= MAX_WINDOW:
            raise ValidationError(name, _("expected seconds from 0 to {most}"), most=MAX_WINDOW)
    t = recon_tolerances.c
    values = {
        "amount": tolerance.amount,
        "time_window": tolerance.time_window,
        "settlement_window": tolerance.settlement_window,
        "updated_by": actor,
        "updated_at": datetime.now(UTC),
    }
    updated = conn.execute(
        recon_tolerances.update()
        .where(t.merchant_no == merchant_no, t.source == tolerance.source)
        .values(**values)
    )
    if not updated.rowcount:
        conn.execute(
            recon_tolerances.insert().values(
                merchant_no=merchant_no, source=tolerance.source, **values
            )
        )


def effective_decisions(conn: Connection, merchant_no: str) -> list[tuple[int, int, str]]:
    """(seq, line id, action): the latest decision on each entry–line pair."""
    d = recon_decisions.c
    latest: dict[tuple[int, int, int], str] = {}
    rows = conn.execute(
        select(d.seq, d.import_id, d.line_no, d.action)
        .where(d.merchant_no == merchant_no)
        .order_by(d.id)
    )
    for seq, import_id, line_no, action in rows:
        latest[(int(seq), int(import_id), int(line_no))] = str(action)
    return [(s, line_id(i, n), a) for (s, i, n), a in sorted(latest.items())]
