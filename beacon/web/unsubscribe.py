"""One-click unsubscribe (RFC 8058), the POST made by Beacon's server for the reader.

Offered only when the mail says the list supports it (``List-Unsubscribe-Post:
List-Unsubscribe=One-Click``) and gives an ``https:`` URL in ``List-Unsubscribe`` (RFC 2369):
plain http would let anyone on the path unsubscribe or track the reader. The request carries
nothing of the reader's (no cookies, no credentials, RFC 8058 section 3.1).

A sender chooses the URL, so the server's request is guarded like an IMAP host a web user
enters (:mod:`beacon.imap.hosts`): the host must resolve to public addresses only unless the
admin allows private hosts, and the connection goes to the very address that was checked (a
second lookup could answer differently: DNS rebinding). Redirects are not followed, since
their target was never checked.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from beacon.errors import InvalidInput, UnsubscribeFailed
from beacon.imap.hosts import is_public_address
from beacon.models import ListHeaders

__all__ = ["ONE_CLICK_BODY", "OneClick", "Unsubscribed", "one_click", "unsubscribe"]

log = logging.getLogger(__name__)

ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
TIMEOUT = 10.0
_URIS = re.compile(r"<\s*([^>]*?)\s*>")


@dataclass(frozen=True)
class OneClick:
    url: str
    host: str


@dataclass(frozen=True)
class Unsubscribed:
    host: str
    status: int


def one_click(headers: ListHeaders) -> OneClick | None:
    """The https URL to POST to, when the mail offers one-click unsubscribe; else None."""
    post = (headers.list_unsubscribe_post or "").strip()
    if post.replace(" ", "").lower() != ONE_CLICK_BODY.lower():
        return None
    for uri in _URIS.findall(headers.list_unsubscribe or ""):
        parts = urlsplit(uri.replace("\n", "").replace("\r", "").replace(" ", ""))
        if parts.scheme.lower() == "https" and parts.hostname and not parts.username and not parts.password:
            return OneClick(urlunsplit(parts._replace(fragment="")), parts.hostname)
    return None


def unsubscribe(target: OneClick, *, allow_private_hosts: bool, timeout: float = TIMEOUT,
                verify: ssl.SSLContext | None = None) -> Unsubscribed:
    """POST the one-click body; ``Unsubscribed`` when the list's server answered 2xx.

    InvalidInput when the host is not allowed or does not resolve; UnsubscribeFailed when
    the request fails or is answered otherwise. ``verify`` replaces the system's trusted CAs.
    """
    parts = urlsplit(target.url)
    if parts.scheme != "https":  # one_click() gives only https; a caller's own OneClick too
        raise InvalidInput("one-click unsubscribe needs an https URL")
    port = parts.port or 443
    host_header = target.host if port == 443 else f"{target.host}:{port}"
    # No proxies or .netrc from the environment (trust_env=False): they would bypass the
    # address check. The CA bundle still honours SSL_CERT_FILE, as the rest of the system does.
    context = verify or httpx.create_ssl_context(trust_env=True)
    response: httpx.Response | None = None
    failure: Exception | None = None
    with httpx.Client(trust_env=False, verify=context, follow_redirects=False, timeout=timeout) as client:
        # Each checked address in turn, as any client tries a name's addresses.
        for address in _checked_addresses(target.host, port, allow_private_hosts):
            netloc = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
            try:
                request = client.build_request(
                    "POST", urlunsplit(parts._replace(netloc=netloc)), content=ONE_CLICK_BODY.encode(),
                    headers={"Host": host_header, "Content-Type": "application/x-www-form-urlencoded",
                             "User-Agent": "Beacon one-click unsubscribe (RFC 8058)"},
                    extensions={"sni_hostname": target.host},
                )
                # Only the status matters: the body is never read (it could be endless).
                response = client.send(request, stream=True)
                response.close()
                break
            except httpx.ConnectError as exc:
                failure = exc
            except httpx.HTTPError as exc:
                failure = exc
                break
    if response is None:
        raise UnsubscribeFailed(f"the unsubscribe server {target.host} could not be reached: {failure}") from failure
    if not 200 <= response.status_code < 300:
        raise UnsubscribeFailed(f"the unsubscribe server {target.host} answered {response.status_code}; "
                                "nothing was unsubscribed")
    log.info("one-click unsubscribe at %s answered %d", target.host, response.status_code)
    return Unsubscribed(target.host, response.status_code)


def _checked_addresses(host: str, port: int, allow_private_hosts: bool) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"the unsubscribe server {host!r} cannot be resolved: {exc}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    private = [a for a in addresses if not is_public_address(a)]
    if private and not allow_private_hosts:
        raise InvalidInput(f"the unsubscribe server {host!r} is on a loopback or private network "
                           f"({', '.join(private)}); Beacon does not send requests there")
    return addresses
