"""Running a reconciliation: stage, run the passes, prove the counts, store, keep breaks.

``reconcile`` takes a merchant's business day (optionally one source) or one import,
stages its entries and lines, runs the engine, and checks completeness before anything
is stored: on each side, what came in (less what was set aside) must equal the sum of
the outcomes, in count and in money, or the run fails. Then, in one transaction, the run,
every outcome row and the breaks' lifecycle are written: a break seen before is
``persisting``, a new one ``new``, one of the same scope no longer found ``resolved``.
Once that is committed, the cases hook is told, in a transaction of its own (it opens a
case for each break that has none: a later run catches up if it fails).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection, func, select

from counterfoil.cases import auto
from counterfoil.core.errors import IntegrityFailure, NotFound, ValidationError
from counterfoil.core.times import stamp_for
from counterfoil.i18n import _
from counterfoil.observe.metrics import observe_reconciliation
from counterfoil.reconcile.engines import engine_named
from counterfoil.reconcile.engines.base import Engine, EngineResult
from counterfoil.reconcile.explain import Break, explain
from counterfoil.reconcile.model import OUTCOMES, SET_SIZE, SOURCE_CHANNELS
from counterfoil.reconcile.settings import check_source, effective_decisions, tolerances_for
from counterfoil.reconcile.staging import Window, stage
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit
from counterfoil.store.reconcile_schema import (
    recon_breaks,
    recon_outcome_sets,
    recon_outcomes,
    recon_runs,
)
from counterfoil.store.schema import statement_imports, statement_lines

OUTCOME_COLUMNS = ("run_id", "seq", "import_id", "line_no", "outcome", "pass", "break_id")
CHUNK = 500


@dataclass(slots=True)
class Scope:
    merchant_no: str
    scope: str
    window: Window
    business_day: date | None = None
    source: str | None = None
    import_id: int | None = None


@dataclass(slots=True)
class Timings:
    stage: float = 0.0
    engine: float = 0.0
    store: float = 0.0
    cases: float = 0.0  # the cases hook, in its own transaction once the run is stored
    marks: dict[str, float] = field(default_factory=dict)


def day_scope(conn: Connection, merchant_no: str, day: date, source: str | None = None) -> Scope:
    merchant = get_merchant(conn, merchant_no)
    zone = ZoneInfo(merchant.timezone)
    start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    sources = (source,) if source else tuple(SOURCE_CHANNELS)
    margin = max(t.time_window for t in tolerances_for(conn, merchant_no).values())
    name = f"day:{day.isoformat()}" + (f":{source}" if source else "")
    window = Window(merchant_no, start, end, sources, margin=margin)
    return Scope(merchant_no, name, window, business_day=day, source=source)


def import_scope(conn: Connection, import_id: int) -> Scope:
    """One import: its lines, against the entries of the days they fall on."""
    row = conn.execute(
        select(statement_imports.c.merchant_no, statement_imports.c.format).where(
            statement_imports.c.id == import_id
        )
    ).first()
    if row is None:
        raise NotFound(_("import {import_id} is not known"), import_id=import_id)
    if row.merchant_no is None:
        raise ValidationError(
            "import", _("import {import_id} names no merchant"), import_id=import_id
        )
    if row.format not in SOURCE_CHANNELS:
        raise ValidationError(
            "import",
            _("import {import_id} is a {format} file: it lists no transactions to reconcile"),
            import_id=import_id,
            format=row.format,
        )
    sl = statement_lines.c
    first, last = conn.execute(
        select(func.min(sl.occurred_at), func.max(sl.occurred_at)).where(sl.import_id == import_id)
    ).one()
    merchant = get_merchant(conn, row.merchant_no)
    zone = ZoneInfo(merchant.timezone)
    if first is None:
        first = last = datetime.now(UTC)
    first_day = _aware(first).astimezone(zone).date()
    last_day = _aware(last).astimezone(zone).date()
    start = datetime.combine(first_day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    window = Window(row.merchant_no, start, end, (row.format,), import_id=import_id)
    return Scope(row.merchant_no, f"import:{import_id}", window, import_id=import_id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def reconcile(
    cf: Counterfoil,
    who: Principal,
    *,
    merchant_no: str | None = None,
    day: date | None = None,
    source: str | None = None,
    import_id: int | None = None,
    engine: Engine | str = "duckdb",
    timings: Timings | None = None,
) -> dict[str, Any]:
    """Reconcile a merchant's day (or one import) and store the run; its summary."""
    check_source(source)
    if import_id is not None:
        scope = cf.read(lambda conn: import_scope(conn, import_id))
    else:
        merchant = who.default_merchant(merchant_no)
        if merchant is None:
            raise ValidationError("merchant", _("expected a merchant number"))
        if day is None:
            raise ValidationError("date", _("expected a date as YYYY-MM-DD"))
        scope = cf.read(lambda conn: day_scope(conn, merchant, day, source))
    who.require("reconcile.run", scope.merchant_no)
    runner = engine_named(engine) if isinstance(engine, str) else engine
    timings = timings or Timings()
    started = datetime.now(UTC)
    folder = cf.settings.home / "reconcile"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    _sweep(folder)
    scratch = tempfile.mkdtemp(prefix="run-", dir=folder)
    try:
        mark = time.perf_counter()

        tolerances = cf.read(lambda conn: tolerances_for(conn, scope.merchant_no))
        chosen = cf.read(lambda conn: effective_decisions(conn, scope.merchant_no))
        staged = stage(
            cf.engine,
            scope.window,
            folder / scratch,
            [tolerances[s] for s in scope.window.sources],
            chosen,
            direct=runner.reads_sqlite,
        )
        timings.stage = time.perf_counter() - mark
        mark = time.perf_counter()
        result = runner.run(staged)
        try:
            summary = _summary(result)
            breaks = [explain(scope.merchant_no, row) for row in result.details()]
            timings.engine = time.perf_counter() - mark
            mark = time.perf_counter()
            document = cf.write(
                lambda conn: _store(conn, who, scope, runner.name, started, summary, breaks, result)
            )
            timings.store = time.perf_counter() - mark
            mark = time.perf_counter()
            document["cases_opened"] = cf.write(
                lambda conn: auto.on_reconciliation_breaks(
                    conn, merchant_no=scope.merchant_no, run_id=document["run_id"]
                )
            )
            timings.cases = time.perf_counter() - mark
        finally:
            result.close()
    finally:
        shutil.rmtree(folder / scratch, ignore_errors=True)
    observe_reconciliation((datetime.now(UTC) - started).total_seconds())
    return document


