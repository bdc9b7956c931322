"""Guards that run before the suite touches a server it did not start itself."""

from __future__ import annotations

import ipaddress
import os
import socket
from urllib.parse import urlsplit

ALLOW_REMOTE_ENV = "TEST_SERVICES_ALLOW_REMOTE"


class UnsafeTarget(Exception):
    """The suite refused to run destructive steps against this target."""


def _identity(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port, parts.path.strip("/"))


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
    """Refuse a test URL that is the application's own, or remote unless allowed."""
    app_url = os.environ.get(app_env)
    if app_url and _identity(app_url) == _identity(url):
        raise UnsafeTarget(
            f"{test_env} points at the same server and database as {app_env}; "
            f"the suite creates and drops data there. Point {test_env} at a server "
            "used only for tests."
        )
    host = urlsplit(url).hostname or ""
    if not _is_loopback(host) and os.environ.get(ALLOW_REMOTE_ENV) != "1":
        raise UnsafeTarget(
            f"{test_env} points at {host!r}, which is not this machine; set "
            f"{ALLOW_REMOTE_ENV}=1 if that server is meant for tests (CI service "
            "containers reached by name, for example)."
        )


def check_owned_name(name: str, prefix: str) -> None:
    """Refuse to drop anything whose name the suite did not give it."""
    if not name.startswith(prefix):
        raise UnsafeTarget(
            f"refusing to drop {name!r}: the suite only drops names starting {prefix!r}"
        )
