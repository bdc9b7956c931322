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
them out, and the prefix is spelled here only.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from .reaper import identity, process_state
from .run import Run
from .safety import check_owned_name

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


def mark_name(run_id: str, separator: str = "_") -> str:
    return f"{run_prefix(run_id, separator)}mark"


def run_of_mark_name(name: str, separator: str = "_") -> str | None:
    """The run id in a mark's name (``pgt_<id>_mark``), or None for any other name."""
    found = re.fullmatch(f"{PREFIX}{separator}([0-9a-f]+){separator}mark", name)
    return found[1] if found else None


@dataclass(kw_only=True)
class RunNames:
    """What one process of a run names on a server, and removes again.

    A name is ``<prefix><worker><separator><n>``: the prefix (``pgt_<run id>_``) says
    which run, the worker which of its processes, ``n`` which test. Nothing without the
    run's prefix is ever removed (``check_owned``), and each backend adds the proof its
    server keeps (a comment, a description, a mark).
    """

    prefix: str
    worker: str
    separator: ClassVar[str] = "_"
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def new_name(self) -> str:
        return f"{self.prefix}{self.worker}{self.separator}{next(self._counter)}"

    def check_owned(self, name: str) -> None:
        """Refuse (``UnsafeTarget``) a name that is not this run's."""
        check_owned_name(name, self.prefix)

    def drop_all(self) -> None:
        """Remove everything of this run on the server, its mark last (the cleanup of a
        server the suite did not start)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the suite's own client, for the subclasses that keep one."""
