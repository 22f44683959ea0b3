"""verify finds the first entry that was altered, removed, reordered or inserted — on SQLite
and PostgreSQL, with the append-only triggers taken away as an intruder with database
access would."""

import functools
import hashlib
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, text

from conftest import MERCHANT, sale
from counterfoil.journal.entries import make_body, seal, signing_message
from counterfoil.services import ingest, verification
from counterfoil.services.context import Counterfoil
from counterfoil.services.merchants import rotate_key
from counterfoil.store.audit import Actor
from counterfoil.store.schema import APPEND_ONLY


@pytest.fixture(autouse=True, params=["whole", "halves"])
def walked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every finding holds whether the journal is walked whole or in two halves at once
    (the second by a process of its own, as a long journal is): blocks of 4 entries, so
    that the 13 entries split after entry 4 and the checkpoint at 6 lies in the second."""
    if request.param == "halves":
        whole = verification.verify
        monkeypatch.setattr(
            verification, "verify", functools.partial(whole, block=4, parallel_from=8)
        )
    return str(request.param)


@pytest.fixture
def journal(cf: Counterfoil, shop: Any) -> Counterfoil:
    """Genesis + 12 sales, a checkpoint after the sixth entry, six more after it."""
    payloads = [sale(trace_no=f"{n:06d}", rrn=f"{n:012d}", amount=10_000 + n) for n in range(1, 13)]
    items = ingest.prepare_all(payloads[:5], cf.keys.hmac_key)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("t")))
    verification.make_checkpoint(cf, MERCHANT)
    items = ingest.prepare_all(payloads[5:], cf.keys.hmac_key, start=5)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("t")))
    return cf


def intrude(cf: Counterfoil, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Run SQL with the append-only triggers out of the way."""
    with cf.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in APPEND_ONLY:
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            for table in APPEND_ONLY:
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        for statement in statements:
            conn.execute(text(statement), params or {})


def problem(cf: Counterfoil, *, full: bool = False) -> tuple[int | None, str | None]:
    [report] = verification.verify(cf, MERCHANT, full=full)
    return report.bad_seq, report.problem


def assert_found(cf: Counterfoil, seq: int, word: str) -> None:
    """verify's first problem is entry ``seq``, and its report says ``word``."""
    found, why = problem(cf)
    assert found == seq
    assert why is not None
    assert word in why


def body_of(cf: Counterfoil, seq: int) -> str:
    with cf.engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT body FROM journal_entries WHERE merchant_no = :m AND seq = :s"),
                {"m": MERCHANT, "s": seq},
            ).scalar()
        )


def test_an_untouched_journal_verifies_fully(journal: Counterfoil) -> None:
    [report] = verification.verify(journal, MERCHANT, full=True)
    assert report.ok, report.problem
    assert (report.entries, report.checkpoints, report.signatures) == (13, 1, 13)


def test_one_byte_of_one_amount_in_the_signed_body(journal: Counterfoil) -> None:
    body = body_of(journal, 4)
    altered = body.replace('"amount":10003', '"amount":10004')
    assert altered != body
    intrude(journal, "UPDATE journal_entries SET body = :b WHERE seq = 4", params={"b": altered})
    assert_found(journal, 4, "altered")


def test_one_byte_of_the_amount_column(journal: Counterfoil) -> None:
    intrude(journal, "UPDATE journal_entries SET amount = 10013 WHERE seq = 9")
    assert_found(journal, 9, "amount")


@pytest.mark.parametrize("shift", ["1 microsecond", "1 millisecond"])
def test_the_terminal_time_column_moved_a_little(journal: Counterfoil, shift: str) -> None:
    """A look-up time moved by less than a second is still a column that differs from
    its signed body: found at every precision the column keeps (microseconds)."""
    if journal.engine.dialect.name == "postgresql":
        intrude(
            journal,
            "UPDATE journal_entries SET terminal_time = terminal_time + CAST(:shift AS interval) "
            "WHERE seq = 7",
            params={"shift": shift},
        )
    else:  # SQLite keeps the time as text, to the microsecond
        with journal.engine.connect() as conn:
            stored = conn.execute(
                text("SELECT terminal_time FROM journal_entries WHERE seq = 7")
            ).scalar_one()
        step = timedelta(microseconds=1 if shift == "1 microsecond" else 1_000)
        moved = datetime.strptime(stored, "%Y-%m-%d %H:%M:%S.%f") + step
        intrude(
            journal,
            "UPDATE journal_entries SET terminal_time = :t WHERE seq = 7",
            params={"t": moved.strftime("%Y-%m-%d %H:%M:%S.%f")},
        )
    assert_found(journal, 7, "terminal_time")


def test_the_card_group_column(journal: Counterfoil) -> None:
    """Settlement lists sum by the stored card group: it must be the one of the signed card."""
    intrude(journal, "UPDATE journal_entries SET card_group = 'foreign' WHERE seq = 6")
    assert_found(journal, 6, "card_group")


