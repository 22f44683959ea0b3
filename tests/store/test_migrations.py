"""Migrations that move stored data: what was there before is there after, on both databases."""

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text

from conftest import DATABASES
from counterfoil.services.statements import raw_lines
from counterfoil.store.db import alembic_config, make_engine, writing
from counterfoil.store.statement_blocks import key_hash


@pytest.fixture(params=DATABASES)
def blank(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database, no migration run."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        server = request.getfixturevalue("pg_server")
        name = f"m_{uuid.uuid4().hex[:12]}"
        admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(server.url_for(name))
    yield engine
    engine.dispose()


def upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with writing(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def test_0016_moves_raw_text_into_blocks_and_keeps_every_line(blank: Engine) -> None:
    upgrade(blank, "0015")
    old = [
        (1, n, f"ZM line {n}\twith a tab", orjson.dumps({"batch": f"00{n}"}).decode())
        for n in range(1, 2_503)  # more than one block (2,000 lines)
    ] + [(2, 4, "another file's line\nover two rows", "{}")]
    with writing(blank) as conn:
        conn.execute(
            text(
                "INSERT INTO statement_lines (import_id, line_no, source, occurred_at, amount, "
                "currency, txn_type, status, natural_key, duplicate_of, raw, extra) VALUES "
                "(:i, :n, 'unionpay_zm', '2021-01-28 02:00:00', :n, 'CNY', 'sale', 'success', "
                ":key, :dup, :raw, :extra)"
            ),
            [
                {
                    "i": i,
                    "n": n,
                    "key": f"unionpay|m|{i}|{n}",
                    "dup": None if i == 1 else "1:4",
                    "raw": raw,
                    "extra": extra,
                }
                for i, n, raw, extra in old
            ],
        )
    upgrade(blank, "head")
    with blank.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT import_id, line_no, amount, natural_key, key_hash, duplicate_of "
                "FROM statement_lines ORDER BY import_id, line_no"
            )
        ).all()
        kept = [(1, *line) for line in raw_lines(conn, 1)] + [
            (2, *line) for line in raw_lines(conn, 2)
        ]
        blocks = conn.execute(text("SELECT count(*) FROM statement_raw")).scalar_one()
    assert [(r.import_id, r.line_no, r.amount) for r in rows] == [(i, n, n) for i, n, _, _ in old]
    assert all(r.key_hash == key_hash(r.natural_key) for r in rows)
    assert rows[-1].duplicate_of == "1:4"
    assert kept == [(i, n, raw, orjson.loads(extra)) for i, n, raw, extra in old]
    assert blocks == 3  # lines 1–2000 and 2001–2502 of import 1; import 2


def test_0016_downgrade_puts_the_raw_text_back_on_each_line(blank: Engine) -> None:
    upgrade(blank, "0015")
    with writing(blank) as conn:
        conn.execute(
            text(
                "INSERT INTO statement_lines (import_id, line_no, source, occurred_at, amount, "
                "currency, txn_type, status, natural_key, raw, extra) VALUES "
                "(1, :n, 'wechat_trade', '2021-01-28 02:00:00', :n, 'CNY', 'sale', 'success', "
                ":key, :raw, :extra)"
            ),
            [
                {"n": n, "key": f"wechat|m|{n}", "raw": f"`line {n}", "extra": '{"goods":"咖啡"}'}
                for n in range(2, 2_102)
            ],
        )
    upgrade(blank, "head")
    config = alembic_config(blank.url.render_as_string(hide_password=False))
    with writing(blank) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
    with blank.connect() as conn:
        rows = conn.execute(
            text("SELECT line_no, amount, raw, extra FROM statement_lines ORDER BY line_no")
        ).all()
    assert [(r.line_no, r.amount, r.raw) for r in rows] == [
        (n, n, f"`line {n}") for n in range(2, 2_102)
    ]
    assert {orjson.loads(r.extra)["goods"] for r in rows} == {"咖啡"}


