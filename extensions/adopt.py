"""Merge Proving Ground into an existing project: copier's task for project_kind=existing.

Run by copier after rendering (``_tasks`` in copier.yml), in the project's folder, with
the ``adoption`` context as JSON, the copier operation and the rendered CI workflow. It
changes only what it must and reports the rest:

- pyproject.toml: the test dependencies the project lacks go into the ``test``
  dependency group, as ``uv add --group test`` would put them; ``uv lock`` then adds
  them to uv.lock and keeps every other pin. The project's own dependencies, groups and
  tool settings are left as they are (tomlkit keeps the file's formatting).
- the project's pytest settings (pytest.ini, [tool.pytest.ini_options], tox.ini or
  setup.cfg, wherever pytest reads them): ``-p tests.plugins`` in addopts, ``.`` in
  pythonpath, the markers the plugins add, and the Proving Ground settings it has not
  set yet (app_env, postgres_schema, ...). Nothing it has set is changed.
- coverage: a source when the project has no coverage settings; clashes are reported.
- .gitignore: the report folders, when missing.
- the CI workflow, at the repository root. It is rewritten by later runs (copier update)
  as long as nobody edited it (a hash in its header says); an edited one is left alone.

Runs again on ``copier update``; a second run changes nothing. Needs tomlkit and
packaging (the task runs it with ``uv run --with``).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from tomlkit.items import Array, Table

HASH_LINE = "# proving-ground-sha256: "
HEADER = (
    "# Written by Proving Ground (copier). `copier update` rewrites this file until you\n"
    "# edit it; after that it leaves your version alone.\n"
)
# pytest reads its settings from the first of these that has them.
INI_FILES = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"))
LATE_INI_FILES = (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest"))
LINELISTS = ("markers", "app_env", "layer_folders")


class Report:
    """What the adoption did, and what the user should look at."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.notes: list[str] = []

    def print(self) -> None:
        if self.done:
            print("Proving Ground adoption:")
            for line in self.done:
                print(f"  + {line}")
        if self.notes:
            print("Please check:")
            for line in self.notes:
                print(f"  ! {line}")


# --- dependencies -------------------------------------------------------------------


def _requirements(document: Any) -> dict[str, list[tuple[str, Requirement]]]:
    """Every requirement the project lists, by name: (where, requirement)."""
    found: dict[str, list[tuple[str, Requirement]]] = {}

    def add(where: str, specs: Any) -> None:
        for spec in specs or []:
            if isinstance(spec, str):
                try:
                    requirement = Requirement(spec)
                except InvalidRequirement:
                    continue
                found.setdefault(canonicalize_name(requirement.name), []).append(
                    (where, requirement)
                )

    project = document.get("project", {})
    add("[project] dependencies", project.get("dependencies"))
    for extra, specs in project.get("optional-dependencies", {}).items():
        add(f"optional-dependencies {extra}", specs)
    for group, specs in document.get("dependency-groups", {}).items():
        add(f"dependency group {group}", specs)
    add(
        "[tool.uv] dev-dependencies", document.get("tool", {}).get("uv", {}).get("dev-dependencies")
    )
    return found


def uv_lock_file(project: Path, repo_root: str) -> Path | None:
    """The project's uv.lock: beside it, or at the root of the uv workspace it is in."""
    top = (project / repo_root).resolve()
    for folder in (project, *project.parents):
        if (folder / "uv.lock").is_file():
            return folder / "uv.lock"
        if folder == top:
            break
    return None


def _locked_versions(lock: Path | None) -> dict[str, str]:
    if lock is None:
        return {}
    data = tomlkit.parse(lock.read_text())
    return {
        canonicalize_name(str(package["name"])): str(package["version"])
        for package in data.get("package", [])
        if "version" in package
    }


def _minimum(requirement: Requirement) -> Version | None:
    for spec in requirement.specifier:
        if spec.operator in (">=", "==", "~=", ">"):
            return Version(spec.version)
    return None


def _excludes(theirs: Requirement, minimum: Version) -> bool:
    """Whether the project's specifier rules out every version from ``minimum`` up."""
    for spec in theirs.specifier:
        try:
            version = Version(spec.version)
        except ValueError:  # a wildcard such as ==1.*
            continue
        if spec.operator == "<" and version <= minimum:
            return True
        if spec.operator in ("<=", "==", "===") and version < minimum:
            return True
    return False


