"""Rate limits and sessions on Redis."""
