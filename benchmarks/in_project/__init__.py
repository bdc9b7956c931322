"""Benchmark code that runs inside a rendered project (copied to ``tests/pg_bench``).

Loaded with ``-p tests.pg_bench.timing`` or run with ``python -m tests.pg_bench.<probe>``
from the project's directory; ``BENCH_N_<KIND>`` sets how many tests of a kind run.
"""