def _missing_packages(
    document: Any, packages: list[str], locked: dict[str, str], report: Report
) -> list[str]:
    """Our packages the project does not provide already (or pins too low)."""
    listed = _requirements(document)
    missing = []
    for spec in packages:
        ours = Requirement(spec)
        name = canonicalize_name(ours.name)
        minimum = _minimum(ours)
        if name not in listed:
            missing.append(spec)
            continue
        clashes = [
            (where, theirs)
            for where, theirs in listed[name]
            if minimum is not None and _excludes(theirs, minimum)
        ]
        for where, theirs in clashes:
            report.notes.append(
                f"{where} has {theirs}; Proving Ground needs {ours.name}{ours.specifier}: "
                "widen it there, then run `uv lock`"
            )
        version = locked.get(name)
        if not clashes and minimum is not None and version and Version(version) < minimum:
            missing.append(spec)
            report.notes.append(
                f"uv.lock had {ours.name} {version}; Proving Ground needs {ours.specifier}, "
                "so the test group asks for it and the lock moves it up"
            )
    return missing


def merge_dependencies(
    project: Path, document: Any, adoption: dict[str, Any], report: Report
) -> bool:
    """Add what is missing to the test group; True when pyproject.toml changed."""
    lock_file = uv_lock_file(project, adoption["repo_root"])
    locked = _locked_versions(lock_file)
    missing = _missing_packages(document, adoption["packages"], locked, report)
    group_name = adoption["group"]
    changed = False
    if missing:
        groups = document.get("dependency-groups")
        if groups is None:
            groups = tomlkit.table()
            document["dependency-groups"] = groups
        group = groups.get(group_name)
        if group is None:
            group = tomlkit.array()
            groups[group_name] = group
        present = {str(item) for item in group}
        for spec in missing:
            if spec not in present:
                group.append(spec)
        group.multiline(True)
        report.done.append(f"dependency group {group_name}: {', '.join(missing)}")
        changed = True
    if lock_file is not None or "uv" in document.get("tool", {}):
        changed |= _sync_default_groups(document, group_name, report)
    return changed


def _sync_default_groups(document: Any, group_name: str, report: Report) -> bool:
    """Make ``uv sync`` / ``uv run`` install the test group."""
    tool = document.setdefault("tool", tomlkit.table(is_super_table=True))
    uv = tool.get("uv")
    if uv is None:
        uv = tomlkit.table()
        tool["uv"] = uv
    default = uv.get("default-groups")
    if default == "all" or (isinstance(default, list) and group_name in default):
        return False
    if default is None:
        # uv's own default is ["dev"]; keep it and add ours.
        has_dev = "dev" in document.get("dependency-groups", {})
        uv["default-groups"] = [*(["dev"] if has_dev else []), group_name]
    else:
        default.append(group_name)
    report.done.append(f"[tool.uv] default-groups: {group_name} (so `uv run pytest` has it)")
    return True


def lock(project: Path, repo_root: str, report: Report) -> None:
    if uv_lock_file(project, repo_root) is None:
        report.notes.append(
            "no uv.lock: install the test group with your tool (pip install --group test, "
            "pdm install -G test, ...)"
        )
        return
    uv = shutil.which("uv")
    if uv is None:
        report.notes.append("uv is not on PATH: run `uv lock` to add the test group to uv.lock")
        return
    done = subprocess.run([uv, "lock", "--quiet"], cwd=project, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            f"`uv lock` failed after adding the test dependencies:\n{done.stderr}\n"
            "Fix the clash above in pyproject.toml, then run `uv lock`."
        )
    report.done.append("uv.lock: test group added; every other pin kept")


# --- pytest settings ----------------------------------------------------------------


def _has_plugin(addopts: str, plugin: str) -> bool:
    return re.search(rf"(^|\s)-p\s*{re.escape(plugin)}(\s|$)", addopts) is not None


def _marker_names(markers: list[str]) -> set[str]:
    return {re.split(r"[:(]", marker, maxsplit=1)[0].strip() for marker in markers}


