"""Per-test cost of ``mongo_database`` (a database per test, dropped after).

On our machines the server is FerretDB standing in for MongoDB.
"""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


def test_warmup(mongo_database: Any) -> None:
    assert mongo_database.name


@pytest.mark.parametrize("i", repetitions("mongo_database", 200))
def test_mongo_database(mongo_database: Any, i: int) -> None:
    # A write creates the database, so the drop after the test is a real one.
    mongo_database.bench.insert_one({"i": i})
