"""Which paths on the server the web may import from: only below the configured import roots.

A web import reads files with the server's rights, so it is an admin's tool and is confined:
a path must resolve (symbolic links followed) to somewhere below one of ``import_roots``
(``BEACON_IMPORT_ROOTS``; none by default, which leaves the web with uploads only), never into
the kernel's pseudo-file systems (``/proc``, ``/sys``, ``/dev``) nor into Beacon's own data
directory (secret key, database). Inside a directory, symbolic links that lead out of the root
are not followed (:func:`beacon.ingest.sources.detect` is given the root).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from beacon.errors import Forbidden, SourceError
from beacon.settings import Settings

__all__ = ["FORBIDDEN_TREES", "ImportRoots", "is_within"]

log = logging.getLogger(__name__)

# Kernel interfaces, never mail: /proc/self/environ holds the server's secrets.
FORBIDDEN_TREES = (Path("/proc"), Path("/sys"), Path("/dev"))


def is_within(path: Path, root: Path) -> bool:
    """``path`` is ``root`` or below it (both already resolved)."""
    return path == root or root in path.parents


@dataclass(frozen=True)
class ImportRoots:
    roots: tuple[Path, ...]  # resolved
    data_dir: Path  # resolved

    @classmethod
    def from_settings(cls, settings: Settings) -> ImportRoots:
        data_dir = Path(os.path.realpath(settings.data_dir))
        roots: list[Path] = []
        for raw in settings.import_roots:
            root = Path(os.path.realpath(raw))
            if any(is_within(root, t) or is_within(t, root) for t in FORBIDDEN_TREES) \
                    or is_within(root, data_dir) or is_within(data_dir, root):
                log.warning("import root %s ignored: it is or holds a system tree or Beacon's data directory", raw)
                continue
            roots.append(root)
        return cls(tuple(roots), data_dir)

    @property
    def enabled(self) -> bool:
        return bool(self.roots)

    def check(self, raw: str) -> tuple[Path, Path]:
        """The resolved path and the root it lies in, or the error that refuses it."""
        text = raw.strip()
        if "\0" in text:
            raise SourceError("a path cannot contain a NUL character")
        if text == "-":
            raise SourceError("'-' (standard input) can only be imported with the command line")
        if not self.enabled:
            raise Forbidden("imports from the server's disk are switched off (no BEACON_IMPORT_ROOTS); "
                            "upload the file instead")
        if not Path(text).is_absolute():
            raise SourceError(f"{text}: give an absolute path on the server")
        path = Path(os.path.realpath(text))
        if any(is_within(path, t) for t in FORBIDDEN_TREES):
            raise SourceError(f"{text}: system files cannot be imported")
        if is_within(path, self.data_dir) or is_within(self.data_dir, path):
            raise SourceError(f"{text}: Beacon's data directory cannot be imported (nor a folder containing it)")
        root = next((r for r in self.roots if is_within(path, r)), None)
        if root is None:
            raise SourceError(f"{text}: not inside an import root ({', '.join(map(str, self.roots))})")
        if not path.exists():
            raise SourceError(f"{text}: no such file or directory")
        return path, root
