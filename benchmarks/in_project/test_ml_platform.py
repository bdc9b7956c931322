"""Per-test cost of ``mlflow_experiment``, ``supabase_auth``, ``beanie_database`` and
``async_openai_client``; ``test_warmup`` pays for the servers first."""

from __future__ import annotations

from typing import Any

import pytest
from beanie import Document

from .counts import repetitions


class Item(Document):
    n: int


@pytest.fixture
def beanie_document_models() -> list[type[Document]]:
    return [Item]


def test_warmup(
    mlflow_experiment: Any, supabase_auth: Any, beanie_database: Any, async_openai_client: Any
) -> None:
    assert mlflow_experiment.experiment_id


@pytest.mark.parametrize("i", repetitions("mlflow_experiment", 100))
def test_mlflow_experiment(mlflow_experiment: Any, i: int) -> None:
    assert mlflow_experiment.experiment_id


@pytest.mark.parametrize("i", repetitions("supabase_auth", 200))
def test_supabase_auth(supabase_auth: Any, i: int) -> None:
    assert supabase_auth.anon_key


@pytest.mark.parametrize("i", repetitions("beanie_database", 100))
async def test_beanie_database(beanie_database: Any, i: int) -> None:
    # A write creates the database, so the drop after the test is a real one.
    await Item(n=i).insert()


@pytest.mark.parametrize("i", repetitions("async_openai_client", 200))
async def test_async_openai_client(async_openai_client: Any, openai_api: Any, i: int) -> None:
    assert openai_api.base_url
