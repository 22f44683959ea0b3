"""Benchmark of issue 6: a 1,000,000-line WeChat bill and a 1,000,000-line ZM file imported.

Two files are written (deterministically, streamed to a temporary directory): a WeChat
Pay trade bill in the current 27-column ALL layout (sales and refunds, every cell with
its backtick, the summary rows at the end that the lines add up to), and a UnionPay ZM
file (607-byte GBK fixed-width lines, sales and voids, a few with a Chinese sub-merchant
name) named ``INN{yyMMdd}88ZM_{merchant}`` with its RD summary beside it. Each is then
imported by ``counterfoil.services.statements.import_file`` into a fresh store: parsed,
checked against its control totals, and stored, every line, in one transaction.

Each import runs in its own process under bench/measure.py, so its peak memory
(ru_maxrss) is its own; it is measured at 100,000 lines too, to show that memory does
not grow with the file. The time of the same file only parsed (no store) is measured
alike, so that parse and store can be told apart. Every figure is measured ``--rounds``
times: the best is reported, with the spread and the load average at the time.
Printed, and written to bench/results/import-<db>.json.

    python bench/import_bench.py [--lines 1000000] [--db sqlite|postgresql|both] [--rounds 3]

(``--db sqlite,postgresql`` is ``both``, as bench/journal_bench.py spells it.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from speed import machine_speed  # noqa: E402

from pgserver import PgServer  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SETTLED = date(2021, 1, 28)
WECHAT_MERCHANT = "1900000109"
ZM_MERCHANT = "802310048993424"
BLOCK = 10_000  # lines written at a time

# --- the WeChat Pay trade bill -----------------------------------------------------------

WECHAT_HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)
WECHAT_SUMMARY = (
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
)
GOODS = ("午餐套餐", "咖啡", "晚餐 2 人", "矿泉水", "便利店商品")
BANKS = ("CMB_CREDIT", "ICBC_DEBIT", "OTHERS", "CCB_DEBIT")
TRADE_TYPES = ("MICROPAY", "NATIVE", "JSAPI")


def _amount(i: int) -> int:
    """A sale's amount in fen: spread between 1.00 and 5,000.99 yuan, deterministic."""
    return 100 + (i * 7919) % 500_000


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _fee5(units: int) -> str:
    """Units of 0.00001 yuan as WeChat writes them: '0.28608', '-0.18000'."""
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100_000}.{units % 100_000:05d}"


def write_wechat(path: Path, lines: int) -> dict[str, int]:
    """A 27-column ALL bill of ``lines`` rows: every 20th a refund of the sale before it."""
    count = settlement = refunds = fees = orders = requested = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeff" + WECHAT_HEADER + "\r\n")
        block: list[str] = []
        for i in range(lines):
            second = i * 86_400 // lines
            when = (
                f"{SETTLED:%Y-%m-%d} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"
            )
            refund = i % 20 == 19
            sale = i - 1 if refund else i
            amount = _amount(sale)
            fee_units = 6 * amount  # 0.6 % in 0.00001 yuan
            device = f"POS-{sale % 16:04d}"
            ids = f"`42000009862021012{sale:011d},`C2021012{sale:010d},`oUpF8u{sale:022d}"
            kind = TRADE_TYPES[sale % 3]
            bank = BANKS[sale % 4]
            goods = GOODS[sale % 5]
            if refund:
                block.append(
                    f"`{when},`wx2421b1c4370ec43b,`{WECHAT_MERCHANT},`0,`{device},{ids},"
                    f"`{kind},`REFUND,`{bank},`CNY,`0.00,`0.00,`503001085620210128{i:011d},"
                    f"`R2021012{i:010d},`{_yuan(amount)},`0.00,`ORIGINAL,`SUCCESS,`{goods},`,"
                    f"`{_fee5(-fee_units)},`0.60%,`0.00,`{_yuan(amount)},`"
                )
                refunds += amount
                requested += amount
                fees -= fee_units
            else:
                block.append(
                    f"`{when},`wx2421b1c4370ec43b,`{WECHAT_MERCHANT},`0,`{device},{ids},"
                    f"`{kind},`SUCCESS,`{bank},`CNY,`{_yuan(amount)},`0.00,`0,`0,`0.00,`0.00,"
                    f"`,`,`{goods},`,`{_fee5(fee_units)},`0.60%,`{_yuan(amount)},`0.00,`"
                )
                settlement += amount
                orders += amount
                fees += fee_units
            count += 1
            if len(block) == BLOCK:
                out.write("\r\n".join(block) + "\r\n")
                block = []
        if block:
            out.write("\r\n".join(block) + "\r\n")
        out.write(WECHAT_SUMMARY + "\r\n")
        out.write(
            f"`{count},`{_yuan(settlement)},`{_yuan(refunds)},`0.00,`{_fee5(fees)},"
            f"`{_yuan(orders)},`{_yuan(requested)}\r\n"
        )
    return {"lines": count, "amount": settlement - refunds}


