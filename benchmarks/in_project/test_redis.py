"""Per-test cost of ``redis_client`` (the worker's database index, flushed around the test)."""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


def test_warmup(redis_client: Any) -> None:
    assert redis_client.ping()


@pytest.mark.parametrize("i", repetitions("redis_client", 200))
def test_redis_client(redis_client: Any, i: int) -> None:
    redis_client.set("bench", i)
