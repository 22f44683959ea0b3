"""The sales slip (签购单): what a UnionPay slip carries, from one journal entry.

``slip_from_entry`` takes an entry as ``services.lookups.find`` returns it and the
merchant (``Merchant.as_dict()``) and gives a ``Slip``: the facts, already in the words
and formats a slip prints (bilingual labels, the time in the merchant's zone, amounts
in yuan from integer fen, the card as BIN + ``******`` + last four and never more).
``Slip.sections()`` lays them out as labelled fields in the order of a UnionPay slip;
every renderer (text, ESC/POS, and the PDF and HTML ones to come) prints those.

A slip made again from the same entry is the same slip (invariant 7): nothing on it
depends on when it is printed, except the reprint marking and its number. The entry's
later status (voided, refunded) is not on the slip; the verification page says it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import TYPES
from counterfoil.core.money import format_amount
from counterfoil.core.pan import mask_card, redact_pans
from counterfoil.i18n import _

Copy = Literal["merchant", "cardholder"]
COPIES: tuple[Copy, ...] = ("merchant", "cardholder")

TITLE = "签购单 SALES SLIP"
QR_TITLE = "扫码付款凭证 QR PAYMENT SLIP"
COPY_LABELS: dict[str, str] = {
    "merchant": "商户存根 MERCHANT COPY",
    "cardholder": "持卡人存根 CARDHOLDER COPY",
}
REPRINT_LABEL = "重打印 DUPLICATE"
TYPE_LABELS: dict[str, str] = {
    "sale": "消费 SALE",
    "void": "撤销 VOID",
    "refund": "退货 REFUND",
    "preauth": "预授权 PRE-AUTH",
    "completion": "预授权完成 AUTH COMPLETE",
    "preauth_cancel": "预授权撤销 PRE-AUTH VOID",
    "reversal": "冲正 REVERSAL",
}
PLATFORMS: dict[str, str] = {
    "wechat": "微信支付 WECHAT PAY",
    "alipay": "支付宝 ALIPAY",
    "unionpay_qr": "银联二维码 UNIONPAY QR",
}
ENTRY_MODES: dict[str, str] = {
    "chip": "I",
    "contactless": "C",
    "swipe": "S",
    "fallback": "F",
    "manual": "M",
}
SIGNATURE_LABEL = "持卡人签名 CARDHOLDER SIGNATURE"
CONSENT = (
    "本人确认以上交易，同意将其记入本卡账户",
    "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES",
)
VERIFY_LABEL = "扫码验证 SCAN TO VERIFY"
CURRENCY_SIGNS = {"CNY": "RMB"}

assert set(TYPE_LABELS) == set(TYPES)


@dataclass(frozen=True, slots=True)
class Field:
    """One labelled fact. A ``paragraph`` (remarks) is printed below its label, wrapped."""

    label: str
    value: str
    paragraph: bool = False


@dataclass(frozen=True, slots=True)
class OriginalRef:
    """The transaction a void, refund, completion, cancel or reversal acts on."""

    trace_no: str | None = None
    rrn: str | None = None
    auth_code: str | None = None
    order_no: str | None = None
    time: datetime | None = None  # in the merchant's zone, when the original entry is known


@dataclass(frozen=True, slots=True)
class Slip:
    """Everything a slip prints, for one copy of one journal entry."""

    copy: Copy
    reprint_no: int  # 0 for the first print; n for the n-th reprint
    entry_id: str
    merchant_name: str
    merchant_no: str
    terminal_id: str
    type: str
    channel: str
    time: datetime  # terminal time in the merchant's zone
    amount: int  # fen, the total (tip included)
    currency: str = "CNY"
    tip: int = 0
    operator: str | None = None
    card: str | None = None  # BIN + ****** + last four
    entry_mode: str | None = None
    issuer: str | None = None
    acquirer: str | None = None
    order_no: str | None = None
    batch_no: str | None = None
    trace_no: str | None = None
    auth_code: str | None = None
    rrn: str | None = None
    remarks: str | None = None
    original: OriginalRef | None = None
    verification: str | None = None  # the code (or its URL) the QR carries

    @property
    def is_qr(self) -> bool:
        return self.channel in PLATFORMS

    @property
    def title(self) -> str:
        return QR_TITLE if self.is_qr else TITLE

    @property
    def copy_label(self) -> str:
        return COPY_LABELS[self.copy]

    @property
    def reprint_label(self) -> str | None:
        return f"{REPRINT_LABEL} NO.{self.reprint_no}" if self.reprint_no else None

    @property
    def type_label(self) -> str:
        return TYPE_LABELS[self.type]

    @property
    def needs_signature(self) -> bool:
        """The cardholder signs the merchant's copy of a card transaction."""
        return self.copy == "merchant" and not self.is_qr

    @property
    def consent(self) -> tuple[str, ...]:
        """The cardholder's consent sentence: card transactions only (it names the card)."""
        return () if self.is_qr else CONSENT

    def money(self, fen: int) -> str:
        """'RMB 1,234.56'; money given back (void, refund) with a minus sign."""
        sign = "-" if TYPES[self.type] < 0 and fen else ""
        unit = CURRENCY_SIGNS.get(self.currency, self.currency)
        return f"{unit} {sign}{format_amount(fen, self.currency)}"

    def sections(self) -> tuple[tuple[Field, ...], ...]:
        """The labelled facts in the order of a UnionPay slip, in groups set off by rules."""
        merchant = [
            Field("商户名称 MERCHANT NAME", self.merchant_name),
            Field("商户编号 MERCHANT NO.", self.merchant_no),
            Field("终端编号 TERMINAL NO.", self.terminal_id),
        ]
        if self.operator:
            merchant.append(Field("操作员号 OPERATOR NO.", self.operator))
        txn: list[Field] = []
        if self.is_qr:
            txn.append(Field("支付方式 PAYMENT", PLATFORMS[self.channel]))
            if self.order_no:
                txn.append(Field("订单号 ORDER NO.", self.order_no))
        elif self.card:
            mode = ENTRY_MODES.get(self.entry_mode or "")
            txn.append(Field("卡号 CARD NO.", f"{self.card} {mode}" if mode else self.card))
        if self.issuer:
            txn.append(Field("发卡行 ISSUER", self.issuer))
        if self.acquirer:
            txn.append(Field("收单行 ACQUIRER", self.acquirer))
        txn.append(Field("交易类型 TXN. TYPE", self.type_label))
        for label, value in (
            ("批次号 BATCH NO.", self.batch_no),
            ("凭证号 VOUCHER NO.", self.trace_no),
            ("授权码 AUTH NO.", self.auth_code),
        ):
            if value:
                txn.append(Field(label, value))
        txn.append(Field("日期/时间 DATE/TIME", _when(self.time)))
        if self.rrn:
            txn.append(Field("参考号 REFER NO.", self.rrn))
        if not self.is_qr and self.order_no:
            txn.append(Field("订单号 ORDER NO.", self.order_no))
        if (o := self.original) is not None:
            for label, value in (
                ("原凭证号 ORIG. VOUCHER NO.", o.trace_no),
                ("原参考号 ORIG. REFER NO.", o.rrn),
                ("原授权码 ORIG. AUTH NO.", o.auth_code),
                ("原订单号 ORIG. ORDER NO.", o.order_no),
                ("原交易日期 ORIG. DATE", _when(o.time)[:10] if o.time else None),
            ):
                if value:
                    txn.append(Field(label, value))
        amounts = [Field("金额 AMOUNT", self.money(self.amount - self.tip))]
        if self.tip:
            amounts.append(Field("小费 TIPS", self.money(self.tip)))
            amounts.append(Field("总计 TOTAL", self.money(self.amount)))
        groups = [tuple(merchant), tuple(txn), tuple(amounts)]
        if self.remarks:
            groups.append((Field("备注 REFERENCE", self.remarks, paragraph=True),))
        return tuple(groups)


