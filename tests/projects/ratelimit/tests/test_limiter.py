import pytest
from helpers import unique_subject

from throttle.limiter import FixedWindowLimiter


def test_allows_up_to_the_limit_then_refuses(limiter: FixedWindowLimiter) -> None:
    subject = unique_subject()
    decisions = [limiter.hit(subject, now=1000.0) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


def test_subjects_are_counted_apart(limiter: FixedWindowLimiter) -> None:
    a, b = unique_subject(), unique_subject()
    for _ in range(3):
        limiter.hit(a, now=1000.0)
    assert not limiter.hit(a, now=1000.0).allowed
    assert limiter.hit(b, now=1000.0).allowed


def test_a_new_window_starts_over(limiter: FixedWindowLimiter) -> None:
    subject = unique_subject()
    for _ in range(4):
        limiter.hit(subject, now=1000.0)
    assert limiter.hit(subject, now=1060.0).allowed


def test_counters_expire_with_their_window(limiter: FixedWindowLimiter, redis_client) -> None:
    subject = unique_subject()
    limiter.hit(subject, now=1000.0)
    (key,) = redis_client.keys(f"ratelimit:{subject}:*")
    assert 0 < redis_client.ttl(key) <= 60


def test_reset_forgets_the_count(limiter: FixedWindowLimiter) -> None:
    subject = unique_subject()
    for _ in range(3):
        limiter.hit(subject, now=1000.0)
    limiter.reset(subject, now=1000.0)
    assert limiter.hit(subject, now=1000.0).remaining == 2


@pytest.mark.parametrize("hits", [1, 2, 3])
def test_reset_in_counts_down(limiter: FixedWindowLimiter, hits: int) -> None:
    subject = unique_subject()
    for _ in range(hits):
        decision = limiter.hit(subject, now=1000.0 + hits)
    assert decision.reset_in == 60 - (1000 + hits) % 60
