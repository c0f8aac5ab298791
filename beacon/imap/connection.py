"""Opening an authenticated IMAP connection (TLS, STARTTLS or plain) with a socket timeout.

Every low-level failure is translated into one of the IMAP errors of :mod:`beacon.errors` here, so the
sync loop only decides "retry" (network) or "stop" (auth, config).
"""

from __future__ import annotations

import imaplib
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from imapclient import IMAPClient, imap4, tls
from imapclient.exceptions import CapabilityError, LoginError

from beacon.errors import ImapAuthError, ImapConfigError, ImapNetworkError
from beacon.imap.hosts import is_public_address

log = logging.getLogger(__name__)

Security = Literal["tls", "starttls", "none"]
SECURITY_CHOICES: tuple[Security, ...] = ("tls", "starttls", "none")

# What a dropped, reset, refused or stalled connection looks like from imaplib: socket
# errors (timeouts included, ssl.SSLError too) and imaplib's "abort" (e.g. EOF mid-response).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, imaplib.IMAP4.abort)


def default_port(security: Security) -> int:
    return 993 if security == "tls" else 143


@dataclass(frozen=True)
class ImapEndpoint:
    """Everything needed to log in; the password never appears in repr() or logs."""

    host: str
    port: int
    security: Security
    user: str
    password: str = field(repr=False)
    timeout: float = 60.0
    ca_file: str = ""  # extra trusted CA certificates (PEM), e.g. a self-signed server
    # Connect only to public addresses, checked when connecting: a name that resolved to a public
    # address when the account was saved may resolve to 127.0.0.1 later (DNS rebinding).
    public_only: bool = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def ssl_context(ca_file: str = "") -> ssl.SSLContext:
    """The system's verifying context, plus ``ca_file`` when given."""
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ImapConfigError(f"cannot load CA file {ca_file}: {exc}") from exc
    return ctx


def _tls_error(ep: ImapEndpoint, exc: ssl.SSLError) -> ImapConfigError | ImapNetworkError:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ImapConfigError(
            f"TLS certificate of {ep.address} is not trusted ({exc.verify_message}); "
            "check the host name, or set BEACON_IMAP_CA_FILE for a private CA"
        )
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return ImapNetworkError(f"connection to {ep.address} closed during the TLS handshake")
    return ImapConfigError(
        f"TLS handshake with {ep.address} failed ({exc.reason or exc}); "
        "is the security setting (tls / starttls / none) right for this port?"
    )


