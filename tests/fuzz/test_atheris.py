"""atheris runs (coverage-guided, bounded by a number of runs) over the code verifiers and
the importers, each in its own process: a finding ends the run with a non-zero code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("atheris_targets.py")


@pytest.mark.parametrize(("target", "runs"), [("codes", 1000), ("importers", 500)])
def test_atheris_finds_nothing(target: str, runs: int, tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    done = subprocess.run(
        [sys.executable, str(HARNESS), target, f"-runs={runs}", "-seed=9", "-max_len=4096"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Done" in done.stderr
