"""Fixed journal entries, as ``services.lookups.find`` returns them, and a fixed key.

No database: the entries are written out here so that every slip is reproducible to
the byte. The signing key comes from a fixed seed; Ed25519 is deterministic, so the
verification codes (and the golden files) are too.
"""

from __future__ import annotations

from typing import Any

from counterfoil.documents.code import CodeFields, make_code
from counterfoil.documents.slip import Copy, Slip, slip_from_entry
from counterfoil.journal.keys import SigningKey, key_id_of

MERCHANT_NO = "102310048993424"
KEY = SigningKey(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
KEY_ID = key_id_of(KEY.public)
PUBLIC_KEYS = {KEY_ID: KEY.public}

MERCHANT: dict[str, Any] = {
    "merchant_no": MERCHANT_NO,
    "name": "老街坊小吃店（漕溪北路店）",
    "timezone": "Asia/Shanghai",
    "settings": {},
}


def _entry(seq: int, **data: Any) -> dict[str, Any]:
    return {
        "entry_id": f"{MERCHANT_NO}-{seq}",
        "merchant_no": MERCHANT_NO,
        "seq": seq,
        "kind": "transaction",
        "entry_hash": f"{seq:064x}",
        "recorded_at": "2026-11-20T06:05:10.000000Z",
        "status": "approved",
        "refunded": 0,
        "terminal_id": "TERM0001",
        "currency": "CNY",
        "offline": False,
        **data,
    }


CARD_SALE = _entry(
    17,
    type="sale",
    channel="credit",
    amount=128_50,
    tip=5_00,
    terminal_time="2026-11-20T14:05:09+08:00",
    batch_no="000001",
    trace_no="000123",
    rrn="000049993190",
    auth_code="A12345",
    card="622202******0123",
    entry_mode="chip",
    operator="01",
    issuer="中国工商银行",
    acquirer="银联商务",
    remarks="桌号 12，两位客人",
    fee=77,
    net=127_73,
)
REFUND = _entry(
    42,
    type="refund",
    channel="credit",
    amount=45_00,
    terminal_time="2026-11-23T10:31:44+08:00",
    batch_no="000002",
    trace_no="000207",
    rrn="000050118342",
    auth_code="B77210",
    card="622202******0123",
    entry_mode="contactless",
    operator="02",
    original={"rrn": "000049993190"},
    remarks="退一份小笼包",
    fee=-27,
    net=-44_73,
    original_seq=17,
)
WECHAT = _entry(
    23,
    type="sale",
    channel="wechat",
    amount=36_80,
    terminal_time="2026-11-20T12:47:03+08:00",
    batch_no="000001",
    trace_no="000131",
    order_no="4200002311202611201234567890",
    entry_mode="qr_scan",
    operator="01",
    fee=14,
    net=36_66,
)
PREAUTH = _entry(
    30,
    type="preauth",
    channel="credit",
    amount=800_00,
    terminal_time="2026-11-18T20:15:00+08:00",
    batch_no="000001",
    trace_no="000088",
    rrn="000049990001",
    auth_code="PA0088",
    card="436742******8801",
    entry_mode="chip",
    operator="03",
    fee=0,
    net=0,
)
COMPLETION = _entry(
    31,
    type="completion",
    channel="credit",
    amount=736_00,
    terminal_time="2026-11-21T11:02:37+08:00",
    batch_no="000002",
    trace_no="000140",
    rrn="000050002266",
    auth_code="PA0088",
    card="436742******8801",
    entry_mode="chip",
    operator="03",
    issuer="中国建设银行",
    original={"batch_no": "000001", "trace_no": "000088"},
    fee=4_42,
    net=731_58,
    original_seq=30,
)


def code_for(entry: dict[str, Any]) -> str:
    return make_code(CodeFields.from_entry(entry), KEY, KEY_ID)


def slip_for(
    entry: dict[str, Any],
    copy: Copy = "merchant",
    reprint_no: int = 0,
    original: dict[str, Any] | None = None,
    merchant: dict[str, Any] | None = None,
) -> Slip:
    return slip_from_entry(
        entry,
        merchant or MERCHANT,
        copy=copy,
        reprint_no=reprint_no,
        original=original,
        verification=code_for(entry),
    )


#: The golden slips: name → slip.
GOLDEN: dict[str, Slip] = {
    "card_sale_merchant": slip_for(CARD_SALE),
    "card_sale_cardholder_reprint2": slip_for(CARD_SALE, "cardholder", reprint_no=2),
    "refund": slip_for(REFUND, original=CARD_SALE),
    "wechat_payment": slip_for(WECHAT, "cardholder"),
    "preauth_completion": slip_for(COMPLETION, original=PREAUTH),
}
