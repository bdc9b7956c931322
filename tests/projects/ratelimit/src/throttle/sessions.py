"""Sessions in Redis hashes that expire unless touched."""

import secrets

import redis


class SessionStore:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.client, self.ttl = client, ttl_seconds

    def create(self, user_id: str, **data: str) -> str:
        token = secrets.token_urlsafe(16)
        key = f"session:{token}"
        self.client.hset(key, mapping={"user_id": user_id, **data})
        self.client.expire(key, self.ttl)
        self.client.sadd(f"user-sessions:{user_id}", token)
        return token

    def get(self, token: str) -> dict[str, str] | None:
        data = self.client.hgetall(f"session:{token}")
        return data or None

    def touch(self, token: str) -> bool:
        return bool(self.client.expire(f"session:{token}", self.ttl))

    def revoke_all(self, user_id: str) -> int:
        tokens = self.client.smembers(f"user-sessions:{user_id}")
        if tokens:
            self.client.delete(*(f"session:{token}" for token in tokens))
        self.client.delete(f"user-sessions:{user_id}")
        return len(tokens)
