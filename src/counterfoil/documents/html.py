"""Slips as a standalone HTML document: printable on an 80 mm roll, readable on a phone.

One file with nothing to fetch: the style is inline (a document, not a console page),
the verification QR code an inline SVG path filling the dark modules of segno's symbol
(the same symbol, drawn the same way, as on the PDF), and there is no script; a
Content-Security-Policy says so to the browser as well. Every value is escaped (Jinja2
autoescaping), so a merchant name such as ``<script>`` is shown as text.

The slip shows what the text slip shows, in the same order (``Slip.sections()``): a
field's label on the left and its value on the right when both fit on a line, else
the value below; the amount to pay larger and bold; the reprint marking framed; the
signature line; the consent sentence; the QR code with its code under it.

Printed, the slip is 80 mm wide, without page margins, on a 72 mm column as a receipt
printer prints it, and no field, signature box or QR code is cut by a page break. The
paper's length is left to the printer's driver: CSS cannot ask for a page as long as
its content, and a page size in CSS would take the choice of paper from the print
dialog (a roll printer's driver feeds as much paper as the slip needs).
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, StrictUndefined, Template

from counterfoil.documents.pdf import QR_QUIET_ZONE, amounts_section, dark_runs, qr_symbol
from counterfoil.documents.slip import SIGNATURE_LABEL, VERIFY_LABEL, Field, Slip

STYLE = """
* { box-sizing: border-box; }
html { color: #000; background: #eee; }
body {
  margin: 0; padding: 4mm 0;
  font: 12px/1.35 "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC",
    "PingFang SC", "Microsoft YaHei", sans-serif;
}
.slip { width: 80mm; margin: 0 auto; padding: 4mm; background: #fff; }
h1 { margin: 0; font-size: 1.5em; text-align: center; }
.copy { margin: 0; font-weight: bold; text-align: center; font-size: 1.1em; }
.reprint {
  width: fit-content; margin: 1.5mm auto 0; padding: 0.5mm 3mm;
  border: 1.5px solid #000; font-weight: bold; font-size: 1.2em; text-align: center;
}
dl, .signature, .consent, .verify { margin: 0; padding: 1.5mm 0; border-top: 1px dashed #000; }
.slip > :last-child { border-bottom: 1px dashed #000; }
.field { display: flex; flex-wrap: wrap; justify-content: space-between; column-gap: 1em; }
dd { margin: 0 0 0 auto; text-align: right; overflow-wrap: anywhere; }
.paragraph dd { margin: 0; flex-basis: 100%; text-align: left; }
.amounts dd { font-weight: bold; }
.amounts .total { align-items: baseline; }
.amounts .total dd { font-size: 1.6em; }
.signature p { margin: 0; }
.signature .line { height: 12mm; border-bottom: 1px solid #000; }
.consent p { margin: 0; font-size: 0.85em; }
.verify { text-align: center; }
.verify figcaption { font-size: 0.9em; }
.verify svg { display: block; width: 36mm; height: 36mm; margin: 1mm auto; }
.verify path { fill: #000; shape-rendering: crispEdges; }
.code {
  margin: 0; font: 0.8em/1.3 "DejaVu Sans Mono", "Menlo", "Consolas", monospace;
  overflow-wrap: anywhere;
}
@media print {
  @page { margin: 0; }
  html, body { background: none; padding: 0; }
  .slip { width: 80mm; margin: 0; padding: 3mm 4mm; }
  .field, .signature, .consent, .verify { break-inside: avoid; }
}
"""

TEMPLATE = (
    """\
<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" \
content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ slip.title }} · {{ slip.copy_label }}</title>
<style>"""
    + STYLE
    + """</style>
</head>
<body>
<article class="slip">
<header>
<h1>{{ slip.title }}</h1>
<p class="copy">{{ slip.copy_label }}</p>
{% if slip.reprint_label %}<p class="reprint">{{ slip.reprint_label }}</p>
{% endif %}
</header>
{% for class_, fields in sections %}
<dl{% if class_ %} class="{{ class_ }}"{% endif %}>
{% for item, field_class in fields %}
<div class="{{ field_class }}"><dt>{{ item.label }}</dt><dd>{{ item.value }}</dd></div>
{% endfor %}
</dl>
{% endfor %}
{% if slip.needs_signature %}
<div class="signature"><p>{{ signature_label }}</p><div class="line"></div></div>
{% endif %}
{% if slip.consent %}
<div class="consent">
{% for sentence in slip.consent %}<p>{{ sentence }}</p>
{% endfor %}
</div>
{% endif %}
{% if slip.verification %}
<figure class="verify">
<figcaption>{{ verify_label }}</figcaption>
<svg class="qr" viewBox="0 0 {{ qr_side }} {{ qr_side }}" role="img" aria-label="QR">\
<path d="{{ qr_path }}"/></svg>
<p class="code">{{ slip.verification }}</p>
</figure>
{% endif %}
</article>
</body>
</html>
"""
)


@cache
def _template() -> Template:
    environment = Environment(
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.from_string(TEMPLATE)


def render_html(slip: Slip) -> str:
    """The slip as a standalone HTML document."""
    all_sections = slip.sections()
    amounts = amounts_section(slip, all_sections)
    sections: list[tuple[str, list[tuple[Field, str]]]] = []
    for section in all_sections:
        fields = []
        for item in section:
            classes = ["field"]
            if item.paragraph:
                classes.append("paragraph")
            if section is amounts and item is amounts[-1]:
                classes.append("total")
            fields.append((item, " ".join(classes)))
        sections.append(("amounts" if section is amounts else "", fields))
    qr_side, qr_path = qr_svg(slip.verification) if slip.verification else (0, "")
    return _template().render(
        slip=slip,
        sections=sections,
        signature_label=SIGNATURE_LABEL,
        verify_label=VERIFY_LABEL,
        qr_side=qr_side,
        qr_path=qr_path,
    )


def qr_svg(text: str) -> tuple[int, str]:
    """The side of the QR code in modules (quiet zone included) and an SVG path filling
    its dark modules, a rectangle a run, as the PDF draws them."""
    matrix = qr_symbol(text).matrix
    zone = QR_QUIET_ZONE
    path = "".join(f"M{x + zone} {y + zone}h{n}v1h-{n}z" for x, y, n in dark_runs(matrix))
    return len(matrix) + 2 * zone, path
