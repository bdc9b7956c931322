"""After the template's test run: the PostgreSQL cluster cache holds one entry per server
version (issue #13), however many projects the run rendered and wherever they lived.

Counts the entries the run made or used (touched since it began), by the PG_VERSION
inside each: run as `python .ci/check_cache.py <epoch seconds when the run began>`.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path


def main(began: float) -> int:
    # platformdirs' user cache directory on Linux, where CI runs.
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pytest-services"
    used: dict[str, list[str]] = defaultdict(list)
    for entry in sorted(cache.glob("postgres-*")):
        if entry.is_dir() and entry.stat().st_mtime >= began:
            used[(entry / "PG_VERSION").read_text().strip()].append(entry.name)
    print(f"PostgreSQL clusters the run used in {cache}: {dict(used) or 'none'}")
    if not used:
        print("no cached cluster was used: the local provider did not run", file=sys.stderr)
        return 1
    doubled = {version: names for version, names in used.items() if len(names) > 1}
    if doubled:
        print(f"more than one entry per PostgreSQL version: {doubled}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1])))
