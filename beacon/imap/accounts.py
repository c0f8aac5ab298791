"""IMAP accounts: saving them (password encrypted at rest), listing them with their sync state.

Used by ``beacon account add/list`` and by the web app's settings page alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beacon.crypto import PasswordCipher
from beacon.imap.connection import SECURITY_CHOICES, ImapEndpoint, Security, default_port
from beacon.errors import ImapConfigError, InvalidInput, SecretError
from beacon.settings import Settings
from beacon.store.emails import find_account
from beacon.store.tenancy import EVERYONE, UserScope, account_ids
from beacon.store.schema import Account, ImapFolder, ImapMessage

IMAP_KIND = "imap"


@dataclass(frozen=True)
class ImapAccountInput:
    """What a user enters for an IMAP account. ``password=None`` keeps the stored one."""

    name: str
    host: str
    user: str
    password: str | None = field(repr=False)
    security: Security = "tls"
    port: int | None = None  # None = 993 for tls, 143 otherwise
    folders: tuple[str, ...] = ("INBOX",)
    # Where "done" moves mail when the server marks no folder \Archive; None keeps the
    # stored one, "" clears it (done mail then gets a keyword).
    archive_folder: str | None = None
    # Entered by a user in the web: the host is checked again at every connection.
    restricted: bool = False

    def validate(self) -> None:
        problems = []
        if not self.name.strip():
            problems.append("name is empty")
        if not self.host.strip():
            problems.append("host is empty")
        if not self.user:
            problems.append("user is empty")
        if self.security not in SECURITY_CHOICES:
            problems.append(f"security must be one of {', '.join(SECURITY_CHOICES)}")
        if self.port is not None and not 0 < self.port < 65536:
            problems.append("port must be between 1 and 65535")
        if not self.folders or any(not f.strip() for f in self.folders):
            problems.append("folders must be a non-empty list of names")
        if problems:
            raise InvalidInput("; ".join(problems))

    @property
    def resolved_port(self) -> int:
        return self.port or default_port(self.security)


def save_imap_account(s: Session, cipher: PasswordCipher, data: ImapAccountInput,
                      user_id: int | None = None) -> Account:
    """Create ``user_id``'s account, or update theirs of that name (kind must be imap)."""
    data.validate()
    acc = find_account(s, data.name.strip(), user_id)
    if acc is None:
        if data.password is None:
            raise InvalidInput("a new account needs a password")
        acc = Account(name=data.name.strip(), kind=IMAP_KIND, addresses=[], user_id=user_id)
        s.add(acc)
    elif acc.kind != IMAP_KIND:
        raise InvalidInput(f"account {acc.name!r} exists and is not an IMAP account")
    acc.imap_host = data.host.strip()
    acc.imap_host_restricted = data.restricted
    acc.imap_port = data.resolved_port
    acc.imap_security = data.security
    acc.imap_user = data.user
    acc.folders = list(dict.fromkeys(f.strip() for f in data.folders))
    if data.password is not None:
        acc.password_encrypted = cipher.encrypt(data.password)
    if data.archive_folder is not None:
        acc.imap_archive_folder = data.archive_folder.strip() or None
    s.flush()
    return acc


def imap_accounts(s: Session, scope: UserScope = EVERYONE) -> list[Account]:
    """The IMAP accounts ``scope`` may see (the scheduler syncs everyone's)."""
    q = select(Account).where(Account.kind == IMAP_KIND, Account.id.in_(account_ids(scope)))
    return list(s.scalars(q.order_by(Account.name)))


def endpoint_for(acc: Account, cipher: PasswordCipher, settings: Settings) -> ImapEndpoint:
    """The connection details of an account, with its password decrypted."""
    if acc.kind != IMAP_KIND or not acc.imap_host or not acc.imap_user:
        raise ImapConfigError(f"account {acc.name!r} is not a configured IMAP account")
    if acc.password_encrypted is None:
        raise ImapConfigError(f"account {acc.name!r} has no stored password")
    try:
        password = cipher.decrypt(acc.password_encrypted)
    except SecretError as exc:
        raise ImapConfigError(f"account {acc.name!r}: {exc}") from exc
    security: Security = acc.imap_security or "tls"  # type: ignore[assignment]
    return ImapEndpoint(
        host=acc.imap_host,
        port=acc.imap_port or default_port(security),
        security=security,
        user=acc.imap_user,
        password=password,
        timeout=settings.imap_timeout,
        ca_file=settings.imap_ca_file,
        public_only=acc.imap_host_restricted and not settings.imap_allow_private_hosts,
    )


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uidvalidity: int | None
    last_uid: int
    messages: int
    last_sync_at: datetime | None


@dataclass(frozen=True)
class AccountStatus:
    """What the UI / API show for an account: never the password, not even encrypted."""

    id: int
    name: str
    host: str
    port: int
    security: str
    user: str
    folders: list[str]
    last_sync_at: datetime | None
    last_error: str | None
    folder_status: list[FolderStatus]


def account_statuses(s: Session, scope: UserScope = EVERYONE) -> list[AccountStatus]:
    counts = dict(
        s.execute(
            select(ImapMessage.folder_id, func.count(ImapMessage.id))
            .where(ImapMessage.uid > 0)
            .group_by(ImapMessage.folder_id)
        ).all()
    )
    out = []
    for acc in imap_accounts(s, scope):
        folders = s.scalars(
            select(ImapFolder).where(ImapFolder.account_id == acc.id).order_by(ImapFolder.name)
        )
        out.append(
            AccountStatus(
                id=acc.id,
                name=acc.name,
                host=acc.imap_host or "",
                port=acc.imap_port or 0,
                security=acc.imap_security or "",
                user=acc.imap_user or "",
                folders=list(acc.folders or []),
                last_sync_at=acc.last_sync_at,
                last_error=acc.last_error,
                folder_status=[
                    FolderStatus(f.name, f.uidvalidity, f.last_uid, counts.get(f.id, 0), f.last_sync_at)
                    for f in folders
                ],
            )
        )
    return out