def _when(moment: datetime) -> str:
    return (
        f"{moment.year:04d}/{moment.month:02d}/{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )


def _clean(value: Any) -> str | None:
    """Text as a slip may print it: no control characters (no printer commands), trimmed."""
    if value is None:
        return None
    text = str(value)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else " " for ch in text)
    return " ".join(text.split()) or None


def _free_text(value: Any) -> str | None:
    """Free text (name, remarks, issuer): cleaned, and any card number in it masked."""
    text = _clean(value)
    return redact_pans(text) if text else None


def _local(iso: Any, zone: ZoneInfo) -> datetime:
    try:
        moment = datetime.fromisoformat(str(iso))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(
            "terminal_time",
            _("expected an ISO 8601 time with its offset, such as 2026-11-22T14:05:09+08:00"),
        )
    return moment.astimezone(zone)


def _original(
    entry: Mapping[str, Any], original: Mapping[str, Any] | None, zone: ZoneInfo
) -> OriginalRef | None:
    keys: Mapping[str, Any] = entry.get("original") or {}
    if not keys and original is None:
        return None
    known: Mapping[str, Any] = original or {}

    def pick(name: str) -> str | None:
        return _clean(known.get(name) or keys.get(name))

    return OriginalRef(
        trace_no=pick("trace_no"),
        rrn=pick("rrn"),
        auth_code=_clean(known.get("auth_code")),
        order_no=pick("order_no"),
        time=_local(known["terminal_time"], zone) if known.get("terminal_time") else None,
    )


