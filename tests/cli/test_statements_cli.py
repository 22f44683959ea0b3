"""``counterfoil import FILE`` and ``counterfoil imports list|show``: the real UnionPay
sample imported from the command line, again (nothing added), a file with a bad line
(listed with its number, not balanced), a file of no known format and an unknown
import (a one-line reason and a non-zero exit). SQLite and PostgreSQL."""

import json
import shutil
from pathlib import Path

import pytest

from clirunner import Run, invoker
from counterfoil.config import Settings

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples"
ZM = SAMPLES / "unionpay" / "INN15090588ZM_802310048993424"


@pytest.fixture
def run(settings: Settings) -> Run:
    """``counterfoil --lang LANG ARGS`` on the test's store."""
    return invoker(settings)


def test_the_zm_sample_imported_listed_shown_and_not_imported_twice(run: Run) -> None:
    done = run("import", str(ZM), "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["format"] == "unionpay_zm"
    assert report["lines"] == 8
    assert report["rejected"] == 0
    assert report["balanced"] is True
    assert not report["already_imported"]

    again = run("import", str(ZM))
    assert again.exit_code == 0, again.output
    said = " ".join(again.stdout.split())  # the console wraps at its width
    assert f"already imported as import {report['import_id']}: nothing added" in said

    listed = json.loads(run("imports", "list", "--json").stdout)
    assert [(i["id"], i["file_name"], i["lines"]) for i in listed] == [
        (report["import_id"], ZM.name, 8)
    ]
    shown = run("imports", "show", str(report["import_id"]), "--json")
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    assert document["sha256"] == report["sha256"]
    assert document["checks"]
    assert all(check["ok"] for check in document["checks"])


def test_a_bad_line_is_listed_with_its_number_and_the_file_is_not_balanced(
    run: Run, tmp_path: Path
) -> None:
    path = tmp_path / ZM.name  # the name carries the settle date
    lines = ZM.read_bytes().split(b"\r\n")
    start = 67  # the amount's twelve digits (``importers.unionpay_layout``)
    lines[2] = lines[2][:start] + b"00000000abcd" + lines[2][start + 12 :]
    path.write_bytes(b"\r\n".join(lines))
    shutil.copy(SAMPLES / "unionpay" / "RD201015090501_802310048993424", tmp_path)

    done = run("import", str(path))
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())  # the console wraps at its width
    assert "7 lines" in said
    assert "1 rejected, NOT BALANCED" in said
    assert "line 3: " in done.stderr

    chinese = run("import", str(path), "--json", lang="zh_CN")
    assert json.loads(chinese.stdout)["already_imported"] is True


def test_a_file_of_no_known_format_and_an_unknown_import_are_clear_errors(
    run: Run, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("nothing a bank would send\n")
    refused = run("import", str(path))
    assert refused.exit_code != 0
    assert refused.stderr.startswith("error:")
    assert "Traceback" not in refused.output

    unknown = run("imports", "show", "999")
    assert unknown.exit_code != 0
    assert "import 999 is not known" in " ".join(unknown.stderr.split())
    assert "Traceback" not in unknown.output
