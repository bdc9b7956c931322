"""Removing the run's containers through the Docker Engine API, standard library only.

The reaper (``python -I -S reaper.py``) loads this file by path after a ``kill -9`` of
pytest, and the run's owner calls it at the end of a normal run; neither may depend on
the docker SDK. Removal goes by the ids the run's ``<backend>-container.json`` records
and then by the run's labels (``RUN_LABEL``, ``OWNER_LABEL``), so a container whose id
was never written (pytest killed inside the create call) or was overwritten (a retry
after a crashed worker) is found on the daemon itself.

Daemons reached: ``unix://`` sockets, ``tcp://`` and ``http(s)://`` hosts (TLS from
``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH`` as the docker CLI reads them); not ``ssh://``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

RUN_LABEL = "dev.proving-ground.run"
OWNER_LABEL = "dev.proving-ground.owner"
DEFAULT_HOST = "unix:///var/run/docker.sock"
STATE_SUFFIX = "-container"
_TIMEOUT = 30.0


class DockerApiError(Exception):
    """The daemon refused a request, or could not be reached."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self._path)
        except OSError:
            sock.close()  # no daemon there: the socket would be left to the collector
            raise
        self.sock = sock


def _connection(docker_host: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(docker_host)
    if parts.scheme == "unix":
        return _UnixConnection(parts.path, timeout)
    if parts.scheme not in ("tcp", "http", "https"):
        raise DockerApiError(f"cannot reach a Docker daemon at {docker_host!r} (unix, tcp only)")
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "https" or os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0"):
        return http.client.HTTPSConnection(host, port or 2376, timeout=timeout, context=_tls())
    return http.client.HTTPConnection(host, port or 2375, timeout=timeout)


def _tls() -> ssl.SSLContext:
    certs = Path(os.environ.get("DOCKER_CERT_PATH") or Path.home() / ".docker")
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    context.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
    return context


def _call(docker_host: str, method: str, path: str, timeout: float) -> tuple[int, bytes]:
    connection = _connection(docker_host, timeout)
    try:
        connection.request(method, path, headers={"Host": "docker"})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as error:
        raise DockerApiError(f"{docker_host}: {error}") from None
    finally:
        connection.close()


def request(docker_host: str, method: str, path: str, timeout: float = _TIMEOUT) -> Any:
    """One API call; the decoded JSON answer (None when empty, or for a 404)."""
    status, body = _call(docker_host, method, path, timeout)
    if status == 404:
        return None
    if status >= 400:
        raise DockerApiError(f"{method} {path}: {status} {body[:300]!r}")
    return json.loads(body) if body.strip() else None


def ping(docker_host: str, timeout: float = 5) -> None:
    """Raise DockerApiError unless a daemon answers at ``docker_host``."""
    status, body = _call(docker_host, "GET", "/_ping", timeout)
    if status != 200:
        raise DockerApiError(f"GET /_ping: {status} {body[:100]!r}")


def remove(docker_host: str, container_id: str) -> None:
    """Force-remove a container and its anonymous volumes; gone already is fine."""
    request(docker_host, "DELETE", f"/containers/{quote(container_id)}?force=1&v=1")


def labelled(docker_host: str, labels: dict[str, str]) -> list[str]:
    """Ids of the containers, running or not, that carry all these labels."""
    wanted = json.dumps({"label": [f"{key}={value}" for key, value in labels.items()]})
    found = request(docker_host, "GET", f"/containers/json?all=1&filters={quote(wanted)}")
    return [str(container["Id"]) for container in found or []]


def remove_all(
    docker_host: str, ids: set[str], labels: dict[str, str], settle: bool = False
) -> list[str]:
    """Remove ``ids`` and every container with ``labels``; the errors, as text.

    With ``settle`` the labels are looked for once more, half a second later: a create
    request that was in flight when its client was killed can still finish on the daemon.
    """
    errors: list[str] = []

    def remove_quietly(container_id: str) -> None:
        try:
            remove(docker_host, container_id)
        except DockerApiError as error:
            errors.append(str(error))

    for attempt in range(2 if settle and labels else 1):
        time.sleep(0.5 * attempt)
        try:
            found = set(labelled(docker_host, labels)) if labels else set()
        except DockerApiError as error:
            errors.append(str(error))
            continue
        found |= set() if attempt else ids
        with ThreadPoolExecutor(max_workers=max(1, len(found))) as pool:
            pool.map(remove_quietly, found)
    return errors


def remove_run_containers(run_dir: Path, settle: bool = True) -> list[str]:
    """Remove every container the run's states name, by id and by run labels.

    ``settle`` looks for the run's containers a second time, half a second later: for
    the reaper, whose run's processes were killed, maybe inside a create request. The
    owner's own teardown, after its workers have finished, does not need it.
    Returns what could not be removed (one line per error); the state files are
    deleted once their daemon has answered.
    """
    by_host: dict[str, tuple[set[str], dict[str, str], list[Path]]] = {}
    for state_file in run_dir.glob(f"*{STATE_SUFFIX}.json"):
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(state_file.read_text())
            ids, labels, files = by_host.setdefault(
                str(state.get("docker_host") or DEFAULT_HOST), (set(), {}, [])
            )
            if state.get("container_id"):
                ids.add(str(state["container_id"]))
            labels.update(state.get("labels") or {})
            files.append(state_file)
    errors: list[str] = []
    for docker_host, (ids, labels, files) in by_host.items():
        failed = remove_all(docker_host, ids, labels, settle)
        errors += failed
        if not failed:
            for state_file in files:
                state_file.unlink(missing_ok=True)
    return errors
