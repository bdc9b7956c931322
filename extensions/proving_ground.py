"""Jinja extensions for the template: the service catalog in context, and filters."""

from __future__ import annotations

import importlib.util
import keyword
import re
import shlex
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

from copier_template_extensions import ContextHook
from jinja2 import Environment
from jinja2.ext import Extension


def _load(filename: str) -> ModuleType:
    """This checkout's own ``extensions/<filename>``, executed afresh.

    ``copier update`` renders the old and the new template version in one process, each
    from its own checkout, and this file is executed once per checkout. So the module
    is never looked up in sys.modules, nor left there under a name another checkout
    could find: it is registered under a one-off name only while it runs (dataclasses
    look their module up while the classes are made), then dropped.
    """
    path = Path(__file__).with_name(filename)
    name = f"_proving_ground_{path.stem}_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


catalog = _load("catalog.py")
adoption = _load("adoption.py")
fixture_reference = _load("fixture_reference.py")

_PACKAGE_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def package_slug(project_name: str) -> str:
    """'My Cool-Project 2' -> 'my_cool_project_2'."""
    slug = re.sub(r"[^a-z0-9]+", "_", project_name.lower()).strip("_")
    if not slug:
        return "app"
    return f"_{slug}" if slug[0].isdigit() else slug


def package_name_error(name: str) -> str:
    """The validator message for a bad package name, or '' when it is fine."""
    if not _PACKAGE_NAME.match(name):
        return (
            f"package_name {name!r} is not a valid import name: use lowercase letters, "
            f"digits and underscores, not starting with a digit (e.g. {package_slug(name)!r})"
        )
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name == "tests":
        return f"package_name {name!r} shadows a Python keyword or module; pick another name"
    return ""


def docker_health_cmd(command: list[str]) -> str:
    """A health check as one ``docker create --health-cmd`` argument, quoted twice:
    for the shell that runs it (shlex) and for the runner that splits the options."""
    shell = shlex.join(command)
    return '"' + shell.replace("\\", "\\\\").replace('"', '\\"') + '"'


def backends_error(backends: list[str]) -> str:
    unknown = [b for b in backends if b not in catalog.SERVICES]
    if unknown:
        allowed = ", ".join(catalog.SERVICES)
        return f"unknown backend(s) {', '.join(unknown)}; allowed: {allowed} (or none)"
    return ""


# Beyond 20 runners each shard's fixed cost (a runner, its service containers, `uv sync`,
# collection: about a minute) outweighs the tests it runs, and GitHub's free plan runs
# at most 20 jobs at once, so more would queue. (GitLab's `parallel:` takes up to 200.)
MAX_CI_SHARDS = 20


def ci_shards_error(shards: int, ci_provider: str) -> str:
    """The validator message for a bad ``ci_shards`` answer, or '' when it is fine."""
    if not 1 <= shards <= MAX_CI_SHARDS:
        return (
            f"ci_shards must be an integer from 1 (no splitting) to {MAX_CI_SHARDS}, got "
            f"{shards}: past {MAX_CI_SHARDS} runners each shard's start-up (a runner, its "
            "service containers, uv sync: about a minute) outweighs the tests it runs, "
            f"and GitHub's free plan runs at most {MAX_CI_SHARDS} jobs at once"
        )
    if shards > 1 and ci_provider not in ("github", "gitlab"):
        return (
            f"ci_shards={shards} splits the CI test job, but ci_provider is "
            f"{ci_provider!r}: choose ci_provider github or gitlab, or leave ci_shards at 1"
        )
    return ""


def _check_checkout(environment: Environment) -> None:
    """Refuse to serve a Jinja environment made for another template checkout.

    copier-template-extensions executes this file afresh for each environment, from the
    environment's own checkout. Should a loader ever hand one checkout's module to
    another's environment (a cached import, ``TemplateExtensionLoader`` not listed first
    in ``_jinja_extensions``), rendering would silently use the wrong catalog: this
    stops it with a message instead.
    """
    searchpath = getattr(environment.loader, "searchpath", None)
    if not searchpath:
        return
    checkout = Path(__file__).resolve().parent.parent
    if checkout not in {Path(path).resolve() for path in searchpath}:
        raise RuntimeError(
            f"{Path(__file__).name} was loaded from {checkout} but renders the template in "
            f"{', '.join(map(str, searchpath))}: list "
            "copier_template_extensions.TemplateExtensionLoader first in _jinja_extensions "
            "and use copier-template-extensions>=0.3"
        )


class ProvingGroundFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        _check_checkout(environment)
        super().__init__(environment)
        environment.filters["package_slug"] = package_slug
        environment.filters["package_name_error"] = package_name_error
        environment.filters["backends_error"] = backends_error
        environment.filters["docker_health_cmd"] = docker_health_cmd
        environment.filters["task_queue_error"] = task_queue_error
        environment.filters["ci_shards_error"] = ci_shards_error
        environment.filters.update(adoption.FILTERS)
        environment.globals["fixture_reference"] = fixture_reference.fixture_reference


def _packages(services: list[Any], use_async: bool, kind: str) -> list[str]:
    """``client``/``dev`` packages of the services, their async variant where one exists."""
    packages: list[str] = []
    for service in services:
        variant = getattr(service, f"async_{kind}_packages") if use_async else None
        packages += variant if variant is not None else getattr(service, f"{kind}_packages")
    return packages


class ProvingGroundContext(ContextHook):
    def __init__(self, environment: Environment) -> None:
        _check_checkout(environment)
        super().__init__(environment)

    def hook(self, context: dict[str, Any]) -> None:
        backends = context.get("backends") or []
        services = catalog.selected(list(backends))
        use_async = bool(context.get("async_fixtures"))
        context["services"] = {service.key: service for service in services}
        context["service_list"] = services
        # Servers CI runs as service containers; the others come from the local provider.
        context["ci_service_list"] = [service for service in services if service.ci_container]
        existing = context.get("project_kind") == "existing"
        test_packages = list(catalog.ADOPTION_TEST_PACKAGES if existing else catalog.TEST_PACKAGES)
        if use_async:
            test_packages += catalog.ASYNC_TEST_PACKAGES
            if "mongo" in backends:
                test_packages += catalog.BEANIE_TEST_PACKAGES
        if "performance" in (context.get("test_layers") or []):
            test_packages += catalog.PERFORMANCE_TEST_PACKAGES
        system_postgres = context.get("postgres_binaries") not in (None, "auto", "wheel")
        for service in services:
            local = service.local_packages
            if existing:
                local = catalog.ADOPTION_LOCAL_PACKAGES.get(service.key, local)
            if not (service.key == "postgres" and system_postgres):
                test_packages += local
            test_packages += service.test_packages
        layers = context.get("test_layers") or []
        if {"postgres", "mongo"} & set(backends) and not existing:
            test_packages += catalog.FACTORY_TEST_PACKAGES
        if "security" in layers and not existing:
            test_packages += catalog.SECURITY_TEST_PACKAGES
        if context.get("html_report"):
            test_packages += catalog.HTML_REPORT_TEST_PACKAGES
        # Copier runs this hook before it has parsed the answers: a bad ci_shards is
        # still text here, and refused with its own message once parsed.
        shards = context.get("ci_shards")
        if isinstance(shards, int) and shards > 1:
            test_packages += catalog.SHARDING_TEST_PACKAGES
        runtime_packages = _packages(services, use_async, "client")
        # The optional FastAPI app (web_app).
        if context.get("web_app"):
            runtime_packages += catalog.WEB_PACKAGES
            test_packages += catalog.WEB_TEST_PACKAGES
            if "performance" in (context.get("test_layers") or []):
                test_packages += catalog.WEB_LOAD_TEST_PACKAGES
        context["runtime_packages"] = runtime_packages
        # A test package the project already depends on at runtime is not listed twice.
        context["test_packages"] = [p for p in test_packages if p not in runtime_packages]
        context["dev_packages"] = list(catalog.DEV_PACKAGES) + _packages(services, use_async, "dev")
        if "security" in layers:
            context["dev_packages"] += catalog.SECURITY_DEV_PACKAGES
        _add_third_party_apis(context)
        _add_task_queues(context)
        context["ci_project_dir"] = "."
        # A new project registers every layer's marker; an existing one those it uses.
        context["layer_markers"] = {
            layer: text
            for layer, text in catalog.LAYER_MARKERS.items()
            if layer in layers or not existing
        }
        # Questions are rendered before every answer is in: the adoption is worked out
        # once the last one it needs is known.
        if existing and "coverage_source" in context:
            _add_adoption(context, services, layers)


