"""Pytest plugin: the run's shared servers, from first use to the end of the run.

Options, the header and summary lines, the markers added from folders and fixtures,
and the teardown that stops every server the run started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.docker import allow_container_host, remove_run_containers
from ..support.processes import stop_process_group
from ..support.providers import (
    REGISTRY,
    Backend,
    Endpoint,
    NotAvailable,
    ServiceUnavailable,
    acquire,
    order,
    parse_pins,
    running_in_ci,
)
from ..support.reaper import identity, write_record
from ..support.run import Run

LAYERS = ("unit", "integration", "e2e", "performance", "security")
RUN_KEY = pytest.StashKey[Run]()
PINS_KEY = pytest.StashKey[dict[str, str]]()
TESTS_ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("services", "real services for tests")
    group.addoption(
        "--services",
        default=None,
        help="where servers come from: auto (default), url, local or docker; "
        "or per backend, e.g. postgres=url,redis=local (env: TEST_SERVICES)",
    )
    group.addoption(
        "--require-services",
        action="store_true",
        default=None,
        help="fail, rather than skip, tests whose backend is unavailable (default under CI=true)",
    )


def _required(config: pytest.Config) -> bool:
    option = config.getoption("--require-services")
    if option is not None:
        return bool(option)
    return running_in_ci()


def pytest_configure(config: pytest.Config) -> None:
    pins = _pins(config)  # a bad value is a usage error, before anything runs
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        run = Run.from_shared(workerinput["services_run"], workerinput["workerid"])
        write_record(
            run.dir / f"{run.worker}-worker.json", {"kind": "worker", **identity(os.getpid())}
        )
    else:
        run = Run.create(worker_count=_worker_count(config))
    config.stash[RUN_KEY] = run
    config.stash[PINS_KEY] = pins


def _pins(config: pytest.Config) -> dict[str, str]:
    try:
        return parse_pins(config.getoption("--services"), list(REGISTRY))
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None


def _worker_count(config: pytest.Config) -> int:
    numprocesses = getattr(config.option, "numprocesses", None)
    return numprocesses if isinstance(numprocesses, int) and numprocesses > 0 else 1


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand each worker the run it belongs to."""
    node.workerinput["services_run"] = node.config.stash[RUN_KEY].shared()


def pytest_report_header(config: pytest.Config) -> list[str]:
    pins = config.stash[PINS_KEY]
    lines = [f"services: run {config.stash[RUN_KEY].id}, servers start on first use"]
    for backend in REGISTRY.values():
        lines.append(f"  {backend.name}: {_plan(backend.name, backend.test_env, pins)}")
    return lines


def _plan(name: str, test_env: str, pins: dict[str, str]) -> str:
    skipped: list[str] = []
    for provider in order(name, pins):
        if provider == "url":
            if os.environ.get(test_env):
                return f"url ({test_env})"
            skipped.append(f"{test_env} not set")
        elif provider == "local":
            try:
                return f"local ({REGISTRY[name].describe_local()})"
            except NotAvailable as reason:
                skipped.append(str(reason))
        elif len(order(name, pins)) == 1:
            return "docker (testcontainers, pinned), if a daemon answers" + _slower(name)
        else:
            return "docker (testcontainers), if a daemon answers"
    return "none: " + "; ".join(skipped)


# What describe_local() raises when there is no usable local server.
_NO_LOCAL_SERVER = (NotAvailable, OSError, subprocess.SubprocessError)


def _slower(name: str) -> str:
    """Why a pinned docker provider costs seconds, when a local server could be had."""
    try:
        local = REGISTRY[name].describe_local()
    except _NO_LOCAL_SERVER:
        return ""
    return (
        f"; a container takes seconds to start (image, init, readiness), and the local "
        f"provider ({local}) is available: --services=auto"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        layer = _layer(item.path)
        if layer is not None:
            item.add_marker(layer)
        fixtures = set(getattr(item, "fixturenames", ()))
        for name in REGISTRY:
            if f"{name}_server" in fixtures:
                item.add_marker(name)
                item.user_properties.append(("backend", name))


def _layer(path: Path) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        folder = path.resolve().relative_to(TESTS_ROOT).parts[0]
        return folder if folder in LAYERS else None
    return None


class Services:
    """Hands out the run's servers; the session fixture ``services`` is one of these."""

    def __init__(self, config: pytest.Config) -> None:
        self.run = config.stash[RUN_KEY]
        self.pins = config.stash[PINS_KEY]
        self.required = _required(config)

    def endpoint(self, backend: Backend) -> Endpoint:
        try:
            endpoint = acquire(backend, self.run, self.pins)
            allow_container_host(endpoint)  # the network guard lets the clients reach it
            return endpoint
        except ServiceUnavailable as error:
            if error.error:
                pytest.fail(str(error), pytrace=False)
            if self.required:
                pytest.fail(f"{error} (--require-services is on)", pytrace=False)
            pytest.skip(str(error))


@pytest.fixture(scope="session")
def services(pytestconfig: pytest.Config) -> Services:
    return Services(pytestconfig)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash[RUN_KEY]
    if not run.is_owner:
        return
    states = run.states()
    lines = []
    for name in REGISTRY:
        state = states.get(name)
        if state is None:
            continue
        if "unavailable" in state:
            what = "error" if state["error"] else "unavailable"
            lines.append(f"{name}: {what} ({'; '.join(state['unavailable'].values())})")
            continue
        endpoint = Endpoint(**state)
        started = (
            f", started in {endpoint.started_in:.2f} s by {endpoint.started_by}"
            if endpoint.started_in is not None
            else ""
        )
        where = endpoint.extra.get("container_host")
        reached = f", reached at {where}" if where and where != "127.0.0.1" else ""
        source = f"{endpoint.source}{reached}"
        lines.append(f"{name}: {endpoint.provider} ({source}), {endpoint.version}{started}")
    if lines:
        terminalreporter.write_sep("-", "services")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the run's servers, clean what it left on shared ones, remove its directory.

    A step that fails does not stop the others; the run directory goes last, by the
    same code the reaper runs if this process dies before it gets there.
    """
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.is_owner:
        return
    states = run.states()
    try:
        for name, backend in REGISTRY.items():
            state = states.get(name)
            if state is None or "unavailable" in state:
                continue
            with _reported(f"stopping {name}"):
                _release(backend, run, Endpoint(**state))
        with _reported("removing containers"):
            # Also those of starts that never completed: by id and by the run's label.
            for error in remove_run_containers(run):
                sys.stderr.write(f"services: a container of run {run.id} stays: {error}\n")
    finally:
        run.remove()


def _release(backend: Backend, run: Run, endpoint: Endpoint) -> None:
    if endpoint.pid is not None:
        stop_process_group(endpoint.pid, endpoint.stop_signal or signal.SIGTERM)
    elif endpoint.container_id is None and backend.cleanup is not None:
        backend.cleanup(run, endpoint)  # containers go in one pass, after every backend


@contextlib.contextmanager
def _reported(step: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # one backend's failure must not leave the others running
        # The terminal summary is written by now; this is the last place to say it.
        sys.stderr.write(f"services: {step} failed: {error!r}\n")
