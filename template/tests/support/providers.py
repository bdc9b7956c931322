"""How a backend is found: a URL, a local server binary, or a Docker container.

Each backend module supplies one function per provider. ``acquire`` tries them in order
(or only the pinned one), once per run: the first process to get the backend's lock
resolves it and writes the result to the run directory, every other process reads it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .processes import ensure_reaper
from .run import Run
from .safety import check_external_url

PROVIDERS = ("url", "local", "docker")


class NotAvailable(Exception):
    """A provider cannot supply this backend here; the message says why."""


class ServiceUnavailable(Exception):
    """No provider could supply a backend."""

    def __init__(self, backend: str, tried: dict[str, str], fix: str) -> None:
        self.backend, self.tried, self.fix = backend, tried, fix
        reasons = "; ".join(f"{provider}: {reason}" for provider, reason in tried.items())
        super().__init__(f"{backend}: no server available ({reasons}). Fix: {fix}")


@dataclass
class Endpoint:
    """A server the suite can use, and how it came to be."""

    backend: str
    provider: str
    url: str
    version: str
    source: str
    started_in: float | None = None
    started_by: str = ""
    # Set when the suite started the server and must stop it.
    pid: int | None = None
    stop_signal: int | None = None
    container_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    name: str
    test_env: str
    # The one command (or setting) that makes the backend available.
    fix: str
    providers: dict[str, Callable[[Run], Endpoint]]
    # Names the local server the header will report, or raises NotAvailable.
    describe_local: Callable[[], str]
    # Removes what the run left on a server the suite did not start (url provider).
    cleanup: Callable[[Run, Endpoint], None] | None = None


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def answer_wait() -> float:
    """How long a URL's server may take to answer: CI containers can still be starting."""
    default = "30" if running_in_ci() else "3"
    return float(os.environ.get("TEST_SERVICES_WAIT", default))


def wait_for_answer(probe: Callable[[], str], errors: tuple[type[Exception], ...], env: str) -> str:
    """Call ``probe`` (it returns the server version) until the server answers."""
    deadline = time.monotonic() + answer_wait()
    while True:
        try:
            return probe()
        except errors as error:
            if time.monotonic() > deadline:
                raise NotAvailable(f"{env} is set but the server did not answer: {error}") from None
            time.sleep(0.25)


def url_endpoint(
    backend: str,
    test_env: str,
    app_env: str,
    version_of: Callable[[str], str],
    errors: tuple[type[Exception], ...],
) -> Endpoint:
    """The ``url`` provider: the safety guard, then wait for the server to answer."""
    url = os.environ[test_env]
    check_external_url(url, test_env=test_env, app_env=app_env)
    version = wait_for_answer(lambda: version_of(url), errors, test_env)
    return Endpoint(backend, "url", url, version, test_env)


def parse_pins(option: str | None) -> dict[str, str]:
    """``local`` pins every backend; ``postgres=url,redis=local`` pins each."""
    pins: dict[str, str] = {}
    for item in filter(None, (option or os.environ.get("TEST_SERVICES", "")).split(",")):
        backend, _, provider = item.strip().rpartition("=")
        if provider not in (*PROVIDERS, "auto"):
            raise ValueError(
                f"--services: unknown provider {provider!r}; use one of "
                f"{', '.join(PROVIDERS)} or auto, optionally as backend=provider"
            )
        pins[backend or "*"] = provider
    return pins


def order(backend: str, pins: dict[str, str]) -> tuple[str, ...]:
    pinned = pins.get(backend, pins.get("*", "auto"))
    return PROVIDERS if pinned == "auto" else (pinned,)


def acquire(backend: Backend, run: Run, pins: dict[str, str]) -> Endpoint:
    with run.lock(backend.name):
        state = run.read_state(backend.name)
        if state is None:
            state = _resolve(backend, run, pins)
            run.write_state(backend.name, state)
    if "unavailable" in state:
        tried = state["unavailable"]
        raise ServiceUnavailable(backend.name, tried, _fix(backend, tried))
    return Endpoint(**state)


def _fix(backend: Backend, tried: dict[str, str]) -> str:
    if "local" in tried:
        return backend.fix
    if tried.get("docker", "").startswith("failed to start"):
        return "fix the cause the docker provider reported, or use --services=auto"
    if "docker" in tried:
        return "start a Docker daemon (or set DOCKER_HOST), or use --services=auto"
    return f"set {backend.test_env}, or use --services=auto"


def _resolve(backend: Backend, run: Run, pins: dict[str, str]) -> dict[str, Any]:
    tried: dict[str, str] = {}
    for provider in order(backend.name, pins):
        if provider == "url" and not os.environ.get(backend.test_env):
            tried["url"] = f"{backend.test_env} is not set"
            continue
        if provider in ("local", "docker"):  # both start what must die with the run
            with run.lock("reaper"):
                ensure_reaper(run)
        started = time.perf_counter()
        try:
            endpoint = backend.providers[provider](run)
        except NotAvailable as reason:
            tried[provider] = str(reason)
            if provider == "url":
                break  # an explicit URL that fails is not silently replaced
            continue
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            # Found but failed to start: report it rather than try the next provider,
            # and record it so the other tests of the run do not retry.
            tried[provider] = f"failed to start: {error}"
            break
        if endpoint.pid is not None or endpoint.container_id is not None:
            endpoint.started_in = time.perf_counter() - started
            endpoint.started_by = run.worker
        return asdict(endpoint)
    return {"unavailable": tried}