def _add_adoption(context: dict[str, Any], services: list[Any], layers: list[str]) -> None:
    """What extensions/adopt.py merges into an existing project (``adoption``)."""
    # The plumbing imports the clients the example code would have brought.
    packages = context["test_packages"] + context["runtime_packages"]
    if "security" in layers:
        packages += catalog.SECURITY_DEV_PACKAGES
    mapped = set((context.get("layer_folders") or {}).values())
    markers = [
        f"{layer}: {text}" for layer, text in context["layer_markers"].items() if layer in mapped
    ]
    markers += [f"{s.key}: uses a real {s.title} server (added automatically)" for s in services]
    settings: dict[str, Any] = {}
    if context.get("layer_folders"):
        settings["layer_folders"] = [f"{k} = {v}" for k, v in context["layer_folders"].items()]
    if context.get("app_env") and services:
        settings["app_env"] = [f"{k} = {v}" for k, v in context["app_env"].items()]
    if "postgres" in context["services"]:
        settings["postgres_schema"] = context.get("postgres_schema", "none")
        settings["postgres_session"] = context.get("postgres_session", "sqlalchemy.orm:Session")
        if context.get("postgres_binaries", "auto") != "auto":
            settings["postgres_binaries"] = context["postgres_binaries"]
    repo_root = context["repo_root"]
    project_dir = adoption.ci_project_dir(context["_copier_conf"]["dst_path"], repo_root)
    context["ci_project_dir"] = project_dir
    context["adoption"] = {
        "group": "test",
        "packages": list(dict.fromkeys(packages)),
        "plugin": "tests.plugins",
        "markers": markers,
        "settings": settings,
        "asyncio": bool(context.get("async_fixtures")),
        "coverage_source": context["coverage_source"],
        "gitignore": ["reports/", ".coverage", ".coverage.*", "htmlcov/"],
        "ci_provider": context["ci_provider"],
        "repo_root": repo_root,
        "project_dir": project_dir,
    }


def _add_third_party_apis(context: dict[str, Any]) -> None:
    """Third-party API stand-ins: ``api_list``, ``apis`` and their packages, deduplicated."""
    apis = catalog.selected_apis(list(context.get("third_party_apis") or []))
    context["apis"] = {api.key: api for api in apis}
    context["api_list"] = apis
    for api in apis:
        for package in api.runtime_packages:
            if package not in context["runtime_packages"]:
                context["runtime_packages"].append(package)
        for package in api.test_packages:
            if package not in context["test_packages"] + context["runtime_packages"]:
                context["test_packages"].append(package)


def _add_task_queues(context: dict[str, Any]) -> None:
    """Task queues: ``queue_list``, ``queues`` and their packages, deduplicated."""
    queues = catalog.selected_queues(list(context.get("task_queues") or []))
    context["queues"] = {queue.key: queue for queue in queues}
    context["queue_list"] = queues
    context["queue_broker"] = queue_broker(context)
    for queue in queues:
        for package in queue.runtime_packages[context["queue_broker"]]:
            if package not in context["runtime_packages"]:
                context["runtime_packages"].append(package)
        for package in queue.dev_packages:
            if package not in context["dev_packages"]:
                context["dev_packages"].append(package)


def queue_broker(context: dict[str, Any]) -> str:
    """The backend the task queues' messages go through: the answer to ``task_broker``
    when it names a chosen backend, else RabbitMQ when it is chosen, else Redis."""
    backends = list(context.get("backends") or [])
    answer = context.get("task_broker")
    if answer in ("redis", "rabbitmq") and answer in backends:
        return str(answer)
    return "rabbitmq" if "rabbitmq" in backends else "redis"


def task_queue_error(queue: str, backends: list[str]) -> str:
    """Why a task queue cannot be chosen with these backends, or '' when it can."""
    entry = catalog.TASK_QUEUES[queue]
    if set(entry.brokers) & set(backends):
        return ""
    brokers = " or ".join(catalog.SERVICES[key].title for key in entry.brokers)
    return (
        f"{entry.title} needs a broker among the backends: add {brokers} to backends "
        f"(its worker runs for real on that server in tests), or leave {entry.title} out"
    )
