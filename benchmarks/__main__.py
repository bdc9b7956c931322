"""``python -m benchmarks TOPIC [options]``: one entry point for every benchmark topic."""

from __future__ import annotations

import importlib
import sys

TOPICS = {
    "suite": ("suite", "a five-backend project: start times, memory, per-test costs, suites"),
    "peers": ("peers", "side by side with pytest-postgresql, pytest-redis, testcontainers"),
    "docker": ("docker_starts", "docker provider starts against local ones, per backend"),
    "kafka": ("kafka", "zero-setup Kafka (downloaded jars) against a KAFKA_HOME install"),
    "task-queues": ("task_queues", "Celery and Dramatiq fixtures against eager/stub peers"),
    "load-test": ("load_test", "the generated locust test, repeated beside CPU hogs"),
    "ml-platform": ("ml_platform", "MLflow server, Supabase auth, Beanie, AsyncOpenAI"),
}


def usage() -> str:
    lines = ["usage: uv run python -m benchmarks TOPIC [--quick] [options]", "", "topics:"]
    lines += [f"  {name:12} {what}" for name, (_, what) in TOPICS.items()]
    lines += ["", "`python -m benchmarks TOPIC --help` lists a topic's options."]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TOPICS:
        print(usage(), file=sys.stderr)
        return 2
    module = importlib.import_module(f"benchmarks.{TOPICS[sys.argv[1]][0]}")
    result: int = module.main(sys.argv[2:])
    return result


if __name__ == "__main__":
    sys.exit(main())
