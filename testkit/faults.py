"""Poison-mail hooks: emails that hang, eat memory or kill the worker analysing them.

Workers load them with ``BEACON_ANALYSIS_LOADER=testkit.faults:load`` (the
``analysis_loader`` setting): :func:`load` wraps Beacon's real pipeline and, before analysing a
batch, acts on these markers in an email's subject or text:

- ``BEACON-FAULT:hang``  - sleep for ever (the batch timeout must catch it);
- ``BEACON-FAULT:alloc`` - allocate and touch memory quickly, up to 6 GiB (the memory
  watchdog must kill the worker long before the kernel's OOM killer would);
- ``BEACON-FAULT:exit``  - SIGKILL its own process (a crash in native code looks like this);
- ``BEACON-FAULT:slow``  - take a fifth of a second longer (a run long enough to interrupt).

Use it with the ``oneshot`` or ``pool`` modes only: in ``inprocess`` the hooks would act on the
test process itself.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterable
from typing import Any

from beacon.engine.worker import AnalyzeFn, load_pipeline
from beacon.settings import Settings

LOADER = "testkit.faults:load"
MARKER = "BEACON-FAULT:"
FAULTS = ("hang", "alloc", "exit", "slow")
_ALLOC_STEP = 32 * 1024 * 1024
_ALLOC_MAX = 6 * 1024 * 1024 * 1024


def load(settings: Settings) -> AnalyzeFn:
    analyze = load_pipeline(settings)

    def analyze_with_faults(emails: list[dict[str, Any]],
                            contexts: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        act_on_faults(emails)
        return analyze(emails, contexts)

    return analyze_with_faults


def faults_in(email: dict[str, Any]) -> list[str]:
    text = " ".join(str(email.get(k) or "") for k in ("subject", "new_text", "text"))
    if MARKER not in text:
        return []
    return [f for f in FAULTS if f"{MARKER}{f}" in text]


def act_on_faults(emails: Iterable[dict[str, Any]]) -> None:
    for email in emails:
        for fault in faults_in(email):
            _FAULT_ACTIONS[fault]()


def _hang() -> None:
    while True:
        time.sleep(3600)


def _alloc() -> None:
    hoard: list[bytes] = []
    while len(hoard) * _ALLOC_STEP < _ALLOC_MAX:
        hoard.append(b"\x01" * _ALLOC_STEP)  # written, so resident (not lazy zero pages)
        time.sleep(0.005)
    _hang()


def _exit() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _slow() -> None:
    time.sleep(0.2)


_FAULT_ACTIONS: dict[str, Callable[[], None]] = {"hang": _hang, "alloc": _alloc, "exit": _exit, "slow": _slow}
