"""The docker provider's plumbing: is a daemon there, and removing what we started."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from .providers import NotAvailable


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
