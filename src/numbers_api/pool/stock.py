"""What the pool stocks: a pool number, and the declarative table of what each (country, type)
offers (features, costs, quickship, reservable) and how many numbers a generated pool holds.

A row for a country overrides the default row of its type. Costs are strings, as the API shows
them, in `CURRENCY`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from phonenumbers import PhoneNumberType

# The types a search takes (`filter[phone_number_type]`), in the contract's order.
AVAILABLE_NUMBER_TYPES = ("local", "toll_free", "mobile", "national", "shared_cost")
# The features a number may have (`filter[features]`), in the contract's order.
FEATURES = (
    "sms",
    "mms",
    "voice",
    "fax",
    "emergency",
    "hd_voice",
    "international_sms",
    "local_calling",
)
# libphonenumber's types behind each of ours. `national`: numbers reachable nationwide at a
# national rate (UAN, personal and VoIP numbers); premium-rate numbers are not sold.
PHONENUMBERS_TYPES: dict[str, tuple[int, ...]] = {
    "local": (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE),
    "toll_free": (PhoneNumberType.TOLL_FREE,),
    "mobile": (PhoneNumberType.MOBILE,),
    "national": (PhoneNumberType.UAN, PhoneNumberType.PERSONAL_NUMBER, PhoneNumberType.VOIP),
    "shared_cost": (PhoneNumberType.SHARED_COST,),
}
CURRENCY = "USD"
# Countries whose numbers have a rate center and a state or province (NANP, as Telnyx shows).
RATE_CENTER_COUNTRIES = frozenset({"US", "CA"})
DEFAULT = "*"  # the row of a type for every country without its own


@dataclass(frozen=True, slots=True)
class Stock:
    features: tuple[str, ...]
    monthly_cost: str
    upfront_cost: str
    pool_size: int  # numbers a generated pool holds of this type (fewer if the plan has fewer)
    quickship_share: float = 1.0  # the share of numbers usable at once after purchase
    reservable: bool = True


STOCK: dict[tuple[str, str], Stock] = {
    ("US", "local"): Stock(
        ("sms", "mms", "voice", "fax", "emergency", "hd_voice"), "1.00", "1.00", 10_000
    ),
    ("CA", "local"): Stock(
        ("sms", "mms", "voice", "fax", "emergency", "hd_voice"), "1.00", "1.00", 3_000
    ),
    # Only +1 toll-free numbers may need time after purchase (the contract's quickship). They
    # are shared by every NANP country, and phonenumbers gives them to the US: Canada and the
    # rest have no toll-free pool of their own.
    ("US", "toll_free"): Stock(("sms", "mms", "voice", "fax"), "2.00", "1.00", 2_000, 0.5),
    ("US", "national"): Stock(("voice", "fax"), "3.00", "1.00", 300),
    (DEFAULT, "local"): Stock(("voice", "fax", "emergency", "hd_voice"), "2.00", "1.00", 2_000),
    (DEFAULT, "mobile"): Stock(
        ("sms", "voice", "hd_voice", "international_sms"), "5.00", "1.00", 1_000
    ),
    (DEFAULT, "toll_free"): Stock(("voice",), "10.00", "5.00", 300),
    (DEFAULT, "national"): Stock(("voice", "local_calling"), "4.00", "2.00", 300, reservable=False),
    (DEFAULT, "shared_cost"): Stock(("voice",), "6.00", "2.00", 300, reservable=False),
}


def stock(country: str, number_type: str) -> Stock:
    return STOCK.get((country, number_type)) or STOCK[(DEFAULT, number_type)]


class AvailableNumber(NamedTuple):
    """One number of the pool, as `available_numbers` keeps it."""

    phone_number: str  # +E.164
    country_code: str  # ISO 3166-1 alpha-2
    phone_number_type: str  # one of AVAILABLE_NUMBER_TYPES
    national_destination_code: str  # '' when the number has none
    locality: str  # '' when unknown
    administrative_area: str  # the state or province code (US, CA); else ''
    rate_center: str  # US, CA: the locality in capitals; else ''
    features: tuple[str, ...]
    currency: str
    monthly_cost: str
    upfront_cost: str
    quickship: bool
    reservable: bool
    vanity_format: str = ""
    source: str = "generated"  # or "loaded"
    available_from: int = 0  # milliseconds since the epoch
