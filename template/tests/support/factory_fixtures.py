"""The one shape of every ``*_factory`` fixture: the test makes, the fixture removes.

A factory fixture hands its test ``make``; whatever ``make`` returned is removed once
the test is over, each by its own ``remove``, all of them even when one fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any


def removed_after(
    make: Callable[..., Any], remove: Callable[[Any], object]
) -> Iterator[Callable[..., Any]]:
    """``make`` that remembers what it made; a fixture passes it on with ``yield from``
    (its own return type says what ``make`` takes and gives).

    Removal runs last made first, as a later thing may depend on an earlier one.
    """
    with contextlib.ExitStack() as made:

        def tracked(*args: Any, **kwargs: Any) -> Any:
            thing = make(*args, **kwargs)
            made.callback(remove, thing)
            return thing

        yield tracked
