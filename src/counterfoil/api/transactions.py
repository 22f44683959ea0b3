"""Transaction routes: ingest one, ingest a store-and-forward batch, look up, search.

Only a terminal records, with its own token (``Authorization: Bearer cft_…``), and only
its own transactions. Reading is for any principal with ``transactions.read``, confined
by ``lookups.read_for`` / ``search_for`` to what it may see.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request

from counterfoil.api.auth import cf_of, principal, requires, source_of
from counterfoil.api.errors import error_body, locale_of
from counterfoil.api.responses import JSON
from counterfoil.core.errors import CounterfoilError, Forbidden, ValidationError
from counterfoil.i18n import _
from counterfoil.services import bulk, ingest, lookups
from counterfoil.services.access import TERMINAL_SCOPES, Principal
from counterfoil.services.context import Counterfoil
from counterfoil.store import audit

router = APIRouter(prefix="/api/v1", tags=["transactions"])
MAX_SINGLE_BYTES = 64 * 1024
MAX_BATCH_BYTES = 32 * 1024 * 1024


class TerminalCaller:
    """A terminal that writes: it may record transactions of its own terminal only."""

    def __init__(self, who: Principal) -> None:
        if who.kind != "terminal" or not who.terminals:
            raise Forbidden(_("only a terminal's own API token records transactions"))
        self.merchant_no, self.terminal_id = who.terminals[0]
        self.actor = who.actor

    def denies(self, txn: ingest.Ready) -> CounterfoilError | None:
        if txn.merchant_no != self.merchant_no or txn.terminal_id != self.terminal_id:
            return Forbidden(
                _("this token belongs to terminal {terminal_id} of merchant {merchant_no}"),
                terminal_id=self.terminal_id,
                merchant_no=self.merchant_no,
            )
        return None


def _queue(request: Request) -> ingest.IngestQueue:
    queue: ingest.IngestQueue | None = getattr(request.app.state, "ingest_queue", None)
    if queue is None:
        cf = cf_of(request)
        queue = request.app.state.ingest_queue = ingest.IngestQueue(cf.submit, cf.keys)
    return queue


#: Verified terminal tokens, for a short while: a terminal sends many requests a second.
_TOKEN_TTL = 30.0
_tokens: dict[str, tuple[float, str, str]] = {}


async def terminal(request: Request) -> TerminalCaller:
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    key = hashlib.sha256(token.strip().encode()).hexdigest()
    hit = _tokens.get(key) if scheme.lower() == "bearer" else None
    if hit is not None and hit[0] >= time.monotonic():
        return TerminalCaller(
            Principal(
                "terminal",
                f"terminal:{hit[1]}/{hit[2]}",
                source_of(request),
                merchants=(hit[1],),
                terminals=((hit[1], hit[2]),),
                scopes=TERMINAL_SCOPES,
            )
        )
    caller = TerminalCaller(await principal(request))
    if len(_tokens) > 10_000:
        _tokens.clear()
    _tokens[key] = (time.monotonic() + _TOKEN_TTL, caller.merchant_no, caller.terminal_id)
    return caller


Writer = Annotated[TerminalCaller, Depends(terminal)]
Reader = Annotated[Principal, Depends(requires("transactions.read"))]


async def _write(cf: Counterfoil, job: Any) -> Any:
    """Run a write through the app's writer thread (started with the app) and await it."""
    return await asyncio.wrap_future(cf.submit(job))


