"""Merchants' keys: an Ed25519 signing key per merchant (rotatable) and a card-HMAC key.

Private keys live only in files under ``$COUNTERFOIL_HOME/keys/<merchant_no>/``, mode
0600, created exclusively (never overwritten), never in the database or a log. The
database holds public keys only. A key's id is the first 16 hex digits of the SHA-256
of its raw public key, so an id names exactly one key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from counterfoil.core.errors import CounterfoilError, NotFound
from counterfoil.i18n import _


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def verify_signature(public_hex: str, message: bytes, signature_hex: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex)).verify(
            bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError):
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
        self._signers: dict[str, Ed25519PrivateKey] = {}
        self._hmac: dict[str, bytes] = {}

    def _dir(self, merchant_no: str) -> Path:
        return self.directory / merchant_no

    def generate(self, merchant_no: str) -> tuple[str, str]:
        """Make a new signing key; return (key id, public key hex)."""
        key = Ed25519PrivateKey.generate()
        raw = public_raw(key)
        key_id = key_id_of(raw)
        secret = key.private_bytes_raw()
        _write_secret(self._dir(merchant_no) / f"{key_id}.ed25519", secret.hex().encode())
        self._signers[key_id] = key
        return key_id, raw.hex()

    def has_signer(self, merchant_no: str, key_id: str) -> bool:
        return key_id in self._signers or (self._dir(merchant_no) / f"{key_id}.ed25519").exists()

    def signer(self, merchant_no: str, key_id: str) -> Ed25519PrivateKey:
        key = self._signers.get(key_id)
        if key is None:
            path = self._dir(merchant_no) / f"{key_id}.ed25519"
            try:
                secret = bytes.fromhex(path.read_text().strip())
            except FileNotFoundError:
                raise NotFound(_("the signing key {key_id} of merchant {merchant_no} is not in "
                                 "this store's key directory: entries can be verified but not "
                                 "signed"), key_id=key_id, merchant_no=merchant_no) from None
            key = Ed25519PrivateKey.from_private_bytes(secret)
            if key_id_of(public_raw(key)) != key_id:
                raise CounterfoilError(_("the key file for {key_id} holds another key"),
                                       key_id=key_id)
            self._signers[key_id] = key
        return key

    def sign(self, merchant_no: str, key_id: str, message: bytes) -> str:
        return self.signer(merchant_no, key_id).sign(message).hex()

    def hmac_key(self, merchant_no: str) -> bytes:
        """The merchant's key for card-number HMACs, made on first use."""
        key = self._hmac.get(merchant_no)
        if key is None:
            path = self._dir(merchant_no) / "card-hmac.key"
            if not path.exists():
                try:
                    _write_secret(path, secrets.token_hex(32).encode())
                except FileExistsError:
                    pass
            key = bytes.fromhex(path.read_text().strip())
            self._hmac[merchant_no] = key
        return key
