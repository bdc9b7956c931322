import pytest
import redis

from throttle.client import connect
from throttle.limiter import FixedWindowLimiter
from throttle.sessions import SessionStore
from throttle.settings import get_settings


@pytest.fixture
def redis_client() -> redis.Redis:
    client = connect()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def limiter(redis_client: redis.Redis) -> FixedWindowLimiter:
    return FixedWindowLimiter(redis_client, limit=3, window_seconds=60)


@pytest.fixture
def store(redis_client: redis.Redis) -> SessionStore:
    return SessionStore(redis_client, ttl_seconds=get_settings().session_ttl_seconds)
