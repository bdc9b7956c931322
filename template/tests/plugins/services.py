"""Pytest plugin: the run's shared servers, from first use to the end of the run.

Options, the header and summary lines, the markers added from folders and fixtures
(``mark_tests_using``: backends, stand-ins and task queues alike), and the teardown
that stops every server the run started.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support.docker import allow_container_host, remove_run_containers
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
from ..support.warm import plan as warm_plan

LAYERS = ("unit", "integration", "e2e", "performance", "security")
RUN_KEY = pytest.StashKey[Run]()
PINS_KEY = pytest.StashKey[dict[str, str]]()
TESTS_ROOT = Path(__file__).resolve().parent.parent
# How an xdist worker finds its run before xdist hands it over (see ensure_run).
SHARED_RUN_ENV = "PYTEST_SERVICES_SHARED_RUN"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("services", "real services for tests")
    group.addoption(
        "--services",
        help="where servers come from: auto (default), url, local or docker; "
        "or per backend, e.g. postgres=url,redis=local (env: TEST_SERVICES)",
    )
    group.addoption(
        "--require-services",
        action="store_true",
        default=None,
        help="fail, rather than skip, tests whose backend is unavailable (default under CI=true)",
    )
    parser.addini(
        "layer_folders",
        type="linelist",
        default=[],
        help="test folders and the layer marker their tests get, one 'folder = marker' a "
        "line (paths from the rootdir); default: tests/<layer> for each layer",
    )


def option(config: pytest.Config, name: str) -> Any:
    """A command-line option, also while the initial conftests load (before parsing ends)."""
    value = config.getoption(name, default=None)
    if value is None:
        value = getattr(config.known_args_namespace, name.lstrip("-").replace("-", "_"), None)
    return value


# Stand-ins and task queues: fixture -> (marker, kind, description). Each backend's
# marker (``<name>_server`` -> ``<name>``, kind ``backend``) comes from the registry and
# is declared in pyproject.toml.
AUTO_MARKERS: dict[str, tuple[str, str, str]] = {}


def mark_tests_using(fixture: str, marker: str, kind: str, description: str) -> None:
    """Give every test that uses ``fixture`` the marker ``marker``, and the junit property
    ``kind=marker`` by which a report counts its tests (called on import)."""
    AUTO_MARKERS[fixture] = (marker, kind, description)


def pytest_configure(config: pytest.Config) -> None:
    pins_of(config)  # a bad value is a usage error, before anything runs
    ensure_run(config)
    for marker, _, description in AUTO_MARKERS.values():
        config.addinivalue_line("markers", f"{marker}: {description} (automatic)")


def pins_of(config: pytest.Config) -> dict[str, str]:
    """The ``--services`` pins, parsed once; also before option parsing has ended."""
    if PINS_KEY not in config.stash:
        try:
            config.stash[PINS_KEY] = parse_pins(option(config, "--services"), list(REGISTRY))
        except ValueError as error:
            raise pytest.UsageError(str(error)) from None
    return config.stash[PINS_KEY]


def ensure_run(config: pytest.Config) -> Run:
    """This process's run: made by the controller, joined by its xdist workers.

    Usually called from pytest_configure; the app_env plugin calls it earlier, while
    the initial conftests load, when xdist has not yet told a worker its run. So the
    controller also leaves its run in the environment its workers inherit.
    """
    if RUN_KEY in config.stash:
        return config.stash[RUN_KEY]
    shared = _shared_run(config)
    if shared is not None:
        run = Run.from_shared(shared, os.environ["PYTEST_XDIST_WORKER"])
        write_record(
            run.dir / f"{run.worker}-worker.json", {"kind": "worker", **identity(os.getpid())}
        )
    else:
        run = Run.create(worker_count=_worker_count(config))
        os.environ[SHARED_RUN_ENV] = json.dumps(run.shared())
    config.stash[RUN_KEY] = run
    return run


def _shared_run(config: pytest.Config) -> dict[str, Any] | None:
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        shared: dict[str, Any] = workerinput["services_run"]
        return shared
    if "PYTEST_XDIST_WORKER" not in os.environ or SHARED_RUN_ENV not in os.environ:
        return None
    inherited: dict[str, Any] = json.loads(os.environ[SHARED_RUN_ENV])
    # A pytest started by a test inherits the variables too; only our own workers,
    # children of the run's controller, belong to the run.
    return inherited if inherited["owner_pid"] == os.getppid() else None


def _worker_count(config: pytest.Config) -> int:
    numprocesses = option(config, "numprocesses")
    if numprocesses in ("auto", "logical"):  # not yet turned into a number this early
        return os.cpu_count() or 1
    return numprocesses if isinstance(numprocesses, int) and numprocesses > 0 else 1


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand each worker the run it belongs to."""
    node.workerinput["services_run"] = node.config.stash[RUN_KEY].shared()


