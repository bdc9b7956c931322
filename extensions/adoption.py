"""Adopting the template into an existing project: what is there, and what may be written.

The questions' defaults come from here (the import package and its folder, the
repository root, the backends the dependencies use, Alembic, the settings variables the
code reads), and so does the validator that refuses an adoption which would overwrite
a file of the project's.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from pathlib import Path, PurePath
from typing import Any

# Dependency name (normalised) -> backend it means.
_BACKEND_CLIENTS = {
    "postgres": ("psycopg", "psycopg2", "psycopg2-binary", "asyncpg", "sqlmodel", "pg8000"),
    "redis": ("redis", "hiredis", "aioredis", "valkey"),
    "mongo": ("pymongo", "motor", "beanie", "mongoengine"),
    "kafka": ("confluent-kafka", "aiokafka", "kafka-python", "faststream"),
    "s3": ("boto3", "aioboto3", "aiobotocore", "s3fs"),
    "rabbitmq": ("pika", "aio-pika", "aiormq"),
    "mlflow": ("mlflow", "mlflow-skinny"),
}
# Settings variables an application commonly reads, and the value the suite gives each.
KNOWN_SETTINGS = {
    "postgres": {
        "DATABASE_URL": "{postgres.url}",
        "SQLALCHEMY_DATABASE_URI": "{postgres.sqlalchemy_url}",
        "SQLALCHEMY_DATABASE_URL": "{postgres.sqlalchemy_url}",
        "POSTGRES_URL": "{postgres.url}",
        "POSTGRES_SERVER": "{postgres.host}",
        "POSTGRES_HOST": "{postgres.host}",
        "POSTGRES_PORT": "{postgres.port}",
        "POSTGRES_USER": "{postgres.user}",
        "POSTGRES_PASSWORD": "{postgres.password}",
        "POSTGRES_DB": "{postgres.database}",
    },
    "redis": {
        "REDIS_URL": "{redis.url}",
        "REDIS_HOST": "{redis.host}",
        "REDIS_PORT": "{redis.port}",
        "REDIS_DB": "{redis.database}",
        "CELERY_BROKER_URL": "{redis.url}",
    },
    "mongo": {
        "MONGODB_URL": "{mongo.url}",
        "MONGODB_URI": "{mongo.url}",
        "MONGO_URL": "{mongo.url}",
    },
    "kafka": {"KAFKA_BOOTSTRAP_SERVERS": "{kafka.url}"},
    "s3": {"AWS_ENDPOINT_URL": "{s3.url}", "S3_ENDPOINT_URL": "{s3.url}"},
    "rabbitmq": {"RABBITMQ_URL": "{rabbitmq.url}", "AMQP_URL": "{rabbitmq.url}"},
    "mlflow": {"MLFLOW_TRACKING_URI": "{mlflow.url}"},
}
LAYERS = ("unit", "integration", "e2e", "performance", "security")
# Files the template writes in an existing project: none may be the project's already.
ADOPTION_FILES = (
    "tests/plugins",
    "tests/support",
    "compose.test.yaml",
    "docs/testing.md",
    "docs/warm-runs.md",
)
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", "tests", "test", "docs"}
_COPIER_TEMP = re.compile(r"^copier\._?main\.(old|new)_copy\.")


def _path(dst: Any) -> Path:
    return Path(str(dst))


def _pyproject(dst: str) -> dict[str, Any]:
    path = Path(dst) / "pyproject.toml"
    try:
        return _parse_toml(path, path.stat().st_mtime_ns)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


@functools.cache
def _parse_toml(path: Path, mtime: int) -> dict[str, Any]:
    # Questions are rendered many times per copy; the file is read once per version.
    return tomllib.loads(path.read_text())


def _dependency_names(dst: str) -> set[str]:
    data = _pyproject(dst)
    specs: list[Any] = list(data.get("project", {}).get("dependencies", []))
    for group in data.get("dependency-groups", {}).values():
        specs += group
    for group in data.get("project", {}).get("optional-dependencies", {}).values():
        specs += group
    names = set()
    for spec in specs:
        if isinstance(spec, str):
            match = re.match(r"[A-Za-z0-9._-]+", spec)
            if match:
                names.add(re.sub(r"[-_.]+", "-", match.group(0)).lower())
    return names


def _our_answers(folder: Path, answers_file: str) -> bool:
    """Whether the folder holds answers this template recorded (a project it made)."""
    answers = folder / answers_file
    if not answers.is_file():
        return False
    keys = {line.split(":", 1)[0] for line in answers.read_text(errors="replace").splitlines()}
    return {"backends", "test_layers"} <= keys


def detected_kind(dst: Any, answers_file: Any = ".copier-answers.yml") -> str:
    """``existing`` when the destination already holds a Python project that this
    template did not make (a project it made before project_kind existed was new)."""
    folder = _path(dst)
    if _our_answers(folder, str(answers_file)):
        return "new"
    markers = ("pyproject.toml", "setup.py", "setup.cfg")
    return "existing" if any((folder / name).exists() for name in markers) else "new"


def detected_backends(dst: Any) -> list[str]:
    names = _dependency_names(str(dst))
    return [key for key, clients in _BACKEND_CLIENTS.items() if names & set(clients)]


def detected_package_path(dst: Any) -> str:
    """The folder of the import package: src/<name>, or <name> at the top."""
    folder = _path(dst)
    project_name = str(_pyproject(str(dst)).get("project", {}).get("name", ""))
    wanted = re.sub(r"[^a-z0-9]+", "_", project_name.lower())
    candidates: list[Path] = []
    for base in (folder / "src", folder):
        if base.is_dir():
            candidates += sorted(
                child
                for child in base.iterdir()
                if child.is_dir()
                and child.name not in _SKIP_DIRS
                and (child / "__init__.py").exists()
            )
    for candidate in candidates:
        if candidate.name == wanted:
            return candidate.relative_to(folder).as_posix()
    return candidates[0].relative_to(folder).as_posix() if candidates else wanted or "app"


def detected_package(dst: Any) -> str:
    return PurePath(detected_package_path(dst)).name


def detected_repo_root(dst: Any) -> str:
    """The repository root (where .git is) relative to the destination, else ``.``."""
    folder = _path(dst).resolve()
    for up, parent in enumerate((folder, *folder.parents)):
        if (parent / ".git").exists():
            return "/".join([".."] * up) or "."
    return "."


def detected_python(dst: Any, choices: list[str]) -> str:
    """The lowest offered version the project's requires-python allows."""
    requires = str(_pyproject(str(dst)).get("project", {}).get("requires-python", ""))
    match = re.search(r">=?\s*(\d+)\.(\d+)", requires)
    if not match:
        return "3.12"
    lowest = (int(match.group(1)), int(match.group(2)))
    allowed = [choice for choice in choices if _version(choice) >= lowest]
    return allowed[0] if allowed else choices[-1]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def detected_layer_folders(dst: Any) -> dict[str, str]:
    """tests/<layer> folders that exist, mapped to their layer."""
    folder = _path(dst)
    return {f"tests/{layer}": layer for layer in LAYERS if (folder / "tests" / layer).is_dir()}


