"""Schemathesis against the OpenAPI document: requests generated from every operation's
schema, sent as an anonymous caller and as a terminal; no answer is a 500. SQLite (the
routes are the same on PostgreSQL). A bounded number of examples per operation."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from counterfoil.api.app import create_app
from counterfoil.config import Settings
from counterfoil.services import merchants as merchant_svc
from counterfoil.services.context import Counterfoil

MERCHANT = "102310048993424"


@pytest.fixture
def app_and_token(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[Any, str]]:
    shutil.copyfile(sqlite_template, tmp_path / "counterfoil.db")
    cf = Counterfoil.open(
        Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'counterfoil.db'}"),
        upgrade=False,
    )
    merchant_svc.add_merchant(cf, MERCHANT, "测试便利店")
    _, token = merchant_svc.add_terminal(cf, MERCHANT, "TERM0001")
    app = create_app(cf)
    with TestClient(app):
        yield app, token


def test_no_generated_request_gets_a_500(app_and_token: tuple[Any, str]) -> None:
    app, token = app_and_token
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()

        from hypothesis import given

        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            for headers in ({}, {"Authorization": f"Bearer {token}"}):
                response = case.call(headers=headers)
                if response.status_code >= 500 and response.status_code != 503:
                    failures.append(
                        f"{case.method} {case.formatted_path}: "
                        f"{response.status_code} {response.text[:200]}"
                    )

        check()
    assert not failures, "\n".join(failures[:10])
