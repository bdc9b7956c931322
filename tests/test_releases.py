"""Releases as CHANGELOG.md states them: well-formed, ordered, each on a commit of main,
and any git tag that exists where CHANGELOG.md says it is."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import REPO, under_ci
from .releases import (
    MissingHistory,
    Release,
    git,
    parse_changelog,
    release_commit,
    shallow_message,
)

CHANGELOG = (REPO / "CHANGELOG.md").read_text()
RELEASES = parse_changelog(CHANGELOG)


def test_changelog_opens_with_unreleased_then_releases_newest_first() -> None:
    headings = [line for line in CHANGELOG.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Unreleased"
    assert RELEASES, "no release in CHANGELOG.md"
    versions = [release.version for release in RELEASES]
    assert versions == sorted(versions, reverse=True)
    assert len(set(versions)) == len(versions)
    dates = [release.date for release in RELEASES]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(
    "heading",
    ["## 0.2.0 (2026-12-01)", "## v0.2 (2026-12-01)", "## v0.2.0", "## v0.2.0 - 2026-12-01"],
)
def test_a_malformed_release_heading_is_an_error(heading: str) -> None:
    with pytest.raises(ValueError, match=r"neither '## Unreleased' nor '## vX.Y.Z \(YYYY-MM-DD\)'"):
        parse_changelog(f"# Changelog\n\n## Unreleased\n\n{heading}\n")


@pytest.mark.parametrize("release", RELEASES, ids=[release.tag for release in RELEASES])
def test_each_release_is_a_commit_of_head_and_its_tag_agrees(release: Release) -> None:
    try:
        commit = release_commit(REPO, release)
    except MissingHistory as missing:
        message = shallow_message(REPO, str(missing))
        if under_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    if commit is None:
        pytest.skip(f"{release.tag} is being cut: its heading is not committed yet")
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=REPO)
    assert ancestor.returncode == 0, f"{release.tag} ({commit[:9]}) is not in HEAD's history"
    if release.pinned is None:
        shown = git(REPO, "show", f"{commit}:CHANGELOG.md").splitlines()
        assert release.heading in shown
    tagged = git(REPO, "rev-parse", "--verify", "--quiet", f"{release.tag}^{{commit}}", check=False)
    if tagged:
        assert tagged == commit, (
            f"tag {release.tag} is on {tagged[:9]}, but CHANGELOG.md makes it {commit[:9]}: "
            f"move the tag (git tag -f {release.tag} {commit[:9]}) or fix the heading"
        )