async def read_json(request: Request, limit: int) -> Any:
    body = await request.body()
    if len(body) > limit:
        raise ValidationError("$", _("the request body is larger than {limit} bytes"), limit=limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValidationError("$", _("the request body is not valid JSON")) from None


def _hmac_for(cf: Counterfoil, caller: TerminalCaller) -> Any:
    return lambda m: cf.keys.hmac_key(m) if m == caller.merchant_no else None


def _item(result: ingest.ItemResult, locale: str) -> dict[str, Any]:
    item: dict[str, Any] = {"index": result.index, "status": result.status}
    if result.entry:
        item["entry"] = result.entry
    if result.error:
        item["error"] = error_body(result.error, locale)
    return item


@router.post(
    "/transactions",
    summary="Record one transaction (idempotent)",
    status_code=201,
    responses={
        200: {"description": "Already recorded: the same entry again"},
        409: {"description": "Same key, different details"},
        422: {"description": "Invalid, card data refused or a rule broken"},
    },
)
async def post_transaction(request: Request, caller: Writer) -> JSON:
    cf = cf_of(request)
    payload = await read_json(request, MAX_SINGLE_BYTES)
    item = ingest.prepare(0, payload, _hmac_for(cf, caller))
    item = item._replace(actor=caller.actor)
    denied = caller.denies(item.ready) if item.ready is not None else None
    if denied is not None:
        await _write(
            cf,
            lambda conn: audit.record(
                conn,
                caller.actor,
                "transaction.ingest",
                "denied",
                object_type="transaction",
                details={"code": denied.code, "reason": denied.render("en")},
            ),
        )
        raise denied
    result = await asyncio.wrap_future(_queue(request).put(item))
    if result.error is not None:
        raise result.error
    return JSON(
        {"status": result.status, "duplicate": result.status == "duplicate", "entry": result.entry},
        status_code=201 if result.status == "recorded" else 200,
    )


@router.post("/transactions/batch", summary="Record a store-and-forward batch (≤ 10,000)")
async def post_batch(request: Request, caller: Writer) -> JSON:
    cf = cf_of(request)
    body = await request.body()
    if len(body) > MAX_BATCH_BYTES:
        raise ValidationError(
            "$", _("the request body is larger than {limit} bytes"), limit=MAX_BATCH_BYTES
        )
    workers: bulk.Workers | None = getattr(request.app.state, "workers", None)
    if workers is not None:
        sent = await asyncio.wrap_future(workers.prepare_batch(body, caller.merchant_no))
        prepared = bulk.received(sent)
    else:
        items = bulk.batch_items(body)
        prepared = await asyncio.to_thread(ingest.prepare_all, items, _hmac_for(cf, caller))
    results = await _write(
        cf, lambda conn: ingest.record(conn, cf.keys, prepared, caller.actor, allowed=caller.denies)
    )
    locale = locale_of(request)
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return JSON({"counts": counts, "results": [_item(r, locale) for r in results]})


@router.get(
    "/transactions/{ref:path}",
    summary="One transaction by entry id, RRN, "
    "TERMINAL:BATCH:TRACE or order number, with the entries that act on it",
)
async def get_transaction(
    request: Request, ref: str, who: Reader, merchant: str | None = None
) -> dict[str, Any]:
    cf = cf_of(request)
    entry: dict[str, Any] = await asyncio.to_thread(
        cf.read, lambda conn: lookups.read_for(conn, who, ref, merchant)
    )
    await _write(
        cf,
        lambda conn: audit.record(
            conn,
            who.actor,
            "transaction.read",
            object_type="transaction",
            object_id=entry["entry_id"],
            merchant_no=entry["merchant_no"],
        ),
    )
    return entry


@router.get("/transactions", summary="Search transactions (a terminal: its own)")
async def search_transactions(
    request: Request,
    who: Reader,
    merchant: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    amount: Annotated[int | None, Query(ge=1)] = None,
    last4: str | None = None,
    rrn: str | None = None,
    order_no: str | None = None,
    type: str | None = None,
    channel: str | None = None,
    status: str | None = None,
    terminal_id: str | None = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=lookups.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    cf = cf_of(request)
    query = lookups.Search(
        merchant or "",
        date_from,
        date_to,
        amount,
        None,
        None,
        last4,
        rrn,
        order_no,
        type,
        channel,
        status,
        terminal_id,
        page,
        per_page,
    )
    result: dict[str, Any] = await asyncio.to_thread(
        cf.read, lambda conn: lookups.search_for(conn, who, query)
    )
    await _write(
        cf,
        lambda conn: audit.record(
            conn,
            who.actor,
            "transaction.search",
            object_type="transaction",
            merchant_no=result["items"][0]["merchant_no"] if result["items"] else merchant,
            details={"returned": len(result["items"]), "total": result["total"]},
        ),
    )
    return result