class TomlSettings:
    """[tool.pytest.ini_options] (or pytest 9's [tool.pytest]) of pyproject.toml."""

    def __init__(self, table: Table, where: str) -> None:
        self.table, self.where = table, where

    def get(self, key: str) -> Any:
        return self.table.get(key)

    def text(self, key: str) -> str:
        value = self.table.get(key)
        if value is None:
            return ""
        return " ".join(map(str, value)) if isinstance(value, list) else str(value)

    def lines(self, key: str) -> list[str]:
        value = self.table.get(key)
        if value is None:
            return []
        return [str(v) for v in value] if isinstance(value, list) else str(value).splitlines()

    def append_args(self, key: str, args: list[str]) -> None:
        value = self.table.get(key)
        if value is None:
            self.table[key] = args
        elif isinstance(value, list):
            value.extend(args)
        else:
            self.table[key] = f"{value} {' '.join(args)}".strip()

    def append_lines(self, key: str, lines: list[str]) -> None:
        value = self.table.get(key)
        if value is None:
            array = tomlkit.array()
            array.extend(lines)
            array.multiline(True)
            self.table[key] = array
        elif isinstance(value, Array):
            value.extend(lines)
            value.multiline(True)
        else:
            self.table[key] = "\n".join([str(value), *lines])

    def set(self, key: str, value: str | list[str]) -> None:
        if isinstance(value, list):
            self.append_lines(key, value)
        else:
            self.table[key] = value


class IniSettings:
    """The [pytest] (or [tool:pytest]) section of an INI file, edited line by line so
    that everything else in the file stays exactly as it was."""

    def __init__(self, path: Path, section: str) -> None:
        self.path, self.where = path, f"{path.name} [{section}]"
        self.file_lines = path.read_text().splitlines(keepends=True)
        self.section = section

    def _bounds(self) -> tuple[int, int]:
        start = next(
            i for i, line in enumerate(self.file_lines) if line.strip() == f"[{self.section}]"
        )
        end = next(
            (
                i
                for i in range(start + 1, len(self.file_lines))
                if self.file_lines[i].startswith("[")
            ),
            len(self.file_lines),
        )
        while end > start + 1 and not self.file_lines[end - 1].strip():
            end -= 1
        return start, end

    def _key(self, key: str) -> tuple[int, int] | None:
        start, end = self._bounds()
        pattern = re.compile(rf"^{re.escape(key)}\s*[=:]")
        for i in range(start + 1, end):
            if pattern.match(self.file_lines[i]):
                last = i
                while last + 1 < end and self.file_lines[last + 1][:1] in (" ", "\t"):
                    last += 1
                return i, last
        return None

    def _value_lines(self, key: str) -> list[str]:
        found = self._key(key)
        if found is None:
            return []
        first, last = found
        head = re.split(r"[=:]", self.file_lines[first], maxsplit=1)[1].strip()
        rest = [line.strip() for line in self.file_lines[first + 1 : last + 1]]
        return [line for line in [head, *rest] if line]

    def get(self, key: str) -> str | None:
        return " ".join(self._value_lines(key)) if self._key(key) else None

    def text(self, key: str) -> str:
        return " ".join(self._value_lines(key))

    def lines(self, key: str) -> list[str]:
        return self._value_lines(key)

    def _insert(self, index: int, lines: list[str]) -> None:
        if index > 0 and not self.file_lines[index - 1].endswith("\n"):
            self.file_lines[index - 1] += "\n"
        self.file_lines[index:index] = [f"{line}\n" for line in lines]

    def append_args(self, key: str, args: list[str]) -> None:
        found = self._key(key)
        if found is None:
            self._insert(self._bounds()[1], [f"{key} = {' '.join(args)}"])
        else:
            self._insert(found[1] + 1, [f"    {' '.join(args)}"])

    def append_lines(self, key: str, lines: list[str]) -> None:
        found = self._key(key)
        if found is None:
            self._insert(self._bounds()[1], [f"{key} =", *(f"    {line}" for line in lines)])
        else:
            self._insert(found[1] + 1, [f"    {line}" for line in lines])

    def set(self, key: str, value: str | list[str]) -> None:
        if isinstance(value, list):
            self.append_lines(key, value)
        else:
            self._insert(self._bounds()[1], [f"{key} = {value}"])

    def save(self) -> None:
        self.path.write_text("".join(self.file_lines))


def _ini_with_section(path: Path, section: str) -> bool:
    return path.is_file() and f"[{section}]" in {
        line.strip() for line in path.read_text().splitlines()
    }


