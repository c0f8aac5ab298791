"""A throwaway Dovecot IMAP server for tests, plus small helpers that act as "another client".

:class:`DovecotServer` writes a self-contained config (passwd-file users, Maildir storage,
a self-signed certificate made with ``cryptography``), runs ``dovecot -F`` in the foreground
and stops it at teardown. Every path (base_dir, state_dir, logs, mail) lives in one temporary
directory, so nothing on the machine is touched. It raises — never skips — when Dovecot
cannot start: the IMAP tests are only meaningful against the real server.

Dovecot refuses uid 0 for mail access, so mail is stored as ``nobody``; the login and internal
processes run as Debian's ``dovenull`` / ``dovecot`` users created by ``dovecot-core``.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import ipaddress
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient
from sqlalchemy import func, select

from beacon.crypto import PasswordCipher
from beacon.imap.accounts import ImapAccountInput, save_imap_account
from beacon.parse import parse_message
from beacon.settings import Settings
from beacon.store.db import Database
from beacon.store.schema import EmailRow, ImapFolder, ImapMessage
from testkit.corpora import spamassassin_dir

MAIL_USER = "nobody"  # owner of the Maildirs: any existing non-root user works
USER_POOL = 60  # users written at start; each test takes its own

# Dovecot's default imap_logout_format logs these per session; tests read them to prove
# what the client really fetched (server-side figures, not the client's own counters).
_LOGOUT_RE = re.compile(
    r"imap\((?P<user>[^)]+)\)<[^>]*>.*Disconnected.*"
    r"body_count=(?P<body_count>\d+) body_bytes=(?P<body_bytes>\d+)"
)


def _die_with_parent() -> None:
    """Linux: SIGTERM Dovecot when the test process dies, even if killed before teardown."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_self_signed(directory: Path, host: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` / 127.0.0.1; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
instance_name = beacon-test-{port}
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_privileged_group =
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_cache_size = 0
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
namespace inbox {{
  inbox = yes
  # As Debian's default config: a folder named Archive is SPECIAL-USE \\Archive (RFC 6154).
  mailbox Archive {{
    special_use = \\Archive
  }}
}}
{extra}
"""


@dataclass(frozen=True)
class ImapUser:
    name: str
    password: str


class DovecotServer:
    """One Dovecot instance on free localhost ports; use as a context manager."""

    def __init__(self, extra_config: str = "") -> None:
        # Not under pytest's tmp_path: that is 0700 root and the unprivileged Dovecot
        # processes must reach their sockets and the Maildirs.
        self.root = Path(tempfile.mkdtemp(prefix="beacon-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port()
        self.host = "127.0.0.1"
        self.cert, self.key = make_self_signed(self.root)
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.extra_config = extra_config  # appended to the config, e.g. imap_capability
        self._pool = [ImapUser(f"user{i}", f"pw-{i}-{os.urandom(4).hex()}") for i in range(USER_POOL)]
        self._users = 0
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------
    def start(self, timeout: float = 20.0) -> None:
        if shutil.which("dovecot") is None:
            raise RuntimeError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
        pw = pwd.getpwnam(MAIL_USER)
        (self.root / "mail").mkdir()
        os.chown(self.root / "mail", pw.pw_uid, pw.pw_gid)
        (self.root / "passwd").write_text(
            "".join(f"{u.name}:{{PLAIN}}{u.password}::::::\n" for u in self._pool)
        )
        self.config.write_text(
            _CONFIG.format(
                root=self.root, port=self.port, tls_port=self.tls_port,
                cert=self.cert, key=self.key, uid=pw.pw_uid, gid=pw.pw_gid, extra=self.extra_config,
            )
        )
        self._proc = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                out = self._proc.stdout.read().decode(errors="replace") if self._proc.stdout else ""
                raise RuntimeError(f"dovecot exited ({self._proc.returncode}): {out}\n{self.log_text()}")
            if self._greets(self.port) and self._greets(self.tls_port, tls=True):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"dovecot did not start within {timeout}s:\n{self.log_text()}")

    def _greets(self, port: int, tls: bool = False) -> bool:
        try:
            with socket.create_connection((self.host, port), timeout=1) as sock:
                if tls:
                    return True  # accepting is enough; the handshake is tested by the tests
                return sock.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- users and inspection -------------------------------------------------
    def add_user(self) -> ImapUser:
        """A fresh user with its own empty Maildir.

        Users are all written before start: Dovecot re-reads a changed passwd-file at most
        about once a second, so users added while it runs fail to log in at random.
        """
        with self._lock:
            if self._users >= len(self._pool):
                raise RuntimeError(f"all {len(self._pool)} test users are taken; raise USER_POOL")
            user = self._pool[self._users]
            self._users += 1
        return user

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def body_fetches(self, user: str) -> tuple[int, int]:
        """(message bodies, body bytes) Dovecot served to ``user`` over all closed sessions."""
        count = size = 0
        for m in _LOGOUT_RE.finditer(self.log_text()):
            if m["user"] == user:
                count += int(m["body_count"])
                size += int(m["body_bytes"])
        return count, size

    def wait_logged_out(self, user: str, sessions: int, timeout: float = 5.0) -> None:
        """Wait until Dovecot has logged ``sessions`` disconnects of ``user`` (logs are async)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = sum(1 for m in _LOGOUT_RE.finditer(self.log_text()) if m["user"] == user)
            if found >= sessions:
                return
            time.sleep(0.05)
        raise AssertionError(f"expected {sessions} logged sessions of {user}:\n{self.log_text()[-3000:]}")

    def doveadm(self, *args: str) -> str:
        res = subprocess.run(
            ["doveadm", "-c", str(self.config), *args], capture_output=True, text=True, timeout=30
        )
        if res.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)} failed: {res.stderr}")
        return res.stdout

    def client(self, user: ImapUser) -> IMAPClient:
        """A separate client acting as the user's mail program (plain, loopback only)."""
        c = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        c.login(user.name, user.password)
        return c


