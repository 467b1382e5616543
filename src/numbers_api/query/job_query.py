"""The query strings of the bulk jobs: `GET /v2/phone_numbers/jobs` (filter, sort, page) and the
filters that select the numbers of an update job."""

from __future__ import annotations

from dataclasses import dataclass

from numbers_api.query.conditions import Condition, Field, SortKey
from numbers_api.query.errors import InvalidQuery, ParameterError
from numbers_api.query.filters import JOB_FILTERS, UPDATE_JOB_FILTERS
from numbers_api.query.list_query import Page, parameters_by_name, parse_page, single_value
from numbers_api.query.values import Choice

# Job ids are unique, so both orders are total and pages never overlap.
JOB_DEFAULT_ORDER = (
    SortKey(Field.CREATED_AT, descending=True),
    SortKey(Field.ID, descending=True),
)
JOB_SORTS: dict[str, tuple[SortKey, ...]] = {
    "created_at": (SortKey(Field.CREATED_AT), SortKey(Field.ID)),
}


@dataclass(frozen=True, slots=True)
class JobListQuery:
    conditions: tuple[Condition, ...]
    order: tuple[SortKey, ...]
    page: Page


def parse_job_list_query(query_string: str) -> JobListQuery:
    """The query, or InvalidQuery listing every offending parameter."""
    errors: list[ParameterError] = []
    by_name = parameters_by_name(query_string, errors)
    conditions = JOB_FILTERS.parse(by_name.get("filter", []), errors)
    page = parse_page(by_name.get("page", []), errors)
    sort = single_value(by_name.get("sort", []), Choice(tuple(JOB_SORTS)), errors)
    if errors:
        raise InvalidQuery(errors)
    return JobListQuery(
        conditions=tuple(conditions),
        order=JOB_DEFAULT_ORDER if sort is None else JOB_SORTS[sort],
        page=page,
    )


def parse_update_job_filters(query_string: str) -> tuple[Condition, ...] | None:
    """The conditions the `filter[...]` parameters put on the numbers to update, None if none was
    given; or InvalidQuery listing every offending parameter. Other parameters are ignored."""
    errors: list[ParameterError] = []
    given = parameters_by_name(query_string, errors).get("filter", [])
    conditions = UPDATE_JOB_FILTERS.parse(given, errors)
    if errors:
        raise InvalidQuery(errors)
    return tuple(conditions) if given else None
