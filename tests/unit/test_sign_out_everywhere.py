"""``AccountService.sign_out_everywhere``: every login and access token of the customer ends,
the password stays, and nobody else is touched."""

from __future__ import annotations

import uuid

import pytest
from test_account_service import CLIENT, EMAIL, PASSWORD, World, make_world

from webmagic_core.errors import Unauthenticated


@pytest.fixture
def world() -> World:
    return make_world()


def test_every_login_and_access_token_ends_and_the_password_stays(world: World) -> None:
    customer = world.verified()
    first = world.service.login(EMAIL, PASSWORD, CLIENT)
    second = world.service.login(EMAIL, PASSWORD, CLIENT)
    other = world.verified("ana@example.com")
    others = world.service.login("ana@example.com", PASSWORD, CLIENT)

    world.service.sign_out_everywhere(customer.id)

    for login in (first, second):
        with pytest.raises(Unauthenticated):
            world.service.refresh(login.refresh_token)
        with pytest.raises(Unauthenticated):
            world.service.authenticate(customer.id, customer.token_version, login.login_id)
    assert world.customer().token_version == customer.token_version + 1
    assert world.customer().password_hash == customer.password_hash
    fresh = world.service.login(EMAIL, PASSWORD, CLIENT)
    again = world.service.authenticate(customer.id, fresh.customer.token_version, fresh.login_id)
    assert again.id == customer.id
    # Ana is not signed out.
    assert world.service.authenticate(other.id, other.token_version, others.login_id).id == other.id
    assert world.service.refresh(others.refresh_token).customer.id == other.id


def test_a_vanished_account_is_unauthenticated(world: World) -> None:
    with pytest.raises(Unauthenticated):
        world.service.sign_out_everywhere(uuid.uuid4())
