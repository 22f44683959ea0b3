"""The console's /reconcile page lists the runs of the reader's merchants."""

from __future__ import annotations

from web.conftest import World, world  # noqa: F401 - the fixture, used by name
from web.matrix_reconcile import run_of


def test_the_page_lists_runs_with_their_breaks(world: World) -> None:  # noqa: F811
    run_id = run_of(world)
    page = world.request("finance", "GET", "/reconcile")
    assert page.status_code == 200
    assert f"<td>{run_id}</td>" in page.text
    assert f"import:{world.imports['a']}" in page.text
    empty = world.request("cashier", "GET", "/reconcile")
    assert empty.status_code == 403
