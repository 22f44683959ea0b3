"""Encrypting a backup's files: AES-256-GCM in chunks, under a key kept in a key file.

A backup of millions of entries is gigabytes, so a file is sealed in chunks of 4 MiB
(Fernet would need it whole in memory). Each chunk is one AES-GCM message whose nonce is
the file's random 8-byte prefix and the chunk's number, and whose associated data names
the file, the chunk's number and whether it is the last: a chunk cannot be altered,
moved to another place or another file, and a file cut short (no last chunk) or with
bytes after its last chunk is refused.

The key file holds 32 random bytes as 64 hex digits (``counterfoil backup key``). Its
id, a hash of the key, is written in the manifest so that the right key can be found;
a second key derived from it (HKDF) seals the manifest itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from counterfoil.core.errors import IntegrityFailure, ValidationError
from counterfoil.i18n import _

MAGIC = b"CFBACKUP-AESGCM1"
CHUNK = 4 * 1024 * 1024
_TAG = 16
_LENGTH = struct.Struct(">I")


class BackupKey:
    """The key of encrypted backups: 32 bytes from a key file."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a backup key is 32 bytes")
        self._key = key
        self.key_id = hashlib.sha256(b"counterfoil/backup-key-id\n" + key).hexdigest()[:16]
        self._aead = AESGCM(self._derive(b"counterfoil/backup-files/v1"))
        self._seal_key = self._derive(b"counterfoil/backup-manifest/v1")

    def _derive(self, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(self._key)

    @classmethod
    def from_file(cls, path: Path) -> BackupKey:
        try:
            text = path.read_text().strip()
        except OSError as exc:
            raise ValidationError(
                "key-file",
                _("cannot read the key file {path}: {reason}"),
                path=str(path),
                reason=exc.strerror or str(exc),
            ) from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValidationError(
                "key-file",
                _("the key file {path} must hold 64 hex digits (32 bytes)"),
                path=str(path),
            )
        return cls(key)

    def seal(self, document: bytes) -> str:
        """An HMAC of the manifest's canonical bytes: proves it was written with this key."""
        return hmac.new(self._seal_key, document, hashlib.sha256).hexdigest()

    def seal_ok(self, document: bytes, seal: str) -> bool:
        return hmac.compare_digest(self.seal(document), seal)

    def encrypt(self, name: str, chunks: Iterable[bytes], out: IO[bytes]) -> None:
        """Write ``chunks`` (each at most CHUNK bytes) encrypted to ``out``."""
        prefix = secrets.token_bytes(8)
        out.write(MAGIC + prefix)
        number = 0
        pending: bytes | None = None
        for chunk in _rechunk(chunks):
            if pending is not None:
                out.write(self._seal_chunk(name, prefix, number, pending, last=False))
                number += 1
            pending = chunk
        out.write(self._seal_chunk(name, prefix, number, pending or b"", last=True))

    def _seal_chunk(self, name: str, prefix: bytes, number: int, data: bytes, last: bool) -> bytes:
        nonce = prefix + struct.pack(">I", number)
        sealed = self._aead.encrypt(nonce, data, _aad(name, number, last))
        return _LENGTH.pack(len(sealed)) + sealed

    def decrypt(self, name: str, source: IO[bytes]) -> Iterator[bytes]:
        """The plain chunks of an encrypted file; IntegrityFailure if any was touched."""
        head = source.read(len(MAGIC) + 8)
        if len(head) < len(MAGIC) + 8 or head[: len(MAGIC)] != MAGIC:
            raise IntegrityFailure(_("{name} is not an encrypted backup file"), name=name)
        prefix = head[len(MAGIC) :]
        number = 0
        while True:
            raw = source.read(_LENGTH.size)
            if len(raw) < _LENGTH.size:
                raise IntegrityFailure(
                    _("{name} is cut short: it ends before its last part"), name=name
                )
            (length,) = _LENGTH.unpack(raw)
            if length < _TAG or length > CHUNK + _TAG:
                raise IntegrityFailure(
                    _("{name} is damaged at part {part}"), name=name, part=number
                )
            sealed = source.read(length)
            if len(sealed) < length:
                raise IntegrityFailure(
                    _("{name} is cut short: it ends before its last part"), name=name
                )
            nonce = prefix + struct.pack(">I", number)
            plain = None
            for last in (False, True):
                try:
                    plain = self._aead.decrypt(nonce, sealed, _aad(name, number, last))
                except InvalidTag:
                    continue
                break
            if plain is None:
                raise IntegrityFailure(
                    _("{name} is damaged at part {part}, or another key encrypted it"),
                    name=name,
                    part=number,
                )
            yield plain
            if last:
                if source.read(1):
                    raise IntegrityFailure(
                        _("{name} is damaged: there are bytes after its last part"), name=name
                    )
                return
            number += 1


def _aad(name: str, number: int, last: bool) -> bytes:
    return MAGIC + name.encode() + b"\0" + struct.pack(">I?", number, last)


def _rechunk(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Chunks of exactly CHUNK bytes (the last one shorter)."""
    buffer = bytearray()
    for piece in chunks:
        buffer += piece
        while len(buffer) >= CHUNK:
            yield bytes(buffer[:CHUNK])
            del buffer[:CHUNK]
    if buffer:
        yield bytes(buffer)


def read_chunks(source: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    while piece := source.read(size):
        yield piece


def new_key_file(path: Path) -> BackupKey:
    """Make a new key file (mode 0600; never overwrites one) and return its key."""
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ValidationError(
            "out", _("{path} already exists: a key file is never overwritten"), path=str(path)
        ) from None
    try:
        os.write(fd, key.hex().encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return BackupKey(key)
