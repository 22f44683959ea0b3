"""The proof of payment (支付证明): what the journal says about one payment, issued to a
customer who has no slip, with a serial number and its own verification code.

The certificate states the payment's facts and its status when it was issued (a later
refund or void included). Its code is ``CFP1.`` + base64url of the canonical JSON of
those facts, the key id and the merchant's Ed25519 signature over
``CERTIFICATE_DOMAIN`` + the JSON + the key id, so it verifies offline with the
merchant's public key, like a slip's code.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from jinja2 import Environment, select_autoescape
from reportlab.lib.pagesizes import A5
from reportlab.pdfgen.canvas import Canvas

from counterfoil.core.canonical import canonical_bytes
from counterfoil.core.errors import ValidationError
from counterfoil.core.labels import LABELS as LABELS_OF_CODES
from counterfoil.core.money import format_amount
from counterfoil.documents.html import qr_svg
from counterfoil.documents.pdf import (
    _RENDERING,
    CJK,
    MM,
    _register_font,
    dark_runs,
    qr_symbol,
    wrap,
)
from counterfoil.i18n import _, translate
from counterfoil.journal.keys import SigningKey, key_id_of, verify_signature

PREFIX = "CFP1."
CERTIFICATE_DOMAIN = b"counterfoil/proof-of-payment/v1\n"
QR_CHANNELS = frozenset({"wechat", "alipay", "unionpay_qr"})


@dataclass(frozen=True, slots=True)
class Certificate:
    serial: str
    merchant_no: str
    merchant_name: str
    zone: str
    entry: Mapping[str, Any]  # as services.lookups.find returns it, with "links"
    status: str
    refunded: int
    issued_at: datetime
    issued_by: str
    locale: str
    code: str = ""

    def facts(self) -> dict[str, Any]:
        """What the code signs: enough to recognise the payment and its status at issue."""
        e = self.entry
        return {
            "v": 1,
            "n": self.serial,
            "m": self.merchant_no,
            "s": int(e["seq"]),
            "ty": e["type"],
            "ch": e["channel"],
            "a": int(e["amount"]),
            "c": e.get("currency") or "CNY",
            "t": str(e["terminal_time"]),
            "st": self.status,
            "r": int(self.refunded),
            "i": self.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _signed(body: bytes, key_id: str) -> bytes:
    return CERTIFICATE_DOMAIN + body + key_id.encode()


def make_certificate_code(facts: Mapping[str, Any], signer: SigningKey, key_id: str) -> str:
    if key_id_of(signer.public) != key_id:
        raise ValidationError("key_id", _("the signing key is not the key {key_id}"), key_id=key_id)
    body = canonical_bytes(dict(facts))
    signature = signer.sign(_signed(body, key_id))
    parts = (base64.urlsafe_b64encode(body), key_id.encode(), base64.urlsafe_b64encode(signature))
    return PREFIX + b".".join(p.rstrip(b"=") for p in parts).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unpad(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_certificate_code(code: str) -> tuple[dict[str, Any], str, bytes, bytes]:
    """(facts, key id, signature, signed bytes) of a certificate code; a clear error if not one."""
    text = code.strip().rsplit("/", 1)[-1]
    malformed = ValidationError(
        "code", _("expected a verification code starting with CF1. or CFP1.")
    )
    if not text.startswith(PREFIX) or text.count(".") != 3 or len(text) > 1000:
        raise malformed
    body_text, key_id, signature_text = text[len(PREFIX) :].split(".")
    try:
        body, signature = _unpad(body_text), _unpad(signature_text)
        facts = orjson.loads(body)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise malformed from None
    if not isinstance(facts, dict) or canonical_bytes(facts) != body or len(signature) != 64:
        raise malformed
    if _b64(body) != body_text or _b64(signature) != signature_text:
        raise malformed  # spare bits in the last character: only one spelling is accepted
    return facts, key_id, signature, _signed(body, key_id)


def verify_certificate_code(
    code: str, public_keys: Mapping[str, str]
) -> tuple[bool, dict[str, Any]]:
    """Genuine or not, with the facts it states. ``public_keys``: the named merchant's only."""
    facts, key_id, signature, signed = read_certificate_code(code)
    public = public_keys.get(key_id)
    genuine = (
        public is not None
        and key_id_of(bytes.fromhex(public)) == key_id
        and verify_signature(public, signed, signature.hex())
    )
    return genuine, facts


# --- rendering ----------------------------------------------------------------------------

LABELS = {
    "title": _("Proof of payment"),
    "serial": _("Certificate number"),
    "merchant": _("Merchant"),
    "entry": _("Journal entry"),
    "time": _("Time"),
    "type": _("Type"),
    "channel": _("Channel"),
    "amount": _("Amount"),
    "card": _("Card"),
    "order": _("Order number"),
    "rrn": _("Reference number (RRN)"),
    "terminal": _("Terminal / trace"),
    "status": _("Status when issued"),
    "refunded": _("Refunded so far"),
    "later": _("Later entries"),
    "issued": _("Issued"),
    "recovered": _("Recovered record"),
    "recovered_from": _(
        "Not recorded at the terminal: recovered from statement {file} line {line}"
    ),
    "statement": _(
        "This certificate states what the merchant's signed journal records for this payment "
        "at the time of issue. Scan the code or open the address below to check it."
    ),
}


def _local(value: str | datetime, zone: str) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S")


