"""The docker provider: a container per backend, started with testcontainers, that dies
with the run.

Every container carries the run's labels and is recorded in the run directory
(``<backend>-container.json``: the daemon, the labels, the id) before the suite waits
for its server, so the owner's teardown and the reaper (after a ``kill -9``) remove it,
and its anonymous volumes, whether or not testcontainers' Ryuk runs. A start that fails
at any step removes its container and is reported once for the run, with the error.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import docker_api
from .providers import Endpoint, NotAvailable
from .run import Run

BACKEND_LABEL = "dev.proving-ground.backend"
# How long a container's server may take to answer (image start, init, readiness).
READY_TIMEOUT = float(os.environ.get("TEST_SERVICES_DOCKER_WAIT", "120"))
HOST_OVERRIDE_ENVS = ("TC_HOST", "TESTCONTAINERS_HOST_OVERRIDE")

# Hosts at which this process reaches the docker provider's containers. The network
# guard allows them: testcontainers may report a non-loopback address (a CI job whose
# Docker socket is mounted from the host reaches containers through a gateway).
container_hosts: set[str] = set()


class ContainerStartFailed(RuntimeError):
    """A container was started but its server never became usable; it was removed."""


@dataclass(frozen=True)
class ContainerSpec:
    """What to run (the image, the server's port inside it, environment and command),
    and the server's URL once it runs.

    ``url``, ``probe`` and the values of ``extra`` are templates: ``{host}`` and
    ``{port}`` say where the server's port is reached, ``{ports[N]}`` the host port of
    other port N.
    """

    image: str
    port: int
    url: str
    env: dict[str, str] = field(default_factory=dict)
    # More ports of the server to publish (RabbitMQ's management API).
    other_ports: tuple[int, ...] = ()
    command: str | None = None
    # Publish on this host port rather than one the daemon picks (Kafka must advertise
    # the address clients reach it at, so it needs to know it before the start).
    host_port: int | None = None
    # Where the server is asked its version, when not at ``url``.
    probe: str | None = None
    # Kept in ``Endpoint.extra``.
    extra: dict[str, str] = field(default_factory=dict)


def docker_host() -> str:
    """The daemon testcontainers will use, once it has answered a ping.

    testcontainers reads ``tc.host`` from ~/.testcontainers.properties, then
    DOCKER_HOST, then the current docker context; the reaper must reach the same daemon.
    """
    try:
        from testcontainers.core.docker_client import get_docker_host
    except ImportError:
        raise NotAvailable("testcontainers is not installed (uv sync --group test)") from None
    host = get_docker_host() or docker_api.DEFAULT_HOST
    try:
        docker_api.ping(host)
    except docker_api.DockerApiError as error:
        raise NotAvailable(f"no Docker daemon answered at {host} ({error})") from None
    return host


def expected_container_host() -> str | None:
    """Where containers will be reached, if that is known before one starts and is not
    this machine's loopback: for the pytest header. ``None`` when it is loopback."""
    for env in HOST_OVERRIDE_ENVS:
        if os.environ.get(env):
            host = os.environ[env]
            return None if host in ("localhost", "::1") or host.startswith("127.") else host
    if os.path.exists("/.dockerenv"):  # what testcontainers checks
        return "the Docker gateway, when a container starts"
    return None


def allow_container_host(endpoint: Endpoint) -> None:
    """Let the network guard of this process reach a docker endpoint's container host."""
    host = endpoint.extra.get("container_host")
    if endpoint.provider == "docker" and host:
        container_hosts.add(str(host).lower())


def run_labels(run: Run) -> dict[str, str]:
    """The labels that mark a container as this run's, on the daemon itself."""
    return {
        docker_api.RUN_LABEL: run.id,
        docker_api.OWNER_LABEL: f"{socket.gethostname()}:{run.owner_pid}",
    }


def start_container(
    run: Run,
    backend: str,
    spec: ContainerSpec,
    version_of: Callable[[str], str],
    not_ready: tuple[type[Exception], ...],
) -> Endpoint:
    """Start ``spec`` for ``backend`` and wait until ``version_of`` answers at its probe.

    ``not_ready`` are the errors ``version_of`` raises while the server is still
    starting; any other error, or no answer within READY_TIMEOUT, fails the start.
    """
    host = docker_host()
    state_name = f"{backend}{docker_api.STATE_SUFFIX}"
    labels = run_labels(run)
    backend_labels = {**labels, BACKEND_LABEL: backend}
    # A state left by an attempt that died (a crashed worker): its container goes first.
    if run.read_state(state_name) is not None:
        _remove(host, None, backend_labels)
    state: dict[str, Any] = {"kind": "container", "docker_host": host, "labels": labels}
    run.write_state(state_name, state)
    container_id: str | None = None
    try:
        container = _container(spec, backend_labels)
        container.start()
        container_id = str(container.get_wrapped_container().id)
        run.write_state(state_name, {**state, "container_id": container_id})
        container_host = container.get_container_host_ip()
        if container_host == "localhost":  # one address, not a lookup (::1 first) per client
            container_host = "127.0.0.1"
        container_hosts.add(container_host.lower())
        where = {
            "host": container_host,
            "port": int(container.get_exposed_port(spec.port)),
            "ports": {p: int(container.get_exposed_port(p)) for p in spec.other_ports},
        }
        url = spec.url.format(**where)
        probe = (spec.probe or spec.url).format(**where)
        version = _wait_for_server(container, lambda: version_of(probe), not_ready)
    except BaseException as error:
        _remove(host, container_id, backend_labels)
        run.state_path(state_name).unlink(missing_ok=True)
        if not isinstance(error, Exception):  # Ctrl-C, exit: removed, and passed on
            raise
        raise ContainerStartFailed(f"{spec.image}: {_explain(error)}") from error
    extra = {name: value.format(**where) for name, value in spec.extra.items()}
    return Endpoint(
        backend,
        "docker",
        url,
        version,
        f"testcontainers, {spec.image}",
        container_id=container_id,
        extra={**extra, "docker_host": host, "container_host": container_host},
    )


def _container(spec: ContainerSpec, labels: dict[str, str]) -> Any:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer(spec.image, labels=labels)
    for name, value in spec.env.items():
        container.with_env(name, value)
    if spec.command is not None:
        container.with_command(spec.command)
    if spec.host_port is not None:
        container.with_bind_ports(spec.port, spec.host_port)
    else:
        container.with_exposed_ports(spec.port)
    if spec.other_ports:
        container.with_exposed_ports(*spec.other_ports)
    return container


def _wait_for_server(
    container: Any, version: Callable[[], str], not_ready: tuple[type[Exception], ...]
) -> str:
    deadline = time.monotonic() + READY_TIMEOUT
    next_status_check = time.monotonic() + 1
    while True:
        try:
            return version()
        except not_ready as error:
            last_error = error
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(
                f"no answer within {READY_TIMEOUT:.0f} s (TEST_SERVICES_DOCKER_WAIT): "
                f"{last_error}\n{_log_tail(container)}"
            )
        if now > next_status_check:  # a server that died will never answer
            wrapped = container.get_wrapped_container()
            wrapped.reload()
            if wrapped.status in ("exited", "dead"):
                code = wrapped.attrs.get("State", {}).get("ExitCode")
                raise RuntimeError(f"the container exited ({code}):\n{_log_tail(container)}")
            next_status_check = now + 1
        time.sleep(0.1)


def _log_tail(container: Any, lines: int = 15) -> str:
    try:
        logs = container.get_wrapped_container().logs(tail=lines)
    except Exception as error:  # the log is a courtesy; its absence must not hide the cause
        return f"(no container log: {error})"
    return "container log:\n" + bytes(logs).decode(errors="replace").rstrip()


def _explain(error: Exception) -> str:
    """The error, and the fix where the cause is known."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, KeyError) and "HostConfig" in str(error):
        # /.dockerenv makes testcontainers look for the network of "its" container in
        # the container list, which some daemons (podman) answer without HostConfig.
        text += (
            "; testcontainers believes it runs inside a container (/.dockerenv): set "
            "TESTCONTAINERS_CONNECTION_MODE=docker_host and TESTCONTAINERS_HOST_OVERRIDE"
            "=localhost if the daemon runs on this machine"
        )
    return text


def _remove(host: str, container_id: str | None, labels: dict[str, str]) -> None:
    # What fails is tried again by the run's end and the reaper, by the run's labels.
    docker_api.remove_all(host, {container_id} if container_id else set(), labels)


def remove_container(run: Run, endpoint: Endpoint) -> None:
    """The release of a container start: its container, and any other of the backend's
    that a start of this run left (``remove_run_containers`` removes the rest)."""
    labels = {**run_labels(run), BACKEND_LABEL: endpoint.backend}
    _remove(str(endpoint.extra["docker_host"]), endpoint.container_id, labels)


def remove_run_containers(run: Run) -> list[str]:
    """Remove every container of the run at its end (its workers are gone); what failed."""
    return docker_api.remove_run_containers(run.dir, settle=False)
