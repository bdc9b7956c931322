"""Rendering helpers shared by the template's own tests."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from copier import run_copy

pytest_plugins = ["tests.provisioned", "tests.template_history", "tests.containers"]
# Fixture projects for the adoption tests carry tests of their own, run only inside them.
collect_ignore = ["projects"]

REPO = Path(__file__).resolve().parent.parent
# Any Jinja left in output: "{{", "{%" or "{#", but not GitHub's "${{ ... }}".
UNRENDERED = re.compile(r"(?<!\$)\{\{|\{%|\{#")


def under_ci() -> bool:
    """CI must exercise everything: what would be skipped locally fails there."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def render(dest: Path, src: Path = REPO, vcs_ref: str | None = "HEAD", **answers: Any) -> Path:
    """Render the template (uncommitted changes included) with defaults plus answers."""
    run_copy(
        str(src),
        dest,
        data=answers,
        defaults=True,
        unsafe=True,
        quiet=True,
        vcs_ref=vcs_ref,
    )
    return dest


@pytest.fixture
def render_to(tmp_path: Path):
    def _render(**answers: Any) -> Path:
        return render(tmp_path / "project", **answers)

    return _render
