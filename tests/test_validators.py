"""Every bad answer is refused, with a message that says what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BAD_ANSWERS = {
    "package:digit": ({"package_name": "1app"}, "not a valid import name"),
    "package:dash": ({"package_name": "my-app"}, "'my_app'"),
    "package:keyword": ({"package_name": "class"}, "shadows a Python keyword"),
    "package:stdlib": ({"package_name": "json"}, "shadows a Python keyword or module"),
    "project:empty": ({"project_name": "  "}, "project_name must not be empty"),
    "coverage:high": ({"coverage_threshold": 101}, "from 0 to 100"),
    "coverage:negative": ({"coverage_threshold": -5}, "from 0 to 100"),
    "layers:none": ({"test_layers": []}, "choose at least one test layer"),
    "layers:nothing-to-test": (
        {"test_layers": ["e2e"], "backends": []},
        "without a backend, integration and e2e tests have nothing to test",
    ),
    "queues:celery-without-broker": (
        {"backends": ["postgres"], "task_queues": ["celery"]},
        "Celery needs a broker among the backends: add Redis or RabbitMQ to backends",
    ),
    "queues:dramatiq-without-backends": (
        {"backends": [], "task_queues": ["dramatiq"], "test_layers": ["unit"]},
        "Dramatiq needs a broker among the backends: add Redis",
    ),
}
BAD_CHOICES = {
    "python:3.9": {"python_version": "3.9"},
    "ci:jenkins": {"ci_provider": "jenkins"},
    "backends:mysql": {"backends": ["mysql"]},
    "coverage:text": {"coverage_threshold": "lots"},
    "queues:huey": {"backends": ["redis"], "task_queues": ["huey"]},
    "queues:broker-kafka": {
        "backends": ["redis", "rabbitmq"],
        "task_queues": ["celery"],
        "task_broker": "kafka",
    },
}


@pytest.mark.parametrize(("answers", "message"), BAD_ANSWERS.values(), ids=list(BAD_ANSWERS))
def test_validator_rejects_with_guidance(
    render_to: Callable[..., Path], answers: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_to(**answers)


@pytest.mark.parametrize("answers", BAD_CHOICES.values(), ids=list(BAD_CHOICES))
def test_invalid_choice_is_rejected(
    render_to: Callable[..., Path], answers: dict[str, Any], tmp_path: Path
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - copier words these itself
        render_to(**answers)
    assert not (tmp_path / "project" / "pyproject.toml").exists()


def test_package_name_defaults_from_project_name(render_to: Callable[..., Path]) -> None:
    root = render_to(project_name="Billing Service 2")
    assert (root / "src" / "billing_service_2" / "__init__.py").exists()