def slip_from_entry(
    entry: Mapping[str, Any],
    merchant: Mapping[str, Any],
    *,
    copy: Copy,
    reprint_no: int = 0,
    original: Mapping[str, Any] | None = None,
    verification: str | None = None,
) -> Slip:
    """The slip of one journal entry.

    ``entry`` is what ``services.lookups.find`` returns; ``merchant`` is
    ``Merchant.as_dict()``; ``original`` the entry a void, refund or completion acts on,
    when it is known (its trace, RRN, authorisation code and date are printed; else the
    keys the terminal sent are). ``verification`` is the code the slip's QR carries.
    """
    if copy not in COPIES:
        raise ValidationError("copy", _("expected one of {options}"), options=", ".join(COPIES))
    if isinstance(reprint_no, bool) or not isinstance(reprint_no, int) or reprint_no < 0:
        raise ValidationError("reprint_no", _("expected a reprint number of 0 or more"))
    kind = entry.get("type")
    if kind not in TYPE_LABELS:
        raise ValidationError("type", _("expected one of {options}"), options=", ".join(TYPES))
    channel = str(entry.get("channel", ""))
    amount, tip = entry.get("amount"), entry.get("tip") or 0
    if not isinstance(amount, int) or not isinstance(tip, int) or not 0 <= tip <= amount:
        raise ValidationError(
            "amount", _("expected a whole number of fen (minor units), such as 1250")
        )
    if merchant.get("merchant_no") not in (None, entry.get("merchant_no")):
        raise ValidationError("merchant", _("the merchant is not the transaction's merchant"))
    zone = ZoneInfo(str(merchant.get("timezone") or "Asia/Shanghai"))
    card = entry.get("card")
    return Slip(
        copy=copy,
        reprint_no=reprint_no,
        entry_id=str(entry.get("entry_id") or f"{entry.get('merchant_no')}-{entry.get('seq')}"),
        merchant_name=_free_text(merchant.get("name")) or "",
        merchant_no=_clean(entry.get("merchant_no")) or "",
        terminal_id=_clean(entry.get("terminal_id")) or "",
        type=str(kind),
        channel=channel,
        time=_local(entry.get("terminal_time"), zone),
        amount=amount,
        currency=str(entry.get("currency") or "CNY"),
        tip=tip,
        operator=_clean(entry.get("operator")),
        card=mask_card(str(card)).masked if card and channel not in PLATFORMS else None,
        entry_mode=_clean(entry.get("entry_mode")),
        issuer=_free_text(entry.get("issuer")),
        acquirer=_free_text(entry.get("acquirer")),
        order_no=_clean(entry.get("order_no")),
        batch_no=_clean(entry.get("batch_no")),
        trace_no=_clean(entry.get("trace_no")),
        auth_code=_clean(entry.get("auth_code")),
        rrn=_clean(entry.get("rrn")),
        remarks=_free_text(entry.get("remarks")),
        original=_original(entry, original, zone),
        verification=_clean(verification),
    )
