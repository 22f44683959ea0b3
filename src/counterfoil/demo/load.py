"""Loading the demo into a store: two merchants, six terminals, weeks of transactions.

``load_demo`` adds the demo's merchants and terminals where they are not there yet,
records the generated payloads (``counterfoil.demo.generate``) through the ordinary
ingest, chunk by chunk, each chunk one durable transaction, and then signs a checkpoint
of each merchant's journal.

Loading again is harmless: merchants and terminals that exist are skipped and the
ingest answers "duplicate" for every transaction already recorded. So that a second
``counterfoil demo`` on a later day does not produce a different month, a merchant's
genesis is dated at the start of its demo window, and when ``end`` is not given and the
demo merchants exist, the window starts on that day again (``days`` long, never past
yesterday). A new window needs a new data directory.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from counterfoil.core.errors import ValidationError
from counterfoil.demo.generate import PROFILES, generate, tally
from counterfoil.i18n import _
from counterfoil.services.bulk import CHUNK
from counterfoil.services.context import Counterfoil
from counterfoil.services.ingest import prepare_all, record
from counterfoil.services.merchants import add_merchant, add_terminal, list_terminals
from counterfoil.services.verification import make_checkpoint
from counterfoil.store.audit import Actor
from counterfoil.store.schema import merchants as merchants_table

ACTOR = Actor("demo", "local")
ZONE = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 366
DEMO_MERCHANTS = [p.merchant for p in PROFILES]


def yesterday() -> date:
    """Yesterday in Shanghai, where the demo merchants are."""
    return datetime.now(ZONE).date() - timedelta(days=1)


def _window_start(day: date) -> datetime:
    """Midnight of ``day`` in Shanghai, in UTC (how every time is stored)."""
    return datetime.combine(day, time(), ZONE).astimezone(UTC)


def _existing(cf: Counterfoil) -> dict[str, datetime]:
    """The demo merchants already in the store, with the moment each was added (UTC)."""

    def job(conn: Connection) -> dict[str, datetime]:
        m = merchants_table.c
        rows = conn.execute(
            select(m.merchant_no, m.created_at).where(
                m.merchant_no.in_([s.merchant_no for s in DEMO_MERCHANTS])
            )
        )
        return {
            r.merchant_no: r.created_at.replace(tzinfo=r.created_at.tzinfo or UTC) for r in rows
        }

    return cf.read(job)


def _window(days: int, end: date | None, existing: dict[str, datetime]) -> tuple[int, date]:
    """The window to generate: as asked, or the one already loaded (never past yesterday)."""
    if end is not None:
        return days, end
    latest = yesterday()
    if not existing:
        return days, latest
    first = min(existing.values()).astimezone(ZONE).date()  # the genesis day
    if first > latest:
        return days, latest
    end = min(first + timedelta(days=days - 1), latest)
    return (end - first).days + 1, end


def load_demo(
    cf: Counterfoil,
    *,
    seed: int = 7,
    days: int = 30,
    end: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Load the demo; say what was added, recorded, found already there or refused."""
    if not 1 <= days <= MAX_DAYS:
        raise ValidationError("days", _("expected 1 to {max} days"), max=MAX_DAYS)
    known = _existing(cf)
    days, end = _window(days, end, known)
    specs, terminal_specs, payloads = generate(seed, days, end)
    first = end - timedelta(days=days - 1)

    for spec in specs:
        if spec.merchant_no not in known:
            add_merchant(
                cf,
                spec.merchant_no,
                spec.name,
                spec.timezone,
                actor=ACTOR,
                now=_window_start(first),
            )
    present = cf.read(
        lambda conn: {(t["merchant_no"], t["terminal_id"]) for t in list_terminals(conn)}
    )
    tokens: dict[str, str] = {}
    for t in terminal_specs:
        if (t.merchant_no, t.terminal_id) not in present:
            _row, tokens[t.terminal_id] = add_terminal(
                cf, t.merchant_no, t.terminal_id, t.name, actor=ACTOR
            )

    mine = {s.merchant_no for s in specs}

    def hmac_for(merchant_no: str) -> bytes | None:
        return cf.keys.hmac_key(merchant_no) if merchant_no in mine else None

    counts = {"recorded": 0, "duplicate": 0}
    problems: list[dict[str, Any]] = []
    for start in range(0, len(payloads), CHUNK):
        prepared = prepare_all(payloads[start : start + CHUNK], hmac_for, start)
        results = cf.write(partial(record, keys=cf.keys, items=prepared, actor=ACTOR))
        for result in results:
            if result.ok:
                counts[result.status] += 1
            else:
                assert result.error is not None
                problems.append(
                    {
                        "index": result.index,
                        "status": result.status,
                        "code": result.error.code,
                        "reason": result.error.render(),
                    }
                )
        if progress:
            progress(min(start + CHUNK, len(payloads)), len(payloads))
    for spec in specs:
        make_checkpoint(cf, spec.merchant_no, actor=ACTOR)

    return {
        "seed": seed,
        "from": first.isoformat(),
        "to": end.isoformat(),
        "days": days,
        "merchants": [s.merchant_no for s in specs],
        "terminals": {
            s.merchant_no: [t.terminal_id for t in terminal_specs if t.merchant_no == s.merchant_no]
            for s in specs
        },
        "transactions": len(payloads),
        "recorded": counts["recorded"],
        "duplicates": counts["duplicate"],
        "refused": len(problems),
        "problems": problems[:20],
        "tokens": tokens,
        "counts": tally(payloads),
    }


#: One demo user per role; the shop's cashier and supervisor, finance and the auditor of
#: both merchants, and an administrator of all. The password is printed by `make run`.
DEMO_PASSWORD = "Counterfoil-demo-2026"  # noqa: S105 - the demo's published password
DEMO_USERS = (
    ("cashier", "cashier", 0),
    ("supervisor", "supervisor", 0),
    ("finance", "finance", 2),
    ("auditor", "auditor", 2),
    ("admin", "admin", -1),
)


def demo_users(cf: Counterfoil, merchants: list[str]) -> dict[str, str]:
    """Add the demo users that are not there yet; their logins (username → role).

    The cashier works at the first merchant's first terminal (given it too if an older
    demo made the cashier without terminals).
    """
    from counterfoil.services.users import add_user, list_users, set_terminals

    present = {u.username: u for u in cf.read(list_users)}
    logins: dict[str, str] = {}
    for username, role, scope in DEMO_USERS:
        mine = [] if scope < 0 else merchants[:1] if scope == 0 else merchants
        tills: list[tuple[str, str]] = []
        if role == "cashier":
            tills = [
                (t["merchant_no"], t["terminal_id"])
                for t in cf.read(partial(list_terminals, merchant_no=mine[0]))[:1]
            ]
        if username not in present:
            add_user(cf, username, DEMO_PASSWORD, role, mine, terminals=tills, actor=ACTOR)
        elif role == "cashier" and not present[username].terminals:
            set_terminals(cf, username, tills, actor=ACTOR)
        logins[username] = role
    return logins
