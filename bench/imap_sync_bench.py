"""IMAP sync throughput and memory, against a throwaway local Dovecot (as the tests start it).

    python bench/imap_sync_bench.py [--sizes 500,2000] [--big 4] [--batch 200] [--before PATH] [--rounds N]

For each size N: a fresh mailbox gets N SpamAssassin messages plus ``--big`` messages of
~8 MB (a base64 attachment), appended over IMAP; then one full sync into a fresh SQLite
store is timed while a thread samples this process's RSS and the CPU time of this process
with its parse workers (client) and of Dovecot (server). "2-core msgs/s" is what an
otherwise idle 2-core machine would do for both: 2,000 / (client + server CPU ms/msg).
"Memory flat" means the RSS
growth does not rise with N: batches are bounded by count and bytes and committed as they go.

``--before PATH`` (another checkout, e.g. the integration branch's) syncs the same mailbox with
that code too, alternating with this code ``--rounds`` times so both meet the same machine
load; each sync then runs in a fresh child process (both pay their parse workers' start-up),
and the RSS columns are the child's own.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

# The code measured: this checkout, or the --before one in the child process.
ROOT = Path(os.environ.get("BEACON_BENCH_CODE") or Path(__file__).resolve().parents[1])
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # testkit (corpora) and the tests' Dovecot helper

from imapserver import DovecotServer, ImapUser, add_account, append_messages  # noqa: E402

from beacon.imap.sync import sync_account  # noqa: E402
from beacon.settings import Settings  # noqa: E402
from beacon.store.db import Database  # noqa: E402
from testkit.corpora import spamassassin_dir  # noqa: E402

MB = 1024 * 1024


def big_message(i: int, size: int = 8 * MB) -> bytes:
    payload = base64.encodebytes(os.urandom(size * 3 // 4))
    return (
        f"From: bench@example.org\r\nTo: you@example.org\r\nSubject: big {i}\r\n"
        f"Message-ID: <big-{i}-{time.time_ns()}@bench>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
        "--BB\r\nContent-Type: text/plain\r\n\r\nSee attachment.\r\n"
        "--BB\r\nContent-Type: application/octet-stream; name=blob.bin\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + payload + b"\r\n--BB--\r\n"


_SERVER_NAMES = ("dovecot", "imap", "auth", "anvil", "log", "config", "stats")


class RssSampler:
    """This process's RSS (peak, every 20 ms), the CPU seconds of this process with its
    parse workers ("client") and of the Dovecot processes ("server"), by process, and the
    client's PSS summed over its processes (peak, every 200 ms: what the machine gives it)."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self.cpu: dict[int, tuple[str, float]] = {}
        self.pss_peak = 0
        self._base = self._cpu_now()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _cpu_now(self, pss: bool = False) -> dict[int, tuple[str, float]]:
        out = {}
        client_pss = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                out[p.pid] = (p.name(), t.user + t.system)
                if pss and not out[p.pid][0].startswith(_SERVER_NAMES):
                    client_pss += p.memory_full_info().pss
            except psutil.Error:
                continue
        self.pss_peak = max(self.pss_peak, client_pss)
        return out

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)
            n += 1
            if n % 10 == 0:
                self.cpu.update(self._cpu_now(pss=True))

    def split(self) -> tuple[float, float]:
        """(client, server) CPU seconds used since start."""
        client = server = 0.0
        for pid, (name, used) in self.cpu.items():
            used -= self._base.get(pid, (name, 0.0))[1]
            if name.startswith(_SERVER_NAMES):
                server += used
            else:
                client += used
        return client, server

    def __enter__(self) -> RssSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu.update(self._cpu_now())
        self._stop.set()
        self._t.join()


