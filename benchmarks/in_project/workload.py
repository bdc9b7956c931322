"""What a realistic clean-database test does, the same code on both sides of ``peers``.

Roughly the generated example tests: write a row into the migrated ``users`` table
through SQLAlchemy, commit, and read it back on another connection. The caller gives
the database's URL; each side's own fixture made the database.
"""

from __future__ import annotations


def create_and_read_back_a_user(url: str, i: int) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    scheme, rest = url.split("://", 1)
    engine = create_engine(f"postgresql+psycopg://{rest}", poolclass=NullPool)
    email = f"user{i}@example.com"
    try:
        with engine.begin() as connection:
            connection.execute(
                text("INSERT INTO users (email, name) VALUES (:email, :name)"),
                {"email": email, "name": f"User {i}"},
            )
        with engine.connect() as other:
            rows = other.execute(text("SELECT email FROM users")).scalars().all()
    finally:
        engine.dispose()
    assert rows == [email], f"{scheme} database was not clean: {rows}"
