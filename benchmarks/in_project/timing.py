"""A pytest plugin that times each test's setup, call and teardown phases.

Each phase is timed around pytest's own hook, fixtures included; the records go to the
JSON file named by ``BENCH_TIMINGS_OUT`` at the end of the session. A test's kind is its
function name without ``test_``: parametrized repetitions share it. With
``BENCH_FIRST_TEST_OUT``, the wall-clock time at which the first test's setup began is
written there too (the runner subtracts the time it started the command), followed by
the CPU time the process had used by then.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Generator
from pathlib import Path

import pytest

OUT_ENV = "BENCH_TIMINGS_OUT"
FIRST_TEST_ENV = "BENCH_FIRST_TEST_OUT"
_records: list[dict[str, object]] = []


def _timed(item: pytest.Item, phase: str) -> Generator[None, object, object]:
    started = time.perf_counter()
    try:
        return (yield)
    finally:
        kind = getattr(item, "originalname", item.name).removeprefix("test_")
        seconds = time.perf_counter() - started
        _records.append({"kind": kind, "phase": phase, "nodeid": item.nodeid, "s": seconds})


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    first_test_out = os.environ.pop(FIRST_TEST_ENV, None)  # popped: the first test only
    if first_test_out:
        # The wall clock, and the CPU time this process has used so far (which the
        # machine's load hardly changes, unlike the wall clock).
        Path(first_test_out).write_text(f"{time.time()!r} {time.process_time()!r}")
    return (yield from _timed(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _timed(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _timed(item, "teardown"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get(OUT_ENV)
    if out:
        Path(out).write_text(json.dumps(_records))
