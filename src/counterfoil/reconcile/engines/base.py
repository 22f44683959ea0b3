"""What an engine is: staged files in, every record's outcome out, as plain rows.

``Staged`` names the files ``reconcile.staging`` wrote (one row a line, fields separated
by ``model.SEPARATOR``, empty = NULL, columns as ``model.STAGED_ENTRY_COLUMNS`` etc.) and
the run's parameters; for a large day on SQLite, an engine that reads the store itself
(``reads_sqlite``) gets a ``Direct`` query in place of each file. An engine loads them as
the tables ``reconcile.passes`` expects, runs ``passes.PASSES`` in order and
``passes.RESULTS``, and hands back an ``EngineResult``.
Two engines given the same ``Staged`` must give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import orjson

from counterfoil.reconcile.model import Tolerance

#: One outcome row: (seq or None, line id or None, pass, outcome).
OutcomeRow = tuple[int | None, int | None, str, str]
#: One outcome row as stored, less the run and break id: (seq, import_id, line_no,
#: outcome, pass), as ``passes.STORED`` and ``passes.SETTLED`` give it.
StoredRow = tuple[int | None, int | None, int | None, str, str]
#: A set of records that are not breaks, as ``recon_outcome_sets`` keeps it: (outcome,
#: pass, part, records, members), members a JSON array of [seq, import_id, line_no].
OutcomeSet = tuple[str, str, int, int, str]


#: The name under which an engine attaches the SQLite store it reads in place.
DIRECT_SCHEMA = "store"


@dataclass(frozen=True, slots=True)
class Direct:
    """One side read by the engine from the SQLite store itself, not from a staged file:
    the store's path, and a query (DuckDB's dialect, the store attached as
    ``DIRECT_SCHEMA``) giving the staged file's columns, with its parameters."""

    database: str
    sql: str
    params: list[Any]


@dataclass(frozen=True, slots=True)
class Staged:
    folder: Path
    entries: Path | Direct
    lines: Path | Direct
    decisions: Path
    tolerances: tuple[Tolerance, ...]
    day_start: int  # epoch seconds: lines outside [day_start, day_end) are only looked at
    day_end: int
    counts: dict[str, int] = field(default_factory=dict)  # rows per file; none for a Direct


class EngineResult(Protocol):
    def outcomes(self, size: int = 100_000) -> Iterator[list[OutcomeRow]]:
        """Every outcome row, in batches."""
        ...

    def stored(self, size: int = 100_000) -> Iterator[list[StoredRow]]:
        """The outcome rows of the breaks, as stored (a break id is added to each)."""
        ...

    def sets(self, size: int) -> Iterator[OutcomeSet]:
        """Every other record (matched, pending) in sets of at most ``size``, as
        ``outcome_sets`` makes them."""
        ...

    def details(self) -> list[tuple[Any, ...]]:
        """The breaks' rows, as ``passes.DETAIL_FIELDS``."""
        ...

    def summary(self) -> list[tuple[str, str, int, int]]:
        """(side, outcome, count, amount) per side and outcome."""
        ...

    def totals(self) -> list[tuple[str, str, int, int]]:
        """(side, 'staged' | 'set_aside', count, amount)."""
        ...

    def pass_counts(self) -> dict[str, int]:
        """Pairs made by each pass."""
        ...

    def close(self) -> None: ...


def outcome_sets(rows: Iterable[StoredRow], size: int) -> Iterator[OutcomeSet]:
    """``rows`` (ordered by outcome, pass, seq, line; no seq or line last) cut into sets of
    at most ``size`` per outcome and pass, numbered from 0 in each."""
    key: tuple[str, str] | None = None
    part, members = 0, list[tuple[int | None, int | None, int | None]]()
    for seq, import_id, line_no, outcome, pass_ in rows:
        if (outcome, pass_) != key or len(members) == size:
            if key is not None:
                yield (*key, part, len(members), orjson.dumps(members).decode())
            part = part + 1 if (outcome, pass_) == key else 0
            key, members = (outcome, pass_), []
        members.append((seq, import_id, line_no))
    if key is not None:
        yield (*key, part, len(members), orjson.dumps(members).decode())


class Engine(Protocol):
    name: str

    @property
    def reads_sqlite(self) -> bool:
        """Whether the engine reads a SQLite store in place (``Direct``), not only files."""
        ...

    def run(self, staged: Staged) -> EngineResult: ...
