"""Printing for the CLI: JSON for scripts, Rich tables for people, progress on a terminal
only, and the one place where errors become a one-line reason and an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from counterfoil.core import errors
from counterfoil.i18n import current_locale, translate

console = Console()
err_console = Console(stderr=True)

#: Exit codes, one per kind of failure.
EXIT_CODES: dict[type[errors.CounterfoilError], int] = {
    errors.ValidationError: 2,
    errors.CardDataRefused: 2,
    errors.NotFound: 3,
    errors.Conflict: 4,
    errors.RuleViolation: 4,
    errors.Unauthorised: 5,
    errors.Forbidden: 5,
    errors.IntegrityFailure: 6,
    errors.StoreUnavailable: 7,
}


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def print_json(document: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            document, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        ).decode()
    )
    sys.stdout.write("\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=translate(title, current_locale.get()))
    for column in columns:
        t.add_column(translate(column, current_locale.get()))
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    console.print(t)


def fail(exc: errors.CounterfoilError) -> NoReturn:
    code = next((c for kind, c in EXIT_CODES.items() if isinstance(exc, kind)), 1)
    err_console.print(f"[red]error:[/red] {exc.render(current_locale.get())}", highlight=False)
    raise typer.Exit(code)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so that Counterfoil's errors end it with a reason and an exit code."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.CounterfoilError as exc:
            fail(exc)

    return wrapper


@contextmanager
def progress(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; nothing when output goes to a pipe or file."""
    if not err_console.is_terminal:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task(translate(label, current_locale.get()), total=total)
        yield lambda n: bar.update(task, completed=n)