#: A scratch folder this old belongs to no run still going: a killed one left it.
STALE_SCRATCH = timedelta(hours=12)


def _sweep(folder: Path) -> None:
    """Remove what killed runs left behind (a SIGKILL skips the ``finally`` that would):
    each holds a copy of a day's staged records."""
    cutoff = time.time() - STALE_SCRATCH.total_seconds()
    for stale in folder.glob("run-*"):
        with contextlib.suppress(OSError):
            if stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)


def _summary(result: EngineResult) -> dict[str, Any]:
    """Counts and amounts per side: in = Σ outcomes, or the run is refused."""
    sides: dict[str, dict[str, Any]] = {}
    for side in ("journal", "statement"):
        sides[side] = {
            "staged": {"count": 0, "amount": 0},
            "set_aside": {"count": 0, "amount": 0},
            "outcomes": {o: {"count": 0, "amount": 0} for o in OUTCOMES},
        }
    for side, what, n, amount in result.totals():
        sides[side][what] = {"count": n, "amount": amount}
    for side, outcome, n, amount in result.summary():
        sides[side]["outcomes"][outcome] = {"count": n, "amount": amount}
    for side, doc in sides.items():
        total_in = {k: doc["staged"][k] - doc["set_aside"][k] for k in ("count", "amount")}
        out = {k: sum(v[k] for v in doc["outcomes"].values()) for k in ("count", "amount")}
        doc["in"] = total_in
        doc["complete"] = total_in == out
        if not doc["complete"]:
            raise IntegrityFailure(
                _("the run does not add up on the {side} side: {seen} in, {accounted} counted"),
                side=side,
                seen=total_in["count"],
                accounted=out["count"],
            )
    return {**sides, "passes": result.pass_counts()}


def _store(
    conn: Connection,
    who: Principal,
    scope: Scope,
    engine: str,
    started: datetime,
    summary: dict[str, Any],
    breaks: list[Break],
    result: EngineResult,
) -> dict[str, Any]:
    run_id = int(conn.execute(select(func.coalesce(func.max(recon_runs.c.id), 0))).scalar_one()) + 1
    lifecycle = _keep_breaks(conn, scope, run_id, breaks)
    summary["breaks"] = lifecycle
    conn.execute(
        recon_runs.insert().values(
            id=run_id,
            merchant_no=scope.merchant_no,
            scope=scope.scope,
            business_day=scope.business_day,
            source=scope.source,
            import_id=scope.import_id,
            engine=engine,
            entries=summary["journal"]["in"]["count"],
            lines=summary["statement"]["in"]["count"],
            summary=orjson.dumps(summary).decode(),
            actor=who.actor.name,
            started_at=started,
            finished_at=datetime.now(UTC),
        )
    )
    ids = {(b.seq, b.import_id, b.line_no, b.outcome): b.break_id for b in breaks}
    _insert_outcomes(conn, run_id, result, ids)
    audit.record(
        conn,
        who.actor,
        "reconcile.run",
        object_type="recon_run",
        object_id=str(run_id),
        merchant_no=scope.merchant_no,
        details={
            "scope": scope.scope,
            "entries": summary["journal"]["in"]["count"],
            "lines": summary["statement"]["in"]["count"],
            "breaks": lifecycle,
        },
    )
    return {
        "run_id": run_id,
        "merchant_no": scope.merchant_no,
        "scope": scope.scope,
        "business_day": scope.business_day.isoformat() if scope.business_day else None,
        "source": scope.source,
        "import_id": scope.import_id,
        "engine": engine,
        **summary,
    }


