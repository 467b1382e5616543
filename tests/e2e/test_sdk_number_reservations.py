"""Number reservations through the official `telnyx` SDK (4.189.0), `client.number_reservations`,
against a real `numbers-api serve` on a real database: reserve, list, retrieve, extend; another
account cannot see or reserve a held number; a hold expires (a server holding for 1 s)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import telnyx
from telnyx import Telnyx
from telnyx.types.number_reservation import NumberReservation

from numbers_api.settings import RESERVATION_VARIABLE
from numbers_api.store.accounts import create_account
from numbers_api.store.database import Database
from numbers_api.testing import stop_server
from tests.conftest import start_server
from tests.support.contract import validate_response
from tests.support.databases import fresh_database_url
from tests.support.pool import pooled

SHORT_HOLD_SECONDS = 1


class Server:
    """A served database: new accounts' SDK clients, and numbers put in its pool."""

    def __init__(self, base_url: str, database: Database) -> None:
        self.base_url = base_url
        self.database = database
        self.clients: list[Telnyx] = []

    def client(self) -> Telnyx:
        key = create_account(self.database, f"sdk-{uuid.uuid4().hex}")
        client = Telnyx(api_key=key, base_url=f"{self.base_url}/v2", max_retries=0)
        self.clients.append(client)
        return client

    def pool(self, count: int) -> list[str]:
        return pooled(self.database, count)


def serving(folder: Path, env: dict[str, str]) -> Iterator[Server]:
    with fresh_database_url(folder) as database_url:
        database = Database(database_url)
        process, base_url = start_server(database_url, env)
        server = Server(base_url, database)
        try:
            yield server
        finally:
            for client in server.clients:
                client.close()
            stop_server(process)
            database.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Holds for 30 minutes, as Telnyx does."""
    yield from serving(tmp_path_factory.mktemp("reservations"), {})


@pytest.fixture(scope="module")
def short_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving(
        tmp_path_factory.mktemp("short-reservations"),
        {RESERVATION_VARIABLE: str(SHORT_HOLD_SECONDS)},
    )


def data(reservation: NumberReservation | None) -> NumberReservation:
    assert reservation is not None
    return reservation


def numbers_of(reservation: NumberReservation) -> list[str | None]:
    return [n.phone_number for n in reservation.phone_numbers or []]


def test_reserve_retrieve_list_and_extend(server: Server) -> None:
    client = server.client()
    numbers = sorted(server.pool(2))
    response = client.number_reservations.with_raw_response.create(
        phone_numbers=[{"phone_number": n} for n in numbers], customer_reference="MY REF 001"
    )
    validate_response("/number_reservations", "POST", response.status_code, response.json())
    created = data(response.parse().data)
    assert created.status == "success"
    assert created.record_type == "number_reservation"
    assert created.customer_reference == "MY REF 001"
    assert numbers_of(created) == numbers
    assert created.id is not None
    [first, _] = created.phone_numbers or []
    assert first.created_at is not None
    assert first.expired_at is not None
    assert (first.expired_at - first.created_at).total_seconds() == 30 * 60

    assert data(client.number_reservations.retrieve(created.id).data) == created
    listed = list(client.number_reservations.list(filter={"customer_reference": "MY REF 001"}))
    assert [r.id for r in listed] == [created.id]

    time.sleep(0.01)  # so that "from now" is later than the creation's millisecond
    extended = data(client.number_reservations.actions.extend(created.id).data)
    assert extended.id == created.id
    for before, after in zip(
        created.phone_numbers or [], extended.phone_numbers or [], strict=True
    ):
        assert before.expired_at is not None
        assert after.expired_at is not None
        assert after.expired_at > before.expired_at


def test_the_list_pages_newest_first_and_filters(server: Server) -> None:
    client = server.client()
    numbers = server.pool(3)
    ids = [
        data(client.number_reservations.create(phone_numbers=[{"phone_number": n}]).data).id
        for n in numbers
    ]
    assert [r.id for r in client.number_reservations.list(page_size=2)] == ids[::-1]
    by_number = client.number_reservations.list(
        filter={"phone_numbers_phone_number": numbers[1], "status": "success"}
    )
    assert [r.id for r in by_number] == [ids[1]]
    since = client.number_reservations.list(filter={"created_at": {"gt": "2000-01-01T00:00:00Z"}})
    assert len(list(since)) == 3


def test_another_account_cannot_see_or_reserve_a_held_number(server: Server) -> None:
    mine, theirs = server.client(), server.client()
    [number] = server.pool(1)
    created = data(mine.number_reservations.create(phone_numbers=[{"phone_number": number}]).data)
    assert created.id is not None
    with pytest.raises(telnyx.NotFoundError):
        theirs.number_reservations.retrieve(created.id)
    with pytest.raises(telnyx.NotFoundError):
        theirs.number_reservations.actions.extend(created.id)
    assert list(theirs.number_reservations.list()) == []
    with pytest.raises(telnyx.UnprocessableEntityError) as refused:
        theirs.number_reservations.create(phone_numbers=[{"phone_number": number}])
    body = refused.value.response.json()
    validate_response("/number_reservations", "POST", 422, body)
    [error] = body["errors"]
    assert error["source"] == {"pointer": "/phone_numbers/0/phone_number"}
    assert error["detail"] == f"{number} is already reserved."
    assert list(theirs.number_reservations.list()) == []


def test_a_reservation_expires(short_server: Server) -> None:
    """Held for 1 s: another account is refused the number until then, and has it after; the
    expired reservation shows when it expired, and can no longer be extended."""
    mine, theirs = short_server.client(), short_server.client()
    [number] = short_server.pool(1)
    created = data(mine.number_reservations.create(phone_numbers=[{"phone_number": number}]).data)
    assert created.id is not None
    [held] = created.phone_numbers or []
    assert held.expired_at is not None
    with pytest.raises(telnyx.UnprocessableEntityError):
        theirs.number_reservations.create(phone_numbers=[{"phone_number": number}])
    while datetime.now(UTC) <= held.expired_at:
        time.sleep(0.05)
    taken = data(theirs.number_reservations.create(phone_numbers=[{"phone_number": number}]).data)
    assert numbers_of(taken) == [number]
    shown = data(mine.number_reservations.retrieve(created.id).data)
    assert shown.status == "success"
    assert [n.expired_at for n in shown.phone_numbers or []] == [held.expired_at]
    with pytest.raises(telnyx.UnprocessableEntityError):
        mine.number_reservations.actions.extend(created.id)
