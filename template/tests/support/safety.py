"""Guards that run before the suite touches a server it did not start itself."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import SplitResult, urlsplit

ALLOW_REMOTE_ENV = "TEST_SERVICES_ALLOW_REMOTE"
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
    netloc = _split(url).netloc.rpartition("@")[2]
    found: list[tuple[str, int | None]] = []
    for item in filter(None, netloc.split(",")):
        if item.startswith("["):  # [::1]:5432
            host, _, rest = item[1:].partition("]")
            port = rest.lstrip(":")
        else:
            host, _, port = item.partition(":")
        found.append((host.lower(), int(port) if port.isdigit() else None))
    return found


def _same_target(a: str, b: str) -> bool:
    """Whether two URLs share a server and name the same database (path)."""
    same_path = _split(a).path.strip("/") == _split(b).path.strip("/")
    return same_path and bool(set(hosts(a)) & set(hosts(b)))


def _is_loopback(host: str) -> bool:
    if host in ("", "localhost"):  # empty host: a Unix socket on this machine
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def check_external_url(url: str, *, test_env: str, app_env: str) -> None:
    """Refuse a test URL that is the application's own, or remote unless allowed.

    ``url`` may list several hosts (``mongodb://a:1,b:2/``, Kafka's ``a:1,b:2``); every
    one of them must be this machine.
    """
    application = {app_env: os.environ.get(app_env, ""), **APPLICATION_URLS.get(test_env, {})}
    for setting, app_url in application.items():
        if app_url and _same_target(app_url, url):
            raise UnsafeTarget(
                f"{test_env} points at the same server and database as {setting}; "
                f"the suite creates and drops data there. Point {test_env} at a server "
                "used only for tests."
            )
    remote = [host for host, _ in hosts(url) if not _is_loopback(host)]
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
