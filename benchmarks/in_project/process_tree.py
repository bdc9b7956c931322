"""A server's process tree and its memory, read from /proc."""

from __future__ import annotations

from pathlib import Path


def tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def memory(root: int) -> dict[str, int]:
    """Processes, and PSS and RSS in bytes summed over the tree (PSS counts shared pages
    once, so it is the honest figure for a server of several processes)."""
    pss = rss = 0
    pids = tree(root)
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            if key == "Pss":
                pss += int(rest.split()[0]) * 1024
            elif key == "Rss":
                rss += int(rest.split()[0]) * 1024
    return {"processes": len(pids), "pss_bytes": pss, "rss_bytes": rss}