@pytest.mark.parametrize("seq", [1, 8])  # the genesis entry and a sale
def test_the_recorded_at_column(journal: Counterfoil, seq: int) -> None:
    """The time of recording is copied out of every entry's body, of any kind."""
    shifted = {
        "postgresql": "recorded_at + interval '1 second'",
        "sqlite": "strftime('%Y-%m-%d %H:%M:%f000', recorded_at, '+1 second')",
    }[journal.engine.dialect.name]
    intrude(journal, f"UPDATE journal_entries SET recorded_at = {shifted} WHERE seq = {seq}")  # noqa: S608
    assert_found(journal, seq, "recorded_at")


def test_terminal_times_with_fractions_and_offsets_verify(cf: Counterfoil, shop: Any) -> None:
    """The copied time is compared to the microsecond, whatever the terminal sent: whole
    seconds, a fraction of any length, another offset, Z."""
    times = [
        "2026-11-20T14:05:09+08:00",
        "2026-11-20T14:05:09.5+08:00",
        "2026-11-20T14:05:09.000001+08:00",
        "2026-11-20T23:59:59.999999-05:00",
        "2026-11-20T06:05:09.123456Z",
    ]
    payloads = [
        sale(trace_no=f"{n:06d}", rrn=f"{n:012d}", terminal_time=when)
        for n, when in enumerate(times, start=1)
    ]
    items = ingest.prepare_all(payloads, cf.keys.hmac_key)
    cf.write(lambda conn: ingest.record(conn, cf.keys, items, Actor("t")))
    [report] = verification.verify(cf, MERCHANT)
    assert report.ok, report.problem
    assert report.entries == len(times) + 1


def test_a_deleted_row(journal: Counterfoil) -> None:
    intrude(journal, "DELETE FROM journal_entries WHERE seq = 8")
    assert problem(journal)[0] == 8


def test_a_deleted_last_row(journal: Counterfoil) -> None:
    intrude(journal, "DELETE FROM journal_entries WHERE seq = 13")
    assert_found(journal, 13, "head")


def test_two_swapped_rows(journal: Counterfoil) -> None:
    intrude(
        journal,
        "UPDATE journal_entries SET seq = -10 WHERE seq = 10",
        "UPDATE journal_entries SET seq = 10 WHERE seq = 11",
        "UPDATE journal_entries SET seq = 11 WHERE seq = -10",
    )
    assert problem(journal)[0] == 10