def rows(cert: Certificate) -> list[tuple[str, str]]:
    """The certificate's facts as (label, value), in the certificate's language."""
    e, loc = cert.entry, cert.locale

    def t(key: str) -> str:
        return translate(LABELS[key], loc)

    def word(code: str) -> str:
        return translate(LABELS_OF_CODES.get(code, code), loc)

    currency = str(e.get("currency") or "CNY")
    out = [
        (t("serial"), cert.serial),
        (t("merchant"), f"{cert.merchant_name} ({cert.merchant_no})"),
        (t("time"), _local(str(e["terminal_time"]), cert.zone)),
        (t("type"), word(str(e["type"]))),
        (t("channel"), word(str(e["channel"]))),
        (t("amount"), f"{currency} {format_amount(int(e['amount']), currency)}"),
    ]
    if e["channel"] in QR_CHANNELS and e.get("order_no"):
        out.append((t("order"), str(e["order_no"])))
    elif e.get("card"):
        out.append((t("card"), str(e["card"])))
    if e.get("rrn"):
        out.append((t("rrn"), str(e["rrn"])))
    if e.get("terminal_id"):
        out.append((t("terminal"), f"{e['terminal_id']} / {e.get('trace_no') or '—'}"))
    out.append((t("entry"), f"{e['entry_id']} · {str(e.get('entry_hash', ''))[:16]}…"))
    out.append((t("status"), word(cert.status)))
    source = e.get("recovered_from")
    if e.get("kind") == "recovered" and isinstance(source, Mapping):
        out.append(
            (
                t("recovered"),
                translate(
                    LABELS["recovered_from"], loc, file=source["file_name"], line=source["line_no"]
                ),
            )
        )
    if cert.refunded:
        out.append((t("refunded"), f"{currency} {format_amount(cert.refunded, currency)}"))
    for link in e.get("links", []):
        out.append(
            (
                t("later"),
                f"{word(str(link['type']))} {currency} "
                f"{format_amount(int(link['amount']), currency)} · "
                f"{_local(str(link['terminal_time']), cert.zone)}",
            )
        )
    out.append((t("issued"), f"{_local(cert.issued_at, cert.zone)} · {cert.issued_by}"))
    return out


_HTML = Environment(autoescape=select_autoescape(default=True)).from_string(
    """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{{ title }} {{ serial }}</title>
<style>
body{font-family:"WenQuanYi Micro Hei","Noto Sans CJK SC",sans-serif;
  max-width:40rem;margin:2rem auto;color:#111}
h1{font-size:1.6rem;border-bottom:2px solid #111;padding-bottom:.4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1rem}
dt{color:#555} dd{margin:0} .qr{display:flex;gap:1rem;align-items:center;margin-top:1.5rem}
code{word-break:break-all;font-size:.75rem} p.note{font-size:.9rem;color:#333}
</style></head><body>
<h1>{{ title }}</h1>
<dl>{% for label, value in rows %}<dt>{{ label }}</dt><dd>{{ value }}</dd>{% endfor %}</dl>
<p class="note">{{ statement }}</p>
<div class="qr"><svg xmlns="http://www.w3.org/2000/svg"
  viewBox="0 0 {{ side }} {{ side }}" width="160" height="160" role="img" aria-label="QR">
<rect width="{{ side }}" height="{{ side }}" fill="#fff"/><path d="{{ path }}" fill="#000"/>
</svg>
<code>{{ shown }}</code></div>
</body></html>
"""
)


def render_certificate_html(cert: Certificate, shown: str) -> str:
    side, path = qr_svg(shown)
    return _HTML.render(
        lang="zh-CN" if cert.locale == "zh_CN" else "en",
        title=translate(LABELS["title"], cert.locale),
        serial=cert.serial,
        rows=rows(cert),
        statement=translate(LABELS["statement"], cert.locale),
        side=side,
        path=path,
        shown=shown,
    )


def render_certificate_pdf(cert: Certificate, shown: str) -> bytes:
    """An A5 page: title, the facts, the note, the QR code and the code under it."""
    width, height = A5
    margin = 14 * MM
    with _RENDERING:
        _register_font()
        out = io.BytesIO()
        canvas = Canvas(out, pagesize=A5, invariant=1, pageCompression=0)
        canvas.setTitle(f"{translate(LABELS['title'], cert.locale)} {cert.serial}")
        canvas.setCreator("Counterfoil")
        y = height - margin - 16
        canvas.setFont(CJK, 16)
        canvas.drawString(margin, y, translate(LABELS["title"], cert.locale))
        y -= 8
        canvas.line(margin, y, width - margin, y)
        y -= 16
        label_width = 34 * MM
        for label, value in rows(cert):
            canvas.setFont(CJK, 8)
            canvas.setFillGray(0.35)
            canvas.drawString(margin, y, label)
            canvas.setFillGray(0)
            canvas.setFont(CJK, 9)
            for line in wrap(value, 9, width - 2 * margin - label_width):
                canvas.drawString(margin + label_width, y, line)
                y -= 12
            y -= 2
        y -= 6
        canvas.setFont(CJK, 7.5)
        for line in wrap(translate(LABELS["statement"], cert.locale), 7.5, width - 2 * margin):
            canvas.drawString(margin, y, line)
            y -= 10
        matrix = qr_symbol(shown).matrix
        side = 34 * MM
        module = side / len(matrix)
        bottom = max(y - side - 6, margin + 24)
        canvas.setFillGray(0)
        for x, row, run in dark_runs(matrix):
            canvas.rect(
                margin + x * module,
                bottom + (len(matrix) - 1 - row) * module,
                run * module,
                module,
                stroke=0,
                fill=1,
            )
        canvas.setFont("Courier", 5.5)
        per_line = 72
        text_y = bottom - 8
        for start in range(0, len(shown), per_line):
            canvas.drawString(margin, text_y, shown[start : start + per_line])
            text_y -= 7
        canvas.showPage()
        canvas.save()
    return out.getvalue()
