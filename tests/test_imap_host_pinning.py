"""An IMAP account entered in the web is checked again when Beacon connects, not only when saved.

A host name that resolved to a public address when the user saved the account can resolve to
127.0.0.1 later (DNS rebinding). Such accounts connect only to addresses checked at connect
time, and to exactly the address that was checked; TLS still verifies the certificate against
the name. The real Dovecot serves the connections that must succeed; a bare listening socket
shows that a refused one never reached the network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient

from beacon.crypto import PasswordCipher
from beacon.errors import ImapConfigError, ImapNetworkError
from beacon.imap.accounts import ImapAccountInput, endpoint_for, save_imap_account
from beacon.imap.connection import ImapEndpoint, _PinnedClient, connect, public_addresses, ssl_context
from beacon.store.db import Database
from beacon.store.schema import Account
from tests.imapserver import DovecotServer, make_settings


@pytest.fixture()
def listener() -> Iterator[socket.socket]:
    """A TCP port on 127.0.0.1 that accepts nothing by itself: a connection would queue."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    yield sock
    sock.close()


def reached(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return False
    conn.close()
    return True


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]"])
def test_a_restricted_endpoint_never_connects_to_a_private_address(listener: socket.socket, host: str) -> None:
    port = listener.getsockname()[1]
    ep = ImapEndpoint(host=host, port=port, security="none", user="u", password="p", timeout=2, public_only=True)
    with pytest.raises(ImapConfigError, match="loopback or private"):
        connect(ep)
    assert not reached(listener)
    # The same endpoint without the restriction (an operator's account) does connect.
    unrestricted = ImapEndpoint(host="127.0.0.1", port=port, security="none", user="u", password="p", timeout=0.5)
    with pytest.raises(ImapNetworkError):  # the listener never greets: the read times out
        connect(unrestricted)
    assert reached(listener)


def test_public_addresses_are_returned_in_the_resolver_order() -> None:
    ep = ImapEndpoint(host="203.0.113.9", port=993, security="tls", user="u", password="p")
    # 203.0.113.0/24 is documentation space: not global, so refused too.
    with pytest.raises(ImapConfigError):
        public_addresses(ep)
    ep = ImapEndpoint(host="8.8.8.8", port=993, security="tls", user="u", password="p")
    assert public_addresses(ep) == ["8.8.8.8"]


def test_the_pinned_connection_goes_to_the_checked_address_and_verifies_the_name(dovecot: DovecotServer) -> None:
    user = dovecot.add_user()
    ctx = ssl_context(str(dovecot.cert))
    client = _PinnedClient("127.0.0.1", "localhost", port=dovecot.tls_port, ssl=True, ssl_context=ctx, timeout=10)
    try:
        client.login(user.name, user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()
    # The certificate names localhost and 127.0.0.1 only: a name it does not cover fails the
    # TLS check even though the socket goes to the same address.
    with pytest.raises(Exception, match="certificate"):
        _PinnedClient("127.0.0.1", "imap.example.com", port=dovecot.tls_port, ssl=True, ssl_context=ctx, timeout=10)
    # STARTTLS on the plain port: the upgrade verifies the name too.
    plain = _PinnedClient("127.0.0.1", "localhost", port=dovecot.port, ssl=False, timeout=10)
    try:
        plain.starttls(ctx)
        plain.login(user.name, user.password)
    finally:
        plain.logout()
    assert isinstance(plain, IMAPClient)


def test_web_accounts_are_restricted_until_an_admin_allows_private_hosts(
    sqlite_db: Database, dovecot: DovecotServer, tmp_path: Path,
) -> None:
    user = dovecot.add_user()
    strict = make_settings(tmp_path, sqlite_db, dovecot)
    allowing = make_settings(tmp_path, sqlite_db, dovecot, imap_allow_private_hosts=True)
    cipher = PasswordCipher.from_settings(strict)

    def save(name: str, restricted: bool) -> Account:
        data = ImapAccountInput(name=name, host="localhost", user=user.name, password=user.password,
                                security="tls", port=dovecot.tls_port, restricted=restricted)
        with sqlite_db.session() as s:
            acc = save_imap_account(s, cipher, data)
            s.expunge(acc)
            return acc

    web = save("web", restricted=True)  # as if "localhost" had resolved to a public address at save
    operator = save("cli", restricted=False)
    assert endpoint_for(web, cipher, strict).public_only
    assert not endpoint_for(web, cipher, allowing).public_only
    assert not endpoint_for(operator, cipher, strict).public_only
    with pytest.raises(ImapConfigError, match="private"):
        connect(endpoint_for(web, cipher, strict))
    for acc, settings in ((web, allowing), (operator, strict)):
        client = connect(endpoint_for(acc, cipher, settings))
        client.logout()
