"""Runs last: the session's teardown (servers stopped) lands here, not in a measured test."""


def test_cooldown() -> None:
    """Empty on purpose: its teardown phase carries the session's."""
