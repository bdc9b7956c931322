"""Servers a generated suite did not start, for the template's own tests.

Run inside a generated project (``uv run python .../outside_servers.py postgres redis``
with PYTHONPATH=.): starts the named backends with the project's own local providers,
prints one JSON line ({"run", "dir", "urls"}) and keeps the servers until its stdin
closes. They belong to a run of their own, so its reaper removes them even if this
process is killed.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(backends: list[str]) -> None:
    from tests.support.run import Run

    run = Run.create(1)
    try:
        urls = {
            name: importlib.import_module(f"tests.support.{name}").start_local(run).url
            for name in backends
        }
        print(json.dumps({"run": run.id, "dir": str(run.dir), "urls": urls}), flush=True)
        sys.stdin.read()
    finally:
        run.remove()


if __name__ == "__main__":
    main(sys.argv[1:])
