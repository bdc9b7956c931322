"""extensions/proving_ground.py as Copier loads it: once per template checkout, each
checkout with its own catalog, nothing shared through sys.modules."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest
from jinja2 import Environment, FileSystemLoader

from .conftest import REPO


def load_extension(checkout: Path) -> ModuleType:
    """As copier-template-extensions does: by path, under one fixed module name."""
    name = "copier_template_extensions.proving_ground"
    spec = importlib.util.spec_from_file_location(
        name, checkout / "extensions" / "proving_ground.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def two_checkouts(tmp_path: Path) -> tuple[Path, Path]:
    """Two checkouts of extensions/, the second with a catalog that has one more fact."""
    old, new = tmp_path / "old", tmp_path / "new"
    for checkout in (old, new):
        shutil.copytree(REPO / "extensions", checkout / "extensions")
    catalog = new / "extensions" / "catalog.py"
    catalog.write_text(catalog.read_text() + '\nADDED_LATER = ["a-package>=1"]\n')
    return old, new


def test_each_checkout_gets_its_own_catalog_in_either_order(
    two_checkouts: tuple[Path, Path],
) -> None:
    old, new = two_checkouts
    before = set(sys.modules)
    for first, second in ((old, new), (new, old)):
        loaded = {checkout: load_extension(checkout) for checkout in (first, second)}
        assert hasattr(loaded[new].catalog, "ADDED_LATER")
        assert not hasattr(loaded[old].catalog, "ADDED_LATER")
        assert loaded[old].catalog is not loaded[new].catalog
        assert Path(loaded[new].catalog.__file__).parent == new / "extensions"
    # Nothing is left behind under a name the next checkout could pick up.
    assert not {name for name in set(sys.modules) - before if "catalog" in name}


def test_an_environment_of_another_checkout_is_refused(two_checkouts: tuple[Path, Path]) -> None:
    old, new = two_checkouts
    extension = load_extension(new)
    Environment(loader=FileSystemLoader(str(new)), extensions=[extension.ProvingGroundFilters])
    with pytest.raises(RuntimeError, match="TemplateExtensionLoader first in _jinja_extensions"):
        Environment(loader=FileSystemLoader(str(old)), extensions=[extension.ProvingGroundContext])
