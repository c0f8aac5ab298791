"""Is a name an installed spaCy pipeline? Checked before a setting may name it as the model.

The cheap check (:func:`pipeline_problem`) looks for the package and the ``meta.json`` every
spaCy pipeline package ships, without importing anything: ``"os"`` is an importable module
but no pipeline. The full check (:func:`load_in_child`) loads the pipeline in a child
process, the way workers will, so a broken or incompatible package is refused when chosen
instead of killing the engine later; the web process itself never loads spaCy.
"""

from __future__ import annotations

import functools
import importlib.util
import subprocess
import sys
from pathlib import Path

__all__ = ["LOAD_TIMEOUT", "load_in_child", "pipeline_problem"]

LOAD_TIMEOUT = 180.0  # seconds a child may take to load the pipeline

_LOAD = "import sys, spacy; spacy.load(sys.argv[1]); print('ok')"


@functools.lru_cache(maxsize=32)
def pipeline_problem(name: str) -> str | None:
    """Why ``name`` is not an installed spaCy pipeline package, or None when it looks like one."""
    if not name.isidentifier():
        return f"{name!r} is not a spaCy model package name"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return f"spaCy model {name!r} is not installed"
    locations = list(spec.submodule_search_locations or [])
    if not any((Path(p) / "meta.json").is_file() for p in locations):
        return f"{name!r} is installed but is not a spaCy pipeline package"
    return None


def load_in_child(name: str, timeout: float = LOAD_TIMEOUT) -> str | None:
    """Load ``name`` in a fresh Python process; why it failed, or None when it loaded."""
    problem = pipeline_problem(name)
    if problem is not None:
        return problem
    try:
        done = subprocess.run([sys.executable, "-c", _LOAD, name], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"spaCy model {name!r} did not load within {timeout:.0f} s"
    if done.returncode != 0 or done.stdout.strip() != "ok":
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        return f"spaCy model {name!r} cannot be loaded: {last[:300]}"
    return None
