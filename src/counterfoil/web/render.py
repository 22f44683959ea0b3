"""Templates and the reader's formats: every page is rendered here, in the reader's language.

``_("…", name=value)`` in a template is the same catalogue lookup as in Python (the
messages are extracted from the templates too). Amounts are integer fen shown in the
locale's currency form; times are shown in the merchant's zone in the locale's form.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context

from counterfoil import __version__
from counterfoil.api.errors import locale_of
from counterfoil.core.labels import LABELS
from counterfoil.i18n import normalise_locale, translate

TEMPLATES = Path(__file__).parent / "templates"
BABEL_LOCALE = {"en": "en_US", "zh_CN": "zh_Hans_CN"}
DEFAULT_ZONE = "Asia/Shanghai"


def money(fen: int | None, currency: str = "CNY", locale: str = "en") -> str:
    """Integer fen in the locale's currency form: ¥4,768.00 (Decimal, never a float)."""
    if fen is None:
        return ""
    where = BABEL_LOCALE[normalise_locale(locale)]
    if currency == "CNY":  # ¥ in both languages: what the shop's staff read on every slip
        figure = format_decimal(Decimal(abs(int(fen))).scaleb(-2), "#,##0.00", locale=where)
        return f"-¥{figure}" if fen < 0 else f"¥{figure}"
    return format_currency(Decimal(int(fen)).scaleb(-2), currency, locale=where)


def count(value: int | None, locale: str = "en") -> str:
    return (
        ""
        if value is None
        else format_decimal(value, locale=BABEL_LOCALE[normalise_locale(locale)])
    )


def moment(
    value: datetime | str | None, zone: str = DEFAULT_ZONE, locale: str = "en", form: str = "medium"
) -> str:
    if value is None or value == "":
        return ""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return format_datetime(
        when, form, tzinfo=ZoneInfo(zone), locale=BABEL_LOCALE[normalise_locale(locale)]
    )


def day(value: date | str | None, locale: str = "en", form: str = "medium") -> str:
    if value is None or value == "":
        return ""
    when = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(when, form, locale=BABEL_LOCALE[normalise_locale(locale)])


@pass_context
def _translate(context: Context, message: str, **params: Any) -> str:
    return translate(message, context.get("locale", "en"), **params)


@pass_context
def _label(context: Context, code: str | None) -> str:
    if not code:
        return ""
    return translate(LABELS.get(code, code), context.get("locale", "en"))


@pass_context
def _money(context: Context, fen: int | None, currency: str = "CNY") -> str:
    return money(fen, currency, context.get("locale", "en"))


@pass_context
def _count(context: Context, value: int | None) -> str:
    return count(value, context.get("locale", "en"))


@pass_context
def _moment(context: Context, value: datetime | str | None, form: str = "medium") -> str:
    return moment(value, context.get("zone", DEFAULT_ZONE), context.get("locale", "en"), form)


@pass_context
def _day(context: Context, value: date | str | None, form: str = "medium") -> str:
    return day(value, context.get("locale", "en"), form)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(_=_translate, version=__version__)
    env.filters.update(label=_label, money=_money, count=_count, moment=_moment, day=_day)
    return env


ENV = _environment()


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` for this request's reader (language, CSRF token, who is in)."""
    session = getattr(request.state, "session", None)
    who = getattr(request.state, "principal", None)
    context.setdefault("locale", locale_of(request))
    context.setdefault("zone", DEFAULT_ZONE)
    html = ENV.get_template(template).render(
        request=request,
        path=request.url.path,
        session=session,
        who=who,
        user=session.user if session else None,
        csrf_token=session.csrf_token if session else "",
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
