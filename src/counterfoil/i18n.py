"""The translation catalogue (en, zh_CN).

Every user-visible string is written in English as a message id and passed through
``_()``; ``translate(message, locale)`` renders it in the reader's language. The
catalogues are the ``.po`` files under ``locale/``, read once with Babel.

A message is marked for extraction with ``_()`` where it is written; the text is only
looked up when it is rendered, so a message created in the core can be shown in
Chinese to one reader and in English to another.
"""

from __future__ import annotations

import contextvars
from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES = ("en", "zh_CN")
DEFAULT_LOCALE = "en"
_LOCALE_DIR = Path(__file__).parent / "locale"

current_locale: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_locale", default=DEFAULT_LOCALE
)


def _(message: str) -> str:
    """Mark ``message`` for the catalogue; it is translated when rendered."""
    return message


@cache
def _catalogue(locale: str) -> dict[str, str]:
    path = _LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


def normalise_locale(value: str | None) -> str:
    """Map 'zh', 'zh-CN', 'zh_Hans' and the like to a supported locale."""
    if not value:
        return DEFAULT_LOCALE
    lowered = value.replace("-", "_").lower()
    if lowered.startswith("zh"):
        return "zh_CN"
    return "en"


def translate(message: str, locale: str | None = None, **params: object) -> str:
    """Render ``message`` in ``locale`` (default: the current one), filling ``{params}``."""
    loc = normalise_locale(locale or current_locale.get())
    if loc == "en":
        return message.format(**params) if params else message
    catalogue = _catalogue(loc)
    text = catalogue.get(message, message)
    if not params:
        return text
    # A parameter that is itself a catalogue message ("15 digits") is shown translated too.
    shown = {k: catalogue.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return text.format(**shown)
