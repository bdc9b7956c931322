import functools
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    redis_url: str
    requests_per_window: int
    window_seconds: int
    session_ttl_seconds: int


@functools.cache
def get_settings() -> Settings:
    """Read once, on first use."""
    return Settings(
        redis_url=os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        requests_per_window=int(os.environ.get("RATE_LIMIT", "10")),
        window_seconds=int(os.environ.get("RATE_WINDOW_SECONDS", "60")),
        session_ttl_seconds=int(os.environ.get("SESSION_TTL_SECONDS", "3600")),
    )