def append_messages(
    server: DovecotServer, user: ImapUser, raws: Iterable[bytes], folder: str = "INBOX"
) -> list[int]:
    """Append raw messages in order; returns the UIDs Dovecot gave them."""
    uids: list[int] = []
    with server.client(user) as c:
        if not c.folder_exists(folder):
            c.create_folder(folder)
        for raw in raws:
            resp = c.append(folder, raw)
            # APPENDUID (UIDPLUS): "[APPENDUID <validity> <uid>] Append completed."
            m = re.search(rb"APPENDUID \d+ (\d+)", resp)
            if not m:
                raise AssertionError(f"no APPENDUID in {resp!r}")
            uids.append(int(m.group(1)))
    return uids


class FaultyProxy:
    """A localhost TCP proxy in front of Dovecot that breaks connections on purpose.

    ``arm(after_bytes=N)`` makes the next connection that issues a body fetch
    (``BODY.PEEK[]``) either be cut (``mode="cut"``: both sockets closed) or go silent
    (``mode="stall"``: bytes stop flowing, the client's timeout must fire) once N more bytes
    came from the server. ``connections`` counts accepted client connections.
    """

    def __init__(self, target_port: int, host: str = "127.0.0.1") -> None:
        self.host = host
        self.target_port = target_port
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._armed: list[tuple[int, str]] = []
        self.connections = 0
        self.faults = 0
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def arm(self, after_bytes: int, mode: str = "cut") -> None:
        with self._lock:
            self._armed.append((after_bytes, mode))

    def _take_plan(self) -> tuple[int, str] | None:
        with self._lock:
            return self._armed.pop(0) if self._armed else None

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._pump, args=(client,), daemon=True)
            t.start()
            self._threads.append(t)

    def _pump(self, client: socket.socket) -> None:
        import selectors

        try:
            upstream = socket.create_connection((self.host, self.target_port), timeout=5)
        except OSError:
            client.close()
            return
        plan: tuple[int, str] | None = None
        fetching = False
        counted = 0
        stalled = False
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        try:
            while not self._closed.is_set():
                for key, _ in sel.select(timeout=0.2):
                    src: socket.socket = key.fileobj  # type: ignore[assignment]
                    dst: socket.socket = key.data
                    data = src.recv(65536)
                    if not data:
                        return
                    if src is client and not fetching and b"BODY.PEEK[]" in data:
                        plan = self._take_plan()
                        fetching = plan is not None
                    if stalled:
                        continue  # swallow everything: the client must time out
                    if src is upstream and fetching and plan is not None:
                        counted += len(data)
                        if counted >= plan[0]:
                            self.faults += 1
                            keep = len(data) - (counted - plan[0])
                            dst.sendall(data[:keep])  # cut in the middle of the response
                            if plan[1] == "cut":
                                return
                            stalled = True
                            continue
                    dst.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            for s in (client, upstream):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for t in self._threads:
            t.join(2)

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- store-side helpers shared by the IMAP tests ------------------------------

ACCOUNT = "work"


def corpus(n: int, offset: int = 0) -> list[bytes]:
    """``n`` distinct real messages (ham and spam), in a fixed order."""
    root = spamassassin_dir()
    files = sorted((root / "easy-ham-1").glob("*.txt"))[:60] + sorted((root / "spam-2").glob("*.txt"))[:30]
    out: list[bytes] = []
    seen_ids: set[str] = set()
    for f in files:
        raw = f.read_bytes()
        mid = parse_message(raw).email.message_id
        if mid in seen_ids:
            continue
        seen_ids.add(mid)
        out.append(raw)
    assert len(out) >= offset + n, "corpus too small for this test"
    return out[offset : offset + n]


