"""How a backend is found: a URL, a local server binary, or a Docker container.

Each backend module supplies one function per provider. ``acquire`` tries them in order
(or only the pinned one), once per run: the first process to get the backend's lock
resolves it and writes the result to the run directory, every other process reads it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .processes import stop_leftovers, stop_process_group
from .run import Run
from .safety import UnsafeTarget, check_external_url, describe, endpoints, hosts
from .warm import endpoint_state

PROVIDERS = ("url", "local", "docker")
SERVICES_ENV = "TEST_SERVICES"


class NotAvailable(Exception):
    """A provider cannot supply this backend here; the message says why.

    ``fix`` is the one thing that makes it work, when it is specific to the reason.
    """

    def __init__(self, reason: str, fix: str | None = None) -> None:
        super().__init__(reason)
        self.fix = fix


class ServiceUnavailable(Exception):
    """No provider could supply a backend.

    ``error`` is set when that is an error whatever the settings: a configured URL
    that does not work, or one the safety guard refused.
    """

    def __init__(self, backend: str, tried: dict[str, str], fix: str, error: bool) -> None:
        self.backend, self.tried, self.fix, self.error = backend, tried, fix, error
        if error:
            message = f"{backend}: {tried['url']}. Fix: {fix}"
        else:
            reasons = "; ".join(f"{provider}: {reason}" for provider, reason in tried.items())
            message = f"{backend}: no server available ({reasons}). Fix: {fix}"
        super().__init__(message)


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
    # Seconds per phase of a local start (see local_servers.LocalStart): what benchmarks
    # and a slow start's investigation read.
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """One backend: one start per provider, and what gives back what a start left.

    The release runs once, in the process that owns the run, after its last test.
    """

    name: str
    test_env: str
    # The application's settings that name its own server (the safety guard).
    app_envs: tuple[str, ...]
    # The one command (or setting) that makes the backend available.
    fix: str
    # Names the local server the header will report, or raises NotAvailable.
    describe_local: Callable[[], str]
    from_url: Callable[[Run], Endpoint]
    start_local: Callable[[Run], Endpoint]
    start_docker: Callable[[Run], Endpoint]
    # The release of a server the suite did not start: removes what the run left there.
    cleanup: Callable[[Run, Endpoint], None]
    # On a server the suite did not start (url provider), once per run before any test
    # uses it: leaves the run's mark there and removes what provably dead runs left.
    prepare: Callable[[Run, Endpoint], None] | None = None

    def start(self, provider: str, run: Run) -> Endpoint:
        starts = {"url": self.from_url, "local": self.start_local, "docker": self.start_docker}
        return starts[provider](run)

    def release(self, run: Run, endpoint: Endpoint) -> None:
        if endpoint.provider == "local":
            # What else the start recorded goes with the run directory.
            if endpoint.pid is not None:
                stop_process_group(endpoint.pid, endpoint.stop_signal or signal.SIGTERM)
        elif endpoint.provider == "docker":
            from .docker import remove_container  # docker.py builds on this module

            remove_container(run, endpoint)
        else:
            # A URL's server, or a warm one (``--services-up``, see warm.py), outlives
            # the run: the run removes only what it made there.
            self.cleanup(run, endpoint)


REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    REGISTRY[backend.name] = backend
    return backend


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _listening(url: str) -> bool | None:
    """Whether anything accepts connections at the URL's hosts (None: cannot tell)."""
    if any(not host for host, _ in hosts(url)):
        return None  # a Unix socket: the driver's error says it all
    found = endpoints(url)
    targets = [(host, port) for host, port in found if port is not None]
    if not targets or len(targets) < len(found):
        return None
    for host, port in targets:
        with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
            return True
    return False


def url_endpoint(
    backend: Backend,
    version_of: Callable[[str], str],
    errors: tuple[type[Exception], ...],
    *,
    destroys: str,
    per_database: bool = False,
    normalize: Callable[[str], str] = str,
) -> Endpoint:
    """The ``url`` provider: the safety guard, then ask the server its version until it
    answers (``errors``: it does not yet). CI containers can still be starting.

    A URL that is set but does not work is never replaced by another provider: the
    message says whether nothing listens there or what the server answered.
    """
    env = backend.test_env
    raw = os.environ[env]
    url = normalize(raw)
    check_external_url(
        url, test_env=env, app_envs=backend.app_envs, destroys=destroys, per_database=per_database
    )
    wait = float(os.environ.get("TEST_SERVICES_WAIT", "30" if running_in_ci() else "3"))
    deadline = time.monotonic() + wait
    while True:
        try:
            return Endpoint(backend.name, "url", url, version_of(url), env)
        except errors as error:
            if time.monotonic() > deadline:
                if _listening(raw) is False:
                    raise NotAvailable(
                        f"{env} is set but nothing answers at {describe(raw)}",
                        fix=f"start the server or unset {env}",
                    ) from None
                raise NotAvailable(
                    f"{env} is set but the server at {describe(raw)} failed: {error}",
                    fix=f"correct {env} or unset it",
                ) from None
            time.sleep(0.25)


