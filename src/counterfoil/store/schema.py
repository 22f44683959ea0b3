"""The tables. Journal, checkpoints, signing keys and the audit log are append-only.

Times are stored in UTC. Money is integer fen. A journal entry keeps its canonical
body (the signed bytes) and, beside it, the fields that searches need, copied out of
the body at write time; ``verify`` checks that the copies still equal the body.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Tables no code path may UPDATE or DELETE; database triggers enforce it.
APPEND_ONLY = (
    "journal_entries",
    "checkpoints",
    "signing_keys",
    "audit_log",
    "statement_imports",
    "statement_lines",
    "statement_keys",
    "statement_raw",
    "statement_rejects",
    "document_prints",
    "certificates",
    "incident_entries",
    "incident_events",
)

merchants = Table(
    "merchants",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("settings", Text, nullable=False, default="{}"),  # JSON: rules, fee policy, cut-off
    Column("created_at", DateTime(timezone=True), nullable=False),
)

terminals = Table(
    "terminals",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("terminal_id", String(8), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("token_id", String(32), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

fee_rules = Table(
    "fee_rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("rate_ppm", Integer, nullable=False),
    Column("cap", BigInteger),
    Column("effective_from", Date, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("merchant_no", "channel", "effective_from", name="uq_fee_rule"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("key_id", String(16), primary_key=True),
    Column("merchant_no", String(15), nullable=False, index=True),
    Column("public_key", String(64), nullable=False),  # raw Ed25519 public key, hex
    Column("created_at", DateTime(timezone=True), nullable=False),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("body", Text, nullable=False),  # RFC 8785 canonical JSON: what is hashed
    Column("entry_hash", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    # Copied out of the body for look-ups:
    Column("idem_key", String(100)),
    Column("payload_hash", String(64)),
    Column("terminal_id", String(8)),
    Column("batch_no", String(6)),
    Column("trace_no", String(6)),
    Column("type", String(20)),
    Column("channel", String(20)),
    Column("amount", BigInteger),
    Column("fee", BigInteger),
    Column("net", BigInteger),
    Column("currency", String(3)),
    Column("terminal_time", DateTime(timezone=True)),
    Column("rrn", String(12)),
    Column("auth_code", String(6)),
    Column("order_no", String(64)),
    Column("card_bin", String(6)),
    Column("card_last4", String(4)),
    Column("card_hmac", String(64)),  # keyed hash of the full number; not in the body
    # domestic | foreign | unknown | qr: core.pan.card_group of card_bin, so that settlement
    # sums read it from an index instead of working it out row by row
    Column("card_group", String(10)),
    Column("original_seq", BigInteger),
    Column("offline", Boolean),
    UniqueConstraint("merchant_no", "idem_key", name="uq_journal_idem"),
)
Index("ix_journal_rrn", journal_entries.c.merchant_no, journal_entries.c.rrn)
# Order numbers, originals and card HMACs are empty on most entries (a card sale has
# none): those indexes hold only the filled rows (migration 0017).
_ORDER, _ORIGINAL, _HMAC = (
    journal_entries.c[c].is_not(None) for c in ("order_no", "original_seq", "card_hmac")
)
Index(
    "ix_journal_order",
    journal_entries.c.merchant_no,
    journal_entries.c.order_no,
    sqlite_where=_ORDER,
    postgresql_where=_ORDER,
)
Index("ix_journal_time", journal_entries.c.merchant_no, journal_entries.c.terminal_time)
Index(
    "ix_journal_last4",
    journal_entries.c.merchant_no,
    journal_entries.c.card_last4,
    journal_entries.c.terminal_time,
)
Index(
    "ix_journal_original",
    journal_entries.c.merchant_no,
    journal_entries.c.original_seq,
    sqlite_where=_ORIGINAL,
    postgresql_where=_ORIGINAL,
)
Index(
    "ix_journal_card_hmac", journal_entries.c.card_hmac, sqlite_where=_HMAC, postgresql_where=_HMAC
)

#: The head of each chain: one per merchant's journal (keyed by merchant number) and
#: one for the audit log (keyed "audit"). Locked by every writer before it appends.
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("chain", String(15), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("key_id", String(16)),  # the signing key in force (named by the newest key entry)
)

#: Sparse projection: a row only once a transaction's status moves off 'approved'.
entry_state = Table(
    "entry_state",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("status", String(20), nullable=False),
    Column("refunded", BigInteger, nullable=False, default=0),
    Column("completed", BigInteger, nullable=False, default=0),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("merchant_no", String(15), primary_key=True),
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("compact_range", Text, nullable=False),  # JSON list of subtree hashes
    Column("key_id", String(16), nullable=False),
    Column("signature", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(60), nullable=False),
    Column("object_type", String(40)),
    Column("object_id", String(120)),
    Column("merchant_no", String(15)),
    Column("source", String(80)),
    Column("outcome", String(20), nullable=False),
    Column("details", Text, nullable=False, default="{}"),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
)
Index("ix_audit_merchant", audit_log.c.merchant_no, audit_log.c.at)
Index("ix_audit_actor", audit_log.c.actor, audit_log.c.at)

# --- statements: what acquirers, wallets and banks sent, as imported (append-only) ------

statement_imports = Table(
    "statement_imports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("file_name", String(255), nullable=False),
    Column("format", String(30), nullable=False),
    Column("merchant_no", String(15)),
    Column("size", BigInteger, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("overlapping", Integer, nullable=False),
    Column("balanced", Boolean, nullable=False),
    Column("checks", Text, nullable=False),  # JSON: the control totals and their outcome
    Column("info", Text, nullable=False),  # JSON: facts the file states about itself
)

statement_lines = Table(
    "statement_lines",
    metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=False),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    Column("source", String(30), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("txn_type", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("rrn", String(64)),
    Column("trace_no", String(64)),
    Column("terminal_id", String(64)),
    Column("merchant_no", String(64)),
    Column("order_no", String(64)),
    Column("platform_id", String(64)),
    Column("refund_id", String(64)),
    Column("fee", BigInteger),
    Column("net", BigInteger),
    Column("card_masked", String(32)),
    Column("card_last4", String(4)),
    Column("counterparty", String(200)),
    Column("description", Text),
    Column("natural_key", String(400), nullable=False),
    # The natural key's first 8 bytes of MD5 as a signed integer (0018): the line's own
    # record of it; overlapping files are looked up through ``statement_keys`` below.
    Column("key_hash", BigInteger, nullable=False),
    Column("duplicate_of", String(40)),  # "import:line" of the same line in an earlier file
)

#: The stored lines by their natural key's hash (``key_hash``): how overlapping files
#: are looked up, a hit joined to its line (whose key text is compared). A table of its
#: own, clustered by the hash, rather than an index of ``statement_lines``: an index
#: takes a file's keys one at a time in file order, at random places (2 µs a key, and
#: 9 µs once the store has millions), while a large import adds each part's keys here
#: as one sorted run.
statement_keys = Table(
    "statement_keys",
    metadata,
    Column("key_hash", BigInteger, primary_key=True, autoincrement=False),
    Column("import_id", Integer, primary_key=True, autoincrement=False),
    Column("line_no", Integer, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)
Index("ix_statement_merchant_time", statement_lines.c.merchant_no, statement_lines.c.occurred_at)

#: Each line's raw text as the file had it, and the fields the file gives that have no
#: column of their own, kept in compressed blocks of consecutive lines: ``lines`` is
#: zlib of the JSON list ``[[line_no, raw, {field: value}], ...]`` for lines
#: ``first_line``..``last_line`` of the import. A third of the bytes of a line as a row.
statement_raw = Table(
    "statement_raw",
    metadata,
    Column("import_id", Integer, primary_key=True, autoincrement=False),
    Column("first_line", Integer, primary_key=True, autoincrement=False),
    Column("last_line", Integer, nullable=False),
    Column("lines", LargeBinary, nullable=False),
)

statement_rejects = Table(
    "statement_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", Integer, nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw_excerpt", Text, nullable=False),
)


# --- people: users, their roles and the merchants they may see --------------------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(120), nullable=False),
    Column("role", String(20), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id, never the password
    Column("locale", String(10), nullable=False, default="zh_CN"),
    Column("active", Boolean, nullable=False, default=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # RFC 6238 second factor: the shared secret (base32) and whether the user confirmed it.
    Column("totp_secret", String(64)),
    Column("totp_enabled", Boolean, nullable=False, default=False),
    Column("totp_last_step", BigInteger),  # a code is accepted once: replay refused
)

#: The terminals a cashier works at (a cashier sees only these).
user_terminals = Table(
    "user_terminals",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("merchant_no", String(15), primary_key=True),
    Column("terminal_id", String(8), primary_key=True),
)

#: API tokens of integrations (an ERP, a reconciliation feed): one merchant, named scopes.
#: Only the SHA-256 of the token is kept; the token is shown once when it is made.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("merchant_no", String(15), nullable=False, index=True),
    Column("scopes", String(400), nullable=False),  # space-separated
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

user_merchants = Table(
    "user_merchants",
    metadata,
    Column("user_id", Integer, primary_key=True, autoincrement=False),
    Column("merchant_no", String(15), primary_key=True),
)

#: A person's logged-in session. Only the SHA-256 of the cookie's token is kept.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the session token
    Column("user_id", Integer, nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("source", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)


# --- documents: every reprint of a slip, who asked for it and why ------------------------

#: One row per copy Counterfoil printed (the terminal printed the first of each copy).
document_prints = Table(
    "document_prints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("merchant_no", String(15), nullable=False),
    Column("seq", BigInteger, nullable=False),  # the journal entry
    Column("copy", String(12), nullable=False),  # merchant | cardholder
    Column("print_no", Integer, nullable=False),  # 1: the first reprint (重打印 No. 1)
    Column("format", String(10), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: what the requester showed (masked)
    Column("incident_id", Integer),
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),  # terminal or address
    Column("printed_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("merchant_no", "seq", "copy", "print_no", name="uq_document_print"),
)
Index("ix_document_prints_entry", document_prints.c.merchant_no, document_prints.c.seq)
Index("ix_document_prints_actor", document_prints.c.merchant_no, document_prints.c.actor)

#: Proofs of payment issued (支付证明): a serial per merchant, the status stated, the code.
certificates = Table(
    "certificates",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serial", String(32), nullable=False, unique=True),
    Column("merchant_no", String(15), nullable=False),
    Column("number", Integer, nullable=False),  # 1, 2, … per merchant
    Column("seq", BigInteger, nullable=False),  # the journal entry
    Column("status", String(20), nullable=False),  # the payment's status when issued
    Column("refunded", BigInteger, nullable=False),
    Column("locale", String(10), nullable=False),
    Column("format", String(10), nullable=False),
    Column("code", Text, nullable=False),
    Column("incident_id", Integer),
    Column("actor", String(80), nullable=False),
    Column("source", String(80), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("merchant_no", "number", name="uq_certificate_number"),
)
Index("ix_certificates_entry", certificates.c.merchant_no, certificates.c.seq)
