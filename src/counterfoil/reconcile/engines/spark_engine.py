"""The engine for scale: Apache Spark SQL, running the very passes the DuckDB engine runs.

An operator with more than one machine can hold runs Spark; a shop does not need it,
so PySpark is the optional extra ``counterfoil[spark]`` and this module is imported only
when the engine is asked for by name. The staged files are read with Spark's own CSV
reader under the schemas of ``model`` (an empty field is NULL), the tables
``reconcile.passes`` expects become temporary views of one fresh session per run, and
``pairs`` grows by a union per pass — the one thing an engine does its own way. Each
round's open records and pairs are checkpointed so that the plan does not grow with
the number of passes. Every query is the same text DuckDB runs; the results are read
back as plain tuples, so the two engines hand the service the same rows.

``SparkEngine()`` starts a local session (``local[2]``, bound to 127.0.0.1, no web UI);
``SparkEngine(session=…)`` uses a session the caller owns (a cluster's, or a test's).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from counterfoil.reconcile import passes
from counterfoil.reconcile.engines.base import (
    Direct,
    OutcomeRow,
    OutcomeSet,
    Staged,
    StoredRow,
    outcome_sets,
)
from counterfoil.reconcile.model import (
    DECISION_COLUMNS,
    SEPARATOR,
    STAGED_ENTRY_COLUMNS,
    STAGED_LINE_COLUMNS,
)

MAX_ROUNDS = 4  # as the DuckDB engine: a repeating pass runs again at most this often
_TYPES = {"BIGINT": "BIGINT", "VARCHAR": "STRING"}


def local_session(
    *,
    master: str = "local[2]",
    shuffle_partitions: int = 4,
    driver_memory: str = "1g",
    scratch: Path | None = None,
) -> SparkSession:
    """A Spark session on this machine only: loopback addresses, no UI, few partitions."""
    local_dir = scratch or Path(tempfile.mkdtemp(prefix="counterfoil-spark-"))
    builder: Any = SparkSession.builder
    session: SparkSession = (
        builder.master(master)
        .appName("counterfoil-reconcile")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.driver.memory", driver_memory)
        .config("spark.local.dir", str(local_dir))
        .config("spark.sql.warehouse.dir", str(local_dir / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _schema(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name} {_TYPES[kind]}" for name, kind in columns)


class SparkEngine:
    name = "spark"
    reads_sqlite = False  # staged files only

    def __init__(
        self,
        *,
        session: SparkSession | None = None,
        master: str = "local[2]",
        shuffle_partitions: int = 4,
        driver_memory: str = "1g",
    ) -> None:
        self._given = session
        self.master = master
        self.shuffle_partitions = shuffle_partitions
        self.driver_memory = driver_memory

    def run(self, staged: Staged) -> SparkResult:
        owned = self._given is None
        base = self._given or local_session(
            master=self.master,
            shuffle_partitions=self.shuffle_partitions,
            driver_memory=self.driver_memory,
            scratch=staged.folder / "spark",
        )
        spark = base.newSession()  # its own temporary views: runs do not see each other's
        held: list[DataFrame] = []
        try:
            self._load(spark, staged, held)
            counts = self._pair(spark, held)
            results = _keep(spark.sql(passes.RESULTS), held)
            results.createOrReplaceTempView("results")
        except BaseException:
            _release(held)
            if owned:
                base.stop()
            raise
        return SparkResult(spark, counts, held, base if owned else None)

    @staticmethod
    def _load(spark: SparkSession, staged: Staged, held: list[DataFrame]) -> None:
        def read(path: Path | Direct, columns: tuple[tuple[str, str], ...]) -> DataFrame:
            if not isinstance(path, Path):  # staging reads in place only for an engine that can
                raise TypeError("the Spark engine reads staged files only")
            frame = (
                spark.read.option("sep", SEPARATOR)
                .option("header", "false")
                .option("quote", "\u0000")
                .option("escape", "\u0000")
                .option("nullValue", "")
                .option("mode", "FAILFAST")
                .schema(_schema(columns))
                .csv(path.resolve().as_uri())
            )
            return frame

        read(staged.entries, STAGED_ENTRY_COLUMNS).createOrReplaceTempView("staged_entries")
        read(staged.lines, STAGED_LINE_COLUMNS).createOrReplaceTempView("staged_lines")
        entries = passes.ENTRIES.format(staged="staged_entries")
        _keep(spark.sql(entries), held).createOrReplaceTempView("entries")
        _keep(spark.sql(passes.LINES.format(staged="staged_lines")), held).createOrReplaceTempView(
            "lines"
        )
        _keep(read(staged.decisions, DECISION_COLUMNS), held).createOrReplaceTempView("decisions")
        spark.sql(
            "SELECT eid, lid FROM decisions WHERE action = 'unmatch'"
        ).createOrReplaceTempView("forbidden")
        tolerances = ", ".join(
            f"('{t.source}', {int(t.amount)}L, {int(t.time_window)}L, {int(t.settlement_window)}L)"
            for t in staged.tolerances
        )  # our own source names (checked against model.SOURCE_CHANNELS) and integers
        spark.sql(
            f"SELECT * FROM VALUES {tolerances} AS t(src, amount, time_window, settlement_window)"  # noqa: S608
        ).createOrReplaceTempView("tolerances")
        spark.sql(
            f"SELECT {int(staged.day_start)}L AS day_start, {int(staged.day_end)}L AS day_end"
        ).createOrReplaceTempView("params")
        spark.sql(
            "SELECT CAST(NULL AS BIGINT) AS eid, CAST(NULL AS BIGINT) AS lid, "
            "CAST(NULL AS STRING) AS pass WHERE 1 = 0"
        ).createOrReplaceTempView("pairs")

    @staticmethod
    def _pair(spark: SparkSession, held: list[DataFrame]) -> dict[str, int]:
        """Each pass's pairs, computed once; ``pairs`` is the union of them all so far."""
        counts: dict[str, int] = {}
        made: list[DataFrame] = []
        spark.sql(passes.OPEN_ENTRIES).createOrReplaceTempView("e_open")
        spark.sql(passes.OPEN_LINES).createOrReplaceTempView("l_open")
        for step in passes.PASSES:
            counts[step.name] = 0
            for _round in range(MAX_ROUNDS if step.repeat else 1):
                added = _keep(spark.sql(step.sql), held)
                n = added.count()
                if n == 0:
                    break
                counts[step.name] += n
                made.append(added)
                union = made[0]
                for more in made[1:]:
                    union = union.unionByName(more)
                union.createOrReplaceTempView("pairs")
                # the open records are views over ``pairs``: re-made to see the new ones
                spark.sql(passes.OPEN_ENTRIES).createOrReplaceTempView("e_open")
                spark.sql(passes.OPEN_LINES).createOrReplaceTempView("l_open")
        return counts


