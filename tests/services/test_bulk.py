"""A JSON Lines file through worker processes gives exactly what it gives in-process:
every line recorded or reported by its number, and a journal that verifies."""

from pathlib import Path

import orjson
import pytest

from conftest import MERCHANT, sale
from counterfoil.config import Settings
from counterfoil.services import bulk, verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import add_merchant
from counterfoil.store.audit import Actor


def lines() -> list[bytes]:
    good = [
        orjson.dumps(sale(trace_no=f"{n:06d}", rrn=f"{n:012d}", card="6222021234567890128"))
        for n in range(1, 12_001)
    ]
    good[10] = b"{broken"  # line 11
    good[5_500] = orjson.dumps(sale(trace_no="005501", cvv="999"))  # line 5,501
    good[7_000] = orjson.dumps(
        sale(trace_no="000001", rrn="000000000001", card="6222021234567890128")
    )  # line 7,001: duplicate
    good.append(orjson.dumps(sale(trace_no="000002", amount=1)))  # line 12,001: conflict
    return [*good[:20], b"", *good[20:]]  # a blank line 21


@pytest.mark.parametrize("workers", [0, 2])
def test_every_line_is_recorded_or_reported(settings: Settings, workers: int) -> None:
    cf = Counterfoil.open(settings, upgrade=False)
    try:
        add_merchant(cf, MERCHANT, "测试便利店")
        cf.start_writer()
        report = bulk.ingest_lines(
            cf.submit, cf.keys, lines(), Actor("t"), {MERCHANT}, workers=workers
        )
        assert report.lines == 12_002
        assert (report.recorded, report.duplicates) == (11_997, 1)
        assert [(r["line"], r["code"]) for r in report.rejected] == [
            (11, "invalid"),
            (5_502, "card_data_refused"),
            (12_002, "conflict"),
        ]
        [checked] = verification.verify(cf, MERCHANT, full=True)
        assert checked.ok, checked.problem
        assert checked.entries == 11_998  # genesis + every recorded line
    finally:
        cf.close()


def test_a_worker_whose_parent_died_while_it_started_leaves_at_once(tmp_path: Path) -> None:
    """The parent's pid comes from the parent: a worker that starts after its parent was
    killed must leave, not adopt init as the parent to watch and serve on."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from counterfoil.services.bulk import _start_worker

    gone = 2**22 + 12345  # not this process: the parent "died" before the worker started
    pool = ProcessPoolExecutor(
        1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(str(tmp_path), [], gone),
    )
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(os.getpid).result(timeout=60)
    finally:
        pool.shutdown(cancel_futures=True)
