"""A large WeChat trade bill or ZM file imported natively into a SQLite store.

Python parses a line in 13–26 µs and hands a value to SQLite in 0.2 µs: a million lines
took 30 s and more. Here DuckDB reads the file and SQLite writes the rows, and Python
only passes parts between them:

1. A thread cuts the file into parts of whole lines (``PART_BYTES``), writes each part
   to a scratch file and has DuckDB turn its lines into the rows of ``statement_lines``
   (``importers.native_*``: the SQL of each format), written by DuckDB's ``sqlite``
   extension into a staging SQLite file of the part's own. DuckDB has closed that file
   before it is handed on: two SQLite libraries in one process must never open the same
   file (their POSIX locks break each other), and the store is only ever opened by ours.
   The part's bytes, compressed (a zlib stream), become its raw-text blocks.
2. The import's write job, on the store's connection, attaches each staging file in
   turn and takes it a window of lines at a time (``WINDOW_LINES``): checks that DuckDB
   read exactly the window's lines; feeds the lines that are not clean to the format's
   Python (in file order: rejected rows, summary rows, lines with something to mask);
   finds overlaps and repeated keys; and copies the clean rows with one ``INSERT …
   SELECT``. The two cores work at once: DuckDB on the next part while SQLite writes
   this one.

Anything unexpected (a quote, a line ending DuckDB reads otherwise, an encoding error,
a missing extension) gives the file back to the Python parser, in the same transaction
(``NativeUnavailable``: the work done is rolled back to a savepoint).

Memory: a part grows with the file (there are at most ``MAX_PARTS``), so little is held
a part at a time: DuckDB reads a piece at a time and its joins while reading build on a
piece's keys, or on a range of a part's (``RANGE_KEYS``); Python holds a window's rows;
the keys of the whole file are in DuckDB's database file, which DuckDB keeps in memory
only up to ``MEMORY_LIMIT`` (past it, it evicts and spills to the scratch folder). The
peak still grows with the file, as what DuckDB must hold grows with a part
(docs/architecture.md says what was measured).

A killed import leaves its scratch folder; the next one removes it (``sweep_scratch``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, event

from counterfoil.importers import (
    LineError,
    StatementLine,
    native_wechat,
    native_zm,
    unionpay_zm,
    wechat_trade,
)
from counterfoil.importers.detect import _rd_beside
from counterfoil.importers.native import STAGED, NativeFormat
from counterfoil.importers.native import texts as lines_of
from counterfoil.importers.result import ParseResult
from counterfoil.services.statement_rows import DUPLICATE_OF, KEY_HASH, NATURAL_KEY, _plain
from counterfoil.store.statement_blocks import Rebuild, compress, pack_file_bytes

#: Bytes of the file in one part at least (whole lines). There are at most ``MAX_PARTS``
#: parts, each a staging file, as SQLite attaches at most 10 databases and a database
#: attached in a transaction stays attached until it ends: a large file has larger
#: parts. DuckDB reads a part a piece at a time (``PIECE_BYTES``), so that its memory
#: is that of a piece whatever the size of the file; Python reads ``READ_BYTES`` at a
#: time.
PART_BYTES: Final = 24 * 1024 * 1024
PIECE_BYTES: Final = 16 * 1024 * 1024
FIRST_PART_BYTES: Final = 4 * 1024 * 1024
READ_BYTES: Final = 4 * 1024 * 1024
MAX_PARTS: Final = 9
#: How the parts after the first share a large file: the second and the last two are
#: small, so that SQLite starts early and is little behind DuckDB when DuckDB is done.
#: DuckDB's two workers finish parts in pairs and SQLite stores them one after the
#: other: with parts of equal size, one core was idle for a second and more at the end.
PART_SHARES: Final = (1, 2, 3, 3, 3, 3, 1, 1)
#: Bytes of the file in one raw-text block (whole lines).
BLOCK_BYTES: Final = 512 * 1024
#: Lines of a part stored at a time, at least (whole raw-text blocks): the rows Python
#: makes of a window's lines are held until the window is stored.
WINDOW_LINES: Final = 8192
#: Files at least this large are read natively (below it, DuckDB's start costs more).
NATIVE_BYTES: Final = 8 * 1024 * 1024
#: DuckDB's CSV reader reads a piece this much at a time (its own default is 32 MB, for
#: lines of up to 2 MB: two workers held 60 MiB of it; a 1M ZM import peaked 90 MiB
#: lower with 4 MiB, a 10M one 127 MiB lower, in the same time).
CSV_BUFFER_BYTES: Final = 4 * 1024 * 1024
#: A line this long or longer is left to the Python parser.
LONGEST_LINE_BYTES: Final = 1024 * 1024
#: DuckDB's memory for an import; past it, it evicts its tables to the scratch folder.
#: At 128 MB a 10M-line ZM and a 10M WeChat import peaked at 479 and 472 MiB, as at 5M,
#: but a 20M WeChat import ran out at its sixth part (3.5M lines) and went to the Python
#: parser: what DuckDB must hold still grows with a part, and a part with the file. At
#: 256 MB the 20M import ran natively (222.6 s, peak 615 MiB).
MEMORY_LIMIT: Final = "256MB"
#: Keys of a part joined with the earlier parts' at a time (``Parts.repeated``): a
#: 10M-line file's parts have 1.76M; the join of a whole part ran DuckDB out of 128 MB.
RANGE_KEYS: Final = 262_144
#: Parts DuckDB may have ready (or be reading) before SQLite has taken them.
AHEAD: Final = 2
#: Parts DuckDB reads at once, each on a connection and a thread of its own: a part is
#: one of DuckDB's row groups, which it reads on one thread.
WORKERS: Final = 2
#: How much less priority the DuckDB and cutting threads have than the importing one.
NICER: Final = 5
#: The store connection's page cache while it copies (negative: KiB, as SQLite has it):
#: a million WeChat rows took 9.5 s with 16 MiB, 8.2 s with 32 MiB, 8.4-8.8 s with 64.
CACHE_KIB: Final = -32768
#: An attached staging file's page cache (KiB, negative as SQLite has it): it is read a
#: window at a time, in order, and as many as ``MAX_PARTS`` are attached at once.
STAGING_CACHE_KIB: Final = -1024

#: The staged columns copied to the staging file (the checks and totals stay in DuckDB).
STORED: Final = tuple(c for c in STAGED if c not in ("chars", "t1", "t2", "t3", "t4", "t5", "t6"))

REBUILD: Final[dict[str, Rebuild]] = {
    wechat_trade.SOURCE: native_wechat.rebuild,
    unionpay_zm.SOURCE: native_zm.rebuild,
}


log = logging.getLogger(__name__)


class NativeUnavailable(Exception):
    """The file cannot be read natively after all: the Python parser reads it."""


#: A raw-text block of a part: (first line, last line, offset, length) in its blocks file.
Block = tuple[int, int, int, int]


@dataclass(slots=True)
class Piece:
    """Whole lines of a part, in a scratch file DuckDB reads at once (``PIECE_BYTES``)."""

    text: Path
    size: int
    first_line: int
    lines: int
    uniform: bool  # every line of the same layout (``NativeFormat.uniform``)


@dataclass(slots=True)
class Part:
    """Consecutive lines of the file whose rows are in one staging file."""

    number: int
    size: int
    first_line: int
    lines: int
    staging: Path
    blocks_file: Path
    #: the part's raw-text blocks, kept compressed in ``blocks_file`` until they are stored
    blocks: list[Block] = field(default_factory=list)
    pieces: list[Piece] = field(default_factory=list)
    #: the last clean line
    last_clean: int | None = None
    #: the merchants of the clean rows (None: a row without one)
    merchants: set[str | None] = field(default_factory=set)
    #: the format's ``TOTALS`` over the clean rows
    totals: tuple[Any, ...] = ()


def wanted(path: Path, options: dict[str, Any], sqlite: bool) -> bool:
    forced = os.environ.get("COUNTERFOIL_NATIVE_IMPORT")
    if forced in ("0", "1"):
        return forced == "1" and sqlite and not options
    return sqlite and not options and path.stat().st_size >= NATIVE_BYTES


def plan(result: ParseResult, path: Path) -> NativeFormat | None:
    """The native reading of the file ``result`` detected, if its format has one."""
    if _duckdb_sqlite() is None or not _ends_line(path):
        return None
    if result.source == wechat_trade.SOURCE:
        return native_wechat.plan(path, path.name)
    if result.source == unionpay_zm.SOURCE:
        return native_zm.plan(path, path.name, _rd_beside(path))
    return None


def _ends_line(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _duckdb_sqlite() -> Path | None:
    try:
        from counterfoil.reconcile.engines.duckdb_engine import sqlite_extension
    except ImportError:  # pragma: no cover - DuckDB is a dependency
        return None
    return sqlite_extension()


# --- the scratch folder ------------------------------------------------------------------

#: An import's scratch folder in the temporary directory: its parts, staging files and
#: DuckDB database, gigabytes for a large file.
SCRATCH_PREFIX: Final = "counterfoil-import-"
#: The file in a scratch folder its import holds locked while it runs.
OWNER: Final = "owner.lock"
#: A scratch folder without an owner file is left alone this long (it may be one an
#: import is making at this moment).
UNOWNED_GRACE_SECONDS: Final = 3600


def _hold(scratch: Path) -> Any:
    """Lock the owner file of a new scratch folder for as long as its import runs: the
    lock goes with the process, however it ends (None where there are no such locks)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return None
    # locked before it has its name, so that no sweep finds it unlocked
    making = scratch / f"{OWNER}.new"
    handle = making.open("wb")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    making.rename(scratch / OWNER)
    return handle


