"""Pytest plugin: tests cannot open connections to other machines.

Allowed: loopback (127.0.0.0/8, ::1), Unix sockets, the hosts named by the suite's
service URLs (every ``TEST_*_URL``), the Docker daemon of ``DOCKER_HOST``, the host at
which the docker provider's containers are reached (as testcontainers reports it:
``TESTCONTAINERS_HOST_OVERRIDE``, or a gateway when pytest itself runs in a container)
and the hosts listed in ``TEST_NETWORK_ALLOW``. Anything else raises ``NetworkBlocked`` from
``connect()`` itself, before a packet leaves the machine. ``TEST_NETWORK_ALLOW=*`` lifts
the guard; ``@pytest.mark.allow_network`` lifts it for one test.

The guard wraps Python's ``socket.socket.connect`` and ``connect_ex``: it sees every
client written in Python (httpx, requests, redis-py, pymongo, botocore, aiokafka, the
asyncio event loop). It cannot see C libraries that open their own sockets: libpq
(psycopg), librdkafka (confluent-kafka), libcurl. Name resolution is left alone.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..support.docker import HOST_OVERRIDE_ENVS, container_hosts, expected_container_host
from ..support.safety import hosts

Connect = Callable[[socket.socket, Any], Any]
ALLOW_ENV = "TEST_NETWORK_ALLOW"
_SERVICE_URL_ENV = re.compile(r"TEST_[A-Z0-9_]+_URL")
_MARKER = "allow_network"


class NetworkBlocked(RuntimeError):
    """A test tried to connect to a machine other than this one.

    Not an OSError on purpose: client libraries retry and wrap OSErrors, which would
    bury this message under a timeout.
    """


class Guard:
    def __init__(self, allowed_hosts: set[str], allow_all: bool) -> None:
        self.allowed_hosts = allowed_hosts
        self.allow_all = allow_all
        self.suspended = 0
        self._allowed_addresses: set[str] = set()
        self._real: dict[str, Connect] = {}

    def install(self) -> None:
        """Wrap ``socket.socket.connect`` and ``connect_ex`` with the check."""
        for name in ("connect", "connect_ex"):
            self._real[name] = getattr(socket.socket, name)
            setattr(socket.socket, name, self._guarded(self._real[name]))

    def uninstall(self) -> None:
        for name, real in self._real.items():
            setattr(socket.socket, name, real)

    def _guarded(self, real: Connect) -> Connect:
        def method(sock: socket.socket, address: Any) -> Any:
            try:
                self.check(sock.family, address)
            except NetworkBlocked:
                # socket.create_connection (http.client, urllib3) closes the socket when
                # connect() raises an OSError only: a refused one would leak.
                sock.close()
                raise
            return real(sock, address)

        return method

    @property
    def active(self) -> bool:
        return not (self.allow_all or self.suspended)

    def check(self, family: int, address: Any) -> None:
        if not self.active or family not in (socket.AF_INET, socket.AF_INET6):
            return
        host, port = str(address[0]).lower(), address[1]
        if self._allowed(host):
            return
        raise NetworkBlocked(
            f"network guard: test tried to connect to {host}:{port}, which is not this "
            f"machine; tests may reach loopback and the hosts of the TEST_*_URL settings "
            f"only. Add the host to {ALLOW_ENV} (comma-separated, or * for any), or mark "
            f"the test @pytest.mark.{_MARKER}."
        )

    def _allowed(self, host: str) -> bool:
        host = host.strip("[]").partition("%")[0]  # [::1], fe80::1%eth0
        if host in self.allowed_hosts or host == "localhost" or host.endswith(".localhost"):
            return True
        if host in container_hosts:  # the docker provider's, known once a container runs
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            # A name given to connect() directly: allowed if it resolves to loopback.
            return all(self._allowed(str(info[4][0])) for info in _resolve(host))
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_loopback or str(ip) in self._allowed_addresses:
            return True
        # Service hosts given by name (CI aliases): compare with what they resolve to now.
        for name in self.allowed_hosts | container_hosts:
            self._allowed_addresses.update(str(info[4][0]) for info in _resolve(name))
        return str(ip) in self._allowed_addresses


def _resolve(host: str) -> list[Any]:
    try:
        return socket.getaddrinfo(host, None)
    except OSError:
        return []


def allowed_hosts(environ: dict[str, str] | os._Environ[str]) -> set[str]:
    """The hosts of the suite's service URLs, DOCKER_HOST and TEST_NETWORK_ALLOW."""
    found: set[str] = set()
    for name, value in environ.items():
        if _SERVICE_URL_ENV.fullmatch(name) or name == "DOCKER_HOST":
            found.update(host for host, _ in hosts(value) if host)
        elif name in HOST_OVERRIDE_ENVS and value:
            found.add(value.strip().lower())
    extra = environ.get(ALLOW_ENV, "")
    found.update(h.strip().lower() for h in extra.split(",") if h.strip() and h.strip() != "*")
    return found


_GUARD_KEY = pytest.StashKey[Guard]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{_MARKER}: the test may connect to any host (lifts the outbound network guard)"
    )
    # TEST_SERVICES_ALLOW_REMOTE only lets service URLs be remote (CI aliases); their
    # hosts are allowed, so it does not switch the guard off.
    allow_all = os.environ.get(ALLOW_ENV, "").strip() == "*"
    config.stash[_GUARD_KEY] = Guard(allowed_hosts(os.environ), allow_all)
    config.stash[_GUARD_KEY].install()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _GUARD_KEY in config.stash:
        config.stash[_GUARD_KEY].uninstall()


def pytest_report_header(config: pytest.Config) -> str:
    guard = config.stash[_GUARD_KEY]
    if guard.allow_all:
        return f"network guard: off ({ALLOW_ENV}=*)"
    extra = sorted(guard.allowed_hosts - {"127.0.0.1", "::1", "localhost"})
    docker = expected_container_host()
    if docker is not None:
        extra = [host for host in extra if host != docker.lower()]
        extra.append(f"{docker} (the docker provider's containers)")
    return "network guard: loopback only" + (f", and {', '.join(extra)}" if extra else "")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    if item.get_closest_marker(_MARKER) is None:
        return (yield)
    guard = item.config.stash[_GUARD_KEY]
    guard.suspended += 1
    try:
        return (yield)
    finally:
        guard.suspended -= 1


@pytest.fixture
def network_guard(request: pytest.FixtureRequest) -> Guard:
    """The run's guard: what it allows, and whether it is lifted for this test."""
    return request.config.stash[_GUARD_KEY]
