"""extensions/proving_ground.py as Copier loads it, through copier-template-extensions:
once per template checkout, each checkout with its own catalog, nothing shared through
sys.modules, in whichever order ``copier update`` loads the old and the new version."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from types import ModuleType

import jinja2.environment
import pytest
from jinja2 import Environment, FileSystemLoader

from .conftest import REPO

LOADER = "copier_template_extensions.TemplateExtensionLoader"
FILTERS = "extensions/proving_ground.py:ProvingGroundFilters"
CONTEXT = "extensions/proving_ground.py:ProvingGroundContext"


@pytest.fixture
def two_checkouts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Two checkouts of extensions/, the second with a catalog that has one more fact."""
    # The loader patches Jinja's import_string for the process; undo that afterwards.
    monkeypatch.setattr(jinja2.environment, "import_string", jinja2.environment.import_string)
    old, new = tmp_path / "old", tmp_path / "new"
    lock = next((REPO / "template" / "tests" / "support").glob("*kafka_jars.lock*"))
    for checkout in (old, new):
        shutil.copytree(REPO / "extensions", checkout / "extensions")
        # The catalog reads Kafka's pinned jars from the template it belongs to.
        (checkout / lock.relative_to(REPO)).parent.mkdir(parents=True)
        shutil.copy(lock, checkout / lock.relative_to(REPO))
    catalog = new / "extensions" / "catalog.py"
    catalog.write_text(catalog.read_text() + '\nADDED_LATER = ["a-package>=1"]\n')
    return old, new


def environment(checkout: Path, *extensions: str) -> Environment:
    """A Jinja environment as Copier makes one for a template checkout."""
    return Environment(loader=FileSystemLoader(str(checkout)), extensions=list(extensions))


def catalog_of(env: Environment) -> ModuleType:
    catalog: ModuleType = env.filters["backends_error"].__globals__["catalog"]
    return catalog


def test_each_checkout_gets_its_own_catalog_in_either_order(
    two_checkouts: tuple[Path, Path],
) -> None:
    old, new = two_checkouts
    before = set(sys.modules)
    for first, second in ((old, new), (new, old)):
        envs = {c: environment(c, LOADER, FILTERS, CONTEXT) for c in (first, second)}
        assert hasattr(catalog_of(envs[new]), "ADDED_LATER")
        assert not hasattr(catalog_of(envs[old]), "ADDED_LATER")
        assert Path(catalog_of(envs[new]).__file__ or "").parent == new / "extensions"
    # Nothing is left behind under a name the next checkout could pick up.
    assert not {name for name in set(sys.modules) - before if "catalog" in name}


def test_an_environment_of_another_checkout_is_refused(two_checkouts: tuple[Path, Path]) -> None:
    old, new = two_checkouts
    environment(new, LOADER, FILTERS)
    # Without a loader of its own listed first, the path resolves in the checkout the
    # last loader served: the extension notices it renders for another one.
    with pytest.raises(RuntimeError, match="TemplateExtensionLoader first in _jinja_extensions"):
        environment(old, CONTEXT)
