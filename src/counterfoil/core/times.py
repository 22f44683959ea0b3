"""Instants as text: fixed-width UTC, so that comparing texts compares instants.

``isoformat`` is used rather than ``strftime``: it is several times faster, and these
run for every journal entry.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(moment: datetime) -> str:
    """2026-11-20T06:05:09.000000Z: UTC, microseconds, a Z."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


def sqlite_text(moment: datetime) -> str:
    """2026-11-20 06:05:09.000000: how SQLAlchemy's SQLite DateTime keeps a UTC instant."""
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="microseconds")[:26]


def from_iso_z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
