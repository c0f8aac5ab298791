"""Test-only fault hook: poison emails that hang, eat memory or kill their worker.

Off by default. With ``BEACON_TEST_FAULTS=1`` (``Settings.test_faults``) a worker process acts
on these markers in an email's subject or text, before analysing the batch:

- ``BEACON-FAULT:hang``  - sleep for ever (the batch timeout must catch it);
- ``BEACON-FAULT:alloc`` - allocate and touch memory quickly, up to 6 GiB (the memory
  watchdog must kill the worker long before the kernel's OOM killer would);
- ``BEACON-FAULT:exit``  - SIGKILL its own process (a crash in native code looks like this).

Only worker processes call :func:`act_on_faults`; the in-process analyzer never does, so a
fault can never take the main process down.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from typing import Any

MARKER = "BEACON-FAULT:"
FAULTS = ("hang", "alloc", "exit")
_ALLOC_STEP = 32 * 1024 * 1024
_ALLOC_MAX = 6 * 1024 * 1024 * 1024


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


_FAULT_ACTIONS = {"hang": _hang, "alloc": _alloc, "exit": _exit}