def pytest_settings(project: Path, document: Any) -> TomlSettings | IniSettings:
    """Where pytest reads this project's settings (made in pyproject.toml if nowhere)."""
    for name, section in INI_FILES:
        path = project / name
        if path.is_file():  # pytest.ini wins even without a [pytest] section
            if not _ini_with_section(path, section):
                path.write_text(path.read_text().rstrip("\n") + f"\n\n[{section}]\n")
            return IniSettings(path, section)
    pytest_table = document.get("tool", {}).get("pytest")
    if pytest_table is not None:
        if "ini_options" in pytest_table:
            return TomlSettings(pytest_table["ini_options"], "[tool.pytest.ini_options]")
        return TomlSettings(pytest_table, "[tool.pytest]")
    for name, section in LATE_INI_FILES:
        if _ini_with_section(project / name, section):
            return IniSettings(project / name, section)
    tool = document.setdefault("tool", tomlkit.table(is_super_table=True))
    pytest_table = tool.setdefault("pytest", tomlkit.table(is_super_table=True))
    return TomlSettings(
        pytest_table.setdefault("ini_options", tomlkit.table()), "[tool.pytest.ini_options]"
    )


def merge_pytest(
    settings: TomlSettings | IniSettings, adoption: dict[str, Any], report: Report
) -> None:
    where = settings.where
    plugin = adoption["plugin"]
    if not _has_plugin(settings.text("addopts"), plugin):
        settings.append_args("addopts", ["-p", plugin])
        report.done.append(f"{where} addopts: -p {plugin} (loads the plugins before conftest.py)")
    pythonpath = settings.text("pythonpath").split()
    if "." not in pythonpath:
        settings.append_args("pythonpath", ["."])
        report.done.append(f"{where} pythonpath: . (so -p finds tests/plugins)")
    known = _marker_names(settings.lines("markers"))
    markers = [m for m in adoption["markers"] if _marker_names([m]).isdisjoint(known)]
    if markers:
        settings.append_lines("markers", markers)
        report.done.append(f"{where} markers: {', '.join(sorted(_marker_names(markers)))}")
    for key, value in adoption["settings"].items():
        if settings.get(key) is None:
            settings.set(key, value)
            report.done.append(f"{where} {key}")
        elif settings.lines(key) != (value if isinstance(value, list) else [value]):
            report.notes.append(f"{where} sets {key} its own way; kept it")
    minversion = settings.text("minversion")
    if not minversion:
        # An older pytest would not find the plugins (pythonpath applies to -p from 8.4):
        # this makes it say which version it needs instead.
        settings.set("minversion", "8.4")
        report.done.append(f"{where} minversion: 8.4 (pythonpath reaches -p from 8.4 on)")
    elif Version(minversion) < Version("8.4"):
        report.notes.append(
            f"{where} minversion = {minversion}: the plugins need pytest 8.4 (set 8.4)"
        )
    if adoption["asyncio"] and not settings.text("asyncio_mode"):
        report.notes.append(
            "async fixtures: tests that use them need @pytest.mark.asyncio, or "
            f'asyncio_mode = "auto" in {where}'
        )
    if "importlib" in settings.text("addopts"):
        report.notes.append(
            "--import-mode=importlib: the plugins load through pythonpath = ., which is set"
        )


# --- coverage and .gitignore --------------------------------------------------------


def merge_coverage(project: Path, document: Any, source: str, report: Report) -> None:
    coverage = document.get("tool", {}).get("coverage")
    elsewhere = [n for n in (".coveragerc", "setup.cfg", "tox.ini") if _coverage_in(project / n)]
    run = coverage.get("run", {}) if coverage is not None else {}
    if coverage is None and not elsewhere:
        table = tomlkit.table()
        table["source"] = [source]
        table["branch"] = True
        coverage = tomlkit.table(is_super_table=True)
        coverage["run"] = table
        document.setdefault("tool", tomlkit.table(is_super_table=True))["coverage"] = coverage
        report.done.append(f"[tool.coverage.run] source = [{source!r}], branch = true")
    elif "source" in run and source not in [str(s) for s in run["source"]]:
        report.notes.append(
            f"[tool.coverage.run] source is {list(map(str, run['source']))}, not {source!r}: "
            "kept the project's"
        )
    if "dynamic_context" in run:
        report.notes.append(
            f'[tool.coverage.run] dynamic_context = "{run["dynamic_context"]}": with '
            "pytest-cov, and in every pytest-xdist worker, `--cov-context=test` names each "
            "test's context (test id, |setup, |run, |teardown) instead; remove "
            "dynamic_context and pass --cov-context=test (coverage's own detection only "
            "sees functions named test*, and Python 3.12's sys.monitoring core cannot "
            "record dynamic contexts)"
        )


