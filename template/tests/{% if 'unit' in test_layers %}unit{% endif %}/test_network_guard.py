"""The outbound network guard: tests reach this machine and the configured services only.

10.255.255.1 is a private address that never answers: were the guard missing, these
tests would hang until their timeout instead of failing at once.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import pytest

from tests.plugins.network_guard import Guard, NetworkBlocked

UNREACHABLE = ("10.255.255.1", 9)


def test_connect_to_another_machine_is_refused_before_sending() -> None:
    with socket.socket() as sock:
        sock.settimeout(5)
        with pytest.raises(NetworkBlocked, match=r"10\.255\.255\.1:9.*TEST_NETWORK_ALLOW"):
            sock.connect(UNREACHABLE)
        with pytest.raises(NetworkBlocked):
            sock.connect_ex(UNREACHABLE)


def test_http_clients_get_the_guard_error() -> None:
    with pytest.raises(NetworkBlocked, match=r"10\.255\.255\.1"):
        urllib.request.urlopen("http://10.255.255.1:9/", timeout=5)


def test_asyncio_connections_are_guarded_too() -> None:
    async def connect() -> None:
        await asyncio.wait_for(asyncio.open_connection(*UNREACHABLE), timeout=5)

    with pytest.raises(NetworkBlocked):
        asyncio.run(connect())


def test_loopback_is_allowed() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        with socket.create_connection(("localhost", port), timeout=5):
            pass


def test_the_allowed_hosts_come_from_service_urls() -> None:
    from tests.plugins.network_guard import allowed_hosts

    environ = {
        "TEST_POSTGRES_URL": "postgresql://u:p@postgres:5432/db",
        "TEST_MONGO_URL": "mongodb://a.example:1,b.example:2/",
        "TEST_NETWORK_ALLOW": "api.example, 192.0.2.7",
        "DATABASE_URL": "postgresql://prod.example/db",  # the app's own: not allowed
    }
    assert allowed_hosts(environ) == {
        "postgres", "a.example", "b.example", "api.example", "192.0.2.7"
    }  # fmt: skip


@pytest.mark.allow_network
def test_the_marker_lifts_the_guard_for_one_test(network_guard: Guard) -> None:
    assert not network_guard.active


def test_the_docker_providers_container_host_is_allowed_once_it_is_known(
    network_guard: Guard,
) -> None:
    # testcontainers may report a gateway address (pytest inside a CI job container with
    # the host's Docker socket): the docker provider registers it when a container runs.
    from tests.support.docker import container_hosts

    host, port = UNREACHABLE
    with pytest.raises(NetworkBlocked):
        network_guard.check(socket.AF_INET, (host, port))
    container_hosts.add(host)
    try:
        network_guard.check(socket.AF_INET, (host, port))  # checks only: nothing is sent
    finally:
        container_hosts.discard(host)


def test_the_testcontainers_host_override_is_allowed() -> None:
    from tests.plugins.network_guard import allowed_hosts

    assert allowed_hosts({"TESTCONTAINERS_HOST_OVERRIDE": "Docker.Example"}) == {"docker.example"}
