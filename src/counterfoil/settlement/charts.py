"""Charts of a month's daily volume and fees: SVG for the console (written by hand: no
script, no library) and PNG for files (Pillow). Bars are the day's volume, the line its
fees, each on its own scale; geometry is in whole pixels from integer fen."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 24, 28
VOLUME_COLOUR = "#2f6f9f"
FEE_COLOUR = "#c0392b"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # the day of the month
    x: int
    y: int
    width: int
    height: int
    fee_x: int
    fee_y: int
    volume: int
    fee: int


def geometry(days: list[dict[str, Any]]) -> list[Bar]:
    """One bar per day row (``period``, ``volume``, ``fee``) of a daily report."""
    if not days:
        return []
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max(max(int(d["volume"]) for d in days), 1)
    fee_top = max(max(int(d["fee"]) for d in days), 1)
    step = plot_w // len(days)
    bars = []
    for n, d in enumerate(days):
        volume, fee = int(d["volume"]), int(d["fee"])
        h = max(volume, 0) * plot_h // top
        fh = max(fee, 0) * plot_h // fee_top
        x = LEFT + n * step
        bars.append(
            Bar(
                str(d["period"])[-2:],
                x + 1,
                TOP + plot_h - h,
                max(step - 2, 1),
                h,
                x + step // 2,
                TOP + plot_h - fh,
                volume,
                fee,
            )
        )
    return bars


def _yuan(fen: int) -> str:
    whole, cents = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}{whole:,}.{cents:02d}"


def svg(days: list[dict[str, Any]], title: str, volume_label: str, fee_label: str) -> str:
    bars = geometry(days)
    base = HEIGHT - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="#888"/>',
    ]
    for b in bars:
        tip = f"{b.label}: {volume_label} {_yuan(b.volume)}, {fee_label} {_yuan(b.fee)}"
        parts.append(
            f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" '
            f'fill="{VOLUME_COLOUR}"><title>{escape(tip)}</title></rect>'
        )
        parts.append(
            f'<text x="{b.fee_x}" y="{base + 14}" font-size="9" text-anchor="middle">'
            f"{escape(b.label)}</text>"
        )
    if bars:
        points = " ".join(f"{b.fee_x},{b.fee_y}" for b in bars)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{FEE_COLOUR}" stroke-width="2"/>'
        )
        top = max(b.volume for b in bars)
        parts.append(
            f'<text x="{LEFT - 4}" y="{TOP + 8}" font-size="9" text-anchor="end">'
            f"{escape(_yuan(top))}</text>"
        )
    parts.append(
        f'<text x="{LEFT}" y="{TOP - 8}" font-size="11" fill="{VOLUME_COLOUR}">'
        f"■ {escape(volume_label)}</text>"
        f'<text x="{LEFT + 160}" y="{TOP - 8}" font-size="11" fill="{FEE_COLOUR}">'
        f"— {escape(fee_label)}</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def png(days: list[dict[str, Any]]) -> bytes:
    """The same chart as a PNG (no text but day numbers: the file names the month)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    base = HEIGHT - BOTTOM
    draw.line([(LEFT, base), (WIDTH - RIGHT, base)], fill="#888888")
    bars = geometry(days)
    for b in bars:
        if b.height:
            draw.rectangle([b.x, b.y, b.x + b.width - 1, base - 1], fill=VOLUME_COLOUR)
        draw.text((b.fee_x - 5, base + 4), b.label, fill="black")
    if len(bars) > 1:
        draw.line([(b.fee_x, b.fee_y) for b in bars], fill=FEE_COLOUR, width=2)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
