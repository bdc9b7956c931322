"""Pytest plugin: the application's own settings point at this run's test servers.

The ``app_env`` setting (see ``tests/support/app_env.py``) names the variables the
application reads, such as ``DATABASE_URL`` or ``POSTGRES_SERVER``/``POSTGRES_DB`` and
``REDIS_URL``. For the whole run every process exports them with the values of its own
database (or Redis index), so the application, its engine and its migrations talk to
the test servers and never to a database the suite did not create. At the end the
variables get back the values they had.

Loaded with ``-p`` (the way an existing project loads the plugins), this happens while
pytest loads the initial conftest.py files, before they run: a conftest.py that imports
the application at the top sees the test servers. Loaded from a conftest.py, it happens
in ``pytest_configure``, still before any test module is imported.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ..support.app_env import AppEnv, AppEnvError, Target, backends_of, parse
from ..support.providers import REGISTRY, Endpoint, ServiceUnavailable, acquire
from ..support.run import Run
from ..support.safety import APPLICATION_URLS, UnsafeTarget
from .services import Services

APP_ENV_KEY = pytest.StashKey[AppEnv]()
# What a backend's plugin says about this process's own namespace on the server (its
# database, its Redis index), and a step to run once the variables are exported.
Prepare = Callable[[AppEnv], None]
ProcessTarget = Callable[[pytest.Config, Run, Endpoint], tuple[Target, Prepare | None]]
PROCESS_TARGETS: dict[str, ProcessTarget] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "app_env",
        type="linelist",
        default=[],
        help="the application's settings, pointed at the test servers for the run: one "
        "'NAME = value' a line, e.g. 'DATABASE_URL = {postgres.url}'",
    )


def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    if not _only_asks_for_help(early_config):
        app_env_of(early_config)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if not _only_asks_for_help(config):
        app_env_of(config)


def _only_asks_for_help(config: pytest.Config) -> bool:
    """``pytest --help`` or ``--version``: no servers for that."""
    known = config.known_args_namespace
    return bool(getattr(known, "help", False) or getattr(known, "version", False))


def app_env_of(config: pytest.Config) -> AppEnv:
    """This process's application settings, exported on first call."""
    if APP_ENV_KEY in config.stash:
        return config.stash[APP_ENV_KEY]
    try:
        app_env = AppEnv(parse(config.getini("app_env"), REGISTRY))
    except AppEnvError as error:
        raise pytest.UsageError(str(error)) from None
    config.stash[APP_ENV_KEY] = app_env
    backends = backends_of(app_env.mapping)
    if not backends:
        return app_env
    services = Services(config)
    prepare = []
    for name in backends:
        backend = REGISTRY[name]
        APPLICATION_URLS[backend.test_env] = app_env.application_urls(name)
        try:
            endpoint = acquire(backend, services.run, services.pins)
            if name in PROCESS_TARGETS:
                target, step = PROCESS_TARGETS[name](config, services.run, endpoint)
            else:
                target, step = Target.of(endpoint.url), None
        except (ServiceUnavailable, UnsafeTarget) as error:
            # The application cannot even be imported without its settings: no test of
            # this run could pass, so say why once instead of skipping them all.
            raise pytest.UsageError(f"app_env needs {name}: {error}") from None
        app_env.targets[name] = target
        if step is not None:
            prepare.append(step)
    app_env.export()
    config.add_cleanup(app_env.restore)
    for step in prepare:
        step(app_env)
    return app_env


@pytest.fixture
def app_settings(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, str]]:
    """Point the application's settings at other databases for one test.

    ``app_settings(postgres=clean_database)`` exports the ``app_env`` variables with that
    database's values (for an application that reads its settings when it needs them)
    and returns them; after the test they are back to this process's own.
    """
    app_env = app_env_of(pytestconfig)

    def point(**urls: str) -> dict[str, str]:
        values = app_env.render(**{name: Target.of(url) for name, url in urls.items()})
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        return values

    return point
