"""Reconciliation engines: the one place that knows DuckDB and Spark."""

from __future__ import annotations

from counterfoil.reconcile.engines.base import Engine, EngineResult, Staged


def engine_named(name: str) -> Engine:
    """The engine called ``name``: ``duckdb`` (embedded) or ``spark`` (with the
    ``counterfoil[spark]`` extra installed; a local session unless one is configured)."""
    from counterfoil.core.errors import ValidationError
    from counterfoil.i18n import _

    if name == "duckdb":
        from counterfoil.reconcile.engines.duckdb_engine import DuckDBEngine

        return DuckDBEngine()
    if name == "spark":
        try:
            from counterfoil.reconcile.engines.spark_engine import SparkEngine
        except ImportError:
            raise ValidationError(
                "engine", _("the Spark engine needs PySpark: install counterfoil[spark]")
            ) from None
        return SparkEngine()
    raise ValidationError("engine", _("expected one of {options}"), options="duckdb, spark")


__all__ = ["Engine", "EngineResult", "Staged", "engine_named"]
