from sqlmodel import Session

from app import crud
from app.models import Item, ItemCreate
from tests.utils.user import create_random_user
from tests.utils.utils import random_lower_string


def create_random_item(db: Session) -> Item:
    user = create_random_user(db)
    assert user.id is not None
    item_in = ItemCreate(title=random_lower_string(), description=random_lower_string())
    return crud.create_item(session=db, item_in=item_in, owner_id=user.id)
