"""Shared fixtures. Every test that takes ``cf`` runs twice: on SQLite and on PostgreSQL.

A migrated template is made once per session for each database, and each test gets a
fresh copy (a file copy for SQLite, ``CREATE DATABASE … TEMPLATE`` for PostgreSQL), so
tests are isolated and the suite stays fast. ``COUNTERFOIL_TEST_DATABASES=sqlite``
limits a local run to one database; ``make test`` runs both.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from counterfoil.config import Settings
from counterfoil.services import merchants as merchant_svc
from counterfoil.services.context import Counterfoil
from counterfoil.store.db import make_engine, migrate
from pgserver import PgServer

# Property tests check behaviour, not speed: on a busy 2-core machine, no deadlines.
hypothesis_settings.register_profile(
    "counterfoil", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("counterfoil")

DATABASES = [
    d for d in os.environ.get("COUNTERFOIL_TEST_DATABASES", "sqlite,postgresql").split(",") if d
]
MERCHANT = "102310048993424"
OTHER_MERCHANT = "102310048990001"
TERMINAL = "TERM0001"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def earlier_today(minutes_ago: float) -> str:
    """A moment of today's business day in Shanghai, earlier than now, as a terminal sends it.

    "Today" is what a cashier's view and the dashboard count, so a test that means today
    must not cross midnight: ``minutes_ago`` is scaled into the part of the day that has
    passed (a day's 1,440 minutes onto the minutes since midnight). The order of moments
    is kept, and at any hour each one lies between midnight and now. Microseconds are kept
    so that moments stay apart a minute after midnight too.
    """
    if not 0 <= minutes_ago < 24 * 60:
        raise ValueError("earlier_today takes 0 to 1,439 minutes")
    now = datetime.now(SHANGHAI)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    moment = midnight + (now - midnight) * (1 - minutes_ago / (24 * 60))
    return moment.isoformat(timespec="microseconds")


def days_ago(days: int) -> str:
    """A moment ``days`` business days before today in Shanghai, at the same share of the day."""
    moment = datetime.fromisoformat(earlier_today(0)) - timedelta(days=days)
    return moment.isoformat(timespec="microseconds")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer().start()
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE cf_template"))
    engine.dispose()
    template = make_engine(server.url_for("cf_template"))
    migrate(template)
    template.dispose()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "counterfoil.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()  # the last connection's close folds the WAL into the file
    return path


def _pg_database(server: PgServer) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE cf_template'))
    engine.dispose()
    return server.url_for(name)


@pytest.fixture(params=DATABASES)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, migrated store on the parametrised database."""
    home = tmp_path / "home"
    home.mkdir()
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, home / "counterfoil.db")
        return Settings(home=home, database_url=f"sqlite:///{home / 'counterfoil.db'}")
    server: PgServer = request.getfixturevalue("pg_server")
    return Settings(home=home, database_url=_pg_database(server))


@pytest.fixture
def cf(settings: Settings) -> Iterator[Counterfoil]:
    store = Counterfoil.open(settings, upgrade=False)
    yield store
    store.close()


@pytest.fixture
def shop(cf: Counterfoil) -> dict[str, Any]:
    """A merchant with one terminal; its token under 'token'."""
    merchant = merchant_svc.add_merchant(cf, MERCHANT, "测试便利店")
    terminal, token = merchant_svc.add_terminal(cf, MERCHANT, TERMINAL, "Counter 1")
    return {"merchant": merchant, "terminal": terminal, "token": token}


def sale(**overrides: Any) -> dict[str, Any]:
    """A card sale payload as a terminal sends it; override any field."""
    payload: dict[str, Any] = {
        "merchant_no": MERCHANT,
        "terminal_id": TERMINAL,
        "batch_no": "000001",
        "trace_no": "000001",
        "type": "sale",
        "channel": "credit",
        "amount": 476800,
        "currency": "CNY",
        "terminal_time": "2026-11-20T14:05:09+08:00",
        "rrn": "000049993190",
        "auth_code": "123456",
        "card": "622202******0123",
        "entry_mode": "chip",
        "operator": "01",
    }
    payload.update(overrides)
    return payload
