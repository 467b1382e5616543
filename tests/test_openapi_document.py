"""The served OpenAPI document, the filter table and the contract say the same things."""

from __future__ import annotations

from typing import Any

from numbers_api import domain
from numbers_api.http.openapi import load_openapi_document
from numbers_api.query.csv_download_query import CSV_FORMATS, DEFAULT_CSV_FORMAT
from numbers_api.query.filters import (
    CSV_DOWNLOAD_FILTERS,
    JOB_FILTERS,
    PHONE_NUMBER_FILTERS,
    UPDATE_JOB_FILTERS,
)
from numbers_api.query.job_query import JOB_SORTS
from numbers_api.query.list_query import SORTS, page_schema
from tests.support.contract import API_CONTRACT_URI, CONTRACT_URI, documents


def list_parameters(
    document: dict[str, Any], path: str = "/phone_numbers", method: str = "get"
) -> dict[str, dict[str, Any]]:
    operation = document["paths"][path][method]
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


def csv_download_parameters(uri: str | None = None) -> dict[str, dict[str, Any]]:
    """The parameters of POST /phone_numbers/csv_downloads: served, or in the contract `uri`."""
    document = load_openapi_document() if uri is None else documents()[uri]
    return list_parameters(document, "/phone_numbers/csv_downloads", "post")


def test_served_csv_download_filter_schema_is_its_filter_table() -> None:
    assert csv_download_parameters()["filter"]["schema"] == CSV_DOWNLOAD_FILTERS.schema()


def test_csv_download_filters_are_the_contracts() -> None:
    contract = csv_download_parameters(API_CONTRACT_URI)["filter"]["schema"]["properties"]
    assert set(CSV_DOWNLOAD_FILTERS.filters) == set(contract)


def test_csv_formats_are_the_contracts() -> None:
    contract = csv_download_parameters(API_CONTRACT_URI)["csv_format"]["schema"]
    assert (list(CSV_FORMATS), DEFAULT_CSV_FORMAT) == (contract["enum"], contract["default"])


JOB_LIST = ("/phone_numbers/jobs", "get")
UPDATE_JOB = ("/phone_numbers/jobs/update_phone_numbers", "post")


def test_served_job_filter_schemas_are_their_filter_tables() -> None:
    served = load_openapi_document()
    assert list_parameters(served, *JOB_LIST)["filter"]["schema"] == JOB_FILTERS.schema()
    assert list_parameters(served, *UPDATE_JOB)["filter"]["schema"] == UPDATE_JOB_FILTERS.schema()


def test_job_filters_and_sorts_are_the_contracts() -> None:
    contract = list_parameters(documents()[API_CONTRACT_URI], *JOB_LIST)
    assert list(JOB_FILTERS.filters) == list(contract["filter"]["schema"]["properties"])
    assert list(JOB_SORTS) == contract["sort"]["schema"]["enum"]
    update = list_parameters(documents()[API_CONTRACT_URI], *UPDATE_JOB)
    assert set(UPDATE_JOB_FILTERS.filters) == set(update["filter"]["schema"]["properties"])
    job_type = contract["filter"]["schema"]["properties"]["type"]
    assert list(domain.JOB_TYPES) == job_type["enum"]