# --- the UnionPay ZM file and its RD summary ---------------------------------------------

#: One line of the real sample (samples/unionpay), the fields that vary made placeholders.
ZM_WIDTHS = (
    3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2, 6, 2, 4, 32, 1,
    21, 15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98,
)  # fmt: skip
ZM_FIXED = {
    0: "S56",
    1: "88022900",
    2: "00049993",
    5: "622609******0048",
    7: "4899",
    8: "07",
    10: "01",
    12: "01",
    17: "0001",
    20: "01",
    21: "000201",
    27: ZM_MERCHANT,
    29: "000000000000000",
    31: "000000000000",
    35: "000000000000",
    36: "000000000000",
    37: "00000000000",
    39: "7",
}
ZM_NAMES = ("淘在路上", "便利店一号", "咖啡馆")


def _zm_template() -> str:
    """The line as a format string: fixed fields filled in, the varying ones ``{n}``."""
    parts = []
    for n, width in enumerate(ZM_WIDTHS):
        if n in ZM_FIXED:
            parts.append(ZM_FIXED[n].ljust(width))
        elif n in ZM_VARYING:
            parts.append(f"{{{ZM_VARYING.index(n)}:<{width}}}")
        else:
            parts.append(" " * width)
    return " ".join(parts)


#: The fields that vary from line to line, in the order ``ZM_LINE`` takes them.
ZM_VARYING = (3, 4, 6, 9, 11, 13, 15, 16, 19, 26, 30, 32, 33)
ZM_LINE = _zm_template().format


def _zm_line(i: int, lines: int, settled: date) -> tuple[bytes, int, int, int]:
    """Line ``i``: (its 607 bytes, amount, fee, net) with the signs the parser gives them.

    Every 25th line is a void of the sale before it (交易类型 31: fee given back, the
    settlement debited); every 50th names a sub-merchant in Chinese (GBK, not ASCII).
    """
    void = i % 25 == 24
    sale = i - 1 if void else i
    amount = _amount(sale)
    fee = (amount * 6 + 500) // 1000  # 0.6 %, half-up to the fen
    second = i * 86_400 // lines
    settlement = f"{'D' if void else 'C'}{amount - fee:012d}"
    text = ZM_LINE(
        f"{i % 1_000_000:06d}",
        f"{settled:%m%d}{second // 3600:02d}{second // 60 % 60:02d}{second % 60:02d}",
        f"{amount:012d}",
        f"{settled:%Y%m%d}{i:013d}",
        f"ZM{sale:012d}",
        f"{sale % 1_000_000:06d}" if void else "",
        f"{'C' if void else 'D'}{fee:012d}",
        settlement,
        "31" if void else "01",
        f"{settled:%Y%m%d}{sale:013d}" if void else "",
        "",
        settlement,
        f"{sale % 64:08d}",
    )
    if i % 50 == 7:  # a Chinese name: 2 bytes a character in GBK, padded to 32 bytes
        data = text.encode("ascii")
        start = sum(ZM_WIDTHS[:30]) + 30
        name = ZM_NAMES[i % 3].encode("gbk").ljust(32)
        data = data[:start] + name + data[start + 32 :]
    else:
        data = text.encode("ascii")
    if void:
        return data, -amount, -fee, -(amount - fee)
    return data, amount, fee, amount - fee


