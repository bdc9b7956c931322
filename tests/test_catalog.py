"""The service catalog is the one source of truth: the questions and files agree with it."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import yaml

from .conftest import REPO


def load_catalog():
    spec = importlib.util.spec_from_file_location("catalog", REPO / "extensions" / "catalog.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["catalog"] = module
    spec.loader.exec_module(module)
    return module


CATALOG = load_catalog()
QUESTIONS = yaml.safe_load((REPO / "copier.yml").read_text())
OFFERED = list(QUESTIONS["backends"]["choices"].values())


def test_every_offered_backend_is_in_the_catalog() -> None:
    assert set(OFFERED) <= set(CATALOG.SERVICES)


@pytest.mark.parametrize("key", OFFERED)
def test_offered_backend_has_plumbing_fixtures_and_examples(key: str) -> None:
    template = REPO / "template"
    condition = f"{{% if '{key}' in backends %}}"
    assert (template / "tests" / "support" / f"{condition}{key}.py{{% endif %}}.jinja").exists()
    assert (template / "tests" / "plugins" / f"{condition}{key}.py{{% endif %}}.jinja").exists()
    examples = [
        p
        for p in template.rglob("*")
        if condition in p.name and p.name.startswith(condition + "test_")
    ]
    assert examples, f"no example tests for {key}"


@pytest.mark.parametrize("key", OFFERED)
def test_images_are_pinned(key: str) -> None:
    image = CATALOG.SERVICES[key].image
    name, _, tag = image.rpartition(":")
    assert name
    assert tag
    assert tag != "latest"


def test_test_env_names_follow_the_convention() -> None:
    for key, service in CATALOG.SERVICES.items():
        assert service.test_env == f"TEST_{key.upper()}_URL"


def test_kafka_jar_lock_pins_every_jar_and_names_the_local_version() -> None:
    lines = CATALOG.KAFKA_JARS_LOCK.read_text().splitlines()
    pinned = [line.split() for line in lines if line and not line.startswith("#")]
    assert len(pinned) > 40
    for coordinates, size, sha256 in pinned:
        assert coordinates.count(":") == 2, coordinates
        assert int(size) > 0
        assert len(sha256) == 64
        assert int(sha256, 16) >= 0
    broker = [c for c, _, _ in pinned if c.startswith("org.apache.kafka:kafka_2.13:")]
    assert broker == [f"org.apache.kafka:kafka_2.13:{CATALOG.KAFKA_LOCAL_VERSION}"]
    assert CATALOG.SERVICES["kafka"].local_version == CATALOG.KAFKA_LOCAL_VERSION
    # The compose/CI image is another version; the docs say which is which.
    assert CATALOG.KAFKA_LOCAL_VERSION in CATALOG.SERVICES["kafka"].local_provider


QUEUES_OFFERED = [choice["value"] for choice in QUESTIONS["task_queues"]["choices"].values()]


def test_every_offered_task_queue_is_in_the_catalog() -> None:
    assert list(CATALOG.TASK_QUEUES) == QUEUES_OFFERED


@pytest.mark.parametrize("key", QUEUES_OFFERED)
def test_offered_task_queue_has_app_tasks_fixtures_and_examples(key: str) -> None:
    queue = CATALOG.TASK_QUEUES[key]
    condition = f"{{% if '{key}' in task_queues %}}"
    names = {p.name for p in (REPO / "template").rglob("*") if condition in p.name}
    expected = [
        f"{queue.app_module}.py",
        f"{queue.tasks_module}.py",
        f"{queue.plugin}.py",
        f"test_{key}_tasks.py",
    ]
    for stem in expected:
        assert any(stem in name for name in names), f"{key}: no {stem}"
    assert set(queue.brokers) <= set(CATALOG.SERVICES)


def test_published_ports_differ_between_backends() -> None:
    """compose.test.yaml publishes every port on 127.0.0.1: any two backends go together."""
    published: dict[int, str] = {}
    for key, service in CATALOG.SERVICES.items():
        for port in [service.port, *service.extra_ports]:
            assert port not in published, f"{key} and {published[port]} both publish {port}"
            published[port] = key
