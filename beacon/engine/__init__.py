"""The memory-safe NLP engine: spaCy analysis inside a memory budget, nothing lost.

Four modes behind one executor interface (``BEACON_NLP_MODE``,
:mod:`beacon.engine.executor`):

- ``inprocess``: spaCy in the calling process;
- ``oneshot``: a fresh process per batch, which loads the model, answers over a pipe, exits;
- ``pool`` (default): a supervisor and N warm workers forked from a zygote that loaded the
  model once; a watchdog measures them while they work, recycles and kills them.
- ``celery``: batches go as Celery tasks through a Redis broker to ``beacon worker`` nodes on
  any machine, each running a ``pool`` inside; outcomes come back to this process's job
  runner, which keeps every rule below (:mod:`beacon.engine.celery`).

In ``oneshot`` and ``pool`` the main process never imports spaCy. Entry points:
:class:`~beacon.engine.service.EngineService` for durable, resumable analysis of the store,
:class:`~beacon.engine.host.EngineHost` for the one service of a long-lived server, and
:func:`~beacon.engine.analyzer.make_analyzer` for ad-hoc analysis. This package imports nothing
heavy: import the submodules you need.

States, and who changes them
============================

A worker process (:class:`~beacon.engine.handle.WorkerHandle`; every arrow is a method of the
handle, which checks the state it leaves under the handle's lock, then logs and counts)::

              begin_batch (slot thread)          kill(reason) (watchdog: hard_limit, budget;
     IDLE ─────────────────────────▶ BUSY ─────▶ KILLED        slot: timeout; stop: stopping)
      ▲ │ ◀──── end_batch (slot) ─────┘ │         │
      │ │                               │ pipe    │ pipe closed
      │ │                               ▼ closed  ▼
      │ └── retire(reason) ─▶ STOPPING ─▶ DEAD ◀── died() (slot thread): the batch fails with
      │      (slot: max_tasks, memory,              the kill reason, or "crashed" without one
      └──    data_limit; stop)

A DEAD worker's slot starts a new one for its next batch (at once in ``pool`` mode).

An executor (:class:`~beacon.engine.executor.ExecutorState`; ``start``/``stop`` from any
thread, one transition at a time)::

    STOPPED ─start()─▶ STARTING ─▶ RUNNING ─stop()─▶ STOPPING ─▶ STOPPED   (a failed start: STOPPED)

The service (:class:`~beacon.engine.service.ServiceState`; one run at a time; STOPPED is
final, so a replaced service can never start workers again)::

    IDLE ◀──▶ ANALYSING       IDLE | ANALYSING ─stop()─▶ STOPPING ─▶ STOPPED

A run (``runs.status``, :mod:`beacon.store.runs`; only its owner process finishes it, and
:func:`~beacon.store.runs.interrupt_dead_runs` marks the runs of a dead owner)::

    RUNNING ─▶ DONE | FAILED | INTERRUPTED

A job, one email at one pipeline version (``analysis_jobs.status``, :mod:`beacon.store.jobs`;
only the lease owner moves a job out of RUNNING)::

    PENDING ─claim─▶ RUNNING ─▶ DONE | QUARANTINED, or back to PENDING (release, recover_stale)

How a death becomes a retry
===========================

1. A worker dies mid-batch (killed by the watchdog or the timeout, or crashed): its slot thread
   sees the pipe close and :meth:`~beacon.engine.handle.WorkerHandle.died` turns the kill
   reason and exit status into :class:`~beacon.errors.BatchFailed`, the batch's outcome.
2. The job runner (:mod:`beacon.engine.runner`) gets that failure from the batch's future. A
   batch of several emails is split: every email goes back to PENDING and runs alone next. An
   email that fails alone goes back to PENDING until it has failed ``max_attempts`` times (or
   been claimed ``2 * max_attempts + 1`` times in all), then it is QUARANTINED with the reason.
   The others finish; each success is saved with its job marked DONE, fenced by the lease.
3. If the main process itself dies, its jobs stay RUNNING under a lease naming a dead owner:
   the next run hands them back to PENDING (``recover_stale``) and marks the dead run
   INTERRUPTED, so nothing is lost and nothing is analysed twice.
"""
