"""A fixed-window rate limiter: one counter per key and window, expiring with it."""

import time
from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    reset_in: int


class FixedWindowLimiter:
    def __init__(self, client: redis.Redis, limit: int, window_seconds: int) -> None:
        self.client, self.limit, self.window = client, limit, window_seconds

    def _key(self, subject: str, now: float) -> str:
        return f"ratelimit:{subject}:{int(now // self.window)}"

    def hit(self, subject: str, now: float | None = None) -> Decision:
        now = time.time() if now is None else now
        key = self._key(subject, now)
        pipe = self.client.pipeline()
        pipe.incr(key)
        pipe.expire(key, self.window, nx=True)
        count, _ = pipe.execute()
        reset_in = self.window - int(now % self.window)
        return Decision(count <= self.limit, max(self.limit - count, 0), reset_in)

    def reset(self, subject: str, now: float | None = None) -> None:
        self.client.delete(self._key(subject, time.time() if now is None else now))