def parse_pins(option: str | None, backends: Sequence[str]) -> dict[str, str]:
    """``local`` pins every backend; ``postgres=url,redis=local`` pins each.

    ``option`` is the value of ``--services`` (None: not given, so ``TEST_SERVICES``
    is read). A ValueError names the part that is wrong and what is allowed.
    """
    source = "--services"
    if option is None:
        source, option = SERVICES_ENV, os.environ.get(SERVICES_ENV, "")
        if not option.strip():
            return {}
    providers = ", ".join((*PROVIDERS, "auto"))
    allowed = (
        f"use one of {providers}, or backend=provider for a backend of this project "
        f"({', '.join(backends) or 'it has none'})"
    )
    pins: dict[str, str] = {}
    for raw in option.split(","):
        item = raw.strip()
        backend, _, provider = item.rpartition("=")
        if not provider:
            raise ValueError(f"{source}={option!r}: empty value in {item or option!r}; {allowed}")
        if provider not in (*PROVIDERS, "auto"):
            raise ValueError(f"{source}: unknown provider {provider!r} in {item!r}; {allowed}")
        if "=" in item and backend not in backends:
            raise ValueError(f"{source}: unknown backend {backend!r} in {item!r}; {allowed}")
        key = backend or "*"
        if key in pins:
            what = f"backend {backend!r}" if backend else "the default provider"
            raise ValueError(f"{source}={option!r}: {what} is given twice; give it once")
        pins[key] = provider
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
        raise ServiceUnavailable(backend.name, state["unavailable"], state["fix"], state["error"])
    return Endpoint(**state)


def _prepare(
    prepare: Callable[[Run, Endpoint], None], test_env: str, run: Run, endpoint: Endpoint
) -> None:
    try:
        prepare(run, endpoint)
    except Exception as error:  # each client library has its own error types
        if isinstance(error, (NotAvailable, UnsafeTarget)):
            raise
        raise NotAvailable(
            f"{test_env} answers, but the suite could not leave its mark there: {error}",
            fix=f"let the user of {test_env} create and drop what the suite makes there "
            "(databases, topics, buckets), or point it at a server used only for tests",
        ) from None


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
        if provider == "local":
            warm = _warm(backend, run)
            if warm is not None:
                return warm
            stop_leftovers(run, backend.name)
        started = time.perf_counter()
        try:
            endpoint = backend.start(provider, run)
            if provider == "url" and backend.prepare is not None:
                _prepare(backend.prepare, backend.test_env, run, endpoint)
        except NotAvailable as reason:
            if provider == "url":
                # A URL that is set but does not work is an error, never replaced by
                # another provider behind the user's back.
                fix = reason.fix or f"correct {backend.test_env} or unset it"
                return {"unavailable": {"url": str(reason)}, "fix": fix, "error": True}
            tried[provider] = str(reason)
            continue
        except UnsafeTarget as refusal:
            fix = f"point {backend.test_env} at a server used only for tests"
            return {"unavailable": {"url": str(refusal)}, "fix": fix, "error": True}
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            # Found but failed to start: report it rather than try the next provider,
            # and record it so the other tests of the run do not retry.
            tried[provider] = f"failed to start: {error}"
            break
        if endpoint.pid is not None or endpoint.container_id is not None:
            endpoint.started_in = time.perf_counter() - started
            endpoint.started_by = run.worker
        return asdict(endpoint)
    return {"unavailable": tried, "fix": _fix(backend, tried), "error": False}


def _warm(backend: Backend, run: Run) -> dict[str, Any] | None:
    """The server ``--services-up`` keeps running, used like a URL's (see warm.py)."""
    state = endpoint_state(backend.name, run)
    if state is not None and backend.prepare is not None:
        try:
            _prepare(backend.prepare, "the warm server", run, Endpoint(**state))
        except (NotAvailable, UnsafeTarget) as error:
            sys.stderr.write(f"services: not using the warm {backend.name} server: {error}\n")
            return None
    return state
