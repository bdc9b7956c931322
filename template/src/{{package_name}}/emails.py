"""E-mail address rules shared by every layer."""

from __future__ import annotations

import re

_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidEmail(ValueError):
    pass


def normalize_email(address: str) -> str:
    """Trim and lowercase an address, or raise InvalidEmail."""
    normalized = address.strip().lower()
    if len(normalized) > 254 or not _ADDRESS.match(normalized):
        raise InvalidEmail(f"not an e-mail address: {address!r}")
    return normalized
