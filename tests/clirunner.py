"""The command line run in process (typer's ``CliRunner``) on a test's store."""

import contextvars
from collections.abc import Callable

from click.testing import Result
from typer.testing import CliRunner

from counterfoil.cli.main import app
from counterfoil.config import Settings

Run = Callable[..., Result]


def invoker(settings: Settings) -> Run:
    """``counterfoil --lang LANG ARGS`` on ``settings``' store (English unless asked);
    ``input`` is what standard input holds."""
    runner = CliRunner()
    env = {
        "COUNTERFOIL_HOME": str(settings.home),
        "COUNTERFOIL_DATABASE_URL": settings.database_url,
    }

    def invoke(*args: str, lang: str = "en", input: str | None = None) -> Result:
        # The command sets the language for its context only; keep it from leaking out.
        return contextvars.copy_context().run(
            runner.invoke, app, ["--lang", lang, *args], input=input, env=env
        )

    return invoke
