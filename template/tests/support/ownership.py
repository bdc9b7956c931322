"""The mark a run leaves on servers it does not own, and proof that a run is over.

Whether something on a server belongs to this run, or to a run of this suite that is
over, is decided by a mark the run left on that server: never by a file on this
machine, which outlives servers while ports get reused. A mark names the run and the
process that made it: machine, boot, pid namespace, pid and start time. A run is over
for certain only when that process is gone from this same machine (see
``reaper.process_state``); a mark from another machine or container is never taken as
over, so what it marks is left alone.

Every name a run gives a database, topic, consumer group, bucket, vhost or experiment
starts with ``pgt_<run id>_`` (``pgt-<run id>-`` for S3 buckets): ``RunNames`` hands
them out, with ``PREFIX``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from .reaper import identity, process_state
from .run import Run
from .safety import UnsafeTarget, check_owned_name

# What every name the suite makes on a server starts with, before the run id.
PREFIX = "pgt"


@dataclass(frozen=True)
class Mark:
    run: str
    process: dict[str, Any]

    def encode(self) -> str:
        return json.dumps({"suite": "pytest-services", **asdict(self)}, sort_keys=True)

    @classmethod
    def decode(cls, text: str | bytes | None) -> Mark | None:
        """The mark in ``text``, or None if it is not one of this suite's."""
        try:
            data = json.loads(text or "")
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("suite") != "pytest-services":
            return None
        if not isinstance(data.get("run"), str) or not isinstance(data.get("process"), dict):
            return None
        return cls(data["run"], data["process"])

    @property
    def is_over(self) -> bool:
        """True only if the run's process is provably gone."""
        return process_state(self.process) == "dead"


def run_mark(run: Run) -> Mark:
    """The mark of the run as a whole: its owner, the pytest process that started it."""
    return Mark(run.id, identity(run.owner_pid))


def process_mark(run: Run) -> Mark:
    """The mark of this process of the run (a claim that ends with the process)."""
    return Mark(run.id, identity(os.getpid()))


def run_prefix(run_id: str, separator: str = "_") -> str:
    """``pgt_<run id>_``: S3 bucket names take ``-`` for a separator."""
    return f"{PREFIX}{separator}{run_id}{separator}"


@dataclass(kw_only=True)
class RunNames:
    """What one process of a run names on a server, and removes again.

    A name is ``<prefix><worker><separator><n>``: the prefix (``pgt_<run id>_``) says
    which run, the worker which of its processes, ``n`` which test. Nothing without the
    run's prefix is ever removed (``check_owned``), and each backend adds the proof its
    server keeps (a comment, a description, a mark: see ``mark_server``).
    """

    prefix: str
    worker: str
    separator: ClassVar[str] = "_"
    # Raised by a drop of another user's run's names on a shared server: left to them.
    foreign_errors: ClassVar[tuple[type[Exception], ...]] = ()
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    @property
    def mark_name(self) -> str:
        """The name under which the server keeps the run's mark: ``pgt_<run id>_mark``."""
        return f"{self.prefix}mark"

    def new_name(self) -> str:
        return f"{self.prefix}{self.worker}{self.separator}{next(self._counter)}"

    def check_owned(self, name: str) -> None:
        """Refuse (``UnsafeTarget``) a name that is not this run's."""
        check_owned_name(name, self.prefix)

    def drop(self, name: str) -> None:
        """Remove one of this run's names from the server."""
        raise NotImplementedError

    def drop_all(self) -> None:
        """Remove everything of this run on the server, its mark last (the cleanup of a
        server the suite did not start)."""
        for name in self.names_on_server():
            if name.startswith(self.prefix) and name != self.mark_name:
                self.drop(name)
        self.drop(self.mark_name)

    def close(self) -> None:
        """Close the suite's own client, for the subclasses that keep one."""

    # For ``mark_server``: every name of the kind marks have on the server, the mark
    # under a name (None if none), and this run's written unless one is there: that one.
    def names_on_server(self) -> Iterable[str]:
        raise NotImplementedError

    def read_mark(self, name: str) -> Mark | None:
        raise NotImplementedError

    def write_mark(self, mark: Mark) -> Mark | None:
        raise NotImplementedError


def mark_server(names: RunNames, run: Run) -> None:
    """Leave the run's mark on a server it did not start; remove what finished runs left."""
    mark = run_mark(run)
    with contextlib.closing(names):
        if names.write_mark(mark) not in (None, mark):
            raise UnsafeTarget(
                f"another run with this run's id ({run.id}) uses the server; run the tests again"
            )
        _remove_what_finished_runs_left(names, run.id)


def release_server(names: RunNames, run: Run) -> None:
    """Remove what the run made on a server it did not start, and what finished runs left."""
    with contextlib.closing(names):
        names.drop_all()
        _remove_what_finished_runs_left(names, run.id)


def _remove_what_finished_runs_left(names: RunNames, run_id: str) -> None:
    """Drop the names of runs whose mark says they are provably over."""
    pattern = f"{PREFIX}{names.separator}([0-9a-f]+){names.separator}mark"
    for name in names.names_on_server():
        found = re.fullmatch(pattern, name)
        if found is None or found[1] == run_id:
            continue
        mark = names.read_mark(name)
        if mark is not None and mark.run == found[1] and mark.is_over:
            other = replace(names, prefix=run_prefix(found[1], names.separator), worker="")
            with contextlib.closing(other), contextlib.suppress(*names.foreign_errors):
                other.drop_all()
