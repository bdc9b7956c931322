"""Pytest plugin: warm runs, the project's servers kept running between runs.

``pytest --services-up`` starts them (and returns), ``pytest --services-status`` says
what runs, ``pytest --services-down`` stops them and removes their data. A run that
finds them uses them (the header says ``warm``); see ``tests/support/warm.py``.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from ..support import warm
from ..support.providers import REGISTRY, ServiceUnavailable, acquire
from ..support.run import Run
from .services import RUN_KEY, ensure_run

COMMANDS = {
    "--services-up": "start this project's servers and keep them running for later runs, then exit",
    "--services-down": "stop the servers --services-up started and remove their data, then exit",
    "--services-status": "say which servers --services-up keeps running, then exit (1 if none)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("services")
    for command, text in COMMANDS.items():
        group.addoption(command, action="store_true", help=text)
    # The holder that --services-up starts: a run that starts every server and waits.
    group.addoption("--services-hold", action="store_true", help=argparse.SUPPRESS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    chosen = [command for command in COMMANDS if config.getoption(command)]
    if len(chosen) > 1:
        raise pytest.UsageError(f"give one of {', '.join(COMMANDS)}")
    if chosen == ["--services-down"]:
        return warm.down(print)
    if chosen == ["--services-status"]:
        return warm.status(print)
    return warm.up(_holder_args(config), print) if chosen else None


def _holder_args(config: pytest.Config) -> list[str]:
    """No test collection, no cache, no xdist workers and no coverage in the holder."""
    args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
    if config.pluginmanager.hasplugin("xdist"):
        args += ["-n", "0"]
    if config.pluginmanager.hasplugin("pytest_cov"):
        args.append("--no-cov")
    if config.getoption("--services", default=None):
        args.append(f"--services={config.getoption('--services')}")
    return args


def pytest_report_header(config: pytest.Config) -> list[str]:
    notice = warm.stale_notice()
    return [notice] if notice is not None else []


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """A stale state file, said once more where the run's outcome is read."""
    run = config.stash.get(RUN_KEY, None)
    notice = warm.stale_notice() if run is not None and run.is_owner else None
    if notice is not None:
        terminalreporter.write_sep("-", "warm services")
        terminalreporter.write_line(notice)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--services-hold") and RUN_KEY not in config.stash:
        # Before the services plugin makes the usual run: this one has room for the
        # test processes of several runs on one Redis.
        config.stash[RUN_KEY] = Run.create(worker_count=warm.WARM_WORKERS)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not config.getoption("--services-hold"):
        return
    run = ensure_run(config)
    started: dict[str, dict[str, object]] = {}
    unavailable: dict[str, str] = {}
    for name, backend in REGISTRY.items():
        try:
            started[name] = vars(acquire(backend, run, {"*": "local"}))
        except ServiceUnavailable as error:
            unavailable[name] = str(error)
    warm.record(run, started, unavailable)
    warm.hold()
    # The services plugin's unconfigure stops the servers and removes the run.
    pytest.exit("services down", returncode=0)
