"""Merchants' keys: an Ed25519 signing key per merchant (rotatable) and a card-HMAC key.

Private keys live only in files under ``$COUNTERFOIL_HOME/keys/<merchant_no>/``, mode
0600, created exclusively (never overwritten), never in the database or a log. The
database holds public keys only. A key's id is the first 16 hex digits of the SHA-256
of its raw public key, so an id names exactly one key.

Signing and verifying go through libsodium (PyNaCl): on this project's 2-core machine
it signs 1.4× and verifies 1.6× faster than OpenSSL through ``cryptography``, and it
releases the GIL, so a chunk of entries is signed on every core (bench/README.md). The
signatures are plain Ed25519 (RFC 8032), deterministic: the same key and message give
the same bytes whichever library made them, and any Ed25519 verifier checks them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from nacl.bindings import crypto_sign, crypto_sign_open, crypto_sign_seed_keypair
from nacl.exceptions import BadSignatureError

from counterfoil.core.errors import CounterfoilError, NotFound
from counterfoil.i18n import _

#: libsodium releases the GIL while it signs, so a chunk can be signed on every core by
#: threads of this process. But each signature hands the GIL back for ~20 us and wants it
#: again for ~1 us: beside a busy Python thread, which keeps it up to the 5 ms switch
#: interval at a time, 10,000 signatures on two threads took from 0.4 to 17.7 s (0.2 s
#: alone). A process that records while it signs (a bulk ingest, a server) signs in
#: processes instead (``KeyStore.sign_elsewhere``): 0.27–0.33 s beside the same thread.
_THREADS = max(2, os.cpu_count() or 2)
_POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="counterfoil-sign")
_PARALLEL_FROM = 64


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


class SigningKey:
    """An Ed25519 key from its 32-byte seed (RFC 8032 private key)."""

    __slots__ = ("_secret", "public")

    def __init__(self, seed: bytes) -> None:
        self.public, self._secret = crypto_sign_seed_keypair(seed)

    def sign(self, message: bytes) -> bytes:
        return bytes(crypto_sign(message, self._secret)[:64])


def _sign_all(key: SigningKey, messages: list[bytes]) -> list[str]:
    return [key.sign(m).hex() for m in messages]


def verify_signature(public_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        signature, public = bytes.fromhex(signature_hex), bytes.fromhex(public_hex)
        if len(signature) != 64 or len(public) != 32:
            return False
        crypto_sign_open(signature + message, public)
    except (BadSignatureError, ValueError):
        return False
    return True


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    for folder in (path.parent, path.parent.parent):  # keys/ and keys/<merchant_no>/
        folder.chmod(0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class KeyStore:
    """The private half of every merchant's keys, in files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        #: Signs a list of messages in another process and returns the future of their
        #: signatures (hex); None: threads of this process sign.
        self.sign_elsewhere: Callable[[str, str, list[bytes]], Future[list[str]]] | None = None
        self._signers: dict[str, SigningKey] = {}
        self._hmac: dict[str, bytes] = {}

    def _dir(self, merchant_no: str) -> Path:
        return self.directory / merchant_no

    def generate(self, merchant_no: str) -> tuple[str, str]:
        """Make a new signing key; return (key id, public key hex)."""
        seed = secrets.token_bytes(32)
        key = SigningKey(seed)
        key_id = key_id_of(key.public)
        _write_secret(self._dir(merchant_no) / f"{key_id}.ed25519", seed.hex().encode())
        self._signers[key_id] = key
        return key_id, key.public.hex()

    def has_signer(self, merchant_no: str, key_id: str) -> bool:
        return key_id in self._signers or (self._dir(merchant_no) / f"{key_id}.ed25519").exists()

    def signer(self, merchant_no: str, key_id: str) -> SigningKey:
        key = self._signers.get(key_id)
        if key is None:
            path = self._dir(merchant_no) / f"{key_id}.ed25519"
            try:
                secret = bytes.fromhex(path.read_text().strip())
            except FileNotFoundError:
                raise NotFound(
                    _(
                        "the signing key {key_id} of merchant {merchant_no} is not in "
                        "this store's key directory: entries can be verified but not "
                        "signed"
                    ),
                    key_id=key_id,
                    merchant_no=merchant_no,
                ) from None
            key = SigningKey(secret)
            if key_id_of(key.public) != key_id:
                raise CounterfoilError(
                    _("the key file for {key_id} holds another key"), key_id=key_id
                )
            self._signers[key_id] = key
        return key

    def sign(self, merchant_no: str, key_id: str, message: bytes) -> str:
        return self.signer(merchant_no, key_id).sign(message).hex()

    def sign_many(self, merchant_no: str, key_id: str, messages: list[bytes]) -> list[str]:
        """Signatures (hex) of many messages, on every core."""
        step = -(-len(messages) // _THREADS)
        parts = [messages[i : i + step] for i in range(0, len(messages), step)]
        return [
            signature for part in self.sign_parts(merchant_no, key_id, parts) for signature in part
        ]

    def sign_parts(
        self, merchant_no: str, key_id: str, parts: list[list[bytes]]
    ) -> Iterator[list[str]]:
        """The signatures (hex) of each part in turn, the parts signed on every core at once:
        the caller can use the first part's while the others are still being signed."""
        key = self.signer(merchant_no, key_id)
        if sum(len(part) for part in parts) < _PARALLEL_FROM:
            for part in parts:
                yield [key.sign(m).hex() for m in part]
            return
        elsewhere = self.sign_elsewhere
        if elsewhere is not None:
            futures = [elsewhere(merchant_no, key_id, part) for part in parts]
        else:
            futures = [_POOL.submit(_sign_all, key, part) for part in parts]
        try:
            for future in futures:
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def hmac_key(self, merchant_no: str) -> bytes:
        """The merchant's key for card-number HMACs, made on first use.

        Only where the merchant's signing keys are: a store restored from a backup
        without its keys must not quietly make a new card key, under which the card
        look-ups of every entry already written would find nothing."""
        key = self._hmac.get(merchant_no)
        if key is None:
            path = self._dir(merchant_no) / "card-hmac.key"
            if not path.exists():
                if not any(self._dir(merchant_no).glob("*.ed25519")):
                    raise NotFound(
                        _(
                            "the card key of merchant {merchant_no} is not in this store's "
                            "key directory: restore it from an encrypted backup"
                        ),
                        merchant_no=merchant_no,
                    )
                with contextlib.suppress(FileExistsError):
                    _write_secret(path, secrets.token_hex(32).encode())
            key = bytes.fromhex(path.read_text().strip())
            self._hmac[merchant_no] = key
        return key
