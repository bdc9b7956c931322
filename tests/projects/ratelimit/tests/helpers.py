import uuid


def unique_subject(prefix: str = "client") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
