"""What happens to the demo's month after its transactions are recorded: the story.

``tell_story`` runs, for the first demo merchant, what the shop and its back office
would have done, each step through the ordinary services, so every console page has
something to show:

1. batch closes (批结算): each terminal's batch of the window's last 3 days is closed as
   the terminal reports it (``settlement.batch.close_batch``), totals taken from the
   journal — balanced — except one batch reported with one sale missing: not balanced,
   a discrepancy, and a case opened by the cases hook;
2. days closed: every business day of the window before its last is closed
   (``settlement.lists.close_day``), the list of the last two issued and one reprinted;
3. a WeChat Pay trade bill (交易账单) of the last 3 days, written from the journal with
   four breaks (an amount differing, a payment left out, a payment the journal does not
   have, a fee differing), imported (``services.statements.import_file``) and
   reconciled day by day (``reconcile.service.reconcile``): a case per break;
4. the amount break's case worked: assigned to the demo finance user, with a note and an
   adjustment finance proposes, waiting for a second person (admin) to approve it.

Each step is skipped when done, so telling the story twice adds nothing; the bill is
the same bytes for the same seed and window (its SHA-256 makes a second import a no-op).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, select

from counterfoil.cases import adjustments, workflow
from counterfoil.core.errors import NotFound
from counterfoil.demo.load import ZONE
from counterfoil.reconcile.service import reconcile
from counterfoil.services.access import TERMINAL_SCOPES, Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.statements import import_file
from counterfoil.services.users import get_user
from counterfoil.settlement import lists
from counterfoil.settlement.batch import close_batch, journal_of_batch
from counterfoil.settlement.batch_report import SIDES
from counterfoil.store.batch_schema import batch_closes
from counterfoil.store.cases_schema import case_adjustments, cases
from counterfoil.store.reconcile_schema import recon_breaks, recon_runs
from counterfoil.store.schema import entry_state, journal_entries, statement_imports

BATCH_DAYS = 3
STATEMENT_DAYS = 3
ISSUED_DAYS = 2
SOURCE = "wechat_trade"
WECHAT_MERCHANT = "1900000109"  # the shop's number at WeChat Pay (the demo's own)
#: The breaks written into the bill: which payment of the bill (by position) each takes.
BREAKS = {"amount_mismatch": 5, "missing_in_statement": 11, "fee_mismatch": 17}
AMOUNT_OFF = 300  # fen more on the bill than the journal holds
FEE_OFF = 12  # fen more fee on the bill

j, s = journal_entries.c, entry_state.c

WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
WECHAT_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _fee5(fen: int) -> str:
    """A fee in fen as WeChat writes it, to 0.00001 yuan: '0.28000', '-0.07000'."""
    units = fen * 1000
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100_000}.{units % 100_000:05d}"


def _day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    start = datetime.combine(first, datetime.min.time(), ZONE).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), ZONE).astimezone(UTC)
    return start, end


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _person(cf: Counterfoil, username: str) -> Principal:
    user = cf.read(lambda conn: get_user(conn, username))
    return Principal(
        "person", f"user:{user.username}", "demo", role=user.role, merchants=user.merchants
    )


# --- 1. batch closes ------------------------------------------------------------------------


def _batches(conn: Connection, merchant_no: str, first: date, last: date) -> list[tuple[str, str]]:
    """(terminal, batch) of the merchant's transactions on those days, in order."""
    start, end = _day_bounds(first, last)
    rows = conn.execute(
        select(j.terminal_id, j.batch_no)
        .where(
            and_(
                j.merchant_no == merchant_no,
                j.kind == "transaction",
                j.terminal_time >= start,
                j.terminal_time < end,
                j.batch_no.is_not(None),
            )
        )
        .group_by(j.terminal_id, j.batch_no)
        .order_by(j.batch_no, j.terminal_id)
    ).all()
    return [(str(r.terminal_id), str(r.batch_no)) for r in rows]


def _report(
    conn: Connection, merchant_no: str, terminal_id: str, batch_no: str, short: bool
) -> dict[str, Any]:
    txns = [t for t in journal_of_batch(conn, merchant_no, terminal_id, batch_no) if t.counted]
    totals = {"debit_count": 0, "debit_amount": 0, "credit_count": 0, "credit_amount": 0}
    for t in txns:
        totals[f"{SIDES[t.type]}_count"] += 1
        totals[f"{SIDES[t.type]}_amount"] += t.amount
    sales = [t for t in txns if t.type == "sale"]
    if short and len(sales) > 1:  # the terminal lost its last sale
        totals["debit_count"] -= 1
        totals["debit_amount"] -= sales[-1].amount
    return {
        "merchant_no": merchant_no,
        "terminal_id": terminal_id,
        "batch_no": batch_no,
        "currency": "CNY",
        **totals,
    }


