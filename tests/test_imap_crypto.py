"""Stored IMAP passwords: encrypted at rest with a key from settings or data_dir/secret.key."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from beacon.crypto import SECRET_FILE, PasswordCipher, SecretError, derive_key, load_or_create_secret
from beacon.imap.accounts import ImapAccountInput, endpoint_for, save_imap_account
from beacon.errors import ImapConfigError, InvalidInput
from beacon.settings import Settings
from beacon.store.db import Database


def test_key_file_is_created_once_private(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(load_or_create_secret(settings))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results[0]) >= 32  # racing starters agree on one key
    key_file = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in settings.data_dir.iterdir()] == [SECRET_FILE]  # no temp files left
    assert load_or_create_secret(settings) == results[0]


def test_secret_key_setting_wins_and_keys_are_separated(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="x" * 40)
    assert load_or_create_secret(settings) == b"x" * 40
    assert not (settings.data_dir / SECRET_FILE).exists()
    secret = load_or_create_secret(settings)
    assert derive_key(secret, b"a") != derive_key(secret, b"b")


def test_password_round_trip_and_wrong_key(tmp_path: Path) -> None:
    cipher = PasswordCipher(b"k" * 32)
    token = cipher.encrypt("hunter2-ü")
    assert b"hunter2" not in token
    assert cipher.encrypt("hunter2-ü") != token  # random IV: equal passwords do not show
    assert cipher.decrypt(token) == "hunter2-ü"
    with pytest.raises(SecretError, match="secret key changed"):
        PasswordCipher(b"other" * 8).decrypt(token)


def test_account_password_stored_encrypted(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_db.url)
    cipher = PasswordCipher.from_settings(settings)
    data = ImapAccountInput(name="w", host="imap.example.org", user="me", password="p4ss-word-xyz")
    with sqlite_db.session() as s:
        acc = save_imap_account(s, cipher, data)
        assert acc.imap_port == 993 and acc.folders == ["INBOX"]
        assert acc.password_encrypted is not None and b"p4ss-word-xyz" not in acc.password_encrypted
        ep = endpoint_for(acc, cipher, settings)
        assert ep.password == "p4ss-word-xyz"
        assert "p4ss-word-xyz" not in repr(ep)
        # Updating without a password keeps the stored one.
        save_imap_account(s, cipher, ImapAccountInput(
            name="w", host="imap.example.org", user="me", password=None, security="starttls",
            folders=("INBOX", "Lists"),
        ))
        assert endpoint_for(acc, cipher, settings).password == "p4ss-word-xyz"
        assert (acc.imap_port, acc.folders) == (143, ["INBOX", "Lists"])
        with pytest.raises(ImapConfigError, match="secret key changed"):
            endpoint_for(acc, PasswordCipher(b"another-secret" * 3), settings)
    with pytest.raises(InvalidInput, match="security must be one of"):
        ImapAccountInput(name="w", host="h", user="u", password="p", security="ssl").validate()  # type: ignore[arg-type]
