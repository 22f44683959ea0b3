"""Structured logs: one JSON object per line, never a card number.

``setup_logging()`` (called by ``counterfoil serve``) sends every logger, uvicorn's
included, through ``JsonFormatter`` on standard error: time (UTC), level, logger,
message and the record's extra fields. The message, every text field and any traceback
pass through ``core.pan.redact_pans`` first, so a card number that slipped into an
exception's text leaves as BIN + last four. ``COUNTERFOIL_LOG_LEVEL`` (default INFO)
and ``COUNTERFOIL_LOG_FORMAT=text`` (plain lines, for a person at a terminal) change it.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from counterfoil.core.pan import redact_pans

#: The attributes every LogRecord has; anything else was passed as ``extra``.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact_pans(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    return redact_pans(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact_pans(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_") and name not in document:
                document[name] = _clean(value)
        if record.exc_info:
            document["error"] = redact_pans(self.formatException(record.exc_info))
        return orjson.dumps(document).decode()


class RedactingFormatter(logging.Formatter):
    """Plain text lines, the record's extra fields as ``name=value`` after the message,
    card numbers masked too."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{name}={value}"
            for name, value in record.__dict__.items()
            if name not in _STANDARD and not name.startswith("_") and name != "color_message"
        )
        line = super().format(record)
        return redact_pans(f"{line} {extras}" if extras else line)


def setup_logging(stream: TextIO | None = None) -> logging.Handler:
    """Route every log record through one redacting handler; return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if os.environ.get("COUNTERFOIL_LOG_FORMAT", "json").lower() == "text":
        handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    level = os.environ.get("COUNTERFOIL_LOG_LEVEL", "INFO").upper()
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(
        logging.WARNING
    )  # ours has the route, not the path
    return handler