def filled_mailbox(server: DovecotServer, n: int, offset: int = 0) -> tuple[ImapUser, list[bytes]]:
    """A fresh user whose INBOX holds ``n`` corpus messages (UIDs 1..n)."""
    user = server.add_user()
    msgs = corpus(n, offset=offset)
    append_messages(server, user, msgs)
    return user, msgs


def message_id(raw: bytes) -> str:
    return parse_message(raw).email.message_id


def make_settings(tmp_path: Path, db: Database, server: DovecotServer, **kw: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": db.url,
        "imap_ca_file": str(server.cert),
        "imap_batch_size": 7,
        "imap_backoff": 0.01,
    }
    return Settings(**{**values, **kw})  # type: ignore[arg-type]


def add_account(
    db: Database,
    settings: Settings,
    server: DovecotServer,
    user: ImapUser,
    *,
    security: str = "starttls",
    port: int | None = None,
    password: str | None = None,
    folders: tuple[str, ...] = ("INBOX",),
) -> None:
    with db.session() as s:
        save_imap_account(
            s,
            PasswordCipher.from_settings(settings),
            ImapAccountInput(
                name=ACCOUNT, host=server.host, user=user.name,
                password=password if password is not None else user.password,
                security=security,  # type: ignore[arg-type]
                port=port or (server.tls_port if security == "tls" else server.port),
                folders=folders,
            ),
        )


def links(db: Database, folder: str = "INBOX") -> dict[int, str]:
    """{uid: Message-ID} of the live links of one folder."""
    with db.session() as s:
        rows = s.execute(
            select(ImapMessage.uid, EmailRow.message_id)
            .join(EmailRow, EmailRow.id == ImapMessage.email_id)
            .join(ImapFolder, ImapFolder.id == ImapMessage.folder_id)
            .where(ImapFolder.name == folder, ImapMessage.uid > 0)
        ).all()
    return dict(rows)


def email_count(db: Database) -> int:
    with db.session() as s:
        return s.scalar(select(func.count(EmailRow.id))) or 0


def flags_by_mid(db: Database) -> dict[str, tuple[bool, bool, bool, bool]]:
    """{Message-ID: (seen, answered, flagged, deleted)} of every stored email."""
    with db.session() as s:
        rows = s.execute(
            select(EmailRow.message_id, EmailRow.seen, EmailRow.answered, EmailRow.flagged, EmailRow.deleted)
        ).all()
    return {r[0]: tuple(r[1:]) for r in rows}  # type: ignore[misc]


def folder_state(db: Database, folder: str = "INBOX") -> tuple[int | None, int]:
    with db.session() as s:
        f = s.scalar(select(ImapFolder).where(ImapFolder.name == folder))
        assert f is not None
        return f.uidvalidity, f.last_uid


class BodyCounter:
    """Message bodies Dovecot served to one user since the last call (from its own log)."""

    def __init__(self, server: DovecotServer, user: ImapUser) -> None:
        self.server, self.user, self.sessions, self.seen = server, user, 0, 0

    def delta(self, new_sessions: int, expect: int | None = None, timeout: float = 5.0) -> int:
        """Bodies served since the last call. Dovecot logs sessions asynchronously and a session
        cut by a proxy may log its line late, so with ``expect`` wait (briefly) for that count."""
        self.sessions += new_sessions
        self.server.wait_logged_out(self.user.name, self.sessions)
        deadline = time.monotonic() + timeout
        while True:
            total, _ = self.server.body_fetches(self.user.name)
            if expect is None or total - self.seen >= expect or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        d, self.seen = total - self.seen, total
        return d


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    """One Dovecot per test module (stopped when the module is done); each test takes its
    own user, so its Maildir starts empty."""
    with DovecotServer() as server:
        yield server


# Capabilities without IDLE, MOVE and CONDSTORE (UIDPLUS kept): a server for the fallbacks.
PLAIN_CAPABILITIES = "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ENABLE UIDPLUS NAMESPACE UNSELECT"


@pytest.fixture(scope="module")
def plain_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot that offers no IDLE, MOVE nor CONDSTORE: polling, COPY + EXPUNGE, no MODSEQ."""
    with DovecotServer(extra_config=PLAIN_CAPABILITIES) as server:
        yield server


# CONDSTORE without QRESYNC: what goes is found by a search of every UID, not VANISHED.
CONDSTORE_CAPABILITIES = f"{PLAIN_CAPABILITIES} CONDSTORE"


@pytest.fixture(scope="module")
def condstore_dovecot() -> Iterator[DovecotServer]:
    """A Dovecot that offers CONDSTORE but not QRESYNC."""
    with DovecotServer(extra_config=CONDSTORE_CAPABILITIES) as server:
        yield server


def wait_for(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``cond`` until true; returns the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cond():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout}s")
