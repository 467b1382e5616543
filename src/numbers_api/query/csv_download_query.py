"""The query strings of the CSV download operations and of `numbers-api export --filter`.

A download keeps its filters as a query string (the `filter[...]` parameters, encoded again), so
that whichever worker runs it, now or after a restart, parses them again with the same table.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from numbers_api.query.conditions import Condition
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import CSV_DOWNLOAD_FILTERS, FilterSet
from numbers_api.query.list_query import Page, parameters_by_name, parse_page, single_value
from numbers_api.query.values import Choice

CSV_FORMATS = ("V1", "V2")
DEFAULT_CSV_FORMAT = "V1"  # the contract's default, "for backwards compatibility"
TRUE_OR_FALSE = Choice(("true", "false"))


@dataclass(frozen=True, slots=True)
class CsvDownloadQuery:
    csv_format: str
    filters: str  # the filter parameters as a query string, to keep with the download
    include_managed_accounts: bool


def parse_csv_download_query(query_string: str) -> CsvDownloadQuery:
    """`POST /v2/phone_numbers/csv_downloads`'s parameters, or InvalidQuery listing every
    offending one."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    filters = by_name.get("filter", [])
    CSV_DOWNLOAD_FILTERS.parse(filters, errors)
    csv_format = single_value(by_name.get("csv_format", []), Choice(CSV_FORMATS), errors)
    managed = single_value(by_name.get("include_managed_accounts", []), TRUE_OR_FALSE, errors)
    if errors:
        raise InvalidQuery(errors)
    return CsvDownloadQuery(
        csv_format=csv_format or DEFAULT_CSV_FORMAT,
        filters=urlencode([(f.key, f.value) for f in filters]),
        include_managed_accounts=managed == "true",
    )


def filter_conditions(
    filters: str, filter_set: FilterSet[Condition] = CSV_DOWNLOAD_FILTERS
) -> list[Condition]:
    """The conditions of filters kept as a query string; raises InvalidQuery if they are bad
    (never, for filters kept by a download: they were checked when it was made)."""
    errors: list[ParameterError] = []
    conditions = filter_set.parse(parameters_by_name(filters, errors).get("filter", []), errors)
    if errors:
        raise InvalidQuery(errors)
    return conditions


def filter_arguments(arguments: Iterable[str]) -> str:
    """Command-line filters as a query string: each argument is `filter[NAME]=VALUE` or
    `NAME=VALUE` (`voice.connection_name[contains]=desk`), its value taken literally (no percent
    decoding: `+` stays a plus)."""
    pairs = []
    for argument in arguments:
        key, _, value = argument.partition("=")
        pairs.append((key if key.startswith("filter[") else _bracketed(key), value))
    return urlencode(pairs)


def _bracketed(key: str) -> str:
    name, bracket, rest = key.partition("[")
    return f"filter[{name}]{bracket}{rest}"


def parse_page_query(query_string: str) -> Page:
    """`page[number]` and `page[size]` of a list, or InvalidQuery; other parameters are ignored,
    as the phone number list ignores those it does not know."""
    errors: list[ParameterError] = []
    page = parse_page(parameters_by_name(query_string, errors).get("page", []), errors)
    if errors:
        raise InvalidQuery(errors)
    return page
