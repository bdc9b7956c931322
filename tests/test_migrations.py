"""The update migrations (copier.yml ``_migrations``, scripts in migrations/), one by one.

test_update.py runs them inside real updates over the template's history; these pin
down each script's rules on the shapes a project may have, without Copier.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"migration_{name}", REPO / "migrations" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


conftest_plugins = load("conftest_plugins")
keep_user_files = load("keep_user_files")

# tests/conftest.py as the template rendered it up to v0.1.0 (d6148f6), all options on.
OLD_DOCSTRING = conftest_plugins.OLD_DOCSTRING
OLD_CONFTEST_V0_1_0 = f"""{OLD_DOCSTRING}

pytest_plugins = [
    "tests.plugins.services",
    "tests.plugins.network_guard",
    "tests.plugins.postgres",
    "tests.plugins.redis",
    "tests.plugins.mongo",
    "tests.plugins.kafka",
    "tests.plugins.s3",
    "tests.plugins.http_api",
    "tests.plugins.openai_api",
    "tests.plugins.smtp",
    "tests.factories",
    "tests.plugins.web",
]
"""
# ... and as the skeleton (3e5d905) rendered it: no network guard, no factories.
OLD_CONFTEST_SKELETON = f"""{OLD_DOCSTRING}

pytest_plugins = [
    "tests.plugins.services",
    "tests.plugins.postgres",
    "tests.plugins.redis",
]
"""
NEW_DOCSTRING = conftest_plugins.current_docstring(REPO)


def migrate(source: str, factories: bool = True) -> str | None:
    return conftest_plugins.migrate(source, factories, NEW_DOCSTRING)


@pytest.mark.parametrize(
    ("old", "answers"),
    [
        (OLD_CONFTEST_V0_1_0, {"backends": ["postgres", "redis", "mongo", "kafka", "s3"]}),
        (OLD_CONFTEST_SKELETON, {"backends": ["postgres", "redis"]}),
        (OLD_CONFTEST_SKELETON.replace("postgres", "redis").replace(
            '    "tests.plugins.redis",\n', "", 1), {"backends": ["redis"]}),
    ],
    ids=["v0.1.0-all-options", "skeleton-postgres-redis", "skeleton-redis"],
)  # fmt: skip
def test_untouched_old_conftest_becomes_what_the_template_renders_today(
    render_to: Any, old: str, answers: dict[str, Any]
) -> None:
    fresh = (render_to(**answers) / "tests" / "conftest.py").read_text()
    factories = bool({"postgres", "mongo"} & set(answers["backends"]))
    assert migrate(old, factories) == fresh


def test_keeps_every_entry_comment_and_line_the_project_added() -> None:
    old = OLD_CONFTEST_V0_1_0.replace(
        "pytest_plugins = [\n", "import pytest\n\npytest_plugins = [\n    # ours first\n"
    ).replace('    "tests.plugins.s3",\n', '    "tests.plugins.s3",\n    "tests.our_fixtures",\n')
    old += '\n\n@pytest.fixture\ndef tenant() -> str:\n    """Ours."""\n    return "acme"\n'
    assert migrate(old) == (
        f"{NEW_DOCSTRING}\n\nimport pytest\n\n"
        "pytest_plugins = [\n"
        '    "tests.plugins",\n'
        '    "tests.factories",\n'
        "    # ours first\n"
        '    "tests.our_fixtures",\n'
        "]\n"
        '\n\n@pytest.fixture\ndef tenant() -> str:\n    """Ours."""\n    return "acme"\n'
    )


def test_factories_follow_the_answers() -> None:
    without = migrate(OLD_CONFTEST_V0_1_0, factories=False)
    assert without is not None
    assert '"tests.factories"' not in without
    with_them = migrate(OLD_CONFTEST_SKELETON, factories=True)
    assert with_them is not None
    assert '    "tests.plugins",\n    "tests.factories",\n]' in with_them


def test_a_list_in_another_layout_is_written_out_again() -> None:
    old = (
        '"""Our suite."""\n\n'
        'pytest_plugins = ["tests.plugins.services", "tests.plugins.redis", "tests.ours"]\n'
        "X = 1\n"
    )
    assert migrate(old, factories=False) == (
        '"""Our suite."""\n\n'
        'pytest_plugins = [\n    "tests.plugins",\n    "tests.ours",\n]\n'
        "X = 1\n"
    )


@pytest.mark.parametrize(
    "current",
    [
        'pytest_plugins = [\n    "tests.plugins",\n    "tests.factories",\n]\n',
        # Loads tests.plugins and names a plugin module too: deliberate, left alone.
        'pytest_plugins = ["tests.plugins", "tests.plugins.redis"]\n',
        '"""No plugin list at all."""\n\nimport pytest\n',
        'pytest_plugins = "tests.plugins.services"\n',
    ],
    ids=["current-form", "current-plus-module", "no-list", "not-a-list"],
)
def test_nothing_to_migrate_is_left_alone(current: str) -> None:
    assert migrate(current) is None


def test_running_twice_changes_nothing() -> None:
    once = migrate(OLD_CONFTEST_V0_1_0)
    assert once is not None
    assert migrate(once) is None


def test_an_edited_docstring_stays() -> None:
    old = OLD_CONFTEST_SKELETON.replace("Loads the suite's plugins", "Our plugins")
    migrated = migrate(old)
    assert migrated is not None
    assert migrated.startswith('"""Our plugins; fixtures live in tests/plugins')


