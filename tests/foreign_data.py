"""Data the generated suite did not write, on servers it did not start: tests/test_chaos.py.

Run inside a generated project (its venv, PYTHONPATH=.), with the servers' URLs as JSON:

- ``seed URLS LIVE_PID``: an application's data on every backend, plus decoys that look
  like the suite's: names with its prefix but no mark, marks of a live process
  (LIVE_PID) and marks from another machine. None of it may ever be removed.
- ``dump URLS``: all of that, byte for byte, as one JSON document (hex for bytes).
- ``leftovers URLS RUN_ID``: what the run RUN_ID left on the servers.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

LIVE = "dec0de"  # the run id of the decoys marked by a live process
ELSEWHERE = "e15e00"  # the run id of the decoys marked on another machine
UNMARKED = "0a0a0a"  # names with the suite's prefix and no mark at all
APP_REDIS_INDEXES = (0, 1, 2, 3, 4)


def marks(live_pid: int) -> dict[str, str]:
    from tests.support.ownership import Mark
    from tests.support.reaper import identity

    live = identity(live_pid)
    return {
        LIVE: Mark(LIVE, live).encode(),
        ELSEWHERE: Mark(ELSEWHERE, {**live, "host": "another-machine"}).encode(),
    }


def seed(urls: dict[str, str], live_pid: int) -> None:
    mark = marks(live_pid)
    if "postgres" in urls:
        _seed_postgres(urls["postgres"], mark)
    if "redis" in urls:
        _seed_redis(urls["redis"], mark)
    if "mongo" in urls:
        _seed_mongo(urls["mongo"], mark)
    if "kafka" in urls:
        _seed_kafka(urls["kafka"], mark)
    if "s3" in urls:
        _seed_s3(urls["s3"], mark)


def _seed_postgres(url: str, mark: dict[str, str]) -> None:
    import psycopg
    from psycopg import sql

    from tests.support.postgres_databases import database_url

    with psycopg.connect(url, autocommit=True) as admin:
        for name, comment in (
            ("app_data", None),
            (f"pgt_{UNMARKED}_main", None),
            (f"pgt_{LIVE}_main", mark[LIVE]),
            (f"pgt_{ELSEWHERE}_main", mark[ELSEWHERE]),
        ):
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            if comment is not None:
                statement = sql.SQL("COMMENT ON DATABASE {} IS {}")
                admin.execute(statement.format(sql.Identifier(name), sql.Literal(comment)))
            with psycopg.connect(database_url(url, name), autocommit=True) as db:
                db.execute("CREATE TABLE orders (id int PRIMARY KEY, item text, price numeric)")
                db.execute(
                    "INSERT INTO orders SELECT i, 'item ' || i, i * 1.5 "
                    "FROM generate_series(1, 50) i"
                )


def _seed_redis(url: str, mark: dict[str, str]) -> None:
    import redis

    from tests.support.redis_databases import CLAIM_PREFIX, _with_db

    for index in APP_REDIS_INDEXES:
        client = redis.Redis.from_url(_with_db(url, index))
        for n in range(20):
            client.set(f"app:{n}", f"value {n} of index {index}".encode())
        client.hset("app:profile", mapping={"name": "Ada", "index": str(index)})
        client.rpush("app:queue", *[f"job {n}" for n in range(5)])
        client.close()
    # Indexes 3 and 4 hold the app's keys *and* a claim of a live process / another
    # machine: the suite must take neither.
    registry = redis.Redis.from_url(_with_db(url, 15))
    registry.set(f"{CLAIM_PREFIX}3", mark[LIVE])
    registry.set(f"{CLAIM_PREFIX}4", mark[ELSEWHERE])
    registry.close()


def _seed_mongo(url: str, mark: dict[str, str]) -> None:
    from pymongo import MongoClient

    with MongoClient(url) as client:
        client["app"]["orders"].insert_many([{"_id": n, "item": f"item {n}"} for n in range(50)])
        client[f"pgt_{UNMARKED}_gw0_0"]["docs"].insert_one({"_id": 1, "keep": True})
        for run_id in (LIVE, ELSEWHERE):
            client[f"pgt_{run_id}_mark"]["mark"].insert_one({"_id": "mark", "mark": mark[run_id]})
            client[f"pgt_{run_id}_gw0_0"]["docs"].insert_one({"_id": 1, "keep": True})


def _seed_kafka(bootstrap: str, mark: dict[str, str]) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topics = {
        "orders": [f"order {n}".encode() for n in range(10)],
        f"pgt_{UNMARKED}_gw0_0": [b"keep"],
        **{f"pgt_{run_id}_mark": [mark[run_id].encode()] for run_id in (LIVE, ELSEWHERE)},
        **{f"pgt_{run_id}_gw0_0": [b"keep"] for run_id in (LIVE, ELSEWHERE)},
    }
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, 1, 1) for name in topics])
    for future in futures.values():
        future.result()
    producer = Producer({"bootstrap.servers": bootstrap})
    for name, messages in topics.items():
        for message in messages:
            producer.produce(name, message)
    producer.flush(30)


def _seed_s3(url: str, mark: dict[str, str]) -> None:
    from tests.support.s3_buckets import MARK_KEY, new_client

    client = new_client(url)
    client.create_bucket(Bucket="app-uploads")
    client.put_bucket_versioning(
        Bucket="app-uploads", VersioningConfiguration={"Status": "Enabled"}
    )
    for n in range(10):
        client.put_object(Bucket="app-uploads", Key=f"invoices/{n}.pdf", Body=bytes([n]) * 4096)
    client.put_object(Bucket="app-uploads", Key="invoices/0.pdf", Body=b"second version")
    for bucket in (f"pgt-{UNMARKED}-gw0-0", f"pgt-{LIVE}-gw0-0", f"pgt-{ELSEWHERE}-gw0-0"):
        client.create_bucket(Bucket=bucket)
        client.put_object(Bucket=bucket, Key="keep", Body=b"keep")
    for run_id in (LIVE, ELSEWHERE):
        client.create_bucket(Bucket=f"pgt-{run_id}-mark")
        client.put_object(Bucket=f"pgt-{run_id}-mark", Key=MARK_KEY, Body=mark[run_id].encode())


def dump(urls: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if "postgres" in urls:
        found["postgres"] = _dump_postgres(urls["postgres"])
    if "redis" in urls:
        found["redis"] = _dump_redis(urls["redis"])
    if "mongo" in urls:
        found["mongo"] = _dump_mongo(urls["mongo"])
    if "kafka" in urls:
        found["kafka"] = _dump_kafka(urls["kafka"])
    if "s3" in urls:
        found["s3"] = _dump_s3(urls["s3"])
    return found


def _foreign(name: str) -> bool:
    return not name.startswith(("pgt_", "pgt-")) or any(
        run_id in name for run_id in (LIVE, ELSEWHERE, UNMARKED)
    )


def _dump_postgres(url: str) -> dict[str, Any]:
    import psycopg

    from tests.support.postgres_databases import database_url

    found: dict[str, Any] = {}
    with psycopg.connect(url) as admin:
        rows = admin.execute(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database"
        ).fetchall()
    for name, comment in rows:
        if not _foreign(name) or name.startswith("template"):
            continue
        with psycopg.connect(database_url(url, name)) as db:
            tables = db.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            ).fetchall()
            data = {
                table: [
                    list(map(str, row)) for row in db.execute(f'SELECT * FROM "{table}" ORDER BY 1')
                ]
                for (table,) in tables
            }
        found[name] = {"comment": comment, "tables": data}
    return found


def _dump_redis(url: str) -> dict[str, Any]:
    import redis

    from tests.support.redis_databases import _with_db

    found: dict[str, Any] = {}
    for index in (*APP_REDIS_INDEXES, 15):
        with redis.Redis.from_url(_with_db(url, index)) as client:
            keys = sorted(client.keys("*"))
            if index == 15:  # the suite's registry: only the decoy claims are foreign
                keys = [key for key in keys if key.endswith((b":3", b":4"))]
            pipeline = client.pipeline(transaction=False)
            for key in keys:
                pipeline.dump(key)
            dumped = pipeline.execute()
        found[str(index)] = {
            key.hex(): value.hex() for key, value in zip(keys, dumped, strict=True)
        }
    return found


def _dump_mongo(url: str) -> dict[str, Any]:
    from bson import json_util
    from pymongo import MongoClient

    found: dict[str, Any] = {}
    with MongoClient(url) as client:
        for name in sorted(client.list_database_names()):
            if not _foreign(name) or name in ("admin", "local", "config"):
                continue
            found[name] = {
                collection: json_util.dumps(list(client[name][collection].find().sort("_id")))
                for collection in sorted(client[name].list_collection_names())
            }
    return found


def _dump_kafka(bootstrap: str) -> dict[str, Any]:
    from confluent_kafka import Consumer, TopicPartition
    from confluent_kafka.admin import AdminClient

    names = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).topics
    wanted = sorted(name for name in names if _foreign(name) and not name.startswith("__"))
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "dump", "enable.auto.commit": False}
    )
    ends = {
        name: consumer.get_watermark_offsets(TopicPartition(name, 0), timeout=10) for name in wanted
    }
    consumer.assign([TopicPartition(name, 0, low) for name, (low, _) in ends.items()])
    found: dict[str, list[str]] = {name: [] for name in wanted}
    missing = sum(high - low for low, high in ends.values())
    while missing > 0:
        message = consumer.poll(10)
        if message is None:
            break
        if not message.error():
            found[message.topic()].append((message.value() or b"").hex())
            missing -= 1
    consumer.close()
    return found


def _dump_s3(url: str) -> dict[str, Any]:
    from tests.support.s3_buckets import new_client

    client = new_client(url)
    found: dict[str, Any] = {}
    for bucket in sorted(b["Name"] for b in client.list_buckets()["Buckets"]):
        if not _foreign(bucket):
            continue
        versions = client.list_object_versions(Bucket=bucket).get("Versions", [])
        found[bucket] = {
            f"{v['Key']}@{v['VersionId']}": hashlib.sha256(
                client.get_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"])[
                    "Body"
                ].read()
            ).hexdigest()
            for v in versions
        }
    return found


def leftovers(urls: dict[str, str], run_id: str) -> dict[str, list[str]]:
    """Everything on the servers that carries the run's id (or its Redis claims)."""
    names: dict[str, list[str]] = {}
    prefixes = (f"pgt_{run_id}_", f"pgt-{run_id}-")
    if "postgres" in urls:
        import psycopg

        with psycopg.connect(urls["postgres"]) as admin:
            rows = admin.execute("SELECT datname FROM pg_database").fetchall()
        names["postgres"] = [name for (name,) in rows if name.startswith(prefixes)]
    if "redis" in urls:
        import redis

        from tests.support.redis_databases import _with_db

        with redis.Redis.from_url(_with_db(urls["redis"], 15)) as registry:
            names["redis"] = [
                key.decode()
                for key in registry.keys("*")
                if f'"run": "{run_id}"' in (registry.get(key) or b"").decode()
            ]
    if "mongo" in urls:
        from pymongo import MongoClient

        with MongoClient(urls["mongo"]) as client:
            found = client.list_database_names()
        names["mongo"] = [name for name in found if name.startswith(prefixes)]
    if "kafka" in urls:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": urls["kafka"]})
        groups = admin.list_consumer_groups().result().valid
        names["kafka"] = [
            *(name for name in admin.list_topics(timeout=10).topics if name.startswith(prefixes)),
            *(g.group_id for g in groups if g.group_id.startswith(prefixes)),
        ]
    if "s3" in urls:
        from tests.support.s3_buckets import new_client

        buckets = new_client(urls["s3"]).list_buckets()["Buckets"]
        names["s3"] = [b["Name"] for b in buckets if b["Name"].startswith(prefixes)]
    return names


if __name__ == "__main__":
    command, urls = sys.argv[1], json.loads(sys.argv[2])
    if command == "seed":
        seed(urls, int(sys.argv[3]))
    elif command == "dump":
        print(json.dumps(dump(urls), sort_keys=True))
    elif command == "leftovers":
        print(json.dumps(leftovers(urls, sys.argv[3])))