def _keep(frame: DataFrame, held: list[DataFrame]) -> DataFrame:
    """``frame`` computed once and held (memory, then disk): later queries read it."""
    kept = frame.localCheckpoint(eager=True)
    held.append(kept)
    return kept


def _release(held: list[DataFrame]) -> None:
    for frame in held:
        frame.unpersist()
    held.clear()


def _plain(row: Any) -> tuple[Any, ...]:
    return tuple(row)


class SparkResult:
    def __init__(
        self,
        spark: SparkSession,
        counts: dict[str, int],
        held: list[DataFrame],
        owned: SparkSession | None,
    ) -> None:
        self.spark = spark
        self.counts = counts
        self._held = held
        self._owned = owned

    def outcomes(self, size: int = 100_000) -> Iterator[list[OutcomeRow]]:
        frame = self.spark.sql("SELECT eid, lid, pass, outcome FROM results")
        batch: list[OutcomeRow] = []
        for row in frame.toLocalIterator():
            batch.append((row[0], row[1], row[2], row[3]))
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def stored(self, size: int = 100_000) -> Iterator[list[StoredRow]]:
        batch: list[StoredRow] = []
        for row in self._rows(passes.STORED):
            batch.append(row)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    def sets(self, size: int) -> Iterator[OutcomeSet]:
        return outcome_sets(self._rows(passes.SETTLED), size)

    def _rows(self, sql: str) -> Iterator[StoredRow]:
        for row in self.spark.sql(sql).toLocalIterator():
            yield (row[0], row[1], row[2], row[3], row[4])

    def details(self) -> list[tuple[Any, ...]]:
        return [_plain(r) for r in self.spark.sql(passes.DETAILS).collect()]

    def summary(self) -> list[tuple[str, str, int, int]]:
        rows = self.spark.sql(passes.SUMMARY).collect()
        return [(str(s), str(o), int(n), int(a or 0)) for s, o, n, a in rows]

    def totals(self) -> list[tuple[str, str, int, int]]:
        rows = self.spark.sql(passes.TOTALS).collect()
        return [(str(s), str(w), int(n), int(a or 0)) for s, w, n, a in rows]

    def pass_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def close(self) -> None:
        _release(self._held)
        for view in ("staged_entries", "staged_lines", "entries", "lines", "decisions",
                     "forbidden", "tolerances", "params", "pairs", "e_open", "l_open",
                     "results"):  # fmt: skip
            self.spark.catalog.dropTempView(view)
        if self._owned is not None:
            self._owned.stop()
            self._owned = None
