"""Shipped model files: gzipped JSON, byte-for-byte reproducible, and the train-or-check step.

Plain JSON rather than a pickle: it loads without scikit-learn, cannot run code, and survives
library upgrades. Sorted keys and a zero gzip mtime make a retraining on the same data give the
very same bytes, which ``write_or_check`` relies on.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any


def save_json_gz(data: Mapping[str, Any], path: Path) -> None:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh, gzip.GzipFile(filename="", fileobj=fh, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(raw)


def load_json_gz(path: Path) -> Any:
    with gzip.open(path, "rb") as fh:
        return json.loads(fh.read().decode("utf-8"))


def write_or_check(save: Callable[[Path], None], out: Path, check: bool, what: str = "") -> int:
    """Write the freshly trained artifact to ``out``, or (``check``) compare it with ``out``."""
    if not check:
        save(out)
        print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB{', ' + what if what else ''})")
        return 0
    tmp = out.with_suffix(".check.tmp")
    try:
        save(tmp)
        same = tmp.read_bytes() == out.read_bytes()
    finally:
        tmp.unlink(missing_ok=True)
    print("artifact is reproducible" if same else f"artifact differs from a fresh training: {out}")
    return 0 if same else 1
