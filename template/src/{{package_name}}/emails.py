"""E-mail address rules shared by every layer."""

from __future__ import annotations

import re

# RFC 5322 "dot-atom" local part and a dotted host name: no spaces, double quotes, angle
# brackets or control characters, so an address can never smuggle in a mail header.
_LOCAL_PART = r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_ADDRESS = re.compile(rf"{_LOCAL_PART}@{_LABEL}(?:\.{_LABEL})+")


class InvalidEmail(ValueError):
    pass


def normalize_email(address: str) -> str:
    """Trim and lowercase an address, or raise InvalidEmail."""
    normalized = address.strip().lower()
    if len(normalized) > 254 or not _ADDRESS.fullmatch(normalized):
        raise InvalidEmail(f"not an e-mail address: {address!r}")
    return normalized
