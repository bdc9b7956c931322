"""Proving Ground's benchmarks: ``uv run python -m benchmarks TOPIC [--quick]``.

Each topic renders a project, runs it for real and writes
``benchmarks/results/TOPIC.{json,md}`` with the machine and its load average; see
docs/benchmarks.md for what each one measures and its latest figures.
"""
