"""A statement is streamed: memory follows one row, not the file."""

from __future__ import annotations

import io
import tracemalloc

from counterfoil.importers import wechat_trade

HEADER = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
    "费率备注"
)


def bill(rows: int) -> bytes:
    lines = [HEADER]
    for k in range(rows):
        cells = [
            f"2021-01-28 10:{k // 60 % 60:02d}:{k % 60:02d}",
            "wx2421b1c4370ec43b",
            "1900000109",
            "0",
            "POS-1",
            f"42000009862021012{k:011d}",
            f"ORD{k:012d}",
            "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "NATIVE",
            "SUCCESS",
            "CMB_CREDIT",
            "CNY",
            "10.00",
            "0.00",
            "0",
            "0",
            "0.00",
            "0.00",
            "",
            "",
            "商品",
            "",
            "0.06000",
            "0.60%",
            "10.00",
            "0.00",
            "",
        ]
        lines.append(",".join("`" + c for c in cells))
    lines += [
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,"
        "申请退款总金额",
        f"`{rows},`{rows * 10}.00,`0.00,`0.00,`{rows * 6 / 100:.5f},`{rows * 10}.00,`0.00",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def peak_while_reading(data: bytes) -> tuple[int, bool]:
    tracemalloc.start()
    try:
        result = wechat_trade.parse(io.BytesIO(data), file="big.csv")
        for _line in result:
            pass
        return tracemalloc.get_traced_memory()[1], result.balanced
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_rows() -> None:
    small, large = bill(2_000), bill(20_000)
    small_peak, small_ok = peak_while_reading(small)
    large_peak, large_ok = peak_while_reading(large)
    assert small_ok
    assert large_ok
    # Ten times the rows may not cost ten times the memory: only a 64 KiB sniff buffer and
    # the row being read are held (the input bytes themselves are the caller's).
    assert large_peak < small_peak + 256 * 1024, (small_peak, large_peak)
