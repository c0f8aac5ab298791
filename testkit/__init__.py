"""Development helpers shared by ``tests/`` and ``bench/``: not part of the installed package.

- :mod:`testkit.corpora`: real-mail corpora fetched from package registries and cached;
- :mod:`testkit.faults`: poison-mail hooks for the engine's workers (``analysis_loader``).

Both directories put the repository root on ``sys.path`` (pytest through ``pythonpath`` in
``pyproject.toml``, the benchmarks themselves), and so do the worker processes tests start
(``tests/conftest.py`` adds it to ``PYTHONPATH``).
"""