def _forge(conn: Connection, seq: int, prev_hash: str) -> dict[str, Any]:
    """A well-formed entry, correctly chained, signed with a key that is not the merchant's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key_id = conn.execute(text("SELECT key_id FROM journal_entries WHERE seq = 1")).scalar()
    copied = orjson.loads(body_of_conn(conn, 2))
    data = dict(copied["data"], trace_no="999999", amount=99_999)
    sealed = seal(
        make_body(
            merchant_no=MERCHANT,
            seq=seq,
            prev_hash=prev_hash,
            kind="transaction",
            # the time of the row it copies, as INSERT copies that row's column
            recorded_at=datetime.fromisoformat(copied["recorded_at"]),
            key_id=str(key_id),
            data=data,
            effects=copied["effects"],
        )
    )
    signature = Ed25519PrivateKey.generate().sign(signing_message(sealed.entry_hash)).hex()
    return {
        "seq": seq,
        "body": sealed.body_bytes.decode(),
        "hash": sealed.entry_hash,
        "prev": prev_hash,
        "key": key_id,
        "sig": signature,
    }


def body_of_conn(conn: Connection, seq: int) -> str:
    return str(
        conn.execute(text("SELECT body FROM journal_entries WHERE seq = :s"), {"s": seq}).scalar()
    )


INSERT = (
    "INSERT INTO journal_entries (merchant_no, seq, kind, body, entry_hash, prev_hash, "
    "key_id, signature, recorded_at, type, channel, amount, fee, net, currency, "
    "terminal_id, batch_no, trace_no, rrn, auth_code, card_bin, card_last4, card_group, "
    "offline, terminal_time) SELECT merchant_no, :seq, kind, :body, :hash, :prev, :key, "
    ":sig, recorded_at, type, channel, 99999, fee, net, currency, terminal_id, batch_no, "
    "'999999', rrn, auth_code, card_bin, card_last4, card_group, offline, terminal_time "
    "FROM journal_entries WHERE seq = 2"
)


def test_a_forged_row_appended_with_its_head_moved(journal: Counterfoil) -> None:
    """The forger chains correctly and moves the head too: only the signature gives it away."""
    with journal.engine.connect() as conn:
        head = conn.execute(
            text("SELECT head_hash FROM chain_heads WHERE chain = :m"), {"m": MERCHANT}
        ).scalar()
        forged = _forge(conn, 14, str(head))
    intrude(
        journal,
        INSERT,
        f"UPDATE chain_heads SET seq = 14, head_hash = :hash WHERE chain = '{MERCHANT}'",  # noqa: S608
        params=forged,
    )
    assert_found(journal, 14, "signature")


def test_a_forged_row_inserted_in_the_middle(journal: Counterfoil) -> None:
    with journal.engine.connect() as conn:
        prev = conn.execute(text("SELECT entry_hash FROM journal_entries WHERE seq = 10")).scalar()
        forged = _forge(conn, 11, str(prev))
    intrude(
        journal, "UPDATE journal_entries SET seq = seq + 1000 WHERE seq > 10", INSERT, params=forged
    )
    # Without the key the forgery chains on 10 and passes as entry 11; the first break is
    # at 12, whose place it took. Every signature checked finds the forgery itself.
    assert problem(journal)[0] == 12
    seq, why = problem(journal, full=True)
    assert seq == 11
    assert why is not None
    assert "signature" in why


def test_rewriting_history_before_a_checkpoint_breaks_its_merkle_root(journal: Counterfoil) -> None:
    """Rebuild entries 3..13 with a stolen-key-free chain: hashes chain, but the signed root,
    and the signatures, do not match."""
    body = body_of(journal, 3).replace('"amount":10002', '"amount":1')
    new_hash = hashlib.sha256(body.encode()).hexdigest()
    intrude(
        journal,
        "UPDATE journal_entries SET body = :b, entry_hash = :h, amount = 1 WHERE seq = 3",
        params={"b": body, "h": new_hash},
    )
    assert_found(journal, 4, "chain")


def test_key_rotation_keeps_old_entries_verifiable(journal: Counterfoil) -> None:
    old = body_of(journal, 2)
    new_key = rotate_key(journal, MERCHANT)
    items = ingest.prepare_all([sale(trace_no="000100", rrn="000000000100")], journal.keys.hmac_key)
    [result] = journal.write(lambda conn: ingest.record(conn, journal.keys, items, Actor("t")))
    assert result.status == "recorded"
    assert result.entry is not None
    newest = orjson.loads(body_of(journal, result.entry["seq"]))
    assert newest["key_id"] == new_key != orjson.loads(old)["key_id"]
    [report] = verification.verify(journal, MERCHANT, full=True)
    assert report.ok, report.problem


def test_checkpoint_export_is_verifiable_by_a_third_party(journal: Counterfoil) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from counterfoil.journal.entries import checkpoint_message

    doc = verification.export_checkpoint(journal, MERCHANT)
    assert doc["tree_size"] == 13
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(doc["public_key"])).verify(
        bytes.fromhex(doc["signature"]),
        checkpoint_message(MERCHANT, 13, doc["root_hash"], doc["created_at"], doc["key_id"]),
    )


@pytest.mark.parametrize("body", ["not json", "{}", '{"data": 1, "effects": []}'])
def test_a_body_replaced_by_something_else(journal: Counterfoil, body: str) -> None:
    """A body that is not JSON, or JSON without an entry's fields, is reported, not a crash."""
    intrude(journal, "UPDATE journal_entries SET body = :b WHERE seq = 5", params={"b": body})
    assert_found(journal, 5, "altered")


def test_a_column_moved_before_a_body_that_is_not_json(journal: Counterfoil) -> None:
    """A later body that is not JSON does not stop the column check: the earlier moved
    column is still the first problem (PostgreSQL looks again, casting body by body)."""
    intrude(
        journal,
        "UPDATE journal_entries SET body = 'not json' WHERE seq = 11",
        "UPDATE journal_entries SET amount = 10013 WHERE seq = 9",
    )
    assert_found(journal, 9, "amount")


def test_the_last_entry_of_the_first_half_deleted(journal: Counterfoil, walked: str) -> None:
    """Where the halves meet (after entry 4): a missing entry there is found as one."""
    intrude(journal, "DELETE FROM journal_entries WHERE seq = 4")
    assert_found(journal, 4, "missing")


def test_the_first_entry_of_the_second_half_rechained(journal: Counterfoil, walked: str) -> None:
    """Entry 5 rewritten to follow a made-up hash, its stored hashes made to match: the
    second half starts from what the table says of entry 4, the first half from what
    entry 4's body hashes to; the break between them is found at 5."""
    body = body_of(journal, 5)
    forged = orjson.loads(body)
    forged["prev_hash"] = "f" * 64
    forged_body = orjson.dumps(forged, option=orjson.OPT_SORT_KEYS).decode()
    new_hash = hashlib.sha256(forged_body.encode()).hexdigest()
    intrude(
        journal,
        "UPDATE journal_entries SET body = :b, entry_hash = :h, prev_hash = :p WHERE seq = 5",
        "UPDATE journal_entries SET prev_hash = :h WHERE seq = 6",
        params={"b": forged_body, "h": new_hash, "p": "f" * 64},
    )
    assert_found(journal, 5, "chain")
