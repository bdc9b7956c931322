import time

import pytest
from helpers import unique_subject

from throttle.sessions import SessionStore


def test_a_session_reads_back(store: SessionStore) -> None:
    token = store.create("u1", role="admin")
    assert store.get(token) == {"user_id": "u1", "role": "admin"}


def test_an_unknown_token_has_no_session(store: SessionStore) -> None:
    assert store.get("nope") is None


def test_revoke_all_ends_every_session_of_the_user(store: SessionStore) -> None:
    user = unique_subject("user")
    tokens = [store.create(user) for _ in range(3)]
    other = store.create(unique_subject("user"))
    assert store.revoke_all(user) == 3
    assert all(store.get(token) is None for token in tokens)
    assert store.get(other) is not None


def test_the_database_starts_empty(redis_client) -> None:
    assert redis_client.dbsize() == 0


@pytest.mark.slow
def test_sessions_expire(redis_client) -> None:
    store = SessionStore(redis_client, ttl_seconds=1)
    token = store.create("u2")
    assert store.touch(token)
    time.sleep(1.2)
    assert store.get(token) is None