def _coverage_in(path: Path) -> bool:
    if not path.is_file():
        return False
    sections = {line.strip() for line in path.read_text().splitlines()}
    return bool(sections & {"[run]", "[coverage:run]", "[report]", "[coverage:report]"})


def merge_gitignore(project: Path, lines: list[str], report: Report) -> None:
    path = project / ".gitignore"
    if not path.is_file():
        return
    text = path.read_text()
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in lines if line not in present]
    if missing:
        block = "\n# Test reports and coverage (Proving Ground)\n" + "\n".join(missing) + "\n"
        path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + block)
        report.done.append(f".gitignore: {', '.join(missing)}")


# --- CI -----------------------------------------------------------------------------


def _signed(body: str) -> str:
    digest = hashlib.sha256(body.encode()).hexdigest()
    return f"{HEADER}{HASH_LINE}{digest}\n{body}"


def _untouched(text: str) -> bool:
    """Whether a file we wrote still has exactly the body its header's hash names."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines[:4]):
        if line.startswith(HASH_LINE):
            body = "".join(lines[index + 1 :])
            return hashlib.sha256(body.encode()).hexdigest() == line[len(HASH_LINE) :].strip()
    return False


def write_ci(project: Path, adoption: dict[str, Any], workflow: str, report: Report) -> None:
    provider = adoption["ci_provider"]
    if provider == "none" or not workflow.strip():
        return
    root = (project / adoption["repo_root"]).resolve()
    if adoption["repo_root"] != "." and not (root / ".git").exists():
        report.notes.append(
            f"repo_root = {adoption['repo_root']} is not a git repository's root; no CI "
            "workflow written"
        )
        return
    relative = (
        ".github/workflows/service-tests.yml"
        if provider == "github"
        else ".gitlab/service-tests.gitlab-ci.yml"
    )
    path = root / relative
    content = _signed(workflow.strip("\n") + "\n")
    shown = (project / adoption["repo_root"] / relative).as_posix()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        report.done.append(f"CI: {relative} at the repository root")
    elif path.read_text() != content:
        if _untouched(path.read_text()):
            path.write_text(content)
            report.done.append(f"CI: {relative} updated")
        else:
            report.notes.append(
                f"{shown} was edited, so it was left alone; delete it and run copier "
                "update again to get the new version"
            )
    if provider == "gitlab":
        _include_gitlab(root, relative, report)


def _include_gitlab(root: Path, relative: str, report: Report) -> None:
    main = root / ".gitlab-ci.yml"
    include = f"include:\n  - local: /{relative}\n"
    if not main.exists():
        main.write_text(include)
        report.done.append(".gitlab-ci.yml: includes the service tests")
    elif relative not in main.read_text():
        report.notes.append(f".gitlab-ci.yml is yours: add the service tests to it with\n{include}")


# --- main ---------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    adoption, operation, workflow = json.loads(argv[1]), argv[2], argv[3]
    project = Path.cwd()
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        if operation == "update":
            return  # copier renders the old and new versions in empty folders: nothing to merge
        raise SystemExit(f"no pyproject.toml in {project}: nothing to adopt into")
    report = Report()
    original = pyproject.read_text()
    document = tomlkit.parse(original)
    changed_dependencies = merge_dependencies(project, document, adoption, report)
    settings = pytest_settings(project, document)
    merge_pytest(settings, adoption, report)
    merge_coverage(project, document, adoption["coverage_source"], report)
    updated = tomlkit.dumps(document)
    if updated != original:
        pyproject.write_text(updated)
    if isinstance(settings, IniSettings):
        settings.save()
    if changed_dependencies:
        lock(project, adoption["repo_root"], report)
    merge_gitignore(project, adoption["gitignore"], report)
    write_ci(project, adoption, workflow, report)
    report.print()


if __name__ == "__main__":
    main(sys.argv)
