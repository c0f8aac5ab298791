"""The web's after-actions thread (beacon.triage.deferred): it coalesces what comes while it
works, keeps the order, yields to actions being answered, and finishes its queue at shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from beacon.triage.deferred import DeferredHooks, DeferredState
from beacon.triage.models import Action, ActionRecord, Source


def _rec(n: int) -> ActionRecord:
    return ActionRecord(id=n, user_id=1, email_id=n, action=Action.READ, until=None, source=Source.WEB, before={},
                        created_at=datetime.now(timezone.utc))


class Recorder:
    """A stand-in for ``run_hooks_later`` that records each pass (the hooks themselves are
    tested on real stores in test_learning and test_triage_inbox)."""

    def __init__(self) -> None:
        self.passes: list[list[int]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.started = threading.Event()

    def __call__(self, db: Any, records: Sequence[ActionRecord], *,
                 before_unit: Callable[[], None] | None = None) -> None:
        self.started.set()
        if before_unit is not None:
            before_unit()
        self.gate.wait(10)
        self.passes.append([r.id for r in records])


def test_work_that_comes_meanwhile_is_one_pass_in_order() -> None:
    run = Recorder()
    run.gate.clear()
    d = DeferredHooks(db=None, run=run)  # type: ignore[arg-type]
    assert d.state is DeferredState.IDLE
    d.submit([_rec(1)])
    assert run.started.wait(5)
    d.submit([_rec(2)])
    d.submit([_rec(3), _rec(4)])
    run.gate.set()
    d.join()
    assert run.passes == [[1], [2, 3, 4]] and d.passes == 2 and d.state is DeferredState.RUNNING
    d.stop()
    assert d.state is DeferredState.STOPPED


def test_no_unit_starts_while_an_action_is_answered() -> None:
    run = Recorder()
    d = DeferredHooks(db=None, run=run)  # type: ignore[arg-type]
    with d.acting():
        d.submit([_rec(1)])
        assert run.started.wait(5)
        time.sleep(0.3)
        assert run.passes == []  # waiting for the answer to be sent
    d.join()
    assert run.passes == [[1]]
    d.stop()


def test_stop_finishes_the_queue_and_later_actions_run_in_the_caller() -> None:
    run = Recorder()
    run.gate.clear()
    d = DeferredHooks(db=None, run=run)  # type: ignore[arg-type]
    d.submit([_rec(1)])
    assert run.started.wait(5)
    d.submit([_rec(2)])
    threading.Timer(0.2, run.gate.set).start()
    d.stop(timeout=5)
    assert run.passes == [[1], [2]]
    d.submit([_rec(3)])  # after shutdown: at once, in this thread
    assert run.passes == [[1], [2], [3]]
