"""Instants as text: fixed-width UTC, so that comparing texts compares instants.

``isoformat`` is used rather than ``strftime``: it is several times faster, and these
run for every journal entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def iso_z(moment: datetime) -> str:
    """2026-11-20T06:05:09.000000Z: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


def sqlite_text(moment: datetime) -> str:
    """2026-11-20 06:05:09.000000: how SQLAlchemy's SQLite DateTime keeps a UTC instant."""
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def stamp_for(sqlite: bool) -> Callable[[datetime], Any]:
    """How a time is handed to the driver when SQLAlchemy's types are bypassed: SQLite
    keeps the text SQLAlchemy writes for a DateTime (``sqlite_text``), PostgreSQL a
    timestamptz (the datetime itself)."""
    return sqlite_text if sqlite else _same


def _same(moment: datetime) -> datetime:
    return moment


def from_iso_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
