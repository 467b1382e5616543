"""Checks responses against the contract (the copy in `spec/`) and against the served document."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from numbers_api.http.openapi import load_openapi_document

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "spec" / "list-phone-numbers.openapi.yaml"
# The rest of Telnyx's Phone Number Management API: the contract of every other path.
API_CONTRACT = ROOT / "spec" / "telnyx-phone-numbers-api.openapi.yaml"
# Numbers coming in through the API: search, reservations, orders.
ORDERING_CONTRACT = ROOT / "spec" / "telnyx-number-ordering-api.openapi.yaml"
CONTRACT_URI = "urn:contract"
ORDERING_CONTRACT_URI = "urn:ordering-contract"
API_CONTRACT_URI = "urn:api-contract"
SERVED_URI = "urn:served"
# Statuses the served document adds to the contract's: the limits (413, 414, 429, 503 when
# overloaded) and 503 when messaging profiles are unavailable.
SERVED_ONLY_STATUSES = {413, 414, 429, 503}


@cache
def documents() -> dict[str, dict[str, Any]]:
    return {
        CONTRACT_URI: yaml.safe_load(CONTRACT.read_text()),
        API_CONTRACT_URI: yaml.safe_load(API_CONTRACT.read_text()),
        ORDERING_CONTRACT_URI: yaml.safe_load(ORDERING_CONTRACT.read_text()),
        SERVED_URI: load_openapi_document(),
    }


@cache
def _registry() -> Registry[Any]:
    return Registry().with_resources(
        (uri, Resource.from_contents(document, default_specification=DRAFT202012))
        for uri, document in documents().items()
    )


def contract_of(path: str) -> str:
    """The URI of the contract that describes a spec's path: the list's founding document, the
    ordering API's, or the rest of Telnyx's API."""
    if path == "/phone_numbers":
        return CONTRACT_URI
    return API_CONTRACT_URI if path.startswith("/phone_numbers") else ORDERING_CONTRACT_URI


def validate_response(path: str, method: str, status: int, body: Any) -> None:
    """Raise unless `body` is what the contract and the served document say `method path`
    answers with `status`. The contract of the list is its founding document; of the ordering
    paths, Telnyx's number-ordering API; of any other path, the rest of Telnyx's API.

    `path` is the spec's (`/phone_numbers`, `/phone_numbers/{id}`), without the `/v2` prefix.
    """
    contract_uri = contract_of(path)
    for uri in (contract_uri, SERVED_URI):
        document = documents()[uri]
        responses = document["paths"][path][method.lower()]["responses"]
        # A status the document does not list by itself may be in its range (`4XX`).
        listed = str(status) if str(status) in responses else f"{status // 100}XX"
        if listed not in responses:
            if uri == contract_uri and status in SERVED_ONLY_STATUSES:
                continue
            raise AssertionError(f"{method} {path} answered {status}, which {uri} does not list")
        response = responses[listed]
        while "$ref" in response:
            response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
        if "content" not in response:  # the voicemail errors: a status without a body's schema
            continue
        schema = _absolute_refs(uri, response["content"]["application/json"]["schema"])
        Draft202012Validator(schema, registry=_registry()).validate(body)


def _absolute_refs(uri: str, schema: Any) -> Any:
    """The schema with its `#/...` references pointing into the document they came from."""
    if isinstance(schema, dict):
        return {
            key: uri + value
            if key == "$ref" and str(value).startswith("#")
            else _absolute_refs(uri, value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute_refs(uri, item) for item in schema]
    return schema
