"""The served OpenAPI document, the filter table and the contract say the same things."""

from __future__ import annotations

from typing import Any

from numbers_api import domain
from numbers_api.http.app import load_openapi_document
from numbers_api.query.filters import PHONE_NUMBER_FILTERS
from numbers_api.query.list_query import SORTS, page_schema
from tests.support.contract import CONTRACT_URI, documents


def list_parameters(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    operation = document["paths"]["/phone_numbers"]["get"]
    parameters = {}
    for given in operation["parameters"]:
        parameter = (
            document["components"]["parameters"][given["$ref"].rsplit("/", 1)[1]]
            if "$ref" in given
            else given
        )
        parameters[parameter["name"]] = parameter
    return parameters


def test_served_filter_schema_is_the_filter_table() -> None:
    served = list_parameters(load_openapi_document())["filter"]["schema"]
    assert served == PHONE_NUMBER_FILTERS.schema()


def test_served_page_schema_is_the_page_rules() -> None:
    assert list_parameters(load_openapi_document())["page"]["schema"] == page_schema()


def test_filter_table_has_every_filter_of_the_contract() -> None:
    contract = list_parameters(documents()[CONTRACT_URI])["filter"]["schema"]["properties"]
    assert list(PHONE_NUMBER_FILTERS.filters) == list(contract)


def test_filter_enums_are_the_contracts() -> None:
    contract = list_parameters(documents()[CONTRACT_URI])["filter"]["schema"]["properties"]
    served = PHONE_NUMBER_FILTERS.schema()["properties"]
    for name, schema in contract.items():
        if "enum" in schema:
            assert served[name]["enum"] == schema["enum"], name
    assert (
        served["number_type"]["properties"]["eq"]["enum"]
        == (contract["number_type"]["properties"]["eq"]["enum"])
    )


def test_sorts_are_the_contracts() -> None:
    contract = list_parameters(documents()[CONTRACT_URI])["sort"]["schema"]["enum"]
    assert list(SORTS) == contract


def test_field_values_are_the_contracts() -> None:
    properties = documents()[CONTRACT_URI]["components"]["schemas"]["PhoneNumberDetailed"][
        "properties"
    ]
    assert list(domain.STATUSES) == properties["status"]["enum"]
    assert list(domain.PHONE_NUMBER_TYPES) == properties["phone_number_type"]["enum"]
    assert list(domain.EMERGENCY_STATUSES) == properties["emergency_status"]["enum"]
    assert list(domain.INBOUND_CALL_SCREENING) == properties["inbound_call_screening"]["enum"]
    assert list(domain.SOURCE_TYPES) == properties["source_type"]["anyOf"][0]["enum"]
