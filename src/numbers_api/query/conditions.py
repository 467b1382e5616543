"""What a filter asks of the store, as plain data: the store turns each kind into SQL."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Field(enum.Enum):
    """A phone-number attribute that queries can test or order by."""

    ID = "id"
    PHONE_NUMBER = "phone_number"
    STATUS = "status"
    COUNTRY = "country_iso_alpha2"
    CONNECTION_ID = "connection_id"
    CONNECTION_NAME = "connection_name"
    USAGE_PAYMENT_METHOD = "usage_payment_method"
    BILLING_GROUP_ID = "billing_group_id"
    EMERGENCY_ADDRESS_ID = "emergency_address_id"
    CUSTOMER_REFERENCE = "customer_reference"
    PHONE_NUMBER_TYPE = "phone_number_type"
    SOURCE_TYPE = "source_type"
    PURCHASED_AT = "purchased_at"
    CREATED_AT = "created_at"
    JOB_TYPE = "job_type"  # not a number's: a bulk job's type, for the list of jobs
    MESSAGING_PROFILE_ID = "messaging_profile_id"
    BUNDLE_ID = "bundle_id"
    # Not a number's: a number order's, sub order's or ordered number's (query/order_query.py).
    ORDER_ID = "order_id"
    COUNTRY_CODE = "country_code"
    PHONE_NUMBERS_COUNT = "phone_numbers_count"
    REQUIREMENTS_MET = "requirements_met"


class TextMatch(enum.Enum):
    EQUALS = "eq"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"


@dataclass(frozen=True, slots=True)
class OneOf:
    """The field equals one of the values (exact, case-sensitive)."""

    field: Field
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IsNull:
    field: Field


@dataclass(frozen=True, slots=True)
class IsNotNull:
    field: Field


@dataclass(frozen=True, slots=True)
class TextMatches:
    """Case-insensitive comparison of a text field; a null field never matches."""

    field: Field
    match: TextMatch
    text: str


@dataclass(frozen=True, slots=True)
class DigitsContain:
    """The number's E.164 digits (without the `+`) contain these digits."""

    digits: str


@dataclass(frozen=True, slots=True)
class HasTag:
    tag: str


@dataclass(frozen=True, slots=True)
class HasNoTags:
    pass


@dataclass(frozen=True, slots=True)
class MatchesNothing:
    pass


@dataclass(frozen=True, slots=True)
class Compares:
    """The field (a number, a timestamp in milliseconds or a flag as 0/1) compared with a value:
    `operator` is one of =, < and >."""

    field: Field
    operator: str
    value: int


Condition = (
    OneOf
    | IsNull
    | IsNotNull
    | TextMatches
    | DigitsContain
    | HasTag
    | HasNoTags
    | MatchesNothing
    | Compares
)


@dataclass(frozen=True, slots=True)
class SortKey:
    field: Field
    descending: bool = False
    case_insensitive: bool = False
