"""Coverage-guided fuzzing with atheris: ``python tests/fuzz/atheris_targets.py TARGET
-runs=N``. Targets: ``codes`` (the receipt-code and certificate verifiers) and
``importers`` (format detection and every parser). An input that raises anything but a
CounterfoilError is a finding: atheris stops and the process exits non-zero."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

with atheris.instrument_imports():
    from counterfoil.core.errors import CounterfoilError
    from counterfoil.documents.certificate import verify_certificate_code
    from counterfoil.documents.code import verify_code
    from counterfoil.importers import parse_statement

import contextlib

from documents.samples import PUBLIC_KEYS

HEX_KEYS = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in PUBLIC_KEYS.items()}


def codes(data: bytes) -> None:
    text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(400)
    for verify in (
        lambda t: verify_code(t, PUBLIC_KEYS),
        lambda t: verify_certificate_code(t, HEX_KEYS),
    ):
        for candidate in (text, "CF1." + text, "CFP1." + text):
            with contextlib.suppress(CounterfoilError):
                verify(candidate)


NAMES = ("w.csv", "a.csv", "s.xml", "m.sta", "INN15090588ZM_802310048993424", "x.xlsx", "b.txt")


def importers(data: bytes) -> None:
    name = NAMES[data[0] % len(NAMES)] if data else "x.csv"
    try:
        result = parse_statement(io.BytesIO(data[1:]), file=name)
        for _record in result.records():
            pass
    except CounterfoilError:
        pass


if __name__ == "__main__":
    target = {"codes": codes, "importers": importers}[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()