def _plan(engine: Engine, query: str, params: dict[str, object]) -> str:
    """The plan the database makes for ``query`` (PostgreSQL told not to scan the table,
    which it would prefer for an empty one)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {query}"), params).all()
            return " ".join(str(r[-1]) for r in rows)
        conn.execute(text("SET enable_seqscan = off"))
        return " ".join(str(r[0]) for r in conn.execute(text(f"EXPLAIN {query}"), params))


def _index_sql(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :n"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = :n"
        return str(conn.execute(text(query), {"n": name}).scalar_one())


def test_0017_indexes_of_often_empty_columns_hold_only_filled_rows(blank: Engine) -> None:
    upgrade(blank, "0017")
    for name, column in (
        ("ix_journal_order", "order_no"),
        ("ix_journal_original", "original_seq"),
        ("ix_journal_card_hmac", "card_hmac"),
    ):
        assert re.search(rf"WHERE \(?{column} IS NOT NULL", _index_sql(blank, name)), name
    # A look-up by value still finds its index: 'x = ?' implies 'x IS NOT NULL'.
    by_order = _plan(
        blank,
        "SELECT seq FROM journal_entries WHERE merchant_no = :m AND order_no = :o",
        {"m": "102310048993424", "o": "WX1"},
    )
    assert "ix_journal_order" in by_order
    by_original = _plan(
        blank,
        "SELECT seq FROM journal_entries WHERE merchant_no = :m AND original_seq = :s",
        {"m": "102310048993424", "s": 7},
    )
    assert "ix_journal_original" in by_original


def test_0017_downgrade_indexes_every_row_again(blank: Engine) -> None:
    upgrade(blank, "0017")
    config = alembic_config(blank.url.render_as_string(hide_password=False))
    with writing(blank) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    assert "IS NOT NULL" not in _index_sql(blank, "ix_journal_order")
    assert "IS NOT NULL" not in _index_sql(blank, "ix_journal_card_hmac")


def test_0018_hashes_every_natural_key_with_md5_and_back(blank: Engine) -> None:
    """0018: the key hash DuckDB can compute (MD5), for lines stored before it too."""
    upgrade(blank, "0017")
    keys = [f"wechat_trade|wechat|1900000109|42000009{n:020d}||sale" for n in range(300)]

    def blake2b(key: str) -> int:
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    with writing(blank) as conn:
        conn.execute(
            text(
                "INSERT INTO statement_lines (import_id, line_no, source, occurred_at, amount, "
                "currency, txn_type, status, natural_key, key_hash) VALUES "
                "(1, :n, 'wechat_trade', '2021-01-28 02:00:00', 1, 'CNY', 'sale', 'success', "
                ":key, :hash)"
            ),
            [{"n": n, "key": key, "hash": blake2b(key)} for n, key in enumerate(keys)],
        )

    def stored() -> list[tuple[str, int]]:
        with blank.connect() as conn:
            rows = conn.execute(
                text("SELECT natural_key, key_hash FROM statement_lines ORDER BY line_no")
            ).all()
        return [(r.natural_key, r.key_hash) for r in rows]

    upgrade(blank, "0018")
    assert stored() == [(key, key_hash(key)) for key in keys]
    with blank.connect() as conn, pytest.raises(Exception, match="append-only"):
        conn.execute(text("UPDATE statement_lines SET key_hash = 0"))
    config = alembic_config(blank.url.render_as_string(hide_password=False))
    with writing(blank) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
    assert stored() == [(key, blake2b(key)) for key in keys]


def test_0019_moves_the_key_hashes_into_a_table_of_their_own_and_back(blank: Engine) -> None:
    """0019: every stored line's key hash is in ``statement_keys``, which is append-only,
    and the index on the column is gone; the downgrade makes the index again."""
    upgrade(blank, "0018")
    keys = [f"unionpay_zm|unionpay|802310048993424|Q{n:020d}||sale" for n in range(300)]
    with writing(blank) as conn:
        conn.execute(
            text(
                "INSERT INTO statement_lines (import_id, line_no, source, occurred_at, amount, "
                "currency, txn_type, status, natural_key, key_hash) VALUES "
                "(:i, :n, 'unionpay_zm', '2021-01-28 02:00:00', 1, 'CNY', 'sale', 'success', "
                ":key, :hash)"
            ),
            [
                {"i": 1 + n % 2, "n": n, "key": key, "hash": key_hash(key)}
                for n, key in enumerate(keys)
            ],
        )

    def indexes() -> set[str]:
        from sqlalchemy import inspect

        return {i["name"] for i in inspect(blank).get_indexes("statement_lines")}

    assert "ix_statement_key_hash" in indexes()
    upgrade(blank, "0019")
    with blank.connect() as conn:
        moved = conn.execute(text("SELECT key_hash, import_id, line_no FROM statement_keys")).all()
        with pytest.raises(Exception, match="append-only"):
            conn.execute(text("DELETE FROM statement_keys"))
    assert sorted(tuple(r) for r in moved) == sorted(
        (key_hash(key), 1 + n % 2, n) for n, key in enumerate(keys)
    )
    assert "ix_statement_key_hash" not in indexes()
    config = alembic_config(blank.url.render_as_string(hide_password=False))
    with writing(blank) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0018")
    assert "ix_statement_key_hash" in indexes()
