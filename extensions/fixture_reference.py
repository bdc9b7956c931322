"""The fixture reference of docs/testing.md, read from the fixtures' own docstrings.

``fixture_reference()`` in a template renders the plugin modules a project gets (the
same conditional file names and the same answers as the project itself), finds their
fixtures with ``ast`` and returns one Markdown table per plugin: name, scope and the
first paragraph of the docstring. Written at render time, the reference cannot go stale:
a fixture added, renamed or re-documented in a plugin shows up in the next render.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

PLUGINS = "template/tests/plugins"
FIXTURE_DECORATORS = {"fixture", "pytest.fixture", "pytest_asyncio.fixture"}
MISSING = "(no docstring)"


@dataclass(frozen=True)
class Fixture:
    name: str
    scope: str
    summary: str


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _fixture_call(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    """The function's fixture decorator (``@pytest.fixture`` or a call of it), if any."""
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _dotted(target) in FIXTURE_DECORATORS:
            return decorator
    return None


def _keyword(decorator: ast.expr, name: str) -> str | None:
    if isinstance(decorator, ast.Call):
        for keyword in decorator.keywords:
            if keyword.arg == name and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
    return None


def summary(docstring: str | None) -> str:
    """The docstring's first paragraph on one line (what ``pytest --fixtures`` leads with)."""
    if not docstring:
        return MISSING
    # reST's ``literal`` is Markdown's `literal`.
    return " ".join(docstring.strip().split("\n\n")[0].split()).replace("``", "`")


def fixtures_of(source: str) -> list[Fixture]:
    """The fixtures a module defines, in source order."""
    fixtures = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        decorator = _fixture_call(node)
        # Private fixtures (autouse plumbing) are left out, as ``pytest --fixtures`` does.
        if decorator is None or node.name.startswith("_"):
            continue
        fixtures.append(
            Fixture(
                name=_keyword(decorator, "name") or node.name,
                scope=_keyword(decorator, "scope") or "function",
                summary=summary(ast.get_docstring(node)),
            )
        )
    return fixtures


def module_summary(source: str) -> str:
    return summary(ast.get_docstring(ast.parse(source))).removesuffix(MISSING)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def table(module: str, source: str) -> str:
    """The Markdown section of one plugin module; '' when it defines no fixture."""
    fixtures = fixtures_of(source)
    if not fixtures:
        return ""
    lines = [f"### `{module}`", ""]
    about = module_summary(source)
    if about:
        lines += [about, ""]
    lines += ["| fixture | scope | what it gives |", "|---|---|---|"]
    lines += [f"| `{f.name}` | {f.scope} | {_cell(f.summary)} |" for f in fixtures]
    return "\n".join(lines)


def rendered_plugins(environment: Environment, answers: dict[str, Any]) -> dict[str, str]:
    """``{"tests/plugins/<name>.py": source}`` of the plugins rendered with ``answers``."""
    root = _template_root(environment)
    plugins: dict[str, str] = {}
    for path in sorted((root / PLUGINS).iterdir()):
        # Conditional file names render to "" (or to ".jinja") when the answers leave
        # the file out, exactly as Copier decides.
        name = environment.from_string(path.name).render(answers).removesuffix(".jinja")
        if not name.endswith(".py"):
            continue
        if path.name.endswith(".jinja"):
            source = environment.get_template(f"{PLUGINS}/{path.name}").render(answers)
        else:
            source = path.read_text()
        plugins[f"tests/plugins/{name}"] = source
    return plugins


def _template_root(environment: Environment) -> Path:
    for entry in getattr(environment.loader, "searchpath", []):
        if (Path(entry) / PLUGINS).is_dir():
            return Path(entry)
    raise RuntimeError(f"fixture_reference: no {PLUGINS} under the Jinja loader's path")


@pass_context
def fixture_reference(context: Context) -> str:
    """Every fixture of the project's plugins, one table per plugin module."""
    plugins = rendered_plugins(context.environment, dict(context.get_all()))
    sections = [table(module, source) for module, source in plugins.items()]
    return "\n\n".join(section for section in sections if section)
