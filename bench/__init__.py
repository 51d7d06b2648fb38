"""Benchmarks, synthetic data and charts: the tools that measure Leadbridge and drive its
real stack, kept out of the service packages and the runtime package (``shared``).

Nothing here is imported by a running service; it needs the development requirements
(``requirements-dev.txt``). ``bench/README.md`` says what each bench measures.

- :mod:`bench.stack`: an isolated namespace (topic prefix + database) on the real broker
  and database, and the five services as real processes (the tests use it too);
- :mod:`bench.baseline`: the bare aiokafka hop every bench compares against;
- :mod:`bench.stats` and :mod:`bench.charts`: the one percentile and the one set of charts;
- :mod:`bench.synthetic`: synthetic lead history; :mod:`bench.leads`: leads of known grade;
- ``python -m bench.scoring``, ``bench.routing``, ``bench.pipeline``, ``bench.inbox``: the benches.
"""
