"""Task-queue fixtures against what a user might pick instead; one task per test.

The project's package is named by ``BENCH_PACKAGE`` (set by the benchmark).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

import pytest

from .counts import repetitions

REPS = repetitions("task_queue", 31)


def tasks(queue: str) -> ModuleType:
    return importlib.import_module(f"{os.environ['BENCH_PACKAGE']}.{queue}_tasks")


@pytest.mark.parametrize("i", REPS)
def test_celery_real_worker(i: int, celery_worker: Any) -> None:
    from tests.support.celery_results import wait_for_result

    result = wait_for_result(tasks("celery").normalize_signup.delay("Ada@Example.com"))
    assert result == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_celery_eager_peer(i: int, celery_app: Any) -> None:
    celery_app.conf.task_always_eager = True
    assert tasks("celery").normalize_signup.delay("Ada@Example.com").get() == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_dramatiq_real_worker(i: int, dramatiq_broker: Any, dramatiq_worker: Any) -> None:
    from tests.support.dramatiq_results import wait_for_result

    message = tasks("dramatiq").normalize_signup.send("Ada@Example.com")
    assert wait_for_result(message, dramatiq_broker) == "ada@example.com"


@pytest.mark.parametrize("i", REPS)
def test_dramatiq_stub_broker_peer(i: int) -> None:
    """Dramatiq's documented test setup: a StubBroker and a real Worker in this process."""
    import dramatiq
    from dramatiq import Worker
    from dramatiq.brokers.stub import StubBroker
    from dramatiq.results import Results
    from dramatiq.results.backends.stub import StubBackend

    app_broker = dramatiq.get_broker()
    broker, backend = StubBroker(), StubBackend()
    broker.add_middleware(Results(backend=backend))
    actors = list(app_broker.actors.values())
    for actor in actors:
        actor.broker = broker
        broker.declare_actor(actor)
    worker = Worker(broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = tasks("dramatiq").normalize_signup.send("Ada@Example.com")
        broker.join(message.queue_name)
        worker.join()
        assert message.get_result(backend=backend) == "ada@example.com"
    finally:
        worker.stop()
        for actor in actors:
            actor.broker = app_broker


@pytest.mark.parametrize("i", REPS)
def test_redis_namespace(i: int, redis_namespace: Any) -> None:
    assert redis_namespace.prefix


@pytest.mark.parametrize("i", REPS)
def test_redis_client_baseline(i: int, redis_client: Any) -> None:
    assert redis_client.ping()
