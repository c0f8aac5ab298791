"""The memory-safe NLP engine: spaCy analysis inside a memory budget, nothing lost.

Three modes behind one interface (``BEACON_NLP_MODE``):

- ``inprocess``: spaCy in the calling process;
- ``oneshot``: a fresh process per batch, which loads the model, answers over a pipe, exits;
- ``pool`` (default): a supervisor and N warm workers forked from a zygote that loaded the
  model once; a watchdog measures them while they work, recycles and kills them.

In ``oneshot`` and ``pool`` the main process never imports spaCy. Entry points:
:func:`beacon.engine.analyzer.make_analyzer` for ad-hoc analysis and
:class:`beacon.engine.service.EngineService` for durable, resumable analysis of the store.
This package imports nothing heavy: import the submodules you need.
"""
