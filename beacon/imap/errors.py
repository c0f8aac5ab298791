"""Errors of IMAP sync, split by what the caller should do about them.

- :class:`ImapAuthError`: wrong credentials. Never retried (retrying locks accounts).
- :class:`ImapConfigError`: TLS verification, missing folder, undecryptable password:
  retrying cannot help, a person must change something.
- :class:`ImapNetworkError`: timeouts, refused or dropped connections: retried with backoff.
"""

from __future__ import annotations


class ImapError(RuntimeError):
    """Base of every IMAP sync error; the message is meant for the user."""


class ImapAuthError(ImapError):
    pass


class ImapConfigError(ImapError):
    pass


class ImapNetworkError(ImapError):
    pass