class _PinnedTLS(tls.IMAP4_TLS):
    """TLS from the start to one checked address; the certificate is still verified for the name."""

    def __init__(self, address: str, host: str, port: int, ssl_context: ssl.SSLContext | None,
                 timeout: float | None) -> None:
        self._pinned = address
        super().__init__(host, port, ssl_context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection((self._pinned, self.port), timeout=timeout or self._timeout)
        return tls.wrap_socket(sock, self.ssl_context, self.host)


class _PinnedPlain(imap4.IMAP4WithTimeout):
    """A plain (or later STARTTLS) connection to one checked address."""

    def __init__(self, address: str, host: str, port: int, timeout: float | None) -> None:
        self._pinned = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return socket.create_connection((self._pinned, self.port), timeout or self._timeout)


class _PinnedClient(IMAPClient):
    """An IMAPClient whose socket goes to ``address`` while the name stays ``host`` (SNI,
    certificate check, STARTTLS): the address checked is the address connected to."""

    def __init__(self, address: str, host: str, **kwargs: object) -> None:
        self._pinned_address = address
        super().__init__(host, **kwargs)  # type: ignore[arg-type]

    def _create_IMAP4(self) -> imaplib.IMAP4:  # noqa: N802 - IMAPClient's name
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedTLS(self._pinned_address, self.host, self.port, self.ssl_context, timeout)
        return _PinnedPlain(self._pinned_address, self.host, self.port, timeout)


def public_addresses(ep: ImapEndpoint) -> list[str]:
    """The host's addresses in the resolver's order when every one is public.

    ImapNetworkError when the name does not resolve (it may again later); ImapConfigError
    when it resolves to a loopback or private address (retrying will not help).
    """
    try:
        infos = socket.getaddrinfo(ep.host.strip("[]"), ep.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ImapNetworkError(f"cannot resolve {ep.host!r}: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    private = [a for a in addresses if not is_public_address(a)]
    if private or not addresses:
        raise ImapConfigError(
            f"IMAP server {ep.host!r} resolves to a loopback or private address ({', '.join(private)}); "
            "Beacon does not connect there unless an admin allows private IMAP hosts")
    return addresses


def _open(ep: ImapEndpoint, ctx: ssl.SSLContext | None) -> IMAPClient:
    """The TCP (and TLS) connection, to a checked public address when the endpoint asks for it."""
    kwargs = {"port": ep.port, "ssl": ep.security == "tls", "ssl_context": ctx, "timeout": ep.timeout}
    if not ep.public_only:
        return IMAPClient(ep.host, **kwargs)  # type: ignore[arg-type]
    failure: BaseException | None = None
    for address in public_addresses(ep):  # each address in turn, as any client tries a name's
        try:
            return _PinnedClient(address, ep.host, **kwargs)
        except ssl.SSLError:
            raise
        except NETWORK_ERRORS as exc:
            failure = exc
    assert failure is not None  # public_addresses() never returns an empty list
    raise failure


def connect(ep: ImapEndpoint) -> IMAPClient:
    """Connect and log in; raises ImapAuthError, ImapConfigError or ImapNetworkError."""
    ctx = ssl_context(ep.ca_file) if ep.security != "none" else None
    try:
        client = _open(ep, ctx)
    except ssl.SSLError as exc:
        raise _tls_error(ep, exc) from exc
    except NETWORK_ERRORS as exc:
        raise ImapNetworkError(f"cannot connect to {ep.address}: {exc}") from exc
    try:
        if ep.security == "starttls":
            client.starttls(ctx)
        client.login(ep.user, ep.password)
        if client.has_capability("CONDSTORE"):
            # MODSEQ in every FETCH from now on: flag changes are dated, write-backs conditional.
            client.enable("CONDSTORE")
    except LoginError as exc:
        _close(client)
        # The server's text ("[AUTHENTICATIONFAILED] ...") helps; it never echoes the password.
        raise ImapAuthError(f"authentication failed for {ep.user!r} at {ep.address}: {exc}") from exc
    except CapabilityError as exc:
        _close(client)
        raise ImapConfigError(f"{ep.address} does not offer STARTTLS: {exc}") from exc
    except ssl.SSLError as exc:
        _close(client)
        raise _tls_error(ep, exc) from exc
    except NETWORK_ERRORS as exc:
        _close(client)
        raise ImapNetworkError(f"connection to {ep.address} failed while logging in: {exc}") from exc
    except imaplib.IMAP4.error as exc:
        _close(client)
        raise ImapConfigError(f"{ep.address} refused the login sequence: {exc}") from exc
    client.normalise_times = False  # keep INTERNALDATE's time zone (the fallback date)
    quiet_imaplib(client)
    log.info("imap connected", extra={"imap_host": ep.address, "imap_user": ep.user})
    return client


def quiet_imaplib(client: IMAPClient) -> None:
    """Turn imaplib's own debug output off unless its logger would show it.

    IMAPClient sets imaplib's debug level to 5 and hands the lines to the
    ``imapclient.imaplib`` logger, but imaplib formats each line before the logger can drop
    it: a ``repr`` of every literal it reads and then of a FETCH's whole answer, so every
    message body was copied into two strings (an 8 MB message into 32 MB ones) for nothing.
    """
    if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        client._imap.debug = 0  # imaplib's attribute: see the docstring


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:  # noqa: BLE001 - the connection is being abandoned anyway
        pass


@contextmanager
def session(ep: ImapEndpoint) -> Iterator[IMAPClient]:
    """A logged-in client that is logged out (or just closed, if broken) afterwards."""
    client = connect(ep)
    try:
        yield client
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - a dropped connection cannot log out
            _close(client)


def check_login(ep: ImapEndpoint) -> list[str]:
    """Log in and list the folders: what `account add` does to verify the settings."""
    with session(ep) as client:
        try:
            return [name for _flags, _delim, name in client.list_folders()]
        except NETWORK_ERRORS as exc:
            raise ImapNetworkError(f"connection to {ep.address} dropped: {exc}") from exc
