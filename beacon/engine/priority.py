"""Analysis takes the CPU that the web and IMAP sync leave: its priority, set per thread.

Linux keeps the niceness and the scheduling policy of each thread: ``os.nice`` and
``sched_setscheduler(0, ...)`` change the calling thread only, and what it starts afterwards
(threads, processes) inherits them. The workers' processes are analysis from their first
line; in the process that owns the engine, only the thread that drives a background run is
(claiming jobs, saving results: ~9 ms of CPU per email), while the memory watchdog and the
answers to the web process keep the web's priority.
"""

from __future__ import annotations

import os

from beacon.settings import Settings

__all__ = ["as_analysis"]


def as_analysis(settings: Settings) -> None:
    """Run the calling thread (and what it starts from now on) as analysis work:
    ``worker_nice`` added to its niceness, and Linux's SCHED_BATCH with ``worker_sched_batch``
    (CPU-bound work that never preempts the web on wake-up; not starved as SCHED_IDLE is)."""
    if settings.worker_nice:
        os.nice(settings.worker_nice)
    if settings.worker_sched_batch and hasattr(os, "sched_setscheduler"):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
