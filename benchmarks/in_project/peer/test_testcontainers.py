"""Plain testcontainers, as its documentation shows it: a container per session, the test
connects to it. The image names are the suite's own (``PEER_PG_IMAGE``,
``PEER_REDIS_IMAGE``), served by the same Docker API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from redis import Redis
    from testcontainers.community.postgres import PostgresContainer


@pytest.fixture(scope="session")
def postgres_container() -> Iterator[PostgresContainer]:
    from testcontainers.community.postgres import PostgresContainer

    with PostgresContainer(os.environ["PEER_PG_IMAGE"], driver=None) as container:
        yield container


@pytest.fixture(scope="session")
def redis_container_client() -> Iterator[Redis]:
    from testcontainers.community.redis import RedisContainer

    with RedisContainer(os.environ["PEER_REDIS_IMAGE"]) as container:
        client = container.get_client()
        yield client
        client.close()


def test_postgres_container(postgres_container: PostgresContainer) -> None:
    import psycopg

    with psycopg.connect(postgres_container.get_connection_url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_redis_container(redis_container_client: Redis) -> None:
    redis_container_client.set("bench", 1)
    redis_container_client.flushdb()
