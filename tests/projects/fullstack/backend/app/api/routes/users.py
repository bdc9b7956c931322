import uuid

from fastapi import APIRouter, Depends, HTTPException
from sqlmodel import func, select

from app import crud
from app.api.deps import CurrentUser, SessionDep, get_current_superuser
from app.models import User, UserCreate, UserPublic, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.post("/", dependencies=[Depends(get_current_superuser)])
def create_user(session: SessionDep, user_in: UserCreate) -> UserPublic:
    if crud.get_user_by_email(session=session, email=user_in.email):
        raise HTTPException(
            400, "The user with this email already exists in the system."
        )
    return UserPublic.model_validate(
        crud.create_user(session=session, user_create=user_in)
    )


@router.get("/me")
def read_user_me(current_user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(current_user)


@router.patch("/me")
def update_user_me(
    session: SessionDep, user_in: UserUpdate, current_user: CurrentUser
) -> UserPublic:
    user = crud.update_user(session=session, db_user=current_user, user_in=user_in)
    return UserPublic.model_validate(user)


@router.get("/count", dependencies=[Depends(get_current_superuser)])
def count_users(session: SessionDep) -> int:
    return session.exec(select(func.count()).select_from(User)).one()


@router.get("/{user_id}")
def read_user_by_id(
    user_id: uuid.UUID, session: SessionDep, current_user: CurrentUser
) -> UserPublic:
    user = session.get(User, user_id)
    if user is None:
        raise HTTPException(404, "User not found")
    if user.id != current_user.id and not current_user.is_superuser:
        raise HTTPException(403, "The user doesn't have enough privileges")
    return UserPublic.model_validate(user)
