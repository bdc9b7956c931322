"""PATH without one program: how tests and benchmarks hide this machine's java."""

from __future__ import annotations

import os
from pathlib import Path


def path_without(program: str, shadows: Path) -> str:
    """PATH, with each directory that holds ``program`` replaced by a copy (symlinks,
    under ``shadows``) of everything else in it."""
    dirs = []
    for index, entry in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not (Path(entry) / program).exists():
            dirs.append(entry)
            continue
        shadow = shadows / str(index)
        shadow.mkdir(parents=True)
        for found in Path(entry).iterdir():
            if found.name != program:
                (shadow / found.name).symlink_to(found)
        dirs.append(str(shadow))
    return os.pathsep.join(dirs)
