"""Per-test cost of ``s3_bucket`` (a bucket per test, emptied and deleted after)."""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


def test_warmup(s3_bucket: str, s3_client: Any) -> None:
    assert s3_bucket


@pytest.mark.parametrize("i", repetitions("s3_bucket", 200))
def test_s3_bucket(s3_bucket: str, s3_client: Any, i: int) -> None:
    # One object, so the teardown empties a bucket that has something in it.
    s3_client.put_object(Bucket=s3_bucket, Key="bench", Body=b"x")
