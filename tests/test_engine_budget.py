"""The memory budget: where it comes from, the limits it implies, admission of batches, and the
cheap memory readings the watchdog acts on."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from beacon.engine.budget import ADMIT_FRACTION, Budget
from beacon.engine.memory import (
    DEFAULT_BUDGET,
    MB,
    MemoryGauge,
    cgroup_memory_limit,
    resolve_budget,
    rss_fast,
    sample,
)
from beacon.settings import Settings


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path, **kw)  # type: ignore[arg-type]


def test_budget_comes_from_setting_else_cgroup_else_two_gib() -> None:
    assert resolve_budget(123 * MB) == (123 * MB, "setting")
    limit = cgroup_memory_limit()
    expected = (limit, "cgroup") if limit is not None else (DEFAULT_BUDGET, "default")
    assert resolve_budget(0) == expected


def test_limits_shrink_with_the_budget(tmp_path: Path) -> None:
    big = Budget(_settings(tmp_path, memory_budget=2048 * MB), slots=2)
    small = Budget(_settings(tmp_path, memory_budget=1024 * MB), slots=2)
    for b in (big, small):
        b.observe(main_pss=90 * MB, helpers_rss=140 * MB, total_pss=300 * MB)
    assert big.hard_limit == (int(2048 * MB * 0.95) - 230 * MB) // 2
    assert small.hard_limit < big.hard_limit and small.soft_limit == small.hard_limit // 2
    assert small.max_batch_chars() <= big.max_batch_chars() <= 40_000
    tiny = Budget(_settings(tmp_path, memory_budget=400 * MB, max_text_chars=20_000), slots=2)
    tiny.observe(main_pss=90 * MB, helpers_rss=140 * MB, total_pss=300 * MB)
    assert tiny.hard_limit == 128 * MB  # the floor: a worker must hold the model and one email
    assert tiny.max_batch_chars() == 20_000  # never below one capped email


def test_admission_waits_for_room_but_never_starves(tmp_path: Path) -> None:
    b = Budget(_settings(tmp_path, memory_budget=1000 * MB), slots=2)
    b.observe(main_pss=100 * MB, helpers_rss=100 * MB, total_pss=int(1000 * MB * ADMIT_FRACTION) - 50 * MB)
    stopping = threading.Event()
    big = 200 * MB
    assert b.admit(big, stopping)  # nothing runs: admitted even though it does not fit
    admitted = threading.Event()
    t = threading.Thread(target=lambda: b.admit(big, stopping) and admitted.set())
    t.start()
    time.sleep(0.3)
    assert not admitted.is_set()  # a second one waits while the first runs
    b.release(big)
    t.join(timeout=5)
    assert admitted.is_set()
    b.release(big)


def test_cost_per_character_is_learned(tmp_path: Path) -> None:
    b = Budget(_settings(tmp_path), slots=2)
    before = b.estimate(10_000)
    for _ in range(20):
        b.learn(10_000, 10_000 * 1000)  # 1 KB per character observed
    assert b.estimate(10_000) < before
    assert 900 < b.bytes_per_char < 1100


_HOARDER = """
import sys
hoard = []
for line in sys.stdin:
    if line.strip() == "grow":
        hoard.append(b"\\x01" * (100 * 1024 * 1024))  # written, so resident
    print("ok", flush=True)
"""


def test_memory_gauge_carries_uss_forward_by_rss_and_rereads_on_demand() -> None:
    proc = subprocess.Popen([sys.executable, "-c", _HOARDER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None

    def ask(cmd: str) -> None:
        proc.stdin.write(cmd + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        assert proc.stdout.readline().strip() == "ok"  # type: ignore[union-attr]

    try:
        ask("hello")
        gauge = MemoryGauge(proc.pid, full_every=3600.0)
        first = gauge.read(time.monotonic())
        assert first is not None and gauge.exact
        again = sample(proc.pid)
        assert again is not None and abs(first.uss - again.uss) < 2 * MB
        ask("grow")
        carried = gauge.read(time.monotonic())
        assert carried is not None and not gauge.exact  # no page-table walk this time
        assert carried.rss == rss_fast(proc.pid)
        assert 95 * MB < carried.uss - first.uss < 110 * MB  # new pages are private: USS moves with RSS
        full = gauge.read(time.monotonic(), full=True)
        assert full is not None and gauge.exact
        assert abs(full.uss - carried.uss) < 5 * MB and abs(full.pss - carried.pss) < 5 * MB
        # The full reading is due again once ``full_every`` has passed.
        assert MemoryGauge(proc.pid, full_every=0.0).read(time.monotonic()) is not None
    finally:
        proc.kill()
        proc.wait()
    assert gauge.read(time.monotonic()) is None  # gone: no reading, not a stale one
    assert rss_fast(proc.pid) is None
