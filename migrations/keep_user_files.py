"""After an update: the project's own files stay as the project left them, and it is told.

The project's own files are those Copier renders once (``_skip_if_exists`` in
copier.yml): the example code under src/ and the example tests it has made its own.
``copier update`` treats them in two ways this undoes:

- It deletes every file the old template version rendered and the new one does not,
  whoever owns it: a backend removed with ``-d 'backends=[...]'`` would take the
  project's example code and tests for it. They are put back exactly as committed and
  listed, with the template-owned files the update removed, so the project decides
  what to do with code that may use what was removed.
- It renders again an example the project deleted (it only skips those that exist):
  one whose deletion is in the project's git history is deleted again, and listed.

A file that moved from the project's side to the template's (``MOVED_TO_TEMPLATE``: the
tests of the network guard, which test the template's plumbing and now update with it)
is not put back when it is exactly as a release shipped it: the template's copy in its
new place replaces it. An edited one is put back, and listed with its new place.

Run by ``copier update`` (``_migrations`` in copier.yml) with copier's own Python after
everything else. The update starts from a clean working tree (Copier refuses a dirty
one), so a file missing from the working tree but in the index was deleted by this
update, and an untracked file was written by it.

    python keep_user_files.py <project dir> <template dir>
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jinja2
import pathspec
import yaml

# Old place -> (new place, git blob ids of every version of it a release shipped: the
# file was rendered as is, so an unedited copy has one of these ids).
MOVED_TO_TEMPLATE = {
    "tests/unit/test_network_guard.py": (
        "tests/plugins/test_network_guard.py",
        {"090c2a68fd865a1bce684ed8ff28322d2ed52038", "be1e187e4e0e89d29ee9bf2e64aef6f18e73e2d1"},
    ),
}


def git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, check=True, capture_output=True, text=True
    ).stdout


def user_owned(template: Path, project: Path) -> Callable[[str], bool]:
    """Whether a path matches the template's ``_skip_if_exists`` patterns, rendered with
    the project's answers."""
    config = yaml.safe_load((template / "copier.yml").read_text())
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text()) or {}
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    patterns = [environment.from_string(p).render(answers) for p in config["_skip_if_exists"]]
    # Matched as Copier matches them: "gitignore" style, named "gitwildmatch" before
    # pathspec 1.0.
    try:
        return pathspec.PathSpec.from_lines("gitignore", patterns).match_file
    except LookupError:
        return pathspec.PathSpec.from_lines("gitwildmatch", patterns).match_file


def deleted_by_update(project: Path) -> list[str]:
    listed = git(project, "ls-files", "--deleted", "-z", "--", ".").split("\0")
    return sorted(path for path in listed if path and not (project / path).exists())


def as_shipped(project: Path, path: str) -> bool:
    """Whether a file the template took over is, in the index, as a release shipped it."""
    if path not in MOVED_TO_TEMPLATE:
        return False
    return git(project, "rev-parse", f":{path}").strip() in MOVED_TO_TEMPLATE[path][1]


def written_again(project: Path, owned: Callable[[str], bool]) -> list[str]:
    """Files of the project's own that the update wrote although the project had
    deleted them: untracked now, with a deletion in the history."""
    untracked = git(project, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    return sorted(
        path
        for path in untracked.split("\0")
        if path
        and owned(path)
        # --no-renames: an example moved elsewhere counts as deleted from where it was.
        and git(project, "log", "-1", "--no-renames", "--diff-filter=D", "--format=%h", "--", path)
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path)
    parser.add_argument("template", type=Path)
    args = parser.parse_args(argv)
    project: Path = args.project.resolve()
    owned = user_owned(args.template, project)
    deleted = deleted_by_update(project)
    taken_over = [path for path in deleted if as_shipped(project, path)]
    kept = [path for path in deleted if owned(path) and path not in taken_over]
    removed = [path for path in deleted if path not in kept and path not in taken_over]
    moved_edited = [path for path in kept if path in MOVED_TO_TEMPLATE]
    if kept:
        git(project, "checkout", "--", *kept)
    not_again = written_again(project, owned)
    for path in not_again:
        (project / path).unlink()
    lines = []
    if removed:
        lines += [
            "Proving Ground: the template no longer generates these files for your "
            "answers, so the update removed them:",
            *(f"  {path}" for path in removed),
        ]
    left = [path for path in kept if path not in moved_edited]
    if left:
        lines += [
            "Proving Ground: these files are yours, so the update left them alone, although "
            "the template no longer generates them for your answers:",
            *(f"  {path}" for path in left),
            "They may use what the update removed (a backend's fixtures and packages): adapt "
            "them, or delete them with",
            "  git rm " + " ".join(left),
        ]
    if taken_over:
        lines += [
            "Proving Ground: these tests of the template's plumbing moved to the template's "
            "side, which keeps them up to date; your copy was unchanged, so it went:",
            *(f"  {path} -> {MOVED_TO_TEMPLATE[path][0]}" for path in taken_over),
        ]
    if moved_edited:
        lines += [
            "Proving Ground: the template now keeps these tests of its plumbing elsewhere; "
            "you had edited your copy, so it stays (move what is yours out, then delete it):",
            *(f"  {path} -> {MOVED_TO_TEMPLATE[path][0]}" for path in moved_edited),
        ]
    if not_again:
        lines += [
            "Proving Ground: you deleted these examples earlier, so the update did not bring "
            "them back:",
            *(f"  {path}" for path in not_again),
        ]
    if lines:
        print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
