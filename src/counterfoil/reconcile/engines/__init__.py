"""Reconciliation engines: the one place that knows DuckDB (and, later, Spark)."""

from __future__ import annotations

from counterfoil.reconcile.engines.base import Engine, EngineResult, Staged


def engine_named(name: str) -> Engine:
    """The engine called ``name`` (``duckdb``; ``spark`` once it is installed)."""
    from counterfoil.core.errors import ValidationError
    from counterfoil.i18n import _

    if name == "duckdb":
        from counterfoil.reconcile.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    raise ValidationError("engine", _("expected one of {options}"), options="duckdb")


__all__ = ["Engine", "EngineResult", "Staged", "engine_named"]
