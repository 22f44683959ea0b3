"""DuckDB's memory for a run: a quarter of the machine's between 1 and 4 GB, or what
``COUNTERFOIL_RECONCILE_MEMORY`` says; a value DuckDB would not take is a clear error."""

from __future__ import annotations

import pytest

from counterfoil.core.errors import ValidationError
from counterfoil.reconcile.engines import duckdb_engine
from counterfoil.reconcile.engines.duckdb_engine import DuckDBEngine, default_memory_limit

GIB = 1024 * 1024 * 1024


@pytest.mark.parametrize(
    ("machine_gib", "limit"), [(2, "1024MB"), (8, "2048MB"), (24, "4096MB"), (256, "4096MB")]
)
def test_a_quarter_of_the_machine_between_one_and_four_gb(
    monkeypatch: pytest.MonkeyPatch, machine_gib: int, limit: str
) -> None:
    monkeypatch.delenv("COUNTERFOIL_RECONCILE_MEMORY", raising=False)
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": machine_gib * GIB // 4096}
    monkeypatch.setattr(duckdb_engine.os, "sysconf", sizes.__getitem__)
    assert default_memory_limit() == limit
    assert DuckDBEngine().memory_limit == limit
    assert DuckDBEngine(memory_limit="256MB").memory_limit == "256MB"


@pytest.mark.parametrize("value", ["6GB", "512MB", "1.5GiB"])
def test_the_environment_says_how_much(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("COUNTERFOIL_RECONCILE_MEMORY", value)
    assert default_memory_limit() == value


@pytest.mark.parametrize("value", ["lots", "4", "-1GB", "4 gigabytes"])
def test_a_value_that_is_no_amount_of_memory_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("COUNTERFOIL_RECONCILE_MEMORY", value)
    with pytest.raises(ValidationError, match="expected an amount of memory") as refused:
        default_memory_limit()
    assert refused.value.field == "COUNTERFOIL_RECONCILE_MEMORY"
