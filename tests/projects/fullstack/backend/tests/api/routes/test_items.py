import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.core.config import settings
from app.models import Item
from tests.utils.item import create_random_item


def test_create_item(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    data = {"title": "Foo", "description": "Fighters"}
    r = client.post(
        f"{settings.API_V1_STR}/items/", headers=superuser_token_headers, json=data
    )
    assert r.status_code == 200
    content = r.json()
    assert content["title"] == data["title"]
    # The id was made by the database (uuid-ossp's uuid_generate_v4), not by Python.
    item = db.get(Item, uuid.UUID(content["id"]))
    assert item is not None
    assert uuid.UUID(content["id"]).version == 4


def test_read_item(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    item = create_random_item(db)
    r = client.get(
        f"{settings.API_V1_STR}/items/{item.id}", headers=superuser_token_headers
    )
    assert r.status_code == 200
    assert r.json()["title"] == item.title
    assert r.json()["owner_id"] == str(item.owner_id)


def test_read_item_not_found(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(
        f"{settings.API_V1_STR}/items/{uuid.uuid4()}", headers=superuser_token_headers
    )
    assert r.status_code == 404
    assert r.json()["detail"] == "Item not found"


def test_read_item_not_enough_permissions(
    client: TestClient, normal_user_token_headers: dict[str, str], db: Session
) -> None:
    item = create_random_item(db)
    r = client.get(
        f"{settings.API_V1_STR}/items/{item.id}", headers=normal_user_token_headers
    )
    assert r.status_code == 403


def test_read_items(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    create_random_item(db)
    create_random_item(db)
    r = client.get(f"{settings.API_V1_STR}/items/", headers=superuser_token_headers)
    assert r.status_code == 200
    assert r.json()["count"] >= 2
    assert len(r.json()["data"]) == r.json()["count"]


def test_delete_item(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    item_id = create_random_item(db).id
    r = client.delete(
        f"{settings.API_V1_STR}/items/{item_id}", headers=superuser_token_headers
    )
    assert r.status_code == 200
    db.expire_all()
    assert db.get(Item, item_id) is None
