"""Errors that stop the reading of a whole statement file.

A bad *row* is never an exception: it becomes a ``LineError`` value and the parse goes
on. These are for the file as a whole — it is not the format that was asked for, it is
not text in any encoding we read, it is XML that declares entities, or the mapping
profile that describes it is wrong. Each names what was expected and where.
"""

from __future__ import annotations

from typing import Any

from counterfoil.core.errors import CounterfoilError, ValidationError
from counterfoil.i18n import _, translate


class StatementFileError(CounterfoilError):
    """The file cannot be read as a statement at all."""

    code = "statement_file"
    status = 422

    def __init__(self, file: str, message: str, /, **params: Any) -> None:
        self.file = file
        super().__init__(message, file=file, **params)


class FormatMismatch(StatementFileError):
    """The file is not in the format that was asked for (or in none we know)."""

    code = "wrong_format"

    def __init__(self, file: str, expected: str, message: str, /, **params: Any) -> None:
        self.expected = expected
        super().__init__(file, message, expected=expected, **params)


class UndecodableFile(StatementFileError):
    """A byte that no supported encoding (UTF-8, GB18030) can read, at a known place."""

    code = "undecodable"

    def __init__(
        self, file: str, message: str, /, *, offset: int, line: int, **params: Any
    ) -> None:
        self.offset = offset
        self.line = line
        super().__init__(file, message, offset=offset, line=line, **params)


class RefusedFile(StatementFileError):
    """The file is refused for safety: an XML DOCTYPE/entity, a zip that is too large."""

    code = "refused_file"


class ProfileError(ValidationError):
    """A CSV/XLSX mapping profile is wrong; ``field`` is the profile key, ``line`` its line."""

    code = "invalid_profile"

    def __init__(
        self, key: str, message: str, /, *, profile: str, line: int | None, **params: Any
    ) -> None:
        self.key = key
        self.line = line
        super().__init__(key, message, key=key, profile=profile, line=line, **params)

    def render(self, locale: str | None = None) -> str:
        """Where in the profile (its own catalogue message), then what is wrong there."""
        facts = {"profile": self.params["profile"], "key": self.key, "line": self.line}
        where = (
            translate(_("{profile}, line {line}: {key}: "), locale, **facts)
            if self.line
            else translate(_("{profile}: {key}: "), locale, **facts)
        )
        if self.message.startswith("{profile}"):  # a message that says where by itself
            return super().render(locale)
        return where + super().render(locale)
