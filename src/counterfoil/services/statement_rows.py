"""A statement file's lines as the rows of ``statement_lines``, parsed here or in a
process of its own.

Parsing a large file and storing its lines each take most of one core. A file of
``PARALLEL_BYTES`` or more is therefore parsed by a spawned process that sends its rows in
chunks through a bounded queue (memory stays that of a few chunks, whatever the file),
while the importing process looks up overlaps and writes: the two cores work at once.
Both ways give the same chunks, in file order, and the same account of the file at the
end (its control checks, facts and whether it balanced); a file that cannot be read
raises the same error either way. Nothing here knows a database: the only difference
between SQLite and PostgreSQL is how a time is written (``stamp``).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple

from counterfoil.core.times import stamp_for
from counterfoil.importers import LineError, StatementLine, open_statement
from counterfoil.importers.lines import ControlCheck, Extra
from counterfoil.importers.result import ParseResult
from counterfoil.store.statement_blocks import key_hash, pack

#: Lines sent at a time. A chunk holds rows (tuples of plain values, which the garbage
#: collector stops tracking), not the parsed lines, and few enough of them that they die
#: young: lines held longer reach the collector's oldest generation, and every full
#: collection walks them again (~15 % of an import when 10,000 lines were held).
CHUNK: Final = 2_000

#: Files at least this large are parsed in a process of their own (when there are two
#: cores or more): below it, starting the process (~0.3 s) would cost more than it saves.
PARALLEL_BYTES: Final = 8 * 1024 * 1024

#: Chunks the parsing process may run ahead of the writer: the bound on memory.
AHEAD: Final = 8

#: The columns of ``statement_lines`` in the order ``row`` gives a line's values.
COLUMNS: Final = (
    "import_id", "line_no", "source", "occurred_at", "amount", "currency", "txn_type",
    "status", "rrn", "trace_no", "terminal_id", "merchant_no", "order_no", "platform_id",
    "refund_id", "fee", "net", "card_masked", "card_last4", "counterparty", "description",
    "natural_key", "key_hash", "duplicate_of",
)  # fmt: skip
DUPLICATE_OF: Final = COLUMNS.index("duplicate_of")
KEY_HASH: Final = COLUMNS.index("key_hash")
NATURAL_KEY: Final = COLUMNS.index("natural_key")


class Chunk(NamedTuple):
    """Consecutive records of a file: each line's natural key and row, the lines' raw text
    as one ``statement_raw`` block (None when there are no lines), the rejected rows."""

    keys: list[str]
    rows: list[tuple[Any, ...]]
    block: bytes | None
    errors: list[LineError]


@dataclass(slots=True)
class Ending:
    """What a finished parse says about the file as a whole."""

    checks: list[ControlCheck] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)
    balanced: bool = False


def natural_key(line: StatementLine) -> str:
    return "|".join((line.source, *line.natural_key()))[:400]


def _plain(extra: Mapping[str, str]) -> dict[str, str]:
    # An ``Extra`` builds its dict once; reading it key by key through the Mapping
    # protocol would cost a method call per field (several seconds a million lines).
    return extra._materialise() if isinstance(extra, Extra) else dict(extra)


def row(import_id: int, line: StatementLine, key: str, when: Any) -> tuple[Any, ...]:
    """A line as the values of ``COLUMNS`` (``when``: its time, as the database takes it),
    ``duplicate_of`` still None."""
    return (
        import_id,
        line.line_no,
        line.source,
        when,
        line.amount,
        line.currency,
        line.txn_type,
        line.status,
        line.rrn,
        line.trace_no,
        line.terminal_id,
        line.merchant_no,
        line.order_no,
        line.platform_id,
        line.refund_id,
        line.fee,
        line.net,
        line.card_masked,
        line.card_last4,
        line.counterparty,
        line.description,
        key,
        key_hash(key),
        None,
    )


def chunks(
    records: Iterator[StatementLine | LineError], import_id: int, sqlite: bool
) -> Iterator[Chunk]:
    """The records in chunks of at most ``CHUNK`` lines (or rejected rows)."""
    stamp = stamp_for(sqlite)
    keys: list[str] = []
    rows: list[tuple[Any, ...]] = []
    raw: list[tuple[int, str, dict[str, str]]] = []
    errors: list[LineError] = []
    for record in records:
        if isinstance(record, StatementLine):
            key = natural_key(record)
            keys.append(key)
            rows.append(row(import_id, record, key, stamp(record.occurred_at)))
            raw.append((record.line_no, record.raw, _plain(record.extra)))
            if len(rows) < CHUNK:
                continue
        else:
            errors.append(record)
            if len(errors) < CHUNK:
                continue
        yield Chunk(keys, rows, pack(raw) if raw else None, errors)
        keys, rows, raw, errors = [], [], [], []
    yield Chunk(keys, rows, pack(raw) if raw else None, errors)


class Parse:
    """The chunks of one file being imported and, once they are all read, its ``ending``.

    ``result`` is the file already opened (its format detected) with ``format`` and
    ``options``: it is read here, or closed and the file read again by a process.
    """

    def __init__(
        self,
        result: ParseResult,
        path: Path,
        format: str | None,
        options: dict[str, Any],
        *,
        import_id: int,
        sqlite: bool,
    ) -> None:
        self._result = result
        self._args = (str(path), format, options, import_id, sqlite)
        self.ending = Ending()
        self.parallel = _worth_a_process(path, options)

    def chunks(self) -> Generator[Chunk, None, None]:
        result = self._result
        if not self.parallel:
            with result:
                yield from chunks(result.records(), self._args[3], self._args[4])
                self.ending = Ending(result.checks, result.info, result.balanced)
            return
        result.close()
        yield from self._from_process()

    def _from_process(self) -> Generator[Chunk, None, None]:
        context = multiprocessing.get_context("spawn")
        inbox: Any = context.Queue(maxsize=AHEAD)
        worker = context.Process(
            target=_parse_and_send, args=(*self._args, inbox), name="counterfoil-parse", daemon=True
        )
        worker.start()
        try:
            while True:
                try:
                    kind, payload = inbox.get(timeout=1.0)
                except queue.Empty:
                    if not worker.is_alive():
                        raise RuntimeError(
                            f"the parsing process stopped (exit code {worker.exitcode})"
                        ) from None
                    continue
                if kind == "chunk":
                    yield payload
                elif kind == "end":
                    self.ending = payload
                    return
                else:
                    raise payload
        finally:
            if worker.is_alive():
                worker.terminate()
            worker.join()
            inbox.close()


def _worth_a_process(path: Path, options: dict[str, Any]) -> bool:
    forced = os.environ.get("COUNTERFOIL_PARSE_PROCESS")
    if forced in ("0", "1"):
        wanted = forced == "1"
    else:
        wanted = (os.cpu_count() or 1) > 1 and path.stat().st_size >= PARALLEL_BYTES
    # Options are sent to the process: only plain values travel (not an open RD file).
    plain = all(isinstance(v, str | int | Path) or v is None for v in options.values())
    return wanted and plain


def _parse_and_send(
    path: str, format: str | None, options: dict[str, Any], import_id: int, sqlite: bool, out: Any
) -> None:
    """The parsing process: every chunk, then the ending (or the error that stopped it)."""
    try:
        with open_statement(Path(path), format=format, **options) as result:
            for chunk in chunks(result.records(), import_id, sqlite):
                out.put(("chunk", chunk))
            out.put(("end", Ending(result.checks, result.info, result.balanced)))
    except Exception as error:  # sent to the importing process, which raises it
        out.put(("error", error))
    out.close()
    out.join_thread()
