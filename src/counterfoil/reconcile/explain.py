"""Breaks in words a person can act on, with the fields that differ and a stable id.

A break's id is a hash of what it is — merchant, outcome, the entry's sequence and the
line's import and number — so running the same day again finds the same break, not a
new one. Its explanation is stored as a catalogue message with parameters (and in
English beside them), so each reader sees it in their own language.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from counterfoil.core.money import format_amount
from counterfoil.i18n import _, translate
from counterfoil.reconcile.model import line_ref
from counterfoil.reconcile.passes import DETAIL_FIELDS

KEY_LABELS: Final[Mapping[str, str]] = {
    "rrn": _("RRN {value}"),
    "order": _("order {value}"),
    "trace": _("terminal {terminal} trace {trace}"),
    "line": _("statement line {line_no} of import {import_id}"),
    "entry": _("journal entry {seq}"),
}
MESSAGES: Final[Mapping[str, str]] = {
    "missing_in_statement": _("{key}: {amount} in the journal (entry {seq}), not in the statement"),
    "missing_in_journal": _(
        "{key}: {amount} in the statement (line {line_no} of import {import_id}), "
        "not in the journal"
    ),
    "amount_mismatch": _("{key}: {journal} in the journal, {statement} in the statement"),
    "type_mismatch": _("{key}: a {journal} in the journal, a {statement} in the statement"),
    "status_mismatch": _("{key}: {journal} in the journal, {statement} in the statement"),
    "fee_mismatch": _(
        "{key}: fee {journal} by the merchant's schedule, {statement} in the statement"
    ),
    "duplicate_line": _(
        "{key}: {amount} is in the statement again (line {line_no} of import {import_id})"
    ),
    "duplicate_entry": _("{key}: {amount} is in the journal again (entry {seq})"),
}  # fmt: skip
WORDS: Final = {
    "sale": _("sale"),
    "refund": _("refund"),
    "success": _("success"),
    "revoked": _("revoked"),
    "pending": _("pending"),
}


@dataclass(slots=True)
class Break:
    break_id: str
    outcome: str
    message: str
    params: dict[str, Any]
    fields: dict[str, list[Any]]
    seq: int | None
    import_id: int | None
    line_no: int | None
    amount_journal: int | None
    amount_statement: int | None
    occurred_at: datetime | None
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, locale: str | None = None) -> str:
        return render(self.message, self.params, locale)


def render(message: str, params: Mapping[str, Any], locale: str | None = None) -> str:
    """The explanation in ``locale``: the key phrase first, then the message."""
    shown = dict(params)
    key = shown.pop("key", {})
    label = KEY_LABELS.get(str(key.get("kind")), KEY_LABELS["entry"])
    shown["key"] = translate(label, locale, **{k: v for k, v in key.items() if k != "kind"})
    for name in ("journal", "statement"):
        value = shown.get(name)
        if isinstance(value, str) and value in WORDS:
            shown[name] = translate(WORDS[value], locale)
    return translate(message, locale, **shown)


def break_id(merchant_no: str, outcome: str, seq: int | None, lid: int | None) -> str:
    ref = "" if lid is None else "{}:{}".format(*line_ref(lid))
    text = f"{merchant_no}|{outcome}|{'' if seq is None else seq}|{ref}"
    return "B" + hashlib.sha256(text.encode()).hexdigest()[:23]


def _key(d: Mapping[str, Any]) -> dict[str, Any]:
    k1 = d["e_k1"] or d["l_k1"]
    if k1 and k1.startswith("R:"):
        return {"kind": "rrn", "value": k1[2:]}
    if k1 and k1.startswith("O:") and d["e_k1"]:
        return {"kind": "order", "value": k1[2:]}
    terminal, trace = d["e_terminal_id"] or d["l_terminal_id"], d["e_trace_no"] or d["l_trace_no"]
    if terminal and trace:
        return {"kind": "trace", "terminal": terminal, "trace": trace}
    if k1 and k1.startswith("O:"):
        return {"kind": "order", "value": k1[2:]}
    if d["lid"] is not None:
        import_id, line_no = line_ref(int(d["lid"]))
        return {"kind": "line", "import_id": import_id, "line_no": line_no}
    return {"kind": "entry", "seq": d["eid"]}


def explain(merchant_no: str, row: tuple[Any, ...], currency: str = "CNY") -> Break:
    """The break of one ``passes.DETAILS`` row."""
    d = dict(zip(DETAIL_FIELDS, row, strict=True))
    outcome, seq, lid = str(d["outcome"]), d["eid"], d["lid"]
    import_id, line_no = line_ref(int(lid)) if lid is not None else (None, None)
    params: dict[str, Any] = {
        "key": _key(d),
        "seq": seq,
        "import_id": import_id,
        "line_no": line_no,
    }
    fields: dict[str, list[Any]] = {}
    message = MESSAGES.get(outcome, MESSAGES["amount_mismatch"])
    money = {"journal": d["e_amount"], "statement": d["l_amount"]}
    if outcome == "missing_in_statement":
        params["amount"] = format_amount(int(d["e_amount"]), currency)
    elif outcome == "missing_in_journal":
        params["amount"] = format_amount(int(d["l_amount"]), currency)
    elif outcome == "duplicate":
        side = "l" if lid is not None else "e"
        message = MESSAGES["duplicate_line" if side == "l" else "duplicate_entry"]
        params["amount"] = format_amount(int(d[f"{side}_amount"]), currency)
    else:
        name = {
            "amount_mismatch": "amount",
            "type_mismatch": "kind",
            "status_mismatch": "status",
            "fee_mismatch": "fee",
        }[outcome]
        journal, statement = d[f"e_{name}"], d[f"l_{name}"]
        for other in ("amount", "kind", "status", "fee"):
            if d[f"e_{other}"] != d[f"l_{other}"] and d[f"l_{other}"] is not None:
                fields[other] = [d[f"e_{other}"], d[f"l_{other}"]]
        fields[name] = [journal, statement]
        if name in ("amount", "fee"):
            params["journal"] = format_amount(int(journal), currency)
            params["statement"] = format_amount(int(statement), currency)
        else:
            params["journal"], params["statement"] = str(journal), str(statement)
    ts = d["e_ts"] if d["e_ts"] is not None else d["l_ts"]
    return Break(
        break_id=break_id(merchant_no, outcome, seq, lid),
        outcome=outcome,
        message=message,
        params=params,
        fields=fields,
        seq=seq,
        import_id=import_id,
        line_no=line_no,
        amount_journal=money["journal"],
        amount_statement=money["statement"],
        occurred_at=datetime.fromtimestamp(int(ts), UTC) if ts is not None else None,
        extra={"source": d["src"], "pass": d["pass"]},
    )