def run_script(name: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The script as Copier runs it: its own process, Copier's Python."""
    return subprocess.run(
        [sys.executable, str(REPO / "migrations" / f"{name}.py"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_script_rewrites_the_project_conftest(tmp_path: Path) -> None:
    conftest = tmp_path / "tests" / "conftest.py"
    conftest.parent.mkdir()
    conftest.write_text(OLD_CONFTEST_SKELETON)
    done = run_script("conftest_plugins", str(tmp_path), str(REPO), "--factories=False")
    assert done.returncode == 0, done.stderr
    assert '"tests.plugins",\n]' in conftest.read_text()
    assert 'now loads the template\'s plugins with "tests.plugins"' in done.stderr
    again = run_script("conftest_plugins", str(tmp_path), str(REPO), "--factories=False")
    assert again.returncode == 0
    assert again.stderr == ""


def test_script_leaves_a_conftest_that_does_not_parse_and_says_so(tmp_path: Path) -> None:
    conftest = tmp_path / "tests" / "conftest.py"
    conftest.parent.mkdir()
    broken = OLD_CONFTEST_SKELETON + "def (:\n"
    conftest.write_text(broken)
    done = run_script("conftest_plugins", str(tmp_path), str(REPO), "--factories=True")
    assert done.returncode == 0
    assert conftest.read_text() == broken
    assert "does not parse" in done.stderr
    assert 'make it load "tests.plugins"' in done.stderr


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture
def committed_project(tmp_path: Path) -> Path:
    """A committed project with Kafka's plumbing and example code, as Copier left it."""
    files = {
        ".copier-answers.yml": "_commit: v0.1.0\nbackends:\n- kafka\npackage_name: shop\n",
        "src/shop/events.py": '"""Order events, edited by the project."""\n\nTOPIC = "orders"\n',
        "tests/integration/test_events.py": "def test_publishes() -> None:\n    assert 1\n",
        "tests/plugins/kafka.py": '"""Kafka fixtures."""\n',
        "tests/support/kafka.py": '"""Kafka broker."""\n',
        "README.md": "# Shop\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "generated")
    return tmp_path


def test_files_the_project_owns_come_back_and_are_listed(committed_project: Path) -> None:
    # What copier update does when Kafka is removed: every file the old render had.
    deleted = [
        "src/shop/events.py",
        "tests/integration/test_events.py",
        "tests/plugins/kafka.py",
        "tests/support/kafka.py",
    ]
    for rel in deleted:
        (committed_project / rel).unlink()
    done = run_script("keep_user_files", str(committed_project), str(REPO), cwd=committed_project)
    assert done.returncode == 0, done.stderr
    assert (committed_project / "src/shop/events.py").read_text().startswith('"""Order events')
    assert (committed_project / "tests/integration/test_events.py").exists()
    assert not (committed_project / "tests/plugins/kafka.py").exists()
    assert not (committed_project / "tests/support/kafka.py").exists()
    removed, kept = done.stderr.split("these files are yours")
    assert "tests/plugins/kafka.py" in removed
    assert "tests/support/kafka.py" in removed
    assert "git rm src/shop/events.py tests/integration/test_events.py" in kept
    assert git(committed_project, "status", "--porcelain").split("\n")[:2] == [
        " D tests/plugins/kafka.py",
        " D tests/support/kafka.py",
    ]


def test_nothing_deleted_nothing_said(committed_project: Path) -> None:
    done = run_script("keep_user_files", str(committed_project), str(REPO))
    assert done.returncode == 0
    assert done.stderr == ""
    assert git(committed_project, "status", "--porcelain") == ""


def test_a_file_the_project_deleted_itself_stays_deleted(committed_project: Path) -> None:
    git(committed_project, "rm", "-q", "src/shop/events.py")
    git(committed_project, "commit", "-qm", "we do not need the example")
    done = run_script("keep_user_files", str(committed_project), str(REPO))
    assert done.returncode == 0
    assert not (committed_project / "src/shop/events.py").exists()
    assert done.stderr == ""


def test_an_example_the_project_deleted_is_not_brought_back(committed_project: Path) -> None:
    git(committed_project, "rm", "-q", "tests/integration/test_events.py")
    git(committed_project, "mv", "src/shop/events.py", "src/shop/order_events.py")
    git(committed_project, "commit", "-qm", "we test events elsewhere; events.py renamed")
    # What copier update writes: both examples again, and a new one for a new feature.
    written = {
        "tests/integration/test_events.py": "def test_publishes() -> None:\n    assert 1\n",
        "src/shop/events.py": '"""Order events."""\n',
        "tests/integration/test_refunds.py": "def test_refunds() -> None:\n    assert 1\n",
    }
    for rel, text in written.items():
        (committed_project / rel).parent.mkdir(exist_ok=True)
        (committed_project / rel).write_text(text)
    done = run_script("keep_user_files", str(committed_project), str(REPO))
    assert done.returncode == 0, done.stderr
    assert not (committed_project / "tests/integration/test_events.py").exists()
    assert not (committed_project / "src/shop/events.py").exists()
    assert (committed_project / "tests/integration/test_refunds.py").exists()
    assert done.stderr == (
        "Proving Ground: you deleted these examples earlier, so the update did not bring "
        "them back:\n  src/shop/events.py\n  tests/integration/test_events.py\n"
    )


def test_user_owned_patterns_render_with_the_answers(committed_project: Path) -> None:
    owned = keep_user_files.user_owned(REPO, committed_project)
    assert owned("src/shop/events.py")
    assert owned("tests/conftest.py")
    assert not owned("tests/plugins/kafka.py")
    assert not owned("pyproject.toml")


NETWORK_GUARD_TESTS = "tests/unit/test_network_guard.py"


@pytest.mark.parametrize("edited", [False, True], ids=["as-shipped", "edited"])
def test_tests_the_template_took_over_go_unless_edited(
    committed_project: Path, edited: bool
) -> None:
    # As v0.1.0 shipped it (rendered as is), and the update deleting it (the template now
    # renders it as tests/plugins/test_network_guard.py).
    shipped = git(REPO, "cat-file", "-p", "090c2a68fd865a1bce684ed8ff28322d2ed52038")
    path = committed_project / NETWORK_GUARD_TESTS
    path.parent.mkdir(parents=True)
    path.write_text(shipped + ("\n\ndef test_ours() -> None:\n    assert 1\n" if edited else ""))
    git(committed_project, "add", "-A")
    git(committed_project, "commit", "-qm", "generated")
    path.unlink()
    done = run_script("keep_user_files", str(committed_project), str(REPO))
    assert done.returncode == 0, done.stderr
    assert path.exists() == edited
    moved = f"  {NETWORK_GUARD_TESTS} -> tests/plugins/test_network_guard.py"
    assert moved in done.stderr.splitlines()
    assert ("you had edited your copy, so it stays" in done.stderr) == edited
    assert ("your copy was unchanged, so it went" in done.stderr) != edited
    assert "these files are yours" not in done.stderr
