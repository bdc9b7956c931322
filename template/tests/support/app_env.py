"""The application's own settings, pointed at this run's servers.

The ``app_env`` pytest setting maps variables the application reads to values of the
servers the suite uses, one ``NAME = value`` a line. ``{backend.part}`` in a value is
replaced by that part of this process's own database (or index) on the backend:

    app_env =
        DATABASE_URL = {postgres.url}
        POSTGRES_SERVER = {postgres.host}
        REDIS_URL = {redis.url}

Parts: ``url``, ``host``, ``port``, ``user``, ``password``, ``database``, and for
PostgreSQL ``sqlalchemy_url`` (the URL with the ``postgresql+psycopg`` driver).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

PARTS = ("url", "sqlalchemy_url", "host", "port", "user", "password", "database")
EXAMPLE = "DATABASE_URL = {postgres.url}"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _field(backend: str, part: str) -> str:
    """``{backend.part}``, as written in a value."""
    return "{" + f"{backend}.{part}" + "}"


class AppEnvError(ValueError):
    """The ``app_env`` setting is malformed; the message says how to write it."""


@dataclass(frozen=True)
class Target:
    """One backend as the application should see it: this process's database there."""

    url: str
    sqlalchemy_url: str
    host: str
    port: str
    user: str
    password: str
    database: str

    @classmethod
    def of(cls, url: str) -> Target:
        """``url`` and its parts; a PostgreSQL URL also gets its SQLAlchemy form."""
        scheme, _, rest = url.partition("://")
        postgres = scheme in ("postgres", "postgresql")
        parts = urlsplit(url if "://" in url else f"//{url}")
        return cls(
            url,
            sqlalchemy_url=f"postgresql+psycopg://{rest}" if postgres else "",
            host=parts.hostname or "",
            port="" if parts.port is None else str(parts.port),
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=parts.path.lstrip("/"),
        )


def parse(lines: Iterable[str], backends: Iterable[str]) -> dict[str, str]:
    """``NAME = value`` lines -> {NAME: value}, every ``{backend.part}`` checked."""
    known = set(backends)
    mapping: dict[str, str] = {}
    for line in lines:
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not _NAME.match(name):
            raise AppEnvError(f"app_env: {line!r} is not 'NAME = value' (e.g. {EXAMPLE!r})")
        for backend, part in _fields(value, line):
            if backend not in known:
                raise AppEnvError(
                    f"app_env: {line!r} names {backend!r}, which is not a backend of this "
                    f"suite ({', '.join(sorted(known)) or 'none'})"
                )
            if part not in PARTS:
                raise AppEnvError(
                    f"app_env: {line!r} asks for {backend}.{part}; the parts are {', '.join(PARTS)}"
                )
        mapping[name] = value
    return mapping


def _fields(value: str, line: str) -> list[tuple[str, str]]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as error:
        raise AppEnvError(
            f"app_env: {line!r}: {error} (a literal brace is written twice)"
        ) from None
    found = []
    for name in names:
        backend, _, part = name.partition(".")
        if not part:
            raise AppEnvError(f"app_env: {line!r}: name a part, as in {_field(name, 'url')}")
        found.append((backend, part))
    return found


def backends_of(mapping: Mapping[str, str]) -> list[str]:
    """The backends the mapping names, in the order first named."""
    seen: dict[str, None] = {}
    for name, value in mapping.items():
        for backend, _ in _fields(value, f"{name} = {value}"):
            seen[backend] = None
    return list(seen)


@dataclass
class AppEnv:
    """The mapping, this process's targets, and what the environment held before."""

    mapping: dict[str, str]
    targets: dict[str, Target] = field(default_factory=dict)
    original: dict[str, str | None] = field(default_factory=dict)

    def render(self, **overrides: Target) -> dict[str, str]:
        """The variables' values; ``overrides`` swaps a backend's target (a template db)."""
        targets = {**self.targets, **overrides}
        return {name: value.format_map(targets) for name, value in self.mapping.items()}

    def export(self) -> None:
        values = self.render()
        for name in values:
            self.original.setdefault(name, os.environ.get(name))
        os.environ.update(values)

    def restore(self) -> None:
        for name, value in self.original.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.original.clear()

    def application_urls(self, backend: str) -> dict[str, str]:
        """The servers the application's own settings named before the run, as URLs.

        A variable mapped to ``{backend.url}`` held a URL; variables mapped to parts
        (``{postgres.host}``, ``{postgres.port}``, ``{postgres.database}``) held the
        pieces of one, put back together here. The safety guard refuses a test server
        that is one of these.
        """
        urls: dict[str, str] = {}
        parts: dict[str, tuple[str, str]] = {}
        fields = {_field(backend, part): part for part in PARTS}
        for name, value in self.mapping.items():
            current = self.original[name] if name in self.original else os.environ.get(name)
            part = fields.get(value)
            if not current or part is None:
                continue
            if part in ("url", "sqlalchemy_url"):
                urls[name] = current
            else:
                parts[part] = (name, current)
        if "host" in parts:
            port = f":{parts['port'][1]}" if "port" in parts else ""
            database = parts["database"][1] if "database" in parts else ""
            names = " + ".join(name for name, _ in parts.values())
            urls[names] = f"{backend}://{parts['host'][1]}{port}/{database}"
        return urls