def sync_once(server: Any, user: ImapUser, batch: int) -> dict[str, float]:
    """One full sync of ``user``'s mailbox into a fresh SQLite store: its figures."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.migrate()
        settings = Settings(data_dir=Path(tmp), database_url=db.url, imap_ca_file=str(server.cert),
                            imap_batch_size=batch)
        add_account(db, settings, server, user)
        with RssSampler() as rss:
            t0 = time.perf_counter()
            result = sync_account(db, settings, "work")
            elapsed = time.perf_counter() - t0
        db.dispose()
    client, server_cpu = rss.split()
    return {"fetched": result.total("fetched"), "elapsed": elapsed, "client": client, "server": server_cpu,
            "rss_start": rss.start, "rss_growth": rss.peak - rss.start, "pss": rss.pss_peak}


def sync_in_child(code: str, server: DovecotServer, user: ImapUser, batch: int) -> dict[str, float]:
    """:func:`sync_once` with the code at ``code``, in a child process; Dovecot's CPU is
    measured here (its processes are this one's children)."""
    spec = {"host": server.host, "port": server.port, "tls_port": server.tls_port, "cert": str(server.cert),
            "user": user.name, "password": user.password, "batch": batch}
    env = {**os.environ, "BEACON_BENCH_CODE": code, "PYTHONPATH": code, "PYTHONDONTWRITEBYTECODE": "1"}
    with RssSampler() as rss:
        out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], env=env, check=True,
                             capture_output=True, text=True).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    figures["server"] = rss.split()[1]
    return figures


def child(spec_json: str) -> int:
    spec = json.loads(spec_json)
    server = SimpleNamespace(host=spec["host"], port=spec["port"], tls_port=spec["tls_port"], cert=spec["cert"])
    print(json.dumps(sync_once(server, ImapUser(spec["user"], spec["password"]), spec["batch"])))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="500,2000", help="mailbox sizes (corpus messages) to compare")
    ap.add_argument("--big", type=int, default=4, help="extra ~8 MB messages per mailbox")
    ap.add_argument("--batch", type=int, default=Settings().imap_batch_size, help="imap_batch_size")
    ap.add_argument("--before", help="another checkout to sync the same mailboxes with, for comparison")
    ap.add_argument("--rounds", type=int, default=1, help="syncs of each mailbox per code")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    console = Console(width=200)
    files = sorted(spamassassin_dir().rglob("*.txt"))
    table = Table(title=f"IMAP sync (batch {args.batch} messages / 16 MB)")
    for col in ("code", "messages", "MB", "seconds", "msgs/s", "MB/s", "client CPU ms/msg", "Dovecot CPU ms/msg",
                "2-core msgs/s", "RSS start MB", "RSS peak growth MB", "client PSS peak MB"):
        table.add_column(col, justify="right")
    with DovecotServer() as server:
        for n in (int(x) for x in args.sizes.split(",")):
            user = server.add_user()
            raws = [f.read_bytes() for f in files[:n]] + [big_message(i) for i in range(args.big)]
            append_messages(server, user, raws)
            size = sum(len(r) for r in raws)
            del raws
            for _round in range(args.rounds):
                runs = [("this", lambda: sync_once(server, user, args.batch))]
                if args.before:
                    # Both in a fresh child: each pays its parse workers' start-up alike.
                    runs = [(label, lambda code=code: sync_in_child(code, server, user, args.batch))
                            for label, code in (("this", str(ROOT)), ("before", args.before))]
                for label, run in runs:
                    f = run()
                    fetched, elapsed = int(f["fetched"]), f["elapsed"]
                    per = 1000 / max(fetched, 1)
                    table.add_row(
                        label, str(fetched), f"{size / MB:.0f}", f"{elapsed:.1f}", f"{fetched / elapsed:.0f}",
                        f"{size / MB / elapsed:.1f}", f"{f['client'] * per:.2f}", f"{f['server'] * per:.2f}",
                        f"{2000 / max((f['client'] + f['server']) * per, 1e-9):,.0f}",
                        f"{f['rss_start'] / MB:.0f}", f"{f['rss_growth'] / MB:.0f}", f"{f['pss'] / MB:.0f}",
                    )
    console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