def write_zm(folder: Path, lines: int) -> Path:
    """``INN{yyMMdd}88ZM_{merchant}`` of ``lines`` lines, and its RD summary beside it."""
    path = folder / f"INN{SETTLED:%y%m%d}88ZM_{ZM_MERCHANT}"
    debit = [0, 0, 0]  # amount, fee, net: what the RD puts in its 借 columns
    credit = [0, 0, 0]
    with path.open("wb") as out:
        block: list[bytes] = []
        for i in range(lines):
            data, *money = _zm_line(i, lines, SETTLED)
            block.append(data)
            for k, value in enumerate(money):
                # amount and net: + is 贷 (credit); the fee: + is 借 (charged).
                if (value >= 0) == (k == 1):
                    debit[k] += abs(value)
                else:
                    credit[k] += abs(value)
            if len(block) == BLOCK:
                out.write(b"\r\n".join(block) + b"\r\n")
                block = []
        if block:
            out.write(b"\r\n".join(block) + b"\r\n")
    totals = "".join(f"{_yuan(debit[k]):>16}{_yuan(credit[k]):>16}" for k in range(3))
    rd = (
        f"{'':>72}中国银联全渠道商户交易汇总表\r\n\r\n"
        f"商户代码:{ZM_MERCHANT}{'':>40}清算币种:人民币\r\n"
        f"收单机构:88022900{'':>47}清算日期:{SETTLED:%Y%m%d}\r\n\r\n"
        "交易类型            交易笔数               交易金额"
        "                         费用                              资金清算差额\r\n"
        f"{'_' * 136}\r\n"
        f"总计{lines:>24}{totals}\r\n"
    )
    (folder / f"RD2010{SETTLED:%y%m%d}01_{ZM_MERCHANT}").write_bytes(rd.encode("gbk"))
    return path


# --- measuring ---------------------------------------------------------------------------


def child(path: str, database_url: str, home: str, parse_only: bool) -> None:
    """Import (or only parse) ``path``; print what it took as JSON. Run under measure.py."""
    from counterfoil.config import Settings
    from counterfoil.importers import LineError, open_statement
    from counterfoil.services import statements
    from counterfoil.services.context import Counterfoil

    if parse_only:
        cpu, start = time.process_time(), time.perf_counter()
        result = open_statement(Path(path))
        lines = rejected = 0
        for record in result.records():
            if isinstance(record, LineError):
                rejected += 1
            else:
                lines += 1
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        report: dict[str, Any] = {"lines": lines, "rejected": rejected, "balanced": result.balanced}
    else:
        cf = Counterfoil.open(Settings(home=Path(home), database_url=database_url))
        cpu, start = time.process_time(), time.perf_counter()
        done = statements.import_file(cf, Path(path))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        closing = time.perf_counter()
        cf.close()  # waits for the log to be copied into the database (SQLite)
        report = {
            "close_seconds": time.perf_counter() - closing,
            "lines": done.lines,
            "rejected": done.rejected,
            "overlapping": done.overlapping,
            "balanced": done.balanced,
        }
    report |= {"seconds": seconds, "cpu_seconds": cpu}
    print(json.dumps(report))


