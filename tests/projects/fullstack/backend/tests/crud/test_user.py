from sqlmodel import Session

from app import crud
from app.core.security import verify_password
from app.models import User, UserCreate, UserUpdate
from tests.utils.utils import random_email, random_lower_string


def test_create_user(db: Session) -> None:
    email, password = random_email(), random_lower_string()
    user = crud.create_user(
        session=db, user_create=UserCreate(email=email, password=password)
    )
    assert user.email == email
    assert hasattr(user, "hashed_password")
    assert user.id is not None


def test_authenticate_user(db: Session) -> None:
    email, password = random_email(), random_lower_string()
    user = crud.create_user(
        session=db, user_create=UserCreate(email=email, password=password)
    )
    authenticated = crud.authenticate(session=db, email=email, password=password)
    assert authenticated
    assert user.email == authenticated.email


def test_not_authenticate_user(db: Session) -> None:
    assert (
        crud.authenticate(
            session=db, email=random_email(), password=random_lower_string()
        )
        is None
    )


def test_check_if_user_is_active(db: Session) -> None:
    user = crud.create_user(
        session=db,
        user_create=UserCreate(email=random_email(), password=random_lower_string()),
    )
    assert user.is_active is True


def test_check_if_user_is_superuser(db: Session) -> None:
    user_in = UserCreate(
        email=random_email(), password=random_lower_string(), is_superuser=True
    )
    user = crud.create_user(session=db, user_create=user_in)
    assert user.is_superuser is True


def test_update_user(db: Session) -> None:
    user = crud.create_user(
        session=db,
        user_create=UserCreate(email=random_email(), password=random_lower_string()),
    )
    new_password = random_lower_string()
    crud.update_user(
        session=db, db_user=user, user_in=UserUpdate(password=new_password)
    )
    stored = db.get(User, user.id)
    assert stored is not None
    assert verify_password(new_password, stored.hashed_password)