def detected_layers(dst: Any) -> list[str]:
    found = list(dict.fromkeys(detected_layer_folders(dst).values()))
    return found or ["unit", "integration", "e2e"]


@functools.cache
def _source_text(dst: str, package_path: str) -> str:
    root = Path(dst) / package_path
    texts = []
    for path in sorted(root.rglob("*.py"))[:500] if root.is_dir() else []:
        try:
            texts.append(path.read_text(errors="replace"))
        except OSError:
            continue
    for name in (".env.example", ".env.sample", ".env.template"):
        candidate = Path(dst) / name
        if candidate.is_file():
            texts.append(candidate.read_text(errors="replace"))
    return "\n".join(texts)


def detected_app_env(dst: Any, package_path: str, backends: list[str]) -> dict[str, str]:
    """The settings variables the code mentions, each given the matching test value."""
    text = _source_text(str(dst), package_path)
    found: dict[str, str] = {}
    for backend in backends:
        for name, value in KNOWN_SETTINGS.get(backend, {}).items():
            # A settings field (NAME: str), a quoted name (os.environ["NAME"]) or a line
            # of an .env example (NAME=...); not a property or attribute of that name.
            if re.search(rf"^\s*{name}\s*[:=]|[\"']{name}[\"']", text, re.MULTILINE):
                found[name] = value
    return found


def detected_alembic(dst: Any) -> str:
    """``alembic`` (alembic.ini at the top), ``alembic:<path>`` or ``none``."""
    folder = _path(dst)
    if (folder / "alembic.ini").is_file():
        return "alembic"
    for ini in sorted(folder.glob("*/alembic.ini")) + sorted(folder.glob("*/*/alembic.ini")):
        if not set(ini.relative_to(folder).parts) & _SKIP_DIRS:
            return f"alembic:{ini.relative_to(folder).as_posix()}"
    return "none"


def detected_session(dst: Any) -> str:
    if "sqlmodel" in _dependency_names(str(dst)):
        return "sqlmodel:Session"
    return "sqlalchemy.orm:Session"


def _is_update(dst: Path, answers_file: str) -> bool:
    """Whether copier is updating (or re-copying) a project it made, not adopting."""
    try:
        from copier._main import _operation  # the operation copier is running

        if _operation.get(None) == "update":
            return True
    except ImportError:  # another copier version: the checks below still hold
        pass
    if any(_COPIER_TEMP.match(part) for part in dst.parts):
        return True  # copier update renders old and new versions in temporary folders
    return _our_answers(dst, answers_file)


