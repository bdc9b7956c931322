"""Per-test cost of ``kafka_topic`` + ``kafka_group_id``.

The body reads the topic's metadata only: the group is never joined, so deleting it is
one round trip.
"""

from __future__ import annotations

from typing import Any

import pytest

from .counts import repetitions


def test_warmup(kafka_topic: str, kafka_group_id: str) -> None:
    assert kafka_topic
    assert kafka_group_id


@pytest.mark.parametrize("i", repetitions("kafka_topic_group", 50))
def test_kafka_topic_group(
    kafka_topic: str, kafka_group_id: str, kafka_topics: Any, i: int
) -> None:
    kafka_topics.admin.list_topics(topic=kafka_topic, timeout=5)