def close_batches(cf: Counterfoil, merchant_no: str, end: date) -> dict[str, int]:
    """Close each terminal's batch of the last days; the first one reported short."""
    first = end - timedelta(days=BATCH_DAYS - 1)
    found = cf.read(lambda conn: _batches(conn, merchant_no, first, end))
    done = cf.read(
        lambda conn: {
            (r.terminal_id, r.batch_no)
            for r in conn.execute(
                select(batch_closes.c.terminal_id, batch_closes.c.batch_no).where(
                    batch_closes.c.merchant_no == merchant_no
                )
            )
        }
    )
    closed = unbalanced = 0
    for n, (terminal_id, batch_no) in enumerate(found):
        if (terminal_id, batch_no) in done:
            continue
        payload = cf.read(
            partial(
                _report,
                merchant_no=merchant_no,
                terminal_id=terminal_id,
                batch_no=batch_no,
                short=n == 0,
            )
        )
        terminal = Principal(
            "terminal",
            f"terminal:{merchant_no}/{terminal_id}",
            "demo",
            merchants=(merchant_no,),
            terminals=((merchant_no, terminal_id),),
            scopes=TERMINAL_SCOPES,
        )
        result = close_batch(cf, terminal, payload)
        closed += 1
        unbalanced += 0 if result.get("balanced") else 1
    return {"batch_closes": closed, "unbalanced": unbalanced}


# --- 2. days closed --------------------------------------------------------------------------


def close_days(cf: Counterfoil, merchant_no: str, first: date, end: date) -> dict[str, int]:
    """Close every day of the window before its last; issue the last two, reprint one."""
    operator = Principal.local("demo")
    days = [first + timedelta(days=n) for n in range((end - first).days)]
    closed = issued = 0
    for day in days:
        if cf.read(partial(lists.find_close, merchant_no=merchant_no, day=day)) is None:
            lists.close_day(cf, operator, merchant_no, day)
            closed += 1
    for day in days[-ISSUED_DAYS:]:
        copies = cf.read(partial(lists.issues_of, who=operator, merchant_no=merchant_no, day=day))
        wanted = 2 if day == days[-1] else 1  # the original, and for the last a reprint
        for _n in range(len(copies), wanted):
            lists.issue(cf, operator, merchant_no, day)
            issued += 1
    return {"days_closed": closed, "lists_issued": issued}


# --- 3. the WeChat bill, imported and reconciled ----------------------------------------------


def _wechat_entries(
    conn: Connection, merchant_no: str, first: date, last: date
) -> list[dict[str, Any]]:
    start, end = _day_bounds(first, last)
    rows = conn.execute(
        select(
            j.seq,
            j.type,
            j.amount,
            j.fee,
            j.order_no,
            j.terminal_id,
            j.terminal_time,
            func.coalesce(s.status, "approved").label("status"),
        )
        .select_from(
            journal_entries.outerjoin(
                entry_state, and_(s.merchant_no == j.merchant_no, s.seq == j.seq)
            )
        )
        .where(
            and_(
                j.merchant_no == merchant_no,
                j.kind == "transaction",
                j.channel == "wechat",
                j.type.in_(("sale", "refund")),
                j.terminal_time >= start,
                j.terminal_time < end,
            )
        )
        .order_by(j.terminal_time, j.seq)
    ).all()
    return [dict(r._mapping) for r in rows if r.status not in ("voided", "reversed")]


def _row(e: dict[str, Any], *, amount: int | None = None, fee: int | None = None) -> str:
    when = _aware(e["terminal_time"]).astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")
    money = e["amount"] if amount is None else amount
    charged = e["fee"] if fee is None else fee
    head = f"`{when},`wx2421b1c4370ec43b,`{WECHAT_MERCHANT},`0,`{e['terminal_id']},"
    if e["type"] == "refund":
        return (
            head + f"`{e['original']},`{e['order_no']},`demo-user,`MICROPAY,`REFUND,`OTHERS,"
            f"`CNY,`0.00,`0.00,`{e['order_no']},`R{e['seq']:012d},`{_yuan(money)},`0.00,"
            f"`ORIGINAL,`SUCCESS,`商品,`,`{_fee5(charged)},`0.60%,`0.00,`{_yuan(money)},`"
        )
    return (
        head + f"`{e['order_no']},`M{e['seq']:012d},`demo-user,`MICROPAY,`SUCCESS,`OTHERS,`CNY,"
        f"`{_yuan(money)},`0.00,`0,`0,`0.00,`0.00,`,`,`商品,`,`{_fee5(charged)},`0.60%,"
        f"`{_yuan(money)},`0.00,`"
    )


