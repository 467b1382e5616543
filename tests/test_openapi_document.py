"""The served OpenAPI document is valid OpenAPI and its filter schemas are the filter tables';
the tables and the contract say the same things."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from jsonschema import Draft202012Validator

from numbers_api import domain
from numbers_api.http.openapi import (
    FILTER_OBJECTS,
    PAGE_PARAMETER,
    SEPARATE_FILTER_PARAMETERS,
    Operation,
    load_openapi_document,
)
from numbers_api.query.conditions import HasTag
from numbers_api.query.csv_download_query import CSV_FORMATS, DEFAULT_CSV_FORMAT
from numbers_api.query.filters import (
    CSV_DOWNLOAD_FILTERS,
    JOB_FILTERS,
    PHONE_NUMBER_FILTERS,
    UPDATE_JOB_FILTERS,
    plain,
)
from numbers_api.query.job_query import JOB_SORTS
from numbers_api.query.list_query import SORTS
from numbers_api.query.values import Text
from tests.support.contract import (
    API_CONTRACT_URI,
    CONTRACT_URI,
    ORDERING_CONTRACT_URI,
    documents,
)


def list_parameters(
    document: dict[str, Any], path: str = "/phone_numbers", method: str = "get"
) -> dict[str, dict[str, Any]]:
    operation = document["paths"][path][method]
    parameters = {}
    for given in operation.get("parameters", []):
        parameter = (
            document["components"]["parameters"][given["$ref"].rsplit("/", 1)[1]]
            if "$ref" in given
            else given
        )
        parameters[parameter["name"]] = parameter
    return parameters


def contract_parameters(path: str, method: str) -> dict[str, dict[str, Any]]:
    """The parameters of `method path` in its contract: the list's own, or the rest of the API's."""
    uri = CONTRACT_URI if path == "/phone_numbers" else API_CONTRACT_URI
    if path in documents()[ORDERING_CONTRACT_URI]["paths"]:
        uri = ORDERING_CONTRACT_URI
    return list_parameters(documents()[uri], path, method)


def test_served_document_is_valid_openapi() -> None:
    schemathesis.openapi.from_dict(load_openapi_document()).validate()


def test_filter_and_page_schemas_are_valid_json_schemas() -> None:
    # The OpenAPI meta-schema takes any object for a schema; the dialect's meta-schema does not.
    document = load_openapi_document()
    made = [list_parameters(document, *operation)["filter"] for operation in FILTER_OBJECTS]
    made += [
        parameter
        for operation in SEPARATE_FILTER_PARAMETERS
        for name, parameter in list_parameters(document, *operation).items()
        if name.startswith("filter[")
    ]
    made.append(document["components"]["parameters"][PAGE_PARAMETER])
    for parameter in made:
        Draft202012Validator.check_schema(parameter["schema"])


def test_every_served_filter_parameter_is_made_from_a_filter_table() -> None:
    document = load_openapi_document()
    with_filters = {
        (path, method)
        for path, operations in document["paths"].items()
        for method in operations
        if method != "parameters"
        if any(name.split("[")[0] == "filter" for name in list_parameters(document, path, method))
    }
    assert with_filters == set(FILTER_OBJECTS) | set(SEPARATE_FILTER_PARAMETERS)


@pytest.mark.parametrize("operation", list(FILTER_OBJECTS), ids=" ".join)
def test_filter_parameter_is_a_deep_object_as_in_the_contract(operation: Operation) -> None:
    def form(parameter: dict[str, Any]) -> tuple[Any, ...]:
        return parameter["in"], parameter["style"], parameter["explode"]

    served = list_parameters(load_openapi_document(), *operation)["filter"]
    assert form(served) == form(contract_parameters(*operation)["filter"])


def test_a_new_row_of_the_filter_table_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    row = plain("label", Text(), HasTag, "A filter the table did not have.")
    monkeypatch.setitem(PHONE_NUMBER_FILTERS.filters, row.name, row)
    served = list_parameters(load_openapi_document())["filter"]["schema"]["properties"]
    assert served[row.name] == row.schema()


def test_page_keeps_every_rule_of_the_contract() -> None:
    served = list_parameters(load_openapi_document())["page"]["schema"]["properties"]
    contract = contract_parameters("/phone_numbers", "get")["page"]["schema"]["properties"]
    assert set(served) == set(contract)
    for name, rules in contract.items():
        kept = {keyword: value for keyword, value in rules.items() if keyword != "description"}
        assert kept.items() <= served[name].items(), name


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


CSV_DOWNLOAD = ("/phone_numbers/csv_downloads", "post")


def test_csv_download_filters_are_the_contracts() -> None:
    contract = contract_parameters(*CSV_DOWNLOAD)["filter"]["schema"]["properties"]
    assert set(CSV_DOWNLOAD_FILTERS.filters) == set(contract)


def test_csv_formats_are_the_contracts() -> None:
    contract = contract_parameters(*CSV_DOWNLOAD)["csv_format"]["schema"]
    assert (list(CSV_FORMATS), DEFAULT_CSV_FORMAT) == (contract["enum"], contract["default"])


JOB_LIST = ("/phone_numbers/jobs", "get")
UPDATE_JOB = ("/phone_numbers/jobs/update_phone_numbers", "post")


def test_job_filters_and_sorts_are_the_contracts() -> None:
    contract = list_parameters(documents()[API_CONTRACT_URI], *JOB_LIST)
    assert list(JOB_FILTERS.filters) == list(contract["filter"]["schema"]["properties"])
    assert list(JOB_SORTS) == contract["sort"]["schema"]["enum"]
    update = list_parameters(documents()[API_CONTRACT_URI], *UPDATE_JOB)
    assert set(UPDATE_JOB_FILTERS.filters) == set(update["filter"]["schema"]["properties"])
    job_type = contract["filter"]["schema"]["properties"]["type"]
    assert list(domain.JOB_TYPES) == job_type["enum"]
