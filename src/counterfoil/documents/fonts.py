"""The Chinese font a PDF document is drawn with: a file from the system, never downloaded.

The font is WenQuanYi Micro Hei (Debian's ``fonts-wqy-microhei``): a sans-serif face
with every GB 2312 character and Latin letters, in TrueType outlines, so the PDF
library can embed the subset of glyphs a document uses. (Noto Sans CJK, in
``fonts-noto-cjk``, has CFF outlines, which the PDF library cannot embed.)

``find_cjk_font`` looks in the places Linux distributions install it, then asks
fontconfig for it, then for any Chinese font in TrueType outlines; when there is none,
it says which package to install. The web console and the HTML slip do not need it: a
browser finds its own fonts.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from counterfoil.core.errors import CounterfoilError
from counterfoil.i18n import _

FAMILY = "WenQuanYi Micro Hei"
DEBIAN_PACKAGE = "fonts-wqy-microhei"
FONTCONFIG_TIMEOUT = 10  # seconds: fc-match and fc-list read a cache, or scan the fonts once


@dataclass(frozen=True, slots=True)
class FontFile:
    """A font file and, in a TrueType collection (``.ttc``), which face in it."""

    path: Path
    index: int = 0


KNOWN_FONTS = (
    FontFile(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")),  # Debian, Ubuntu
    FontFile(Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc")),  # Fedora
    FontFile(Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc")),  # Arch
    FontFile(Path("/usr/local/share/fonts/wqy-microhei.ttc")),
)


class FontMissing(CounterfoilError):
    """No Chinese font to draw a PDF document with: the machine needs a package."""

    code = "font_missing"
    status = 500


def find_cjk_font(
    known: Iterable[FontFile] = KNOWN_FONTS, *, ask_fontconfig: bool = True
) -> FontFile:
    """The first of ``known`` that exists; else what fontconfig names (WenQuanYi Micro
    Hei, or another Chinese font in TrueType outlines); else ``FontMissing``."""
    for font in known:
        if font.path.is_file():
            return font
    if ask_fontconfig:
        found = _fontconfig_match() or _fontconfig_any()
        if found is not None:
            return found
    raise FontMissing(
        _(
            "no Chinese font to draw PDF documents with: install the Debian package "
            "{package} (or another Chinese font in TrueType outlines)"
        ),
        package=DEBIAN_PACKAGE,
    )


@cache
def cjk_font() -> FontFile:
    """``find_cjk_font()``, looked up once per process."""
    return find_cjk_font()


def _fontconfig(*args: str) -> str:
    program = shutil.which(args[0])
    if program is None:
        return ""
    try:
        done = subprocess.run(
            [program, *args[1:]],
            capture_output=True,
            text=True,
            timeout=FONTCONFIG_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _usable(file: str, index: str, fontformat: str) -> FontFile | None:
    """A font the PDF library can embed: TrueType outlines, in a file that exists."""
    path = Path(file)
    if fontformat != "TrueType" or not index.isdigit() or not path.is_file():
        return None
    return FontFile(path, int(index))


def _fontconfig_match() -> FontFile | None:
    """fontconfig's best match for WenQuanYi Micro Hei, if it covers Chinese: fc-match
    always names some font, maybe one without a Chinese glyph."""
    out = _fontconfig(
        "fc-match", "-f", "%{file}\t%{index}\t%{fontformat}\t%{lang}", f"{FAMILY}:lang=zh-cn"
    )
    parts = out.split("\t")
    if len(parts) != 4 or "zh-cn" not in parts[3].split("|"):
        return None
    return _usable(*parts[:3])


def _fontconfig_any() -> FontFile | None:
    """Any font fontconfig lists for Simplified Chinese in TrueType outlines, the same
    one every time (the first by file name)."""
    out = _fontconfig(
        "fc-list", "-f", "%{file}\t%{index}\t%{fontformat}\n", ":lang=zh-cn:fontformat=TrueType"
    )
    for line in sorted(out.splitlines()):
        parts = line.split("\t")
        if len(parts) == 3 and (font := _usable(*parts)) is not None:
            return font
    return None
