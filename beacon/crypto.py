"""The installation's secret and the encryption of stored credentials (IMAP passwords).

One secret per installation: ``settings.secret_key`` when set, else a random key kept in
``data_dir/secret.key`` (created 0600 on first use). Each use derives its own key from it
with HKDF, so the web session signer and the password cipher never share key material.
"""

from __future__ import annotations

import base64
import os
import secrets
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from beacon.errors import SecretError
from beacon.settings import Settings
from beacon.store.private import private_dir, private_file

SECRET_FILE = "secret.key"
_PASSWORD_INFO = b"beacon/stored-passwords/v1"


def _read_key_file(path: Path) -> bytes:
    data = path.read_bytes().strip()
    if len(data) < 32:
        raise SecretError(f"{path} is too short to be a secret key; remove it to make a new one")
    return data


def load_or_create_secret(settings: Settings) -> bytes:
    """The installation secret: ``settings.secret_key``, else ``data_dir/secret.key``.

    The file is written to a private temporary file and hard-linked into place, so two
    processes starting at once agree on one key and nobody reads a half-written file.
    """
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = settings.data_dir / SECRET_FILE
    private_dir(settings.data_dir)
    if path.exists():
        private_file(path)
        return _read_key_file(path)
    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=settings.data_dir)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.urlsafe_b64encode(secrets.token_bytes(32)) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process won the race: use its key
    finally:
        os.unlink(tmp)
    return _read_key_file(path)


def derive_key(secret: bytes, purpose: bytes, length: int = 32) -> bytes:
    """A key for one purpose, derived from the installation secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(secret)


class PasswordCipher:
    """Encrypts credentials for storage (Fernet: AES-128-CBC + HMAC, with a timestamp)."""

    def __init__(self, secret: bytes) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, _PASSWORD_INFO)))

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordCipher:
        return cls(load_or_create_secret(settings))

    def encrypt(self, password: str) -> bytes:
        return self._fernet.encrypt(password.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(token)).decode("utf-8")
        except InvalidToken as exc:
            raise SecretError(
                "the stored password cannot be decrypted: the secret key changed "
                "(BEACON_SECRET_KEY or data_dir/secret.key); set the password again"
            ) from exc
