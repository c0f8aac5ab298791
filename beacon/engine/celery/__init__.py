"""Celery mode: analysis spread over `beacon worker` nodes on any machine that reaches the broker.

- :mod:`~beacon.engine.celery.app`: the Celery app and the rules both sides share;
- :mod:`~beacon.engine.celery.executor`: the main node's executor (batches out as tasks,
  outcomes back to the job runner, lost tasks sent again, lost nodes failing their batches);
- :mod:`~beacon.engine.celery.node`: a worker node, running Beacon's memory-safe pool inside;
- :mod:`~beacon.engine.celery.reports`: the nodes' heartbeats (liveness, memory, throughput).
"""
