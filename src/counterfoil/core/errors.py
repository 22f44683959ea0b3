"""The exception tree. Each error carries a stable code, a catalogue message and its facts.

Errors that are data (a rejected line of a file) are values, not exceptions; these are
for callers that must stop. ``api`` maps ``status`` to HTTP and ``cli`` to exit codes,
each in one place.
"""

from __future__ import annotations

from typing import Any

from counterfoil.i18n import translate


class CounterfoilError(Exception):
    """Base of every error Counterfoil raises on purpose."""

    code = "error"
    status = 400

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message = message
        self.params = params
        super().__init__(self.render("en"))

    def render(self, locale: str | None = None) -> str:
        return translate(self.message, locale, **self.params)

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (parallel ingest): rebuild them field for field.
        return (_rebuild, (type(self), self.message, self.params))

    def details(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in self.params.items()
            if isinstance(v, str | int | bool | list | dict) or v is None
        }


class ValidationError(CounterfoilError):
    """An input field is wrong; ``field`` names it and the message says what was expected."""

    code = "invalid"
    status = 422

    def __init__(self, field: str, message: str, /, **params: Any) -> None:
        self.field = field
        super().__init__(message, field=field, **params)


class CardDataRefused(CounterfoilError):
    """Track data, CVV or a PIN block was offered. The value is never echoed."""

    code = "card_data_refused"
    status = 422


class TooLarge(CounterfoilError):
    """An upload or a request body above its limit."""

    code = "too_large"
    status = 413


class NotFound(CounterfoilError):
    code = "not_found"
    status = 404


class Conflict(CounterfoilError):
    """Same key, different payload; or a state that forbids the action."""

    code = "conflict"
    status = 409


class RuleViolation(CounterfoilError):
    """A transaction breaks a business rule: refunding more than is left, completing an
    expired pre-auth and the like. ``rule`` names which."""

    code = "rule_violation"
    status = 422

    def __init__(self, rule: str, message: str, /, **params: Any) -> None:
        self.rule = rule
        super().__init__(message, rule=rule, **params)


class Unauthorised(CounterfoilError):
    code = "unauthorised"
    status = 401


class SecondFactorRequired(Unauthorised):
    """The password was right; the code from the authenticator app must follow it."""

    code = "second_factor_required"


class Forbidden(CounterfoilError):
    code = "forbidden"
    status = 403


class Internal(CounterfoilError):
    """Something failed that should not have: a bug. Logged; the reader gets no details."""

    code = "internal"
    status = 500


class IntegrityFailure(CounterfoilError):
    """The journal does not verify: something was altered, removed, reordered or inserted."""

    code = "integrity_failure"
    status = 500


class StoreUnavailable(CounterfoilError):
    """The database cannot be reached or is out of space; nothing was acknowledged."""

    code = "store_unavailable"
    status = 503


#: Facts that some errors also keep as attributes (``error.field``, ``error.offset`` …).
_ATTRIBUTES = ("field", "rule", "file", "expected", "offset", "line", "key")


def _rebuild(cls: type[CounterfoilError], message: str, params: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.message, error.params = message, dict(params)
    for name in _ATTRIBUTES:  # what the subclasses' __init__ keep as attributes
        if name in params:
            setattr(error, name, params[name])
    Exception.__init__(error, error.render("en"))
    return error