def write_bill(cf: Counterfoil, merchant_no: str, first: date, last: date) -> Path:
    """The shop's WeChat Pay trade bill of those days, from its journal, with the breaks."""
    entries = cf.read(lambda conn: _wechat_entries(conn, merchant_no, first, last))
    rows: list[str] = []
    count = settled = refunded = fees = 0
    sales = [n for n, e in enumerate(entries) if e["type"] == "sale"]
    chosen = {kind: sales[at] for kind, at in BREAKS.items() if at < len(sales)}
    for n, e in enumerate(entries):
        e["original"] = e["order_no"]
        if n == chosen.get("missing_in_statement"):
            continue
        amount = e["amount"] + (AMOUNT_OFF if n == chosen.get("amount_mismatch") else 0)
        fee = int(e["fee"] or 0) + (FEE_OFF if n == chosen.get("fee_mismatch") else 0)
        rows.append(_row(e, amount=amount, fee=fee))
        count += 1
        fees += fee
        if e["type"] == "refund":
            refunded += amount
        else:
            settled += amount
    # a payment the journal never recorded: the terminal lost it, WeChat has it
    if entries:
        lost = dict(entries[len(entries) // 2])
        lost.update(
            type="sale",
            seq=999_999_999,
            amount=8_800,
            fee=53,
            order_no=f"4200009999{last:%Y%m%d}{lost['seq']:010d}",
        )
        rows.append(_row(lost))
        count += 1
        fees += 53
        settled += 8_800
    folder = cf.settings.home / "demo"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"wechat-trade-{WECHAT_MERCHANT}-{first:%Y%m%d}-{last:%Y%m%d}.csv"
    text = "\ufeff" + WECHAT_HEADER + "\r\n" + "".join(r + "\r\n" for r in rows)
    text += WECHAT_SUMMARY + "\r\n"
    text += (
        f"`{count},`{_yuan(settled)},`{_yuan(refunded)},`0.00,`{_fee5(fees)},"
        f"`{_yuan(settled)},`{_yuan(refunded)}\r\n"
    )
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _runs_of(conn: Connection, *, merchant_no: str, scope: str) -> int:
    query = select(func.count()).where(
        and_(recon_runs.c.merchant_no == merchant_no, recon_runs.c.scope == scope)
    )
    return int(conn.execute(query).scalar_one())


def statements(cf: Counterfoil, merchant_no: str, end: date) -> dict[str, Any]:
    """Write, import and reconcile the bill; the import and the runs."""
    first = end - timedelta(days=STATEMENT_DAYS - 1)
    path = write_bill(cf, merchant_no, first, end)
    imported = import_file(cf, path, format=SOURCE, merchant_no=merchant_no)
    operator = Principal.local("demo")
    runs = 0
    for n in range(STATEMENT_DAYS):
        day = first + timedelta(days=n)
        scope = f"day:{day.isoformat()}:{SOURCE}"
        ran = cf.read(partial(_runs_of, merchant_no=merchant_no, scope=scope))
        if ran:
            continue
        reconcile(cf, operator, merchant_no=merchant_no, day=day, source=SOURCE)
        runs += 1
    return {
        "statement": path.name,
        "import_id": imported.import_id,
        "statement_lines": imported.lines,
        "reconciliations": runs,
    }


# --- 4. one case worked ------------------------------------------------------------------------


def work_a_case(cf: Counterfoil, merchant_no: str) -> int | None:
    """Give the amount break's case to finance, with a note and a proposed adjustment."""

    def find(conn: Connection) -> Any:
        b, c = recon_breaks.c, cases.c
        ref = conn.execute(
            select(b.break_id)
            .where(and_(b.merchant_no == merchant_no, b.outcome == "amount_mismatch"))
            .order_by(b.break_id)
        ).scalar()
        if ref is None:
            return None
        return conn.execute(
            select(c.id, c.assignee, c.difference).where(
                and_(c.merchant_no == merchant_no, c.origin_ref == f"recon:{ref}")
            )
        ).first()

    row = cf.read(find)
    if row is None or row.assignee is not None:
        return None
    try:
        finance = _person(cf, "finance")
    except NotFound:
        return None
    case_id = int(row.id)
    workflow.assign(
        cf, finance, case_id, "finance", note="WeChat bill says more than the till recorded"
    )
    workflow.add_note(
        cf, finance, case_id, "Asked WeChat Pay support for the order's detail; they confirm it."
    )
    already = cf.read(
        lambda conn: conn.execute(
            select(func.count()).where(case_adjustments.c.case_id == case_id)
        ).scalar_one()
    )
    if not already and row.difference:
        adjustments.propose(
            cf,
            finance,
            case_id,
            kind="supplement",
            amount=abs(int(row.difference)),
            reason="Book the difference WeChat Pay settled; needs a second approval.",
        )
    return case_id


def tell_story(cf: Counterfoil, loaded: dict[str, Any]) -> dict[str, Any]:
    """Tell the story of the loaded demo (``load_demo``'s answer); what it added."""
    merchant_no = loaded["merchants"][0]
    first, end = date.fromisoformat(loaded["from"]), date.fromisoformat(loaded["to"])
    told: dict[str, Any] = {"merchant": merchant_no}
    told.update(close_batches(cf, merchant_no, end))
    told.update(close_days(cf, merchant_no, first, end))
    told.update(statements(cf, merchant_no, end))
    told["worked_case"] = work_a_case(cf, merchant_no)
    told["imports"] = cf.read(
        lambda conn: conn.execute(
            select(func.count()).where(statement_imports.c.merchant_no == merchant_no)
        ).scalar_one()
    )
    return told
