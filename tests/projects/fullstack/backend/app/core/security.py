"""Password hashing and signed access tokens, with the standard library only."""

import base64
import hashlib
import hmac
import json
import secrets
import time

from app.core.config import settings

ITERATIONS = 1_000  # low on purpose: this is a test fixture, not a production setting


def get_password_hash(password: str) -> str:
    salt = secrets.token_hex(8)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), ITERATIONS)
    return f"{salt}${digest.hex()}"


def verify_password(password: str, hashed: str) -> bool:
    salt, _, expected = hashed.partition("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), ITERATIONS)
    return hmac.compare_digest(digest.hex(), expected)


def create_access_token(subject: str, expires_in: int = 3600) -> str:
    payload = json.dumps(
        {"sub": subject, "exp": int(time.time()) + expires_in}
    ).encode()
    body = base64.urlsafe_b64encode(payload).decode()
    signature = hmac.new(
        settings.SECRET_KEY.encode(), body.encode(), "sha256"
    ).hexdigest()
    return f"{body}.{signature}"


def read_access_token(token: str) -> str | None:
    body, _, signature = token.partition(".")
    expected = hmac.new(
        settings.SECRET_KEY.encode(), body.encode(), "sha256"
    ).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return None
    payload = json.loads(base64.urlsafe_b64decode(body.encode()))
    return None if payload["exp"] < time.time() else str(payload["sub"])
