"""Test helpers: where the real samples are, and golden files for the fixtures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from counterfoil.importers import ParsedFile, ParseResult

#: Real statement files from outside, read in place (never copied into the project).
SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "samples"
#: Fixtures built from FORMATS.md for formats without a public sample; goldens beside them.
FIXTURES = Path(__file__).parent / "fixtures"
REGENERATE = os.environ.get("REGENERATE_GOLDEN") == "1"


def as_json(parsed: ParsedFile) -> dict[str, Any]:
    return {
        "source": parsed.source,
        "info": parsed.info,
        "lines": [line.to_dict() for line in parsed.lines],
        "errors": [error.to_dict() for error in parsed.errors],
        "checks": [check.to_dict() for check in parsed.checks],
    }


def assert_golden(result: ParseResult | ParsedFile, golden: Path) -> None:
    """Compare a parse with ``golden``; ``REGENERATE_GOLDEN=1`` rewrites it on purpose."""
    parsed = result.read_all() if isinstance(result, ParseResult) else result
    actual = as_json(parsed)
    if REGENERATE:
        golden.write_text(json.dumps(actual, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    if not golden.exists():
        pytest.fail(
            f"{golden.name} is missing: run with REGENERATE_GOLDEN=1 to write it, "
            "then read it before committing"
        )
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert actual == expected


def sample(*parts: str) -> Path:
    """A real sample file; the test fails (not skips) when the samples are not there."""
    path = SAMPLES.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"the shared sample {path.resolve()} is missing")
    return path
