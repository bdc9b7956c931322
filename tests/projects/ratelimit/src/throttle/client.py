import redis

from throttle.settings import get_settings


def connect() -> redis.Redis:
    return redis.Redis.from_url(get_settings().redis_url, decode_responses=True)
