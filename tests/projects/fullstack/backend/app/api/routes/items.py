import uuid

from fastapi import APIRouter, HTTPException
from sqlmodel import func, select

from app import crud
from app.api.deps import CurrentUser, SessionDep
from app.models import Item, ItemCreate, ItemPublic, ItemsPublic

router = APIRouter(prefix="/items", tags=["items"])


@router.get("/")
def read_items(session: SessionDep, current_user: CurrentUser) -> ItemsPublic:
    query = select(Item)
    count_query = select(func.count()).select_from(Item)
    if not current_user.is_superuser:
        query = query.where(Item.owner_id == current_user.id)
        count_query = count_query.where(Item.owner_id == current_user.id)
    items = session.exec(query).all()
    return ItemsPublic(
        data=[ItemPublic.model_validate(item) for item in items],
        count=session.exec(count_query).one(),
    )


@router.post("/")
def create_item(
    session: SessionDep, current_user: CurrentUser, item_in: ItemCreate
) -> ItemPublic:
    assert current_user.id is not None
    item = crud.create_item(session=session, item_in=item_in, owner_id=current_user.id)
    return ItemPublic.model_validate(item)


@router.get("/{item_id}")
def read_item(
    session: SessionDep, current_user: CurrentUser, item_id: uuid.UUID
) -> ItemPublic:
    item = session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    if not current_user.is_superuser and item.owner_id != current_user.id:
        raise HTTPException(status_code=403, detail="Not enough permissions")
    return ItemPublic.model_validate(item)


@router.delete("/{item_id}")
def delete_item(
    session: SessionDep, current_user: CurrentUser, item_id: uuid.UUID
) -> dict[str, str]:
    item = session.get(Item, item_id)
    if item is None:
        raise HTTPException(status_code=404, detail="Item not found")
    if not current_user.is_superuser and item.owner_id != current_user.id:
        raise HTTPException(status_code=403, detail="Not enough permissions")
    session.delete(item)
    session.commit()
    return {"message": "Item deleted successfully"}
