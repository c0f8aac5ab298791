"""The memory budget for all Beacon processes together, and the limits derived from it.

The budget (``memory_budget``, else the cgroup limit, else 2 GiB) is shared between the main
process, the zygote and the workers. From the latest sample it derives:

- a hard limit per worker (USS): past it the monitor SIGKILLs the worker mid-batch;
- a soft limit per worker: past it the worker is recycled after its batch;
- admission: a batch starts only if its estimated peak fits beside what is already in use;
- the largest batch (in characters) one worker can take without reaching its hard limit.

The cost of a character is learned from the peaks workers report (spaCy error E088 puts
parser + NER at ~1 GB per 100,000 characters; measured email batches peak lower).
"""

from __future__ import annotations

import threading

from beacon.engine.memory import MB, resolve_budget
from beacon.settings import Settings

__all__ = [
    "ADMIT_FRACTION", "BATCH_OVERHEAD", "Budget", "INITIAL_BYTES_PER_CHAR", "KILL_FRACTION",
    "MIN_HARD_LIMIT", "SAFETY",
]

KILL_FRACTION = 0.95  # all processes above this share of the budget: kill the biggest worker
ADMIT_FRACTION = 0.85  # start a batch only if the projected total stays below this
MIN_HARD_LIMIT = 128 * MB
INITIAL_BYTES_PER_CHAR = 3000.0
SAFETY = 1.5  # estimate = learned cost x SAFETY
BATCH_OVERHEAD = 8 * MB


class Budget:
    def __init__(self, settings: Settings, slots: int) -> None:
        self.settings = settings
        self.total, self.source = resolve_budget(settings.memory_budget)
        self.slots = max(1, slots)
        self.bytes_per_char = INITIAL_BYTES_PER_CHAR
        self.current_total = 0
        self._fixed = 0  # main process + helpers (zygote)
        self._reserved = 0
        self._running = 0
        self._cond = threading.Condition()

    # -- limits --------------------------------------------------------------------------------
    @property
    def kill_threshold(self) -> int:
        return int(self.total * KILL_FRACTION)

    @property
    def hard_limit(self) -> int:
        if self.settings.worker_hard_limit > 0:
            return self.settings.worker_hard_limit
        share = (self.kill_threshold - self._fixed) // self.slots
        return max(MIN_HARD_LIMIT, share)

    @property
    def soft_limit(self) -> int:
        if self.settings.worker_soft_limit > 0:
            return self.settings.worker_soft_limit
        return self.hard_limit // 2

    def observe(self, main_pss: int, helpers_rss: int, total_pss: int) -> None:
        """The monitor's latest sample. Helpers count at RSS: the pages they share with
        workers must fit once, whoever ends up paying for them."""
        with self._cond:
            self._fixed = main_pss + helpers_rss
            self.current_total = total_pss
            self._cond.notify_all()

    # -- batch sizing and admission ------------------------------------------------------------
    def estimate(self, chars: int) -> int:
        return int(chars * self.bytes_per_char * SAFETY) + BATCH_OVERHEAD

    def max_batch_chars(self, worker_baseline: int = 64 * MB) -> int:
        room = max(0, self.hard_limit - worker_baseline) * 0.8
        fits = int(room / (self.bytes_per_char * SAFETY))
        return max(self.settings.max_text_chars, min(self.settings.batch_max_chars, fits))

    def learn(self, chars: int, growth: int) -> None:
        """Fold one batch's observed peak growth into the per-character cost."""
        if chars < 1000 or growth <= 0:
            return  # tiny batches say more about fixed overhead than per-character cost
        with self._cond:
            observed = growth / chars
            self.bytes_per_char = max(500.0, 0.8 * self.bytes_per_char + 0.2 * observed)

    def admit(self, cost: int, stopping: threading.Event) -> bool:
        """Wait until a batch of this cost fits; always admit when nothing else runs (progress)."""
        limit = self.total * ADMIT_FRACTION
        with self._cond:
            while not stopping.is_set():
                if self._running == 0 or self.current_total + self._reserved + cost <= limit:
                    self._reserved += cost
                    self._running += 1
                    return True
                self._cond.wait(0.1)
        return False

    def release(self, cost: int) -> None:
        with self._cond:
            self._reserved -= cost
            self._running -= 1
            self._cond.notify_all()
