"""Every way of answering gives the recorded answers, byte for byte: a fixed set of requests (the
benchmark's kinds of list query, the other lists, errors, one number's reads) asked of seeded demo
data, its status, headers and body compared with `recorded/answers.json`, on each engine and each
index mode, first answered and again (from the response cache).

The recording was made before the read path was reworked; an intended change of answers is
recorded again by deleting the file and running this test once (it then fails, saying so)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bench.requests import KINDS, PATH

from numbers_api.demo import SPEC_EXAMPLE, demo_records
from numbers_api.store.number_index import IndexMode
from tests.conftest import ApiClient, started
from tests.support.databases import fresh_database_url
from tests.support.factories import Inventory

RECORDING = Path(__file__).parent / "recorded" / "answers.json"
NUMBERS = 600
FIRST_ID = SPEC_EXAMPLE["id"]

UNKNOWN_KEY = "KEYunknown"


def _requests() -> list[tuple[str, str, bool]]:
    """(method, target, with the owner's key)."""
    rng = random.Random(17)
    lists = [f"{PATH}?{kind.draw(rng, NUMBERS)}" for kind in KINDS for _ in range(3)]
    lists += [
        f"{PATH}?{query}"
        for query in (
            "",
            "page[size]=250",
            "page[number]=999",
            "page[size]=0",
            "filter[status]=nonsense",
            "filter[tag]=",
            "sort=nonsense",
            "filter[phone_number]=12",
            "page[number]=abc&page[size]=-1",
        )
    ]
    views = [
        f"{PATH}/{view}?{query}"
        for view in ("slim", "voice", "messaging")
        for query in ("", "page[size]=5&page[number]=3", "filter[tag]=sales", "page[size]=x")
    ]
    views += [f"{PATH}/slim?include_connection=true&include_tags=true&page[size]=7"]
    one = [
        f"{PATH}/{FIRST_ID}",
        f"{PATH}/{FIRST_ID}/voice",
        f"{PATH}/{FIRST_ID}/messaging",
        f"{PATH}/1",
        f"{PATH}/jobs",
        f"{PATH}/csv_downloads",
    ]
    return [
        *(("GET", target, True) for target in (*lists, *views, *one)),
        ("GET", PATH, False),
        ("GET", "/v2/numbers", True),
        ("PUT", PATH, True),
        ("DELETE", f"{PATH}/slim", True),
        ("GET", "/nowhere", False),
    ]


def _answer(api: ApiClient, key: str, method: str, target: str, with_key: bool) -> dict[str, Any]:
    response = api.client.request(
        method, target, headers={"Authorization": f"Bearer {key if with_key else UNKNOWN_KEY}"}
    )
    # Every answer has its own request id: present, and left out of what is compared.
    assert response.headers["x-request-id"]
    return {
        "request": f"{method} {target}{'' if with_key else ' (unknown key)'}",
        "status": response.status_code,
        "headers": sorted(
            (name, value) for name, value in response.headers.items() if name != "x-request-id"
        ),
        "body_sha256": hashlib.sha256(response.content).hexdigest(),
    }


@pytest.fixture(params=[IndexMode.INLINE, IndexMode.OFF], ids=["index", "sql"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ApiClient, str]]:
    with fresh_database_url(tmp_path) as url, started(url, index_mode=request.param) as client:
        inventory = Inventory(client.database())
        key = inventory.account("owner")
        inventory.account("neighbour")
        taken: set[str] = set()
        inventory.load("owner", demo_records(NUMBERS, seed=0, taken=taken))
        inventory.load("neighbour", demo_records(NUMBERS // 10, seed=1, taken=taken))
        yield client, key


def test_every_answer_is_the_recorded_one(seeded: tuple[ApiClient, str]) -> None:
    api, key = seeded
    answers = [
        _answer(api, key, method, target, with_key)
        for _ in ("first", "again")
        for method, target, with_key in _requests()
    ]
    if not RECORDING.exists():
        RECORDING.parent.mkdir(exist_ok=True)
        RECORDING.write_text(json.dumps(answers, indent=1) + "\n")
        pytest.fail(f"no recording: made {RECORDING}; run again to compare with it")
    recorded = json.loads(RECORDING.read_text())
    assert [a["request"] for a in answers] == [a["request"] for a in recorded]
    for answer, expected in zip(answers, recorded, strict=True):
        answer["headers"] = [list(pair) for pair in answer["headers"]]
        assert answer == expected
