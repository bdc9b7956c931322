"""Migration: tests/conftest.py loads the template's plugins through ``tests.plugins``.

Up to v0.1.0, tests/conftest.py belonged to the template and listed every plugin
module itself::

    pytest_plugins = [
        "tests.plugins.services",
        "tests.plugins.network_guard",
        "tests.plugins.postgres",
        ...
        "tests.factories",
    ]

Since then the file is the project's (``copier update`` skips it) and the list lives in
the template-owned ``tests/plugins/__init__.py``, loaded with one entry,
``"tests.plugins"``. An update leaves an old conftest.py in place, and it keeps working
but never loads plugins added later (a backend added on update, the network guard).
This rewrites the old list: the template's entries become ``"tests.plugins"`` (and
``"tests.factories"`` where the answers generate factories); every other entry,
comment and line of the file stays as the project left it. The old template docstring,
if unchanged, becomes the current one.

Run by ``copier update`` (``_migrations`` in copier.yml) with copier's own Python, on
every update: a conftest.py that already loads ``tests.plugins``, or has no plugin list
of the old shape, is left untouched, so running it twice changes nothing.

    python conftest_plugins.py <project dir> <template dir> --factories=True|False
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

CONFTEST = Path("tests") / "conftest.py"
OLD_DOCSTRING = (
    '"""Loads the suite\'s plugins; fixtures live in tests/plugins, one module per service."""'
)
PLUGINS = "tests.plugins"
FACTORIES = "tests.factories"
ENTRY_LINE = re.compile(r"""^\s*(["'])(?P<name>[\w.]+)\1,?\s*$""")


def current_docstring(template: Path) -> str | None:
    """The docstring the template renders into tests/conftest.py today."""
    source = (template / "template" / "tests" / "conftest.py.jinja").read_text()
    found = re.match(r'\s*(""".*?""")', source, re.DOTALL)
    return found.group(1) if found else None


def _plugin_list(tree: ast.Module) -> ast.Assign | None:
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in node.targets)
            and isinstance(node.value, (ast.List, ast.Tuple))
        ):
            return node
    return None


def _generated_by_template(name: str) -> bool:
    return name.startswith(PLUGINS + ".") or name == FACTORIES


def migrate(source: str, factories: bool, new_docstring: str | None) -> str | None:
    """The migrated conftest.py, or None when it has nothing to migrate."""
    tree = ast.parse(source)
    assign = _plugin_list(tree)
    if assign is None:
        return None
    values = assign.value
    assert isinstance(values, (ast.List, ast.Tuple))
    names = [
        e.value for e in values.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
    ]
    if PLUGINS in names or not any(n.startswith(PLUGINS + ".") for n in names):
        return None
    template_entries = [PLUGINS, FACTORIES] if factories else [PLUGINS]
    lines = source.splitlines(keepends=True)
    first, last = assign.lineno - 1, (assign.end_lineno or assign.lineno) - 1
    body = lines[first + 1 : last]
    opening, closing = lines[first], lines[last]
    multiline = (
        last > first
        and opening.rstrip().endswith(("[", "("))
        and closing.strip() in ("]", ")")
        and all(ENTRY_LINE.match(line) or not line.strip().startswith(("'", '"')) for line in body)
    )
    if multiline:
        # One entry per line, as the template wrote it: drop the template's lines, keep
        # the project's own entries and comments where they were.
        kept = [
            line
            for line in body
            if not ((m := ENTRY_LINE.match(line)) and _generated_by_template(m["name"]))
        ]
        new = [f'    "{name}",\n' for name in template_entries]
        replaced = [opening, *new, *kept, closing]
    else:
        # Some other layout: write the list out again, the project's entries last.
        own = [n for n in names if not _generated_by_template(n)]
        entries = "".join(f'    "{name}",\n' for name in template_entries + own)
        replaced = [f"pytest_plugins = [\n{entries}]\n"]
    migrated = "".join(lines[:first] + replaced + lines[last + 1 :])
    if new_docstring and migrated.startswith(OLD_DOCSTRING + "\n"):
        migrated = new_docstring + migrated[len(OLD_DOCSTRING) :]
    return migrated


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("template", type=Path)
    parser.add_argument("--factories", choices=["True", "False"], required=True)
    args = parser.parse_args(argv)
    conftest = args.project / CONFTEST
    if not conftest.is_file():
        return 0
    source = conftest.read_text()
    try:
        migrated = migrate(source, args.factories == "True", current_docstring(args.template))
    except SyntaxError as error:
        print(
            f"Proving Ground: {CONFTEST} does not parse ({error.msg}, line {error.lineno}), so "
            f'its plugin list was not migrated: make it load "{PLUGINS}" instead of the '
            f'"{PLUGINS}.*" modules it names.',
            file=sys.stderr,
        )
        return 0
    if migrated is not None:
        conftest.write_text(migrated)
        print(
            f'Proving Ground: {CONFTEST} now loads the template\'s plugins with "{PLUGINS}" '
            "(see the template's CHANGELOG, Upgrading); your own entries and code in it "
            "are unchanged.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
