"""Which IMAP servers a web user may point Beacon at: public ones, unless an admin allows more.

An IMAP account makes the server open a connection to a host and port of the user's choice,
so without a check any user could probe the server's own machine and private network (a
database on 127.0.0.1, a cloud metadata service on 169.254.169.254). Accounts entered in the
web therefore must resolve to public addresses only, unless the admin turns on
``imap_allow_private_hosts``. The command line is the operator's and is not limited.
"""

from __future__ import annotations

import ipaddress
import socket

from beacon.errors import InvalidInput

__all__ = ["check_public_host", "is_public_address", "non_public_addresses"]


def non_public_addresses(host: str) -> list[str]:
    """The addresses ``host`` resolves to that are not public (loopback, private, link-local,
    reserved...); InvalidInput when it does not resolve at all."""
    name = host.strip().strip("[]")
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"IMAP server {host!r} cannot be resolved: {exc}") from exc
    found = [str(info[4][0]).split("%", 1)[0] for info in infos]
    return sorted({a for a in found if not is_public_address(a)})


def is_public_address(address: str) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address judged as its IPv4 one)."""
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return ip.is_global and not ip.is_multicast


def check_public_host(host: str) -> None:
    """Refuse a host on the server's own machine or a private network."""
    private = non_public_addresses(host)
    if private:
        raise InvalidInput(
            f"IMAP server {host!r} is on a loopback or private network ({', '.join(private)}); "
            "an admin must allow private IMAP hosts first")