def sweep_scratch(folder: Path | None = None) -> list[Path]:
    """Remove the scratch folders of imports that stopped without cleaning up (killed,
    or the machine lost power): those whose owner file no process holds. Returns them."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return []
    import time

    removed: list[Path] = []
    for scratch in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        try:
            owner = (scratch / OWNER).open("rb")
        except FileNotFoundError:
            with contextlib.suppress(OSError):
                if time.time() - scratch.stat().st_mtime > UNOWNED_GRACE_SECONDS:
                    shutil.rmtree(scratch, ignore_errors=True)
                    removed.append(scratch)
            continue
        except OSError:  # another user's, or not a folder
            continue
        with owner:
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # an import running now
                continue
            shutil.rmtree(scratch, ignore_errors=True)
            removed.append(scratch)
    if removed:
        log.info("removed %d scratch folders of imports that stopped", len(removed))
    return removed


# --- the parts: DuckDB, on a thread of its own -----------------------------------------


class Parts:
    """The parts of the file, made by a thread while they are taken (``__iter__``)."""

    def __init__(self, native: NativeFormat, path: Path) -> None:
        self.native = native
        self.path = path
        sweep_scratch()
        self.scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
        self._owner = _hold(self.scratch)
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            WORKERS, thread_name_prefix="counterfoil-duckdb", initializer=_yield_to_sqlite
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._db: Any = None
        self._thread = threading.Thread(target=self._run, name="counterfoil-native", daemon=True)
        self._thread.start()

    def __iter__(self) -> Iterator[Part]:
        while True:
            kind, payload = self._queue.get()
            if kind == "part":
                try:
                    yield payload.result()
                except NativeUnavailable:
                    raise
                except Exception as error:  # DuckDB could not read it: Python will
                    raise NativeUnavailable(str(error)) from error
            elif kind == "end":
                return
            else:
                raise NativeUnavailable(str(payload)) from payload

    def close(self) -> None:
        """Stop making parts and remove the scratch files (after the store's commit or
        rollback: a staging file stays attached until the transaction ends)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                kind, payload = self._queue.get(timeout=0.05)
                if kind == "part":
                    payload.cancel()
            except queue.Empty:
                pass
        self._pool.shutdown(wait=True, cancel_futures=True)
        for con in self._connections:
            con.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self._owner is not None:
            self._owner.close()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        _yield_to_sqlite()
        try:
            for part in self._cut():
                if not self._put(("part", self._pool.submit(self._staged, part))):
                    return
            self._put(("end", None))
        except Exception as error:  # the importing thread raises it
            self._put(("error", error))

    def _database(self) -> Any:
        """The import's DuckDB database: each worker reads on a cursor of its own; the
        parts' keys are kept in it (``keys_N``) for ``repeated``. It is a file in the
        scratch folder, not in memory: DuckDB can evict a file's tables when it needs
        the memory, but not an in-memory database's (a 3,000,000-line ZM file ran out
        at a 96 MiB limit in memory)."""
        with self._lock:
            if self._db is None:
                import duckdb

                extension = _duckdb_sqlite()
                if extension is None:
                    raise NativeUnavailable("DuckDB's sqlite extension is not installed")
                db = duckdb.connect(
                    str(self.scratch / "import.duckdb"),
                    config={
                        "threads": 1,  # each query on the worker's own thread
                        "memory_limit": MEMORY_LIMIT,  # past it, DuckDB spills
                        "temp_directory": str(self.scratch / "spill"),
                        "autoinstall_known_extensions": False,
                        "autoload_known_extensions": False,
                    },
                )
                db.execute(f"LOAD '{_literal(extension.as_posix())}'")
                self._db = db
                self._connections.append(db)
            return self._db

    def _connection(self) -> Any:
        """This thread's cursor on the import's DuckDB database."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._database().cursor()
            self._local.con = con
            with self._lock:
                self._connections.insert(0, con)
        return con

    def repeated(self, part: Part, fed: list[int]) -> list[int]:
        """The key hashes of ``part``'s clean rows that a row of an earlier part has (a
        file's own repeats across parts); ``fed``: the keys of the rows the format's
        Python made in the part before, kept with the others. The join builds on the
        part's keys (the smaller side) and reads the earlier keys past them, a range of
        the hashes at a time (``RANGE_KEYS``), so that what it holds does not grow with
        the part; a database out of memory gives the file back to the Python parser."""
        import duckdb

        try:
            con = self._connection()
            con.execute("CREATE TABLE IF NOT EXISTS fed_keys (key_hash BIGINT)")
            if fed:
                # written out, not bound: DuckDB's first list parameter imports pandas,
                # half a second on the thread the import waits for
                numbers = ",".join(str(int(h)) for h in fed)
                con.execute(f"INSERT INTO fed_keys SELECT unnest([{numbers}]::BIGINT[])")
            if part.number == 0:
                return []
            (count,) = con.execute(f"SELECT count(*) FROM keys_{part.number}").fetchone()  # noqa: S608
            ranges = 1  # a power of two: a range is the hashes with the same low bits
            while count > ranges * RANGE_KEYS:
                ranges *= 2
            found: list[int] = []
            for low in range(ranges):
                where = f"(key_hash & {ranges - 1}) = {low}"
                tables = ["fed_keys", *(f"keys_{n}" for n in range(part.number))]
                earlier = " UNION ALL ".join(
                    f"SELECT key_hash FROM {table} WHERE {where}"  # noqa: S608
                    for table in tables
                )
                rows = con.execute(
                    "SELECT DISTINCT k.key_hash FROM (SELECT key_hash "  # noqa: S608
                    f"FROM keys_{part.number} WHERE {where}) k "
                    f"JOIN ({earlier}) e ON e.key_hash = k.key_hash"
                )
                found += [int(h) for (h,) in rows.fetchall()]
            return found
        except duckdb.Error as error:
            raise NativeUnavailable(str(error)) from error

    def _staged(self, part: Part) -> Part:
        """A worker: the part's pieces through DuckDB into the part's staging file."""
        con = self._connection()
        con.execute("CREATE OR REPLACE TEMP TABLE part_keys (key_hash BIGINT, line_no BIGINT)")
        con.execute(f"CREATE TABLE keys_{part.number} (key_hash BIGINT)")
        staged = f"staged_{part.number}"  # attached to the database every cursor shares
        con.execute(f"ATTACH '{_literal(part.staging.as_posix())}' AS {staged} (TYPE sqlite)")
        try:
            con.execute(f"CREATE TABLE {staged}.earlier (line_no BIGINT)")
            for number, piece in enumerate(part.pieces):
                self._stage(con, piece, part, staged, first=number == 0)
                piece.text.unlink()
        finally:
            con.execute(f"DETACH {staged}")
        return part

    def _cut(self) -> Iterator[Part]:
        """The file in parts of whole lines, each part in pieces written to scratch files
        (the format's ``uniform`` form where it has one), its raw-text blocks made."""
        native = self.native
        size = self.path.stat().st_size
        left = size - native.start  # bytes not yet in a part
        with self.path.open("rb") as handle:
            handle.seek(native.start)
            chunks = self._chunks(handle)
            line, number = native.first_line, 0
            waiting: bytes | None = None  # a chunk read that begins the next piece
            while not self._stop.is_set():
                part = Part(
                    number,
                    0,
                    line,
                    0,
                    self.scratch / f"part-{number}.db",
                    self.scratch / f"part-{number}.blocks",
                )
                with part.blocks_file.open("wb") as blocks:  # closed if the cutting stops
                    # The first part is small, so that SQLite starts early; the others share
                    # what is left of the file (``PART_SHARES``).
                    shares = PART_SHARES[min(number, MAX_PARTS - 1) - 1 :]
                    target = (
                        FIRST_PART_BYTES
                        if number == 0
                        else max(PART_BYTES, -(-left * shares[0] // sum(shares)))
                    )
                    while part.size < target:
                        name = f"piece-{number}-{len(part.pieces)}.txt"
                        piece = Piece(self.scratch / name, 0, line + part.lines, 0, False)
                        uniform: bool | None = None
                        written = 0
                        with piece.text.open("wb") as out:
                            while written < PIECE_BYTES and part.size < target:
                                chunk = waiting if waiting is not None else next(chunks, None)
                                waiting = None
                                if chunk is None:
                                    break
                                data = native.uniform(chunk)
                                if uniform is None:
                                    uniform = data is not None
                                elif uniform != (data is not None):
                                    waiting = chunk
                                    break
                                out.write(chunk if data is None else data)
                                made = _blocks(chunk, line + part.lines, blocks)
                                lines = made[-1][1] - made[0][0] + 1  # counted once, there
                                part.blocks += made
                                part.size += len(chunk)
                                part.lines += lines
                                piece.lines += lines
                                piece.size += len(chunk)
                                written += len(chunk)
                        if written == 0:
                            piece.text.unlink()
                            break
                        piece.uniform = bool(uniform)
                        part.pieces.append(piece)
                if part.size == 0:
                    return
                if number >= MAX_PARTS:
                    raise NativeUnavailable("more parts than SQLite can attach")
                yield part
                line += part.lines
                left -= part.size
                number += 1

    def _chunks(self, handle: Any) -> Iterator[bytes]:
        """The file from the parts' start in reads of whole lines. The reads go into one
        buffer, the part line of each kept at its start for the next: one large block
        made a chunk (its bytes), not three (a read, the part line joined to it, the
        cut), so that large blocks can go straight back to the system without costing
        time (bench/README.md, "A fixed mmap threshold")."""
        buffer = bytearray(2 * READ_BYTES)
        kept = 0  # the part line at the buffer's start
        with memoryview(buffer) as view:
            while True:
                end = kept + handle.readinto(view[kept : kept + READ_BYTES])
                if end == 0:
                    return
                cut = buffer.rfind(b"\n", 0, end) + 1
                if cut == 0:
                    raise NativeUnavailable("a line longer than a read")
                chunk = bytes(view[:cut])
                kept = end - cut
                buffer[:kept] = buffer[cut:end]
                self._check_endings(chunk)
                yield chunk

    def _check_endings(self, chunk: bytes) -> None:
        # A file of CRLF lines is read by DuckDB told so: in its strict mode a line that
        # ends otherwise, or a carriage return inside a line, stops the piece, which
        # gives the file to Python, or (a bare LF between cells) is read as Python reads
        # it; tests compare each case with the parser's rows. Counting the pairs here
        # cost the cutting thread half a second a 600 MB file.
        if not self.native.crlf and b"\r" in chunk:
            raise NativeUnavailable("a carriage return in a file of LF lines")

    def _stage(self, con: Any, piece: Piece, part: Part, staged: str, first: bool) -> None:
        """DuckDB reads a piece's lines: its checks and totals are added to ``part``'s,
        its rows written to ``lines`` of the part's staging file. Each step is a table
        of its own (the lines, their cells, the rows), so that DuckDB cuts a cell once.
        ``repeats`` marks the rows whose key another clean row of the part has; a row
        of an earlier piece whose key comes again goes to ``earlier``."""
        native = self.native
        newline = "\\r\\n" if native.crlf else "\\n"
        source = _literal(piece.text.as_posix())
        # a piece has the file's own bytes: DuckDB decodes a one-byte-a-character codec
        # itself (in Python, a ZM file's took a second of the cutting thread per 600 MB)
        options = ", encoding='latin-1'" if native.codec == "latin-1" else ""
        # buffer_size is at least max_line_size; a longer line stops DuckDB (Python reads it)
        options += f", buffer_size={CSV_BUFFER_BYTES}, max_line_size={LONGEST_LINE_BYTES}"
        if piece.uniform:
            delimiter, width = native.uniform_columns
            columns = ", ".join(f"'f{i}': 'VARCHAR'" for i in range(1, width + 1))
            reader = (
                f"read_csv('{source}', delim='{delimiter}', quote='', escape='', "
                f"header=false, auto_detect=false, columns={{{columns}}}, "
                f"new_line='{newline}'{options})"
            )
            cells = native.uniform_cells(reader, piece.first_line)
        else:
            # One column a line: "\\x01" (four characters) is a delimiter no line has.
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE texts AS SELECT t FROM read_csv('{source}', "  # noqa: S608
                f"delim='\\x01', quote='', escape='', header=false, auto_detect=false, "
                f"columns={{'t': 'VARCHAR'}}, new_line='{newline}'{options})"
            )
            cells = native.cells(f"(SELECT rowid + {piece.first_line} AS line_no, t FROM texts)")  # noqa: S608
        con.execute(f"CREATE OR REPLACE TEMP TABLE cells AS {cells}")
        con.execute(f"CREATE OR REPLACE TEMP TABLE part AS {native.select('cells')}")
        refuse = "false" if piece.uniform else native.REFUSE
        count, chars, refused, longest = con.execute(
            f"SELECT count(*), coalesce(sum(chars), 0), count(*) FILTER (WHERE {refuse}), "  # noqa: S608
            "coalesce(max(chars), 0) FROM cells"
        ).fetchone()
        ending = 2 if native.crlf else 1
        if count != piece.lines or (
            not piece.uniform and chars != piece.size - ending * piece.lines
        ):
            raise NativeUnavailable("DuckDB did not read the lines as Python does")
        if refused:
            raise NativeUnavailable("a line the format reads only in Python (a quote)")
        if longest >= LONGEST_LINE_BYTES:
            raise NativeUnavailable("a line of a megabyte or more")
        (last_clean,) = con.execute("SELECT max(line_no) FROM part WHERE clean = 1").fetchone()
        if last_clean is not None:
            part.last_clean = last_clean
        totals = con.execute(f"SELECT {native.TOTALS} FROM part WHERE clean = 1").fetchone()  # noqa: S608
        part.totals = tuple(
            int(a or 0) + int(b or 0)
            for a, b in zip(part.totals or (0,) * len(totals), totals, strict=True)
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE piece_keys AS SELECT key_hash, min(line_no) AS "
            "line_no, count(*) AS n FROM part WHERE clean = 1 GROUP BY key_hash"
        )
        # The piece's keys an earlier piece of the part has, and that piece's line: the
        # join builds on the piece's keys, so that memory is that of a piece.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE seen AS SELECT p.key_hash, k.line_no "
            "FROM piece_keys p JOIN part_keys k ON k.key_hash = p.key_hash"
        )
        con.execute(f"INSERT INTO {staged}.earlier SELECT line_no FROM seen")  # noqa: S608
        stored = ", ".join(STORED)
        rows = (
            f"SELECT {stored}, clean = 1 AND key_hash IN (SELECT key_hash FROM piece_keys "  # noqa: S608
            "WHERE n > 1 UNION ALL SELECT key_hash FROM seen) AS repeats "
            "FROM part ORDER BY line_no"
        )
        if first:
            con.execute(f"CREATE TABLE {staged}.lines AS {rows}")
        else:
            con.execute(f"INSERT INTO {staged}.lines {rows}")
        con.execute(f"INSERT INTO keys_{part.number} SELECT key_hash FROM piece_keys")  # noqa: S608
        part.merchants |= {
            m
            for (m,) in con.execute(
                "SELECT DISTINCT merchant_no FROM part WHERE clean = 1"
            ).fetchall()
        }
        con.execute(
            "INSERT INTO part_keys SELECT key_hash, line_no FROM piece_keys "
            "WHERE key_hash NOT IN (SELECT key_hash FROM seen)"
        )
        con.execute(
            "DROP TABLE IF EXISTS texts; DROP TABLE cells; DROP TABLE part; "
            "DROP TABLE piece_keys; DROP TABLE seen"
        )


def _yield_to_sqlite() -> None:
    """Lower this thread's priority: the thread that copies into SQLite is the one the
    import waits for at the end; DuckDB's and the cutter's work can wait for a core."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: all threads equal
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICER)


def _blocks(chunk: bytes, first_line: int, out: Any) -> list[Block]:
    """Whole lines as blocks of their bytes, zlib-compressed into ``out``: (first line,
    last line, offset, length) of each."""
    blocks = []
    start, line = 0, first_line
    while start < len(chunk):
        end = chunk.find(b"\n", start + BLOCK_BYTES) + 1 or len(chunk)
        count = chunk.count(b"\n", start, end)
        compressed = compress(chunk[start:end])
        blocks.append((line, line + count - 1, out.tell(), len(compressed)))
        out.write(compressed)
        start, line = end, line + count
    return blocks


def _literal(text: str) -> str:
    return text.replace("'", "''")


# --- the store: SQLite, in the import's transaction -----------------------------------


@dataclass(slots=True)
class Outcome:
    """What the native import stored."""

    lines: int = 0
    overlapping: int = 0
    errors: list[LineError] = field(default_factory=list)
    rejected: int = 0


class Sink:
    """How the store takes what Python made (the services' own inserts)."""

    def __init__(
        self,
        rows: Callable[[list[StatementLine]], list[tuple[Any, ...]]],
        insert: Callable[[list[tuple[Any, ...]]], None],
        overlaps: Callable[[list[str]], dict[str, str]],
        rejects: Callable[[list[LineError]], None],
    ) -> None:
        self.rows = rows
        self.insert = insert
        self.overlaps = overlaps
        self.rejects = rejects


INSERT_FROM_STAGED: Final = """
INSERT INTO statement_lines (import_id, line_no, source, occurred_at, amount, currency,
    txn_type, status, rrn, trace_no, terminal_id, merchant_no, order_no, platform_id,
    refund_id, fee, net, card_masked, card_last4, counterparty, description, natural_key,
    key_hash, duplicate_of)
SELECT ?, s.line_no, ?, s.occurred_at, s.amount, 'CNY', s.txn_type, s.status, s.rrn,
    s.trace_no, s.terminal_id, s.merchant_no, s.order_no, s.platform_id, s.refund_id, s.fee,
    s.net, s.card_masked, s.card_last4, s.counterparty, s.description, s.natural_key,
    s.key_hash, {first}
FROM {alias}.lines s {join}
WHERE s.rowid BETWEEN ? AND ? AND s.clean = 1
"""
#: ``duplicate_of`` of the rows an earlier line has the key of (``_mark_firsts``).
FIRSTS: Final = ("d.first", "LEFT JOIN temp.native_firsts d ON d.line_no = s.line_no")


#: The connection record's list of the staging files attached to it: SQLite detaches
#: a database only outside a transaction, so they are detached when the connection goes
#: back to the pool, after the import's commit or rollback.
ATTACHED: Final = "counterfoil_attached"


def _detach(dbapi_connection: Any, record: Any) -> None:
    for alias in record.info.pop(ATTACHED, ()):
        # a connection that cannot detach (being closed) needs nothing more
        with contextlib.suppress(Exception):
            dbapi_connection.execute(f"DETACH {alias}")


def _detach_on_checkin(engine: Engine) -> None:
    if not event.contains(engine, "checkin", _detach):
        event.listen(engine, "checkin", _detach)


def store_parts(
    conn: Connection,
    native: NativeFormat,
    parts: Parts,
    import_id: int,
    sink: Sink,
    progress: Callable[[int], None] | None,
) -> Outcome:
    """Every part into the store, in the caller's transaction."""
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS native_firsts (line_no INTEGER PRIMARY KEY, first TEXT)"
    )
    # the keys an earlier line of the file may have (``_store_part``)
    conn.exec_driver_sql(
        "CREATE TEMP TABLE IF NOT EXISTS native_known (key_hash INTEGER PRIMARY KEY)"
    )
    _detach_on_checkin(conn.engine)
    # A million lines' indexes and keys are ~90 MiB: with SQLite's default 2 MiB of page
    # cache each row's index entries were page reads; the writer thread has 64 MiB.
    (cache,) = conn.exec_driver_sql("PRAGMA cache_size").one()
    conn.exec_driver_sql(f"PRAGMA cache_size={min(int(cache), CACHE_KIB)}")
    try:
        return _store_all(conn, native, parts, import_id, sink, progress)
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(cache)}")


def _store_all(
    conn: Connection,
    native: NativeFormat,
    parts: Parts,
    import_id: int,
    sink: Sink,
    progress: Callable[[int], None] | None,
) -> Outcome:
    outcome = Outcome()
    # Whether a merchant's lines were stored before this import: if none were, a clean
    # row's key can only be an earlier line of this file (its parts' keys are compared
    # in DuckDB, ``Parts.repeated``), and the store's index need not be asked row by row.
    stored_before: dict[str | None, bool] = {}
    fed_hashes: list[int] = []  # the keys of the rows Python made in the part before
    attached = conn.connection.info.setdefault(ATTACHED, [])
    done = 0
    for part in parts:
        alias = f"counterfoil_staged{part.number}"
        conn.exec_driver_sql(f"ATTACH ? AS {alias}", (str(part.staging),))
        attached.append(alias)
        # read a window at a time, in order: the part needs little cache of its own
        conn.exec_driver_sql(f"PRAGMA {alias}.cache_size={STAGING_CACHE_KIB}")
        for merchant in part.merchants - stored_before.keys():
            stored_before[merchant] = _has_lines(conn, merchant)
        probe = any(stored_before[m] for m in part.merchants)
        repeated = parts.repeated(part, fed_hashes)
        fed_hashes.clear()
        _store_part(
            conn, native, part, alias, import_id, sink, outcome, probe, repeated, fed_hashes
        )
        done += part.lines
        if progress:
            progress(done)
    return outcome


def _store_part(
    conn: Connection,
    native: NativeFormat,
    part: Part,
    alias: str,
    import_id: int,
    sink: Sink,
    outcome: Outcome,
    probe: bool,
    repeated: list[int],
    fed_hashes: list[int],
) -> None:
    """The part's lines a window at a time (``WINDOW_LINES``), in file order: what
    Python makes of a window's lines is all it holds at once, however large the part."""
    (rows,) = conn.exec_driver_sql(f"SELECT max(rowid) FROM {alias}.lines").one()  # noqa: S608
    if rows != part.lines:
        raise NativeUnavailable("the staging file does not have a row for each line")
    # The keys a clean row's earlier line may have: repeated from an earlier part, or a
    # row Python made in this part (in an earlier window, or in this one).
    conn.exec_driver_sql("DELETE FROM temp.native_known")
    _know(conn, repeated)
    # The part's keys, as one sorted run (a look-up joins a key to a line already stored,
    # so that a key stored before its line is not found before it)
    conn.exec_driver_sql(
        "INSERT INTO statement_keys (key_hash, import_id, line_no) "  # noqa: S608
        f"SELECT key_hash, ?, line_no FROM {alias}.lines WHERE clean = 1 "
        "ORDER BY key_hash, line_no",
        (import_id,),
    )
    last = part.first_line - 1
    for window in _windows(part.blocks):
        first_line, last_line = window[0][0], window[-1][1]
        rowids = (first_line - part.first_line + 1, last_line - part.first_line + 1)
        at: dict[int, int] = dict(
            conn.exec_driver_sql(
                f"SELECT rowid, line_no FROM {alias}.lines WHERE rowid IN (?, ?)",  # noqa: S608
                rowids,
            ).all()
        )
        if (at.get(rowids[0]), at.get(rowids[1])) != (first_line, last_line):
            raise NativeUnavailable("the staging file's rows are not in the file's order")
        fed_lines: list[StatementLine] = []
        fed_numbers: set[int] = set()
        errors_before = len(outcome.errors)
        pending = conn.exec_driver_sql(
            f"SELECT line_no, raw FROM {alias}.lines "  # noqa: S608
            "WHERE rowid BETWEEN ? AND ? AND clean = 0 ORDER BY rowid",
            rowids,
        ).all()
        for line_no, raw in _with_texts(part, window, native, list(pending)):
            if line_no > last + 1:
                native.clean_lines_between()
            _feed(native, line_no, raw, fed_lines, fed_numbers, outcome)
            last = line_no
        if len(outcome.errors) > errors_before:
            sink.rejects(outcome.errors[errors_before:])
        made = sink.rows(fed_lines)
        hashes = [row[KEY_HASH] for row in made]
        _know(conn, hashes)
        fed_hashes += hashes
        overlapping, marked = _mark_firsts(conn, alias, import_id, made, sink, probe, rowids)
        outcome.overlapping += overlapping
        first, join = FIRSTS if marked else ("NULL", "")  # most windows: no join
        inserted = conn.exec_driver_sql(
            INSERT_FROM_STAGED.format(alias=alias, first=first, join=join),
            (import_id, native.source, *rowids),
        ).rowcount
        if made:
            sink.insert(made)
        outcome.lines += int(inserted) + len(made)
        if marked:
            conn.exec_driver_sql("DELETE FROM temp.native_firsts")
        _store_blocks(conn, native, part, window, import_id, fed_numbers, fed_lines)
    after = native.python_from
    if after is not None and part.last_clean is not None and part.last_clean > after:
        raise NativeUnavailable("a data row after the summary rows")
    native.add(tuple(part.totals))


def _windows(blocks: list[Block]) -> Iterator[list[Block]]:
    """The part's raw-text blocks in runs of at least ``WINDOW_LINES`` lines."""
    window: list[Block] = []
    for block in blocks:
        window.append(block)
        if window[-1][1] - window[0][0] + 1 >= WINDOW_LINES:
            yield window
            window = []
    if window:
        yield window


def _know(conn: Connection, hashes: list[int]) -> None:
    """Add ``hashes`` to the keys an earlier line of the part may have."""
    if hashes:
        conn.exec_driver_sql(
            "INSERT OR IGNORE INTO temp.native_known (key_hash) VALUES (?)",
            [(h,) for h in hashes],
        )


def _has_lines(conn: Connection, merchant: str | None) -> bool:
    """Whether the store has statement lines of ``merchant`` (None: of no merchant)."""
    where = "merchant_no IS NULL" if merchant is None else "merchant_no = ?"
    found = conn.exec_driver_sql(
        f"SELECT EXISTS (SELECT 1 FROM statement_lines WHERE {where})",  # noqa: S608
        () if merchant is None else (merchant,),
    ).scalar()
    return bool(found)


def _with_texts(
    part: Part, window: list[Block], native: NativeFormat, pending: list[Any]
) -> list[tuple[int, str]]:
    """The lines to feed with their text: a uniform piece's is read from the window's
    raw-text blocks."""
    missing = {int(n) for n, raw in pending if raw is None}
    texts: dict[int, str] = {}
    if missing:
        with part.blocks_file.open("rb") as blocks:
            for first, last, offset, length in window:
                if any(first <= n <= last for n in missing):
                    blocks.seek(offset)
                    data = zlib.decompress(blocks.read(length))
                    for n, text in lines_of(data, first, native.codec):
                        if n in missing:
                            texts[n] = text
    return [(int(n), raw if raw is not None else texts[int(n)]) for n, raw in pending]


def _feed(
    native: NativeFormat,
    line_no: int,
    text: str,
    lines: list[StatementLine],
    numbers: set[int],
    outcome: Outcome,
) -> None:
    fed = native.feed(line_no, text)
    numbers.add(line_no)
    lines += fed.lines
    if fed.errors:
        outcome.errors += fed.errors
        outcome.rejected += len(fed.errors)


def _mark_firsts(
    conn: Connection,
    alias: str,
    import_id: int,
    rows: list[tuple[Any, ...]],
    sink: Sink,
    probe: bool,
    rowids: tuple[int, int],
) -> tuple[int, bool]:
    """``duplicate_of`` of the window's lines (``rowids`` of the part's) whose natural
    key an earlier line has (an earlier file's, or this one's), as ``_mark_overlaps``
    sets it: the clean rows' go to ``temp.native_firsts``, the Python rows' are set in
    place. How many were, and whether a clean row was. The clean rows asked about are
    those a later piece repeats, those a Python row or an earlier part has the key of
    (``temp.native_known``) and, if the store had lines of the merchant before, those
    an earlier import has the key of."""
    candidates: list[Any] = list(
        conn.exec_driver_sql(
            f"SELECT line_no, natural_key FROM {alias}.lines s "  # noqa: S608
            "WHERE s.rowid BETWEEN ? AND ? AND clean = 1 AND (repeats "
            f"OR line_no IN (SELECT line_no FROM {alias}.earlier) "
            "OR key_hash IN (SELECT key_hash FROM temp.native_known)"
            + (
                " OR EXISTS (SELECT 1 FROM main.statement_keys k WHERE k.key_hash = s.key_hash "
                "AND k.import_id < ?)"
                if probe
                else ""
            )
            + ")",
            (*rowids, import_id) if probe else rowids,
        ).fetchall()
    )
    if not candidates and not rows:
        return 0, False
    # Every line involved, in file order: (line_no, key, index of a Python row or -1).
    involved = {int(n): (int(n), str(key), -1) for n, key in candidates}
    for index, row in enumerate(rows):
        involved[row[1]] = (row[1], row[NATURAL_KEY], index)
    ordered = sorted(involved.values())
    first = sink.overlaps([key for _n, key, _i in ordered])
    marked: list[tuple[int, str]] = []
    overlapping = 0
    for n, key, index in ordered:
        seen = first.get(key)
        if seen is None:
            first[key] = f"{import_id}:{n}"
            continue
        overlapping += 1
        if index < 0:
            marked.append((n, seen))
        else:
            row = rows[index]
            rows[index] = (*row[:DUPLICATE_OF], seen, *row[DUPLICATE_OF + 1 :])
    if marked:
        conn.exec_driver_sql(
            "INSERT INTO temp.native_firsts (line_no, first) VALUES (?, ?)", marked
        )
    return overlapping, bool(marked)


def _store_blocks(
    conn: Connection,
    native: NativeFormat,
    part: Part,
    window: list[Block],
    import_id: int,
    fed: set[int],
    lines: list[StatementLine],
) -> None:
    """The window's raw-text blocks: the file's bytes, with the lines fed to Python that
    are not lines skipped and those that are given as Python made them."""
    own = {line.line_no: (line.raw, _plain(line.extra)) for line in lines}
    with part.blocks_file.open("rb") as blocks:
        for start in range(0, len(window), 64):
            values = []
            for first, last, offset, length in window[start : start + 64]:
                blocks.seek(offset)
                compressed = blocks.read(length)
                skip = sorted(n for n in fed if first <= n <= last and n not in own)
                mine = [[n, *own[n]] for n in sorted(own) if first <= n <= last]
                header = {**native.block_header, "first": first, "skip": skip, "own": mine}
                values.append((import_id, first, last, pack_file_bytes(header, compressed)))
            conn.exec_driver_sql(
                "INSERT INTO statement_raw (import_id, first_line, last_line, lines) "
                "VALUES (?, ?, ?, ?)",
                values,
            )
