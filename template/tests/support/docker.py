"""The docker provider's plumbing: is a daemon there, and removing what we started."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from .providers import Endpoint, NotAvailable


def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        raise NotAvailable("testcontainers is not installed (uv sync --group test)") from None
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:  # the SDK raises several unrelated types for "no daemon"
        where = os.environ.get("DOCKER_HOST", "the default Docker socket")
        raise NotAvailable(f"no Docker daemon answered at {where}") from None
    return client


def remove_container(container_id: str) -> None:
    with contextlib.suppress(Exception):
        docker_client().containers.get(container_id).remove(force=True, v=True)


def wait_for_container(container_id: str, ready: Callable[[], bool], what: str) -> None:
    """Wait for a container's server to answer; remove the container if it never does."""
    deadline = time.monotonic() + 60
    while not ready():
        if time.monotonic() > deadline:
            remove_container(container_id)
            raise RuntimeError(f"{what} did not answer within 60 s")
        time.sleep(0.1)


def container_endpoint(
    backend: str, container_id: str, url: str, version: str, image: str
) -> Endpoint:
    return Endpoint(
        backend, "docker", url, version, f"testcontainers, {image}", container_id=container_id
    )
