"""Business days: a merchant's cut-off and zone, its settlement cycle and holiday calendar.

A business day ends at the merchant's cut-off (default 23:00 Asia/Shanghai): a sale at
23:30 belongs to the next day. A cut-off of 00:00 makes the business day the calendar
day. The expected settlement date of a day follows the merchant's cycle:

- ``d0``: the same day (D+0);
- ``t1_calendar``: the next calendar day;
- ``t1_business`` (default): the next business day — not a Saturday or Sunday unless
  the holiday calendar names it a working day (调休), and not a holiday it names.

Holiday calendars are named (default ``CN``) and loaded from a file of lines
``YYYY-MM-DD holiday|workday [name]`` (``#`` starts a comment), so the same calendar
serves many merchants. Every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, select

from counterfoil.core.errors import ValidationError
from counterfoil.core.models import check_timezone
from counterfoil.i18n import _
from counterfoil.services.access import Principal
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import get_merchant
from counterfoil.store import audit
from counterfoil.store.settlement_schema import settlement_holidays, settlement_settings

CYCLES = ("d0", "t1_calendar", "t1_business")
DEFAULT_CUTOFF = "23:00"
DEFAULT_CYCLE = "t1_business"
DEFAULT_CALENDAR = "CN"
_CUTOFF = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CALENDAR = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
MAX_HOLIDAYS = 5000


@dataclass(frozen=True, slots=True)
class DaySettings:
    merchant_no: str
    cutoff: str  # HH:MM
    timezone: str
    cycle: str
    calendar: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def cutoff_time(self) -> time:
        hours, minutes = self.cutoff.split(":")
        return time(int(hours), int(minutes))

    def as_dict(self) -> dict[str, Any]:
        return {
            "merchant_no": self.merchant_no,
            "cutoff": self.cutoff,
            "timezone": self.timezone,
            "cycle": self.cycle,
            "calendar": self.calendar,
        }

    def business_day(self, moment: datetime) -> date:
        """The business day of an instant: its local date, or the next one past the cut-off."""
        local = moment.astimezone(self.zone)
        cut = self.cutoff_time
        if cut != time(0, 0) and local.time() >= cut:
            return local.date() + timedelta(days=1)
        return local.date()

    def bounds(self, day: date) -> tuple[datetime, datetime]:
        """The UTC instants where business day ``day`` starts and where the next one starts."""
        return self._start(day), self._start(day + timedelta(days=1))

    def _start(self, day: date) -> datetime:
        cut = self.cutoff_time
        local = (
            datetime.combine(day, time(0, 0), self.zone)
            if cut == time(0, 0)
            else datetime.combine(day - timedelta(days=1), cut, self.zone)
        )
        return local.astimezone(UTC)


def check_cutoff(value: str) -> str:
    value = (value or "").strip()
    if not _CUTOFF.match(value):
        raise ValidationError("cutoff", _("expected a time of day as HH:MM, such as 23:00"))
    return value


def check_cycle(value: str) -> str:
    if value not in CYCLES:
        raise ValidationError("cycle", _("expected one of {options}"), options=", ".join(CYCLES))
    return value


def check_calendar(value: str) -> str:
    if not _CALENDAR.match(value or ""):
        raise ValidationError(
            "calendar", _("expected a calendar name of 1 to 32 letters, digits, - or _")
        )
    return value


def settings_of(conn: Connection, merchant_no: str) -> DaySettings:
    """The merchant's settings: its own row, else the defaults in the merchant's zone."""
    merchant = get_merchant(conn, merchant_no)
    row = conn.execute(
        select(settlement_settings).where(settlement_settings.c.merchant_no == merchant_no)
    ).first()
    if row is None:
        return DaySettings(
            merchant_no, DEFAULT_CUTOFF, merchant.timezone, DEFAULT_CYCLE, DEFAULT_CALENDAR
        )
    return DaySettings(merchant_no, row.cutoff, row.timezone, row.cycle, row.calendar)


def set_settings(
    cf: Counterfoil,
    who: Principal,
    merchant_no: str,
    *,
    cutoff: str | None = None,
    timezone: str | None = None,
    cycle: str | None = None,
    calendar: str | None = None,
) -> DaySettings:
    """Change what is given of a merchant's cut-off, zone, cycle and calendar (audited).

    A change applies to days not yet closed; a closed day keeps what it was closed with."""
    who.require("merchants.manage", merchant_no)

    def job(conn: Connection) -> DaySettings:
        old = settings_of(conn, merchant_no)
        new = DaySettings(
            merchant_no,
            check_cutoff(cutoff) if cutoff is not None else old.cutoff,
            check_timezone(timezone) if timezone is not None else old.timezone,
            check_cycle(cycle) if cycle is not None else old.cycle,
            check_calendar(calendar) if calendar is not None else old.calendar,
        )
        values = {
            "cutoff": new.cutoff,
            "timezone": new.timezone,
            "cycle": new.cycle,
            "calendar": new.calendar,
            "updated_by": who.name[:80],
            "updated_at": datetime.now(UTC),
        }
        table = settlement_settings
        if conn.execute(
            select(table.c.merchant_no).where(table.c.merchant_no == merchant_no)
        ).first():
            conn.execute(table.update().where(table.c.merchant_no == merchant_no).values(**values))
        else:
            conn.execute(table.insert().values(merchant_no=merchant_no, **values))
        audit.record(
            conn,
            who.actor,
            "settlement.settings",
            object_type="merchant",
            object_id=merchant_no,
            merchant_no=merchant_no,
            details={"before": old.as_dict(), "after": new.as_dict()},
        )
        return new

    return cf.write(job)


# --- holiday calendars ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holiday:
    day: date
    kind: str  # holiday | workday
    name: str


def parse_calendar(text: str) -> list[Holiday]:
    """``YYYY-MM-DD holiday|workday [name]`` lines; errors name the line."""
    found: dict[date, Holiday] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split(None, 2)
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            raise ValidationError(
                f"line {number}", _("expected a date as YYYY-MM-DD first")
            ) from None
        kind = parts[1] if len(parts) > 1 else "holiday"
        if kind not in ("holiday", "workday"):
            raise ValidationError(f"line {number}", _("expected holiday or workday after the date"))
        if day in found:
            raise ValidationError(f"line {number}", _("the date {day} is given twice"), day=day)
        found[day] = Holiday(day, kind, (parts[2] if len(parts) > 2 else "")[:80])
    if len(found) > MAX_HOLIDAYS:
        raise ValidationError("calendar", _("expected at most {limit} days"), limit=MAX_HOLIDAYS)
    return [found[d] for d in sorted(found)]


def load_calendar(cf: Counterfoil, who: Principal, calendar: str, text: str) -> int:
    """Replace calendar ``calendar`` with the days of ``text`` (audited); returns how many."""
    who.require("merchants.manage")
    check_calendar(calendar)
    days = parse_calendar(text)

    def job(conn: Connection) -> int:
        conn.execute(delete(settlement_holidays).where(settlement_holidays.c.calendar == calendar))
        if days:
            conn.execute(
                settlement_holidays.insert(),
                [
                    {"calendar": calendar, "day": h.day, "kind": h.kind, "name": h.name}
                    for h in days
                ],
            )
        audit.record(
            conn,
            who.actor,
            "settlement.calendar",
            object_type="calendar",
            object_id=calendar,
            details={"days": len(days)},
        )
        return len(days)

    return cf.write(job)


def calendar_days(conn: Connection, calendar: str) -> list[Holiday]:
    rows = conn.execute(
        select(settlement_holidays)
        .where(settlement_holidays.c.calendar == calendar)
        .order_by(settlement_holidays.c.day)
    )
    return [Holiday(r.day, r.kind, r.name) for r in rows]


def is_business_day(day: date, special: dict[date, str]) -> bool:
    kind = special.get(day)
    if kind is not None:
        return kind == "workday"
    return day.weekday() < 5


def settles_on(day: date, cycle: str, holidays: Iterable[Holiday]) -> date:
    """The expected settlement date of business day ``day`` under ``cycle``."""
    if cycle == "d0":
        return day
    if cycle == "t1_calendar":
        return day + timedelta(days=1)
    special = {h.day: h.kind for h in holidays}
    nxt = day + timedelta(days=1)
    for _step in range(366):
        if is_business_day(nxt, special):
            return nxt
        nxt += timedelta(days=1)
    raise ValidationError("calendar", _("no business day within a year of {day}"), day=day)


def settlement_date(conn: Connection, settings: DaySettings, day: date) -> date:
    return settles_on(day, settings.cycle, calendar_days(conn, settings.calendar))
