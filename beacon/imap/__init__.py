"""IMAP accounts and incremental sync (see :mod:`beacon.imap.sync` for the entry point)."""

from beacon.errors import ImapAuthError, ImapConfigError, ImapError, ImapNetworkError

__all__ = ["ImapAuthError", "ImapConfigError", "ImapError", "ImapNetworkError"]
