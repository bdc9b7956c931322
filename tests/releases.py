"""Releases: the versions CHANGELOG.md names, the commits they are, and their git tags.

A release is a ``## vX.Y.Z (YYYY-MM-DD)`` section of CHANGELOG.md; its tag ``vX.Y.Z``
belongs on the first commit whose CHANGELOG.md has that heading (the commit that cut
the release). A release tagged after the fact names its commit in the heading:
``## v0.1.0 (2026-11-21, commit d6148f6)``. Tags need not travel with a clone (CI
checks out main without them), so the tests make them from this in a scratch clone,
and check that tags which do exist agree.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

HEADING = re.compile(
    r"^## v(?P<version>\d+\.\d+\.\d+) \((?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:, commit (?P<commit>[0-9a-f]{7,40}))?\)$"
)


class MissingHistory(Exception):
    """A release's commit is not in this clone (a shallow checkout)."""


@dataclass(frozen=True)
class Release:
    version: tuple[int, int, int]
    date: str
    heading: str
    pinned: str | None

    @property
    def tag(self) -> str:
        return "v" + ".".join(map(str, self.version))


def parse_changelog(text: str) -> list[Release]:
    """The releases, newest first; a ``## `` heading of any other shape is an error."""
    releases = []
    for line in text.splitlines():
        if not line.startswith("## ") or line == "## Unreleased":
            continue
        found = HEADING.match(line)
        if found is None:
            raise ValueError(
                f"CHANGELOG.md heading {line!r} is neither '## Unreleased' nor "
                "'## vX.Y.Z (YYYY-MM-DD)' (optionally '..., commit <hash>)')"
            )
        version = tuple(int(part) for part in found["version"].split("."))
        releases.append(Release(version, found["date"], line, found["commit"]))  # type: ignore[arg-type]
    return releases


def git(repo: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {repo}: {done.stderr.strip()}")
    return done.stdout.strip() if done.returncode == 0 else ""


def is_shallow(repo: Path) -> bool:
    return git(repo, "rev-parse", "--is-shallow-repository") == "true"


def has_commit(repo: Path, ref: str) -> bool:
    return bool(git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False))


def release_commit(repo: Path, release: Release) -> str | None:
    """The full hash of the release's commit, or None when only the working tree has
    the heading (the release is being cut and not committed yet)."""
    if release.pinned is not None:
        if not has_commit(repo, release.pinned):
            raise MissingHistory(f"{release.tag} is commit {release.pinned}")
        return git(repo, "rev-parse", f"{release.pinned}^{{commit}}")
    # -S: the commits that changed how often the heading occurs; the oldest added it.
    log = git(repo, "log", "--reverse", "--format=%H", f"-S{release.heading}", "--", "CHANGELOG.md")
    for commit in log.split():
        if release.heading in git(repo, "show", f"{commit}:CHANGELOG.md").splitlines():
            return commit
    if is_shallow(repo):
        raise MissingHistory(f"{release.tag} is the commit that added {release.heading!r}")
    return None


def shallow_message(repo: Path, missing: str) -> str:
    return (
        f"{missing}, which is not in {repo}: this clone has no full history "
        f"(shallow: {is_shallow(repo)}). The "
        "update tests render the template as it was at releases and older commits of "
        "main: clone with full history (actions/checkout: fetch-depth: 0; "
        "git fetch --unshallow where the remote can be reached)."
    )