def pytest_report_header(config: pytest.Config) -> list[str]:
    pins = pins_of(config)
    plans = [f"  {b.name}: {_plan(b.name, b.test_env, pins)}" for b in REGISTRY.values()]
    return [f"services: run {config.stash[RUN_KEY].id}, servers start on first use", *plans]


def _plan(name: str, test_env: str, pins: dict[str, str]) -> str:
    skipped: list[str] = []
    for provider in order(name, pins):
        if provider == "url":
            if os.environ.get(test_env):
                return f"url ({test_env})"
            skipped.append(f"{test_env} not set")
        elif provider == "local":
            if (warm := warm_plan(name)) is not None:
                return warm
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
    folders = layer_folders(config)
    markers = {f"{name}_server": (name, "backend") for name in REGISTRY}
    markers |= {fixture: (marker, kind) for fixture, (marker, kind, _) in AUTO_MARKERS.items()}
    for item in items:
        path = item.path.resolve()
        layer = next(
            (layer for folder, layer in folders.items() if path.is_relative_to(folder)), None
        )
        if layer is not None:
            item.add_marker(layer)
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, (marker, kind) in markers.items():
            if fixture in fixtures:
                item.add_marker(marker)
                item.user_properties.append((kind, marker))


def layer_folders(config: pytest.Config) -> dict[Path, str]:
    """Folder -> layer marker, from the ``layer_folders`` setting or tests/<layer>."""
    lines: list[str] = config.getini("layer_folders")
    if not lines:
        return {TESTS_ROOT / layer: layer for layer in LAYERS}
    folders: dict[Path, str] = {}
    for line in lines:
        folder, sep, marker = line.partition("=")
        if not sep or not folder.strip() or not marker.strip():
            raise pytest.UsageError(
                f"layer_folders: {line!r} is not 'folder = marker' (e.g. 'tests/api = e2e')"
            )
        folders[(config.rootpath / folder.strip()).resolve()] = marker.strip()
    return folders


class Services:
    """Hands out the run's servers; the session fixture ``services`` is one of these."""

    def __init__(self, config: pytest.Config) -> None:
        self.run = ensure_run(config)
        self.pins = pins_of(config)
        required = option(config, "--require-services")
        self.required = running_in_ci() if required is None else bool(required)

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
    """The run's services: finds or starts each backend's server once per run, on first use."""
    return Services(pytestconfig)


def _backend_states(run: Run) -> dict[str, dict[str, Any]]:
    """The state of each backend the run asked for, in the registry's order."""
    states = run.states()
    return {name: states[name] for name in REGISTRY if name in states}


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash[RUN_KEY]
    if not run.is_owner:
        return
    lines = []
    for name, state in _backend_states(run).items():
        if "unavailable" in state:
            what = "error" if state["error"] else "unavailable"
            lines.append(f"{name}: {what} ({'; '.join(state['unavailable'].values())})")
            continue
        endpoint = Endpoint(**state)
        where = endpoint.extra.get("container_host")
        reached = f", reached at {where}" if where and where != "127.0.0.1" else ""
        source = f"{endpoint.source}{reached}"
        started = _started(endpoint)
        lines.append(f"{name}: {endpoint.provider} ({source}), {endpoint.version}{started}")
    if lines:
        terminalreporter.write_sep("-", "services")
        for line in lines:
            terminalreporter.write_line(line)


def _started(endpoint: Endpoint) -> str:
    """Who started the server and how long it took, phase by phase (a slow start's why)."""
    if endpoint.started_in is None:
        return ""
    phases = ", ".join(
        f"{phase} {seconds:.2f} s" for phase, seconds in endpoint.timings.items() if seconds >= 0.01
    )
    return f", started in {endpoint.started_in:.2f} s by {endpoint.started_by}" + (
        f" ({phases})" if phases else ""
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Release each backend (its provider stops the server the run started, or cleans
    what the run left on a shared one), then remove the run's directory.

    A step that fails does not stop the others; the run directory goes last, by the
    same code the reaper runs if this process dies before it gets there.
    """
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.is_owner:
        return
    try:
        for name, state in _backend_states(run).items():
            if "unavailable" not in state:
                with _reported(f"releasing {name}"):
                    REGISTRY[name].release(run, Endpoint(**state))
        with _reported("removing containers"):
            # Those of starts that never completed, by the run's label.
            for error in remove_run_containers(run):
                sys.stderr.write(f"services: a container of run {run.id} stays: {error}\n")
    finally:
        run.remove()
        os.environ.pop(SHARED_RUN_ENV, None)


@contextlib.contextmanager
def _reported(step: str) -> Iterator[None]:
    try:
        yield
    except Exception as error:  # one backend's failure must not leave the others running
        # The terminal summary is written by now; this is the last place to say it.
        sys.stderr.write(f"services: {step} failed: {error!r}\n")
