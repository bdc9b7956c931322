"""Guards that run before the suite touches a server it did not start itself."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterable
from functools import cache
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

ALLOW_REMOTE_ENV = "TEST_SERVICES_ALLOW_REMOTE"
# Ports a URL means when it names none.
DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
    "mongodb": 27017,
    "http": 80,
    "https": 443,
}
_THIS_MACHINE = "this machine"
# Test URL variable -> {the application's setting: the server it named before the run},
# from the app_env setting (DATABASE_URL, or POSTGRES_SERVER + POSTGRES_DB, ...).
APPLICATION_URLS: dict[str, dict[str, str]] = {}


class UnsafeTarget(Exception):
    """The suite refused to run destructive steps against this target."""


def _split(url: str) -> SplitResult:
    # "host:port" alone (Kafka's bootstrap servers) would parse as scheme "host".
    return urlsplit(url if "://" in url else f"//{url}")


def hosts(url: str) -> list[tuple[str, int | None]]:
    """Every host:port of a URL, including multi-host ones (``mongodb://a:1,b:2/``)."""
    parts = _split(url)
    netloc = parts.netloc.rpartition("@")[2]
    found: list[tuple[str, int | None]] = []
    for item in filter(None, netloc.split(",")):
        if item.startswith("["):  # [::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.partition(":")
        found.append((host.lower(), int(port) if port.isdigit() else None))
    if not found and parts.scheme.startswith("postgres"):
        # postgresql:///db or ?host=/run/postgresql: a Unix socket on this machine.
        socket_dir = parse_qs(parts.query).get("host", [""])[0]
        found.append(("" if socket_dir.startswith("/") else socket_dir.lower(), None))
    return found


def endpoints(url: str) -> list[tuple[str, int | None]]:
    """Every host:port of a URL, with the scheme's default port where it names none."""
    default = DEFAULT_PORTS.get(_split(url).scheme.lower())
    return [(host or "localhost", port or default) for host, port in hosts(url)]


def servers(url: str) -> set[tuple[str, int | None]]:
    """The servers a URL reaches, as (address, port).

    Every name and address of this machine (localhost, 127.0.0.1, ::1, its host name,
    its own interface addresses) counts as one address, so two spellings of one server
    compare equal.
    """
    return {(address, port) for host, port in endpoints(url) for address in _addresses(host)}


@cache
def _addresses(host: str) -> frozenset[str]:
    if host in ("", "localhost") or host.endswith(".localhost"):
        return frozenset({_THIS_MACHINE})
    try:
        found = {str(info[4][0]) for info in socket.getaddrinfo(host.strip("[]"), None)}
    except OSError:
        return frozenset({host})  # unresolvable: compared by name
    return frozenset(_THIS_MACHINE if _is_this_machine(address) else address for address in found)


def _is_this_machine(address: str) -> bool:
    ip = ipaddress.ip_address(address.partition("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return True
    # An address this machine can bind to is one of its own interfaces.
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((str(ip), 0))
        return True
    return False


def _database(url: str) -> str:
    parts = _split(url)
    name = unquote(parts.path.strip("/"))
    # libpq's default database is the user's name.
    return name or unquote(parts.username or "") or os.environ.get("PGDATABASE", "")


def describe(url: str) -> str:
    return ", ".join(f"{host}:{port or '?'}" for host, port in endpoints(url))


def check_external_url(
    url: str, *, test_env: str, app_envs: Iterable[str], destroys: str, per_database: bool = False
) -> None:
    """Refuse a test URL on the application's own server, or remote unless allowed.

    ``destroys`` says what the suite does there, for the message. With
    ``per_database`` (PostgreSQL) the application's server is fine as long as the
    database differs: the suite only ever drops databases it created and marked.
    ``url`` may list several hosts (``mongodb://a:1,b:2/``, Kafka's ``a:1,b:2``); every
    one of them must be this machine.
    """
    application = {app_env: os.environ.get(app_env, "") for app_env in app_envs}
    # An existing project's own settings names (app_env), and the servers they named
    # before the run pointed them at the test servers.
    application.update(APPLICATION_URLS.get(test_env, {}))
    for app_env, app_url in application.items():
        if not app_url or not servers(url) & servers(app_url):
            continue
        if not per_database:
            raise UnsafeTarget(
                f"{test_env} points at the same server as {app_env} ({describe(url)} and "
                f"{describe(app_url)}): the suite {destroys} on the server it tests "
                f"against, so it must not be the application's. Point {test_env} at a "
                "server used only for tests."
            )
        if _database(url) == _database(app_url):
            raise UnsafeTarget(
                f"{test_env} points at the same database as {app_env} "
                f"({_database(url)!r} on {describe(url)}): the suite {destroys} there. "
                f"Point {test_env} at another database of that server (the suite creates "
                "its own from there), or at a server used only for tests."
            )
    remote = [host for host, _ in hosts(url) if _THIS_MACHINE not in _addresses(host)]
    if remote and os.environ.get(ALLOW_REMOTE_ENV) != "1":
        raise UnsafeTarget(
            f"{test_env} points at {', '.join(map(repr, remote))}, not this machine; set "
            f"{ALLOW_REMOTE_ENV}=1 if that server is meant for tests (CI service "
            "containers reached by name, for example)."
        )


def check_owned_name(name: str, prefix: str) -> None:
    """Refuse to drop anything whose name the suite did not give it."""
    if not name.startswith(prefix):
        raise UnsafeTarget(
            f"refusing to drop {name!r}: the suite only drops names starting {prefix!r}"
        )