def measured(args: list[str]) -> dict[str, Any]:
    """Run this script's ``--child`` under measure.py: its report and peak RSS (MiB)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as usage:
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "measure.py"),
                usage.name,
                sys.executable,
                __file__,
                "--child",
                *args,
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(result.stderr.decode()[-2000:])
        peak = json.loads(Path(usage.name).read_text())["peak_rss_kib"]
    report: dict[str, Any] = json.loads(result.stdout.decode().strip().splitlines()[-1])
    report["peak_rss_mib"] = int(peak // 1024)
    return report


class Store:
    """A fresh store per import: a new SQLite file, or a new PostgreSQL database."""

    def __init__(self, kind: str, scratch: Path) -> None:
        self.kind = kind
        self.scratch = scratch
        self.server: PgServer | None = None
        self.made = 0
        if kind == "postgresql":
            self.server = PgServer(durable=True).start()

    def fresh(self) -> tuple[str, str]:
        """(database URL, home) of a new, empty store."""
        self.made += 1
        home = self.scratch / f"home-{self.made}"
        home.mkdir()
        if self.server is None:
            return f"sqlite:///{home / 'counterfoil.db'}", str(home)
        name = f"bench{self.made}"
        self.server.psql(f"CREATE DATABASE {name}")
        return self.server.url_for(name), str(home)

    def close(self) -> None:
        if self.server is not None:
            self.server.cleanup()


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def rounds_of(
    store: Store, path: Path, rounds: int, parse_only: bool = False
) -> list[dict[str, Any]]:
    runs = []
    for _round in range(rounds):
        url, home = store.fresh()
        load = load_average()
        report = measured([str(path), url, home, "parse" if parse_only else "import"])
        report["load_before"] = load
        report["load_after"] = load_average()
        runs.append(report)
        shutil.rmtree(home, ignore_errors=True)
    return runs


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in runs]
    best = min(runs, key=lambda r: r["seconds"])
    return {
        "lines": best["lines"],
        "rejected": best["rejected"],
        "balanced": best["balanced"],
        "best_seconds": round(best["seconds"], 2),
        # the store's close after the best run: SQLite copying the log into the database
        "best_close_seconds": round(best.get("close_seconds", 0.0), 2),
        "best_cpu_seconds": round(min(r["cpu_seconds"] for r in runs), 2),
        "lines_per_second": round(best["lines"] / best["seconds"]),
        "seconds": [round(s, 2) for s in seconds],
        "spread_seconds": round(max(seconds) - min(seconds), 2),
        "median_seconds": round(statistics.median(seconds), 2),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "load_average": [r["load_before"] for r in runs],
    }


def files(folder: Path, lines: int) -> Iterator[tuple[str, Path]]:
    wechat = folder / f"wechat-{lines}" / f"wechat_{SETTLED:%Y%m%d}_all.csv"
    wechat.parent.mkdir()
    zm_folder = folder / f"zm-{lines}"
    zm_folder.mkdir()
    start = time.perf_counter()
    write_wechat(wechat, lines)
    zm = write_zm(zm_folder, lines)
    print(
        f"wrote {lines:,}-line files in {time.perf_counter() - start:.1f} s "
        f"({wechat.stat().st_size / 1e6:.0f} MB WeChat, {zm.stat().st_size / 1e6:.0f} MB ZM)",
        flush=True,
    )
    yield "wechat_trade", wechat
    yield "unionpay_zm", zm


def bench_database(kind: str, sizes: list[int], rounds: int) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="counterfoil-import-bench-"))
    store = Store(kind, scratch)
    result: dict[str, Any] = {"database": kind, "imports": []}
    try:
        for lines in sizes:
            for name, path in files(scratch, lines):
                # this virtual machine's speed moves by half within minutes (bench/speed.py)
                before = machine_speed()
                parsed = summary(rounds_of(store, path, rounds, parse_only=True))
                imported = summary(rounds_of(store, path, rounds))
                speed = {"before": before, "after": machine_speed()}
                if imported["lines"] != lines or not imported["balanced"]:
                    raise RuntimeError(f"{name}: not every line imported, or not balanced")
                entry = {
                    "format": name,
                    "lines": lines,
                    "file_mb": round(path.stat().st_size / 1e6, 1),
                    "import": imported,
                    "parse_only": parsed,
                    "store_share": round(1 - parsed["best_seconds"] / imported["best_seconds"], 2),
                    "machine_speed": speed,
                }
                result["imports"].append(entry)
                print(
                    f"[{kind}] {name} {lines:,} lines: imported in {imported['best_seconds']} s "
                    f"(best of {imported['seconds']}) = {imported['lines_per_second']:,} "
                    f"lines/s (then {imported['best_close_seconds']} s to close), peak "
                    f"{imported['peak_rss_mib']} MiB; parse alone "
                    f"{parsed['best_seconds']} s, peak {parsed['peak_rss_mib']} MiB; "
                    f"load {imported['load_average']}; a signature "
                    f"{before['ed25519_sign_us']} / {speed['after']['ed25519_sign_us']} µs",
                    flush=True,
                )
                shutil.rmtree(path.parent, ignore_errors=True)
    finally:
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        path, url, home, what = sys.argv[2:6]
        child(path, url, home, parse_only=what == "parse")
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument(
        "--db", default="both", help="sqlite, postgresql or both (or a list: sqlite,postgresql)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = sorted({min(100_000, args.lines), args.lines})
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
    }
    kinds = ["sqlite", "postgresql"] if args.db == "both" else args.db.split(",")
    if not set(kinds) <= {"sqlite", "postgresql"}:
        parser.error(f"--db: expected sqlite, postgresql or both, got {args.db!r}")
    for kind in kinds:
        result = bench_database(kind, sizes, args.rounds)
        result["machine"] = machine
        result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (RESULTS / f"import-{kind}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
