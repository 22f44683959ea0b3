"""A parse that streams: lines are yielded, errors and control checks collect on the side.

Every parser is a generator of events — ``StatementLine``, ``LineError``,
``ControlCheck`` and ``Info`` (a fact about the file: its encoding, account, period) —
in file order. ``ParseResult`` wraps that generator: iterate it for the lines (or use
``records()`` for lines and rejected rows in file order); ``errors``, ``checks`` and
``info`` fill as the file is read, and the control checks are complete once the
iteration has ended (``finished``). Memory does not grow with the file: only the
rejected rows are kept.

A file that cannot be read at all raises a ``StatementFileError`` from the iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import NamedTuple

from counterfoil.importers.lines import ControlCheck, LineError, StatementLine


class Info(NamedTuple):
    """A fact about the file as a whole (``encoding``, ``account``, ``settle_date`` …)."""

    key: str
    value: str


Event = StatementLine | LineError | ControlCheck | Info


@dataclass
class ParsedFile:
    """A whole parse held in memory — for tests and small files; storage should stream."""

    source: str
    file: str
    lines: list[StatementLine]
    errors: list[LineError]
    checks: list[ControlCheck]
    info: dict[str, str] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)


class ParseResult:
    """The lines of one statement file, read lazily, once."""

    def __init__(
        self,
        source: str,
        file: str,
        events: Iterable[Event],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.file = file
        self.errors: list[LineError] = []
        self.checks: list[ControlCheck] = []
        self.info: dict[str, str] = {}
        self.line_count = 0  # exact when a rejected row is noted and when the parse ends
        self.finished = False
        self._events = iter(events)
        self._started = False
        self._on_close = on_close

    def __iter__(self) -> Iterator[StatementLine]:
        self._start()
        lines = 0
        try:
            for event in self._events:
                if type(event) is StatementLine:
                    lines += 1
                    yield event
                else:
                    self.line_count = lines
                    self._note(event)
            self.finished = True
        finally:
            self.line_count = lines
            self.close()

    def records(self) -> Iterator[StatementLine | LineError]:
        """Lines and rejected rows together, in file order."""
        self._start()
        try:
            for event in self._events:
                if isinstance(event, StatementLine):
                    self.line_count += 1
                    yield event
                else:
                    self._note(event)
                    if isinstance(event, LineError):
                        yield event
            self.finished = True
        finally:
            self.close()

    def _start(self) -> None:
        if self._started:
            raise RuntimeError("a ParseResult can be read only once")
        self._started = True

    def _note(self, event: Event) -> None:
        if isinstance(event, LineError):
            self.errors.append(event)
        elif isinstance(event, ControlCheck):
            self.checks.append(event)
        elif isinstance(event, Info):
            self.info[event.key] = event.value

    def read_all(self) -> ParsedFile:
        """Read everything into memory."""
        lines = list(self)
        return ParsedFile(self.source, self.file, lines, self.errors, self.checks, self.info)

    @property
    def balanced(self) -> bool:
        """Read to the end, no rejected row, and every control check agrees."""
        return self.finished and not self.errors and all(c.ok for c in self.checks)

    def also_close(self, close: Callable[[], None]) -> None:
        """Run ``close`` too when the parse is closed (after what was there)."""
        before = self._on_close

        def both() -> None:
            try:
                if before is not None:
                    before()
            finally:
                close()

        self._on_close = both

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()

    def __enter__(self) -> ParseResult:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
