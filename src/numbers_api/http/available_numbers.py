"""`GET /v2/available_phone_numbers`: a search of the available pool (docs/ordering.md, "The
available pool"). A write: the country's pool is made on its first search, and every number a
search returns is recorded as searched by the account (what it may order)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from numbers_api.http.errors import bad_request
from numbers_api.http.handlers import Asked
from numbers_api.http.phone_number import now_ms
from numbers_api.pool.stock import AvailableNumber
from numbers_api.query.available_query import parse_available_search
from numbers_api.query.errors import InvalidQuery
from numbers_api.serialisation import encode
from numbers_api.store.available_numbers import search_available, tidy_pool


def search_endpoint(asked: Asked) -> Response:
    try:
        search = parse_available_search(asked.query_string)
    except InvalidQuery as invalid:
        return bad_request(invalid.errors)
    with asked.worker.database.transaction() as connection:
        found = search_available(connection, asked.caller.account_id, search, now_ms())
    if found.pool_made:
        tidy_pool(asked.worker.database)
        asked.worker.keep_out_of_collections()  # the pool this process now keeps (generate.py)
    meta = {"total_results": found.total, "best_effort_results": found.best_effort}
    document = {
        "data": [available_phone_number(number, best) for number, best in found.numbers],
        "meta": meta,
        "metadata": meta,
    }
    return Response(encode(document), media_type="application/json")


def available_phone_number(number: AvailableNumber, best_effort: bool) -> dict[str, Any]:
    """The contract's `AvailablePhoneNumber`."""
    regions = [("country_code", number.country_code)]
    regions += [
        (kind, name)
        for kind, name in (
            ("rate_center", number.rate_center),
            ("state", number.administrative_area),
            ("location", number.locality),
        )
        if name
    ]
    return {
        "record_type": "available_phone_number",
        "phone_number": number.phone_number,
        "vanity_format": number.vanity_format,
        "best_effort": best_effort,
        "quickship": number.quickship,
        "reservable": number.reservable,
        "region_information": [
            {"region_type": kind, "region_name": name} for kind, name in regions
        ],
        "cost_information": {
            "upfront_cost": number.upfront_cost,
            "monthly_cost": number.monthly_cost,
            "currency": number.currency,
        },
        "features": [{"name": feature} for feature in number.features],
    }
