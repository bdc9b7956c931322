"""The server round-trip floor under each isolation fixture: its work, done by hand.

Each test takes the session's server (started by the suite, as for the fixtures) and
times, with its own client on an open connection, the requests the fixture's work needs
at the least, ``BENCH_N_FLOORS`` times each. Names carry the run's prefix, so whatever a
failure leaves behind is the run's own and goes with it. The samples (ms) go to the JSON
file named by ``BENCH_FLOORS_OUT``, one key per floor.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT_ENV = "BENCH_FLOORS_OUT"


def repeat() -> int:
    return int(os.environ.get("BENCH_N_FLOORS", "50"))


def timed(work: Callable[[int], Any], before: Callable[[int], Any] | None = None) -> list[float]:
    """Milliseconds of ``work(i)`` for each repetition (``before(i)`` is not timed)."""
    samples = []
    for i in range(repeat()):
        if before is not None:
            before(i)
        started = time.perf_counter()
        work(i)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def record(**floors: list[float]) -> None:
    out = os.environ.get(OUT_ENV)
    if not out:
        return
    path = Path(out)
    found: dict[str, list[float]] = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(found | floors))


def test_postgres_floors(postgres_databases: Any, postgres_url: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        select = timed(lambda _: conn.execute("SELECT 1").fetchone())

        def begin_rollback(_: int) -> None:
            conn.execute("BEGIN")
            conn.execute("ROLLBACK")

        transaction = timed(begin_rollback)
    template = sql.Identifier(postgres_databases.template)
    with psycopg.connect(postgres_databases.server_url, autocommit=True) as admin:

        def clone_and_drop(i: int) -> None:
            name = sql.Identifier(f"{postgres_databases.prefix}floor_{i}")
            # The strategy the pool clones with (the default, WAL_LOG, is slower here).
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(name, template)
            )
            admin.execute(sql.SQL("DROP DATABASE {}").format(name))

        clone = timed(clone_and_drop)
    record(
        postgres_select_1=select,
        postgres_begin_rollback=transaction,
        postgres_clone_drop=clone,
    )


def test_redis_floors(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.ping()  # connects
        ping = timed(lambda _: client.ping())
        flush = timed(lambda _: client.flushdb())
    finally:
        client.close()
    record(redis_ping=ping, redis_flushdb=flush)


def test_mongo_floors(mongo_client: Any, mongo_databases: Any) -> None:
    ping = timed(lambda _: mongo_client.admin.command("ping"))
    names = [mongo_databases.new_name() for _ in range(repeat())]
    # A database exists once written to: the insert (not timed) makes the drop real.
    drop = timed(
        lambda i: mongo_client.drop_database(names[i]),
        before=lambda i: mongo_client[names[i]].bench.insert_one({"i": i}),
    )
    record(mongo_ping=ping, mongo_drop_database=drop)


def test_kafka_floors(kafka_topics: Any) -> None:
    from confluent_kafka.admin import NewTopic

    admin = kafka_topics.admin

    def create_and_delete(_: int) -> None:
        name = kafka_topics.new_name()
        admin.create_topics([NewTopic(name, 1, replication_factor=-1)])[name].result()
        admin.delete_topics([name])[name].result()

    metadata = timed(lambda _: admin.list_topics(timeout=5))
    topics = timed(create_and_delete)
    record(kafka_metadata=metadata, kafka_create_delete_topic=topics)


def test_s3_floors(s3_buckets: Any, s3_client: Any) -> None:
    def create_and_delete(i: int) -> None:
        name = f"{s3_buckets.prefix}{s3_buckets.worker}-floor-{i}"
        s3_client.create_bucket(Bucket=name)
        s3_client.delete_bucket(Bucket=name)

    listing = timed(lambda _: s3_client.list_buckets())
    buckets = timed(create_and_delete)
    record(s3_list_buckets=listing, s3_create_delete_bucket=buckets)
