import uuid

from fastapi.testclient import TestClient
from sqlmodel import Session

from app import crud
from app.core.config import settings
from app.models import User, UserCreate
from tests.utils.user import create_random_user, user_authentication_headers
from tests.utils.utils import random_email, random_lower_string


def test_get_users_superuser_me(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{settings.API_V1_STR}/users/me", headers=superuser_token_headers)
    current_user = r.json()
    assert current_user["is_active"] is True
    assert current_user["is_superuser"]
    assert current_user["email"] == settings.FIRST_SUPERUSER


def test_get_users_normal_user_me(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    r = client.get(f"{settings.API_V1_STR}/users/me", headers=normal_user_token_headers)
    current_user = r.json()
    assert current_user["is_superuser"] is False
    assert current_user["email"] == settings.EMAIL_TEST_USER


def test_create_user_new_email(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    data = {"email": random_email(), "password": random_lower_string()}
    r = client.post(
        f"{settings.API_V1_STR}/users/", headers=superuser_token_headers, json=data
    )
    assert 200 <= r.status_code < 300
    user = crud.get_user_by_email(session=db, email=data["email"])
    assert user is not None
    assert user.email == r.json()["email"]


def test_create_user_existing_username(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    user = create_random_user(db)
    data = {"email": user.email, "password": random_lower_string()}
    r = client.post(
        f"{settings.API_V1_STR}/users/", headers=superuser_token_headers, json=data
    )
    assert r.status_code == 400
    assert "_id" not in r.json()


def test_create_user_by_normal_user(
    client: TestClient, normal_user_token_headers: dict[str, str]
) -> None:
    data = {"email": random_email(), "password": random_lower_string()}
    r = client.post(
        f"{settings.API_V1_STR}/users/", headers=normal_user_token_headers, json=data
    )
    assert r.status_code == 403


def test_get_existing_user(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    user = create_random_user(db)
    r = client.get(
        f"{settings.API_V1_STR}/users/{user.id}", headers=superuser_token_headers
    )
    assert 200 <= r.status_code < 300
    assert r.json()["email"] == user.email


def test_get_existing_user_permissions_error(client: TestClient, db: Session) -> None:
    password = random_lower_string()
    user = crud.create_user(
        session=db, user_create=UserCreate(email=random_email(), password=password)
    )
    other = create_random_user(db)
    headers = user_authentication_headers(
        client=client, email=user.email, password=password
    )
    r = client.get(f"{settings.API_V1_STR}/users/{other.id}", headers=headers)
    assert r.status_code == 403


def test_get_unknown_user(
    client: TestClient, superuser_token_headers: dict[str, str]
) -> None:
    r = client.get(
        f"{settings.API_V1_STR}/users/{uuid.uuid4()}", headers=superuser_token_headers
    )
    assert r.status_code == 404


def test_update_user_me(
    client: TestClient, normal_user_token_headers: dict[str, str], db: Session
) -> None:
    r = client.patch(
        f"{settings.API_V1_STR}/users/me",
        headers=normal_user_token_headers,
        json={"full_name": "Updated Name"},
    )
    assert r.status_code == 200
    user = crud.get_user_by_email(session=db, email=settings.EMAIL_TEST_USER)
    assert user is not None
    db.refresh(user)
    assert user.full_name == "Updated Name"


def test_count_users_sees_new_users(
    client: TestClient, superuser_token_headers: dict[str, str], db: Session
) -> None:
    before = client.get(
        f"{settings.API_V1_STR}/users/count", headers=superuser_token_headers
    ).json()
    create_random_user(db)
    after = client.get(
        f"{settings.API_V1_STR}/users/count", headers=superuser_token_headers
    ).json()
    assert after == before + 1
    assert db.get(User, uuid.UUID(int=0)) is None
