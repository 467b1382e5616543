"""The OpenAPI document the server publishes at `/v2/openapi.json`.

`openapi.yaml` holds all of it but the schemas of the filter and page parameters: those are made
from the filter tables and the page rules as the document is loaded, so that they say exactly
what the server parses.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from numbers_api.query.available_query import AVAILABLE_NUMBER_FILTERS
from numbers_api.query.filters import (
    CSV_DOWNLOAD_FILTERS,
    JOB_FILTERS,
    MESSAGING_FILTERS,
    PHONE_NUMBER_FILTERS,
    PLAIN,
    SLIM_FILTERS,
    UPDATE_JOB_FILTERS,
    VOICE_FILTERS,
    FilterSet,
)
from numbers_api.query.list_query import page_schema
from numbers_api.query.order_query import (
    NUMBER_ORDER_FILTERS,
    ORDER_PHONE_NUMBER_FILTERS,
    SUB_NUMBER_ORDER_FILTERS,
    SUB_NUMBER_ORDER_RETRIEVE_FILTERS,
)
from numbers_api.query.reservation_query import NUMBER_RESERVATION_FILTERS
from numbers_api.serialisation import encode

Operation = tuple[str, str]  # a path of the document and its method

# The operations that take their filters as one `filter` parameter (deepObject), and the table
# each parses it with.
FILTER_OBJECTS: dict[Operation, FilterSet[Any]] = {
    ("/phone_numbers", "get"): PHONE_NUMBER_FILTERS,
    ("/phone_numbers/slim", "get"): SLIM_FILTERS,
    ("/phone_numbers/voice", "get"): VOICE_FILTERS,
    ("/phone_numbers/csv_downloads", "post"): CSV_DOWNLOAD_FILTERS,
    ("/phone_numbers/jobs", "get"): JOB_FILTERS,
    ("/phone_numbers/jobs/update_phone_numbers", "post"): UPDATE_JOB_FILTERS,
    ("/number_reservations", "get"): NUMBER_RESERVATION_FILTERS,
    ("/number_orders", "get"): NUMBER_ORDER_FILTERS,
    ("/sub_number_orders", "get"): SUB_NUMBER_ORDER_FILTERS,
    ("/sub_number_orders/{sub_number_order_id}", "get"): SUB_NUMBER_ORDER_RETRIEVE_FILTERS,
    ("/number_order_phone_numbers", "get"): ORDER_PHONE_NUMBER_FILTERS,
    ("/available_phone_numbers", "get"): AVAILABLE_NUMBER_FILTERS,
}
# The operations whose contract lists a parameter for each filter and operator
# (`filter[phone_number][contains]`); they stand in the YAML where FILTER_PARAMETERS_MARKER does.
SEPARATE_FILTER_PARAMETERS: dict[Operation, FilterSet[Any]] = {
    ("/phone_numbers/messaging", "get"): MESSAGING_FILTERS,
}
FILTER_PARAMETERS_MARKER = "x-filter-parameters"
PAGE_PARAMETER = "numbers_PageConsolidated"  # the component every list's `page` refers to
METHODS = {"get", "put", "post", "patch", "delete"}
# What any operation may answer when a limit is reached (`http/limits.py`, `http/rate_limits.py`,
# the executors' deadline): 413 only those that take a body.
LIMIT_RESPONSES = {
    "413": "numbers_PayloadTooLargeResponse",
    "414": "numbers_UriTooLongResponse",
    "429": "numbers_TooManyRequestsResponse",
    "503": "numbers_OverloadedResponse",
}


def load_openapi_document() -> dict[str, Any]:
    text = resources.files("numbers_api.http").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.load(text, Loader=yaml.CSafeLoader)
    paths = document["paths"]
    for (path, method), filters in FILTER_OBJECTS.items():
        [parameter] = [p for p in paths[path][method]["parameters"] if p.get("name") == "filter"]
        parameter["schema"] = filters.schema()
    for (path, method), filters in SEPARATE_FILTER_PARAMETERS.items():
        parameters = paths[path][method]["parameters"]
        marker = parameters.index(FILTER_PARAMETERS_MARKER)
        parameters[marker : marker + 1] = separate_filter_parameters(filters)
    document["components"]["parameters"][PAGE_PARAMETER]["schema"] = page_schema()
    for operations in paths.values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue  # the path's own `parameters`
            responses = operation["responses"]
            for status, response in LIMIT_RESPONSES.items():
                if status != "413" or "requestBody" in operation:
                    responses.setdefault(status, {"$ref": f"#/components/responses/{response}"})
    return document


def separate_filter_parameters(filters: FilterSet[Any]) -> list[dict[str, Any]]:
    """An optional query parameter for each filter and operator of `filters`."""
    return [
        {
            "name": f"filter[{name}]" + ("" if operator is PLAIN else f"[{operator}]"),
            "in": "query",
            "required": False,
            "description": lookup.description,
            "schema": lookup.value.schema(),
        }
        for name, spec in filters.filters.items()
        for operator, lookup in spec.lookups.items()
    ]


@cache
def served_openapi_document() -> bytes:
    """The document as `/v2/openapi.json` serves it, parsed once per process: every app made in
    one process (each test makes one) would otherwise parse its YAML again."""
    return encode(load_openapi_document())