def _insert_outcomes(
    conn: Connection, run_id: int, result: EngineResult, ids: dict[tuple[Any, ...], str]
) -> None:
    """Every record's outcome: the breaks' rows, each with its break id, and the rest
    (matched, pending: nearly all of a day) as sets — a few hundred rows for a million
    records, made by the engine."""
    sets = result.sets(SET_SIZE)
    while batch := list(itertools.islice(sets, 50)):
        conn.execute(
            recon_outcome_sets.insert(),
            [
                {"run_id": run_id, "outcome": o, "pass": p, "part": part, "records": n,
                 "members": members}
                for o, p, part, n, members in batch
            ],
        )  # fmt: skip
    for rows in result.stored():
        _insert_rows(
            conn,
            recon_outcomes.name,
            OUTCOME_COLUMNS,
            [(run_id, *row, ids.get(row[:4])) for row in rows],
        )


_BREAK_COLUMNS = (
    "break_id", "merchant_no", "scope", "outcome", "status", "explanation", "message",
    "params", "fields", "seq", "import_id", "line_no", "amount_journal", "amount_statement",
    "occurred_at", "first_run_id", "last_run_id", "resolved_run_id", "updated_at",
)  # fmt: skip


def _insert_rows(
    conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """``rows`` (tuples in ``columns``' order) inserted by the driver itself: building
    SQLAlchemy's parameters row by row took longer than SQLite's inserts of ten thousand
    breaks. Times must come as ``core.times.stamp_for`` gives them."""
    if not rows:
        return
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    conn.exec_driver_sql(
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (our own names)
        f"VALUES ({', '.join([mark] * len(columns))})",
        rows,
    )


def _keep_breaks(
    conn: Connection, scope: Scope, run_id: int, breaks: list[Break]
) -> dict[str, int]:
    """Write the breaks' lifecycle: new, persisting, resolved. How many of each."""
    b = recon_breaks.c
    now = datetime.now(UTC)
    found = {x.break_id: x for x in breaks}
    known: dict[str, str] = {}
    wanted = sorted(found)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for break_id, status in conn.execute(
            select(b.break_id, b.status).where(b.break_id.in_(chunk))
        ):
            known[break_id] = status
    fresh = [x for x in breaks if x.break_id not in known]
    if fresh:
        when = stamp_for(conn.dialect.name == "sqlite")
        _insert_rows(
            conn,
            recon_breaks.name,
            _BREAK_COLUMNS,
            [
                (
                    x.break_id, scope.merchant_no, scope.scope, x.outcome, "new",
                    x.render("en"), x.message, orjson.dumps(x.params).decode(),
                    orjson.dumps(x.fields).decode(), x.seq, x.import_id, x.line_no,
                    x.amount_journal, x.amount_statement,
                    None if x.occurred_at is None else when(x.occurred_at),
                    run_id, run_id, None, when(now),
                )
                for x in fresh
            ],
        )  # fmt: skip
    again = [x for x in wanted if x in known]
    for start in range(0, len(again), CHUNK):
        conn.execute(
            recon_breaks.update()
            .where(b.break_id.in_(again[start : start + CHUNK]))
            .values(status="persisting", last_run_id=run_id, resolved_run_id=None, updated_at=now)
        )
    gone = [
        row[0]
        for row in conn.execute(
            select(b.break_id).where(
                b.merchant_no == scope.merchant_no, b.scope == scope.scope, b.status != "resolved"
            )
        )
        if row[0] not in found
    ]
    for start in range(0, len(gone), CHUNK):
        conn.execute(
            recon_breaks.update()
            .where(b.break_id.in_(gone[start : start + CHUNK]))
            .values(status="resolved", resolved_run_id=run_id, updated_at=now)
        )
    return {"new": len(fresh), "persisting": len(again), "resolved": len(gone)}
