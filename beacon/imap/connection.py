"""Opening an authenticated IMAP connection (TLS, STARTTLS or plain) with a socket timeout.

Every low-level failure is translated into one of the IMAP errors of :mod:`beacon.errors` here, so the
sync loop only decides "retry" (network) or "stop" (auth, config).
"""

from __future__ import annotations

import imaplib
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from beacon.errors import ImapAuthError, ImapConfigError, ImapNetworkError

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


def connect(ep: ImapEndpoint) -> IMAPClient:
    """Connect and log in; raises ImapAuthError, ImapConfigError or ImapNetworkError."""
    ctx = ssl_context(ep.ca_file) if ep.security != "none" else None
    try:
        client = IMAPClient(
            ep.host, port=ep.port, ssl=ep.security == "tls", ssl_context=ctx, timeout=ep.timeout
        )
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
    log.info("imap connected", extra={"imap_host": ep.address, "imap_user": ep.user})
    return client


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
