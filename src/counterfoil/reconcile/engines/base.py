"""What an engine is: staged files in, every record's outcome out, as plain rows.

``Staged`` names the files ``reconcile.staging`` wrote (one row a line, fields separated
by ``model.SEPARATOR``, empty = NULL, columns as ``model.ENTRY_COLUMNS`` etc.) and the
run's parameters. An engine loads them as the tables ``reconcile.passes`` expects, runs
``passes.PASSES`` in order and ``passes.RESULTS``, and hands back an ``EngineResult``.
Two engines given the same ``Staged`` must give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from counterfoil.reconcile.model import Tolerance

#: One outcome row: (seq or None, line id or None, pass, outcome).
OutcomeRow = tuple[int | None, int | None, str, str]
#: One outcome row as stored, less the run and break id: (seq, import_id, line_no,
#: outcome, pass), as ``passes.STORED`` gives it.
StoredRow = tuple[int | None, int | None, int | None, str, str]


@dataclass(frozen=True, slots=True)
class Staged:
    folder: Path
    entries: Path
    lines: Path
    decisions: Path
    tolerances: tuple[Tolerance, ...]
    day_start: int  # epoch seconds: lines outside [day_start, day_end) are only looked at
    day_end: int
    counts: dict[str, int] = field(default_factory=dict)


class EngineResult(Protocol):
    def outcomes(self, size: int = 100_000) -> Iterator[list[OutcomeRow]]:
        """Every outcome row, in batches."""
        ...

    def stored(self, *, breaks: bool, size: int = 100_000) -> Iterator[list[StoredRow]]:
        """The outcome rows of the breaks, or of every other record, as stored."""
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


class Engine(Protocol):
    name: str

    def run(self, staged: Staged) -> EngineResult: ...