def adoption_error(kind: str, dst: Any, answers_file: Any) -> str:
    """The validator message for ``project_kind``, or '' when the copy may go ahead."""
    folder = _path(dst)
    answers = str(answers_file)
    if _is_update(folder, answers):
        return ""
    if kind == "new":
        if detected_kind(folder) == "existing":
            return (
                f"{folder} already holds a Python project (pyproject.toml, setup.py or "
                "setup.cfg), and a new project would overwrite it: answer "
                "project_kind=existing to add the test infrastructure to it, or choose an "
                "empty folder"
            )
        return ""
    if kind != "existing":
        return f"project_kind must be new or existing, got {kind!r}"
    if not (folder / "pyproject.toml").is_file():
        return (
            f"{folder} has no pyproject.toml, where the test dependencies and pytest "
            "settings go: create one (uv init --bare), then run the command again"
        )
    if (folder / answers).is_file():
        return (
            f"{answers} belongs to another Copier template; pass --answers-file "
            ".copier-answers.proving-ground.yml to keep this template's answers apart"
        )
    taken = [name for name in ADOPTION_FILES if (folder / name).exists()]
    if taken:
        return (
            f"the project already has {', '.join(taken)}, where Proving Ground puts its "
            "own files; rename or move yours (e.g. git mv tests/support tests/helpers) "
            "and run the command again"
        )
    return ""


def detected_project_name(dst: Any) -> str:
    name = str(_pyproject(str(dst)).get("project", {}).get("name", ""))
    return name or _path(dst).resolve().name


_MODULE_ATTRIBUTE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = re.compile(r"\{([^{}]*)\}")
PARTS = ("url", "sqlalchemy_url", "host", "port", "user", "password", "database")


def relative_path_error(path: str, question: str) -> str:
    parts = PurePath(path.strip()).parts
    if not parts or PurePath(path).is_absolute() or ".." in parts:
        return (
            f"{question} must be a folder inside the project (e.g. app or src/my_app), got {path!r}"
        )
    return ""


def repo_root_error(path: str) -> str:
    if set(PurePath(path.strip() or ".").parts) - {".."} and path.strip() != ".":
        return f"repo_root must be . or a path of .. steps (.., ../..), got {path!r}"
    return ""


def layer_folders_error(folders: Any, layers: list[str]) -> str:
    if not isinstance(folders, dict):
        return "layer_folders must be a mapping of folder to layer, e.g. {tests/api: e2e}"
    for folder, layer in folders.items():
        error = relative_path_error(str(folder), "a layer_folders folder")
        if error:
            return error
        if layer not in layers:
            return (
                f"layer_folders maps {folder} to {layer!r}, which is not one of the chosen "
                f"test_layers ({', '.join(layers)})"
            )
    return ""


def app_env_error(mapping: Any, backends: list[str]) -> str:
    if not isinstance(mapping, dict):
        return (
            'app_env must be a mapping of variable to value, e.g. {DATABASE_URL: "{postgres.url}"}'
        )
    for name, value in mapping.items():
        if not _ENV_NAME.match(str(name)):
            return f"app_env: {name!r} is not an environment variable name"
        for field in _FIELD.findall(str(value)):
            backend, _, part = field.partition(".")
            if backend not in backends or part not in PARTS:
                return (
                    f"app_env: {name} = {value!r} names {{{field}}}; use {{backend.part}} with "
                    f"a chosen backend ({', '.join(backends) or 'none'}) and a part "
                    f"({', '.join(PARTS)})"
                )
    return ""


def postgres_schema_error(schema: str) -> str:
    value = schema.strip()
    if (
        value in ("none", "alembic")
        or value.startswith("alembic:")
        or _MODULE_ATTRIBUTE.match(value)
    ):
        return ""
    return (
        f"postgres_schema must be alembic, alembic:path/to/alembic.ini, module:metadata, "
        f"module:function or none, got {schema!r}"
    )


def class_path_error(value: str, question: str) -> str:
    if _MODULE_ATTRIBUTE.match(value.strip()):
        return ""
    return f"{question} must be module:Class (e.g. sqlmodel:Session), got {value!r}"


def postgres_binaries_error(value: str) -> str:
    if value in ("auto", "wheel", "system") or value.startswith(("/", "~")):
        return ""
    return (
        "postgres_binaries must be auto, wheel, system, or an absolute path to a bin "
        f"directory or pg_config, got {value!r}"
    )


def ci_project_dir(dst: Any, repo_root: str) -> str:
    """The project's folder relative to the repository root (``.`` when it is the root)."""
    folder = PurePath(os.path.abspath(str(dst)))  # copier may be given "."
    root = PurePath(os.path.normpath(str(folder / repo_root)))
    try:
        return folder.relative_to(root).as_posix() or "."
    except ValueError:
        return "."


FILTERS = {
    "detected_kind": detected_kind,
    "detected_backends": detected_backends,
    "detected_package": detected_package,
    "detected_package_path": detected_package_path,
    "detected_repo_root": detected_repo_root,
    "detected_python": detected_python,
    "detected_layer_folders": detected_layer_folders,
    "detected_layers": detected_layers,
    "detected_app_env": detected_app_env,
    "detected_alembic": detected_alembic,
    "detected_session": detected_session,
    "detected_project_name": detected_project_name,
    "adoption_error": adoption_error,
    "relative_path_error": relative_path_error,
    "repo_root_error": repo_root_error,
    "layer_folders_error": layer_folders_error,
    "app_env_error": app_env_error,
    "postgres_schema_error": postgres_schema_error,
    "class_path_error": class_path_error,
    "postgres_binaries_error": postgres_binaries_error,
    "ci_project_dir": ci_project_dir,
}
