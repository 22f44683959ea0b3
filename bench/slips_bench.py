"""Benchmarks of issue 4: text, ESC/POS, PDF and HTML slips and verification codes, per second.

Pure CPU work in one thread, no database: the entries are made here, as
``services.lookups.find`` returns them, all different (amount, sequence, time, card,
merchant name), and every figure is the best of a few rounds. Printed, and written to
bench/results/slips.json.

    python bench/slips_bench.py [--slips 20000] [--pdfs 1000] [--codes 20000] [--rounds 3]

Figures:
- ``text_slip``: entry → ``Slip`` → ``render_text`` at 32 and at 48 columns, its code
  already made (a reprint of a slip whose code is stored, or a renderer after another);
- ``text_slip_with_code``: the same, and the verification code signed for it too;
- ``escpos_slip``: entry → ``Slip`` → ``render_escpos`` (80 mm), code already made;
- ``pdf_slip``: entry → ``Slip`` → ``render_pdf``, on an 80 mm roll, a 58 mm roll and A6
  in turn, code already made: the QR code made and drawn, the font subset embedded;
- ``html_slip``: entry → ``Slip`` → ``render_html``, code already made;
- ``verify_code``: ``verify_code`` of a genuine code (read, key look-up, Ed25519 check).

Each figure also gives ``cpu_per_second``, from the process's CPU time in the same round:
on a machine busy with other work, the wall-clock figure understates what one core does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from counterfoil.documents.code import CodeFields, make_code, verify_code  # noqa: E402
from counterfoil.documents.escpos import render_escpos  # noqa: E402
from counterfoil.documents.html import render_html  # noqa: E402
from counterfoil.documents.pdf import render_pdf  # noqa: E402
from counterfoil.documents.slip import slip_from_entry  # noqa: E402
from counterfoil.documents.text import render_text  # noqa: E402
from counterfoil.journal.keys import SigningKey, key_id_of  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MERCHANT_NO = "102310048993424"
KEY = SigningKey(bytes(range(32)))
KEY_ID = key_id_of(KEY.public)
NAMES = (
    "老街坊小吃店（漕溪北路店）",
    "Counterfoil Café 徐汇店",
    "上海市徐汇区某某便利店有限公司第三分店",
)
MERCHANTS = [
    {"merchant_no": MERCHANT_NO, "name": n, "timezone": "Asia/Shanghai", "settings": {}}
    for n in NAMES
]


def entry(i: int) -> dict[str, Any]:
    qr = i % 5 == 4
    data: dict[str, Any] = {
        "entry_id": f"{MERCHANT_NO}-{i + 2}",
        "merchant_no": MERCHANT_NO,
        "seq": i + 2,
        "kind": "transaction",
        "status": "approved",
        "terminal_id": "TERM0001",
        "type": ("sale", "sale", "refund", "completion")[i % 4],
        "channel": "wechat" if qr else ("credit", "debit")[i % 2],
        "amount": 100 + (i * 7919) % 500_000,
        "currency": "CNY",
        "terminal_time": f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:09+08:00",
        "offline": False,
        "batch_no": "000001",
        "trace_no": f"{i % 999_999 + 1:06d}",
        "operator": "01",
        "fee": 0,
        "net": 0,
    }
    if qr:
        data["order_no"] = f"42000023112026{i:014d}"
    else:
        data |= {
            "rrn": f"{i:012d}",
            "auth_code": f"{i % 1_000_000:06d}",
            "card": f"622202******{i % 10_000:04d}",
            "entry_mode": "chip",
            "issuer": "中国工商银行",
        }
    if i % 3 == 0:
        data["tip"] = 100
        data["remarks"] = "桌号 12，两位客人"
    if data["type"] in ("refund", "completion"):
        data["original"] = {"rrn": f"{i + 1:012d}"}
    return data


def rate(label: str, count: int, rounds: int, work: Callable[[], None]) -> dict[str, Any]:
    best, best_cpu = float("inf"), float("inf")
    for _ in range(rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    result = {
        "count": count,
        "seconds": round(best, 3),
        "per_second": round(count / best),
        "cpu_per_second": round(count / best_cpu),
    }
    print(
        f"{label:<22} {result['per_second']:>8,}/s  ({count:,} in {best:.2f} s, best of {rounds};"
        f" {result['cpu_per_second']:,}/s of CPU time)"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slips", type=int, default=20_000)
    parser.add_argument("--pdfs", type=int, default=1_000)
    parser.add_argument("--codes", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    entries = [entry(i) for i in range(args.slips)]
    codes = [make_code(CodeFields.from_entry(e), KEY, KEY_ID) for e in entries]
    verify_codes = [
        make_code(CodeFields.from_entry(entry(i)), KEY, KEY_ID) for i in range(args.codes)
    ]
    keys = {KEY_ID: KEY.public}
    assert all(verify_code(c, keys).genuine for c in verify_codes[:100])

    def text_slips() -> None:
        for i, (e, code) in enumerate(zip(entries, codes, strict=True)):
            slip = slip_from_entry(e, MERCHANTS[i % 3], copy="merchant", verification=code)
            render_text(slip, 48 if i % 2 else 32)

    def text_slips_with_code() -> None:
        for i, e in enumerate(entries):
            code = make_code(CodeFields.from_entry(e), KEY, KEY_ID)
            slip = slip_from_entry(e, MERCHANTS[i % 3], copy="merchant", verification=code)
            render_text(slip, 48 if i % 2 else 32)

    def escpos_slips() -> None:
        for i, (e, code) in enumerate(zip(entries, codes, strict=True)):
            slip = slip_from_entry(e, MERCHANTS[i % 3], copy="cardholder", verification=code)
            render_escpos(slip, 48)

    pages = ("roll80", "roll58", "a6")

    def pdf_slips() -> None:
        for i, (e, code) in enumerate(zip(entries[: args.pdfs], codes, strict=False)):
            slip = slip_from_entry(e, MERCHANTS[i % 3], copy="merchant", verification=code)
            render_pdf(slip, pages[i % 3])

    def html_slips() -> None:
        for i, (e, code) in enumerate(zip(entries[: args.pdfs], codes, strict=False)):
            slip = slip_from_entry(e, MERCHANTS[i % 3], copy="cardholder", verification=code)
            render_html(slip)

    render_pdf(slip_from_entry(entries[0], MERCHANTS[0], copy="merchant"))  # loads the font

    def verifications() -> None:
        for code in verify_codes:
            verify_code(code, keys)

    result: dict[str, Any] = {
        "text_slip": rate("text slips", args.slips, args.rounds, text_slips),
        "text_slip_with_code": rate(
            "text slips + code", args.slips, args.rounds, text_slips_with_code
        ),
        "escpos_slip": rate("ESC/POS slips", args.slips, args.rounds, escpos_slips),
        "pdf_slip": rate("PDF slips", min(args.pdfs, args.slips), args.rounds, pdf_slips),
        "html_slip": rate("HTML slips", min(args.pdfs, args.slips), args.rounds, html_slips),
        "verify_code": rate("code verifications", args.codes, args.rounds, verifications),
        "targets": {
            "text_slip_per_second": 2000,
            "pdf_slip_per_second": 50,
            "verify_code_per_second": 2000,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "slips.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
