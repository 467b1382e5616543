"""A country's generated pool, made from phonenumbers' metadata: valid numbers only, each of its
type, with its locality from the geocoder. No I/O, and the same numbers on every machine (for
the pinned phonenumbers version): each (country, type) has its own random generator, seeded with
both.

Local numbers are drawn from the geocoder's prefixes where it has any for the country (so that
nearly every one has a locality: for the US and Canada, "City, ST" prefixes only), and from the
type's number pattern otherwise; every other type from its pattern. A candidate is kept only if
phonenumbers finds it valid, of the country, and of the type."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata, PhoneNumberDesc

from numbers_api.importing.records import region_and_type
from numbers_api.pool.stock import (
    AVAILABLE_NUMBER_TYPES,
    CURRENCY,
    PHONENUMBERS_TYPES,
    RATE_CENTER_COUNTRIES,
    AvailableNumber,
    stock,
)

# Candidates tried per number wanted, and in a row without a new number, before a (country,
# type) is taken to have no more.
ATTEMPTS_PER_NUMBER = 20
MISSES_IN_A_ROW = 500
NANP_NDC_LENGTH = 3  # the area code: what length_of_national_destination_code finds, at a cost
GEOCODE_LONGEST_PREFIX = 9  # phonenumbers.geodata's longest prefix
UNBOUNDED_REPEAT = 3  # extra repeats drawn for `*` and `+` in a pattern (none use them today)
_DIGITS = "0123456789"
_PARSER: Any = re._parser  # the stdlib's own regex parser
_CONSTANTS: Any = re._constants


def generated_countries() -> frozenset[str]:
    """The countries a pool can be generated for: phonenumbers' regions."""
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


@lru_cache(maxsize=8)
def generate_pool(country: str) -> tuple[AvailableNumber, ...]:
    """Every type's numbers for `country`, in type order, each type's in the order drawn. The
    last few countries' are kept (a US pool takes about 5 MB): every database of a process, a
    test's each, gets the same."""
    return tuple(
        number
        for number_type in AVAILABLE_NUMBER_TYPES
        for number in generate_numbers(country, number_type)
    )


def generate_numbers(country: str, number_type: str) -> Iterator[AvailableNumber]:
    metadata = PhoneMetadata.metadata_for_region(country)
    if metadata is None:
        return
    descs = [d for d in _descs(metadata, number_type) if d and d.national_number_pattern]
    if not descs:
        return
    offer = stock(country, number_type)
    rng = random.Random(f"{country}:{number_type}")  # noqa: S311 - reproducible, not secret
    calling_code = str(metadata.country_code)
    prefixes = _local_prefixes(country, calling_code) if number_type == "local" else ()
    samplers = [_sampler(d.national_number_pattern) for d in descs]
    kinds = PHONENUMBERS_TYPES[number_type]
    seen: set[str] = set()
    attempts = offer.pool_size * ATTEMPTS_PER_NUMBER
    misses = 0
    while len(seen) < offer.pool_size and attempts > 0 and misses < MISSES_IN_A_ROW:
        attempts -= 1
        misses += 1
        if prefixes:
            national = _from_prefix(rng, rng.choice(prefixes), calling_code, descs[0])
        else:
            national = rng.choice(samplers)(rng)
        number = f"+{calling_code}{national}"
        if number in seen:
            continue
        parsed = phonenumbers.parse(number, None)
        region, kind = region_and_type(parsed)
        if region != country or kind not in kinds:
            continue
        locality, area = _place(number, country) if number_type == "local" else ("", "")
        if country in RATE_CENTER_COUNTRIES and number_type == "local" and not area:
            continue  # NANP local numbers always have a city and a state or province
        seen.add(number)
        misses = 0
        ndc_length = (
            NANP_NDC_LENGTH
            if calling_code == "1"
            else phonenumbers.length_of_national_destination_code(parsed)
        )
        yield AvailableNumber(
            phone_number=number,
            country_code=country,
            phone_number_type=number_type,
            national_destination_code=national[:ndc_length],
            locality=locality,
            administrative_area=area,
            rate_center=locality.upper() if country in RATE_CENTER_COUNTRIES else "",
            features=offer.features,
            currency=CURRENCY,
            monthly_cost=offer.monthly_cost,
            upfront_cost=offer.upfront_cost,
            quickship=rng.random() < offer.quickship_share,
            reservable=offer.reservable,
        )


def _descs(metadata: PhoneMetadata, number_type: str) -> list[PhoneNumberDesc | None]:
    if number_type == "local":
        return [metadata.fixed_line]
    if number_type == "mobile":
        # Where fixed and mobile numbers look alike (US, CA) there is no mobile pool: such
        # numbers are local (FIXED_LINE_OR_MOBILE).
        return [metadata.mobile]
    if number_type == "toll_free":
        return [metadata.toll_free]
    if number_type == "shared_cost":
        return [metadata.shared_cost]
    return [metadata.uan, metadata.personal_number, metadata.voip]


def _place(number: str, country: str) -> tuple[str, str]:
    """(locality, administrative area): for the US and Canada, "City, ST" split in two (a
    description without a city gives neither); elsewhere the geocoder's description and ''."""
    description = _description(number[1:])
    if country not in RATE_CENTER_COUNTRIES:
        return description, ""
    city, comma, area = description.rpartition(", ")
    if not comma or not re.fullmatch(r"[A-Z]{2}", area):
        return "", ""
    return city, area


def _description(digits: str) -> str:
    """The geocoder's English description of the longest prefix of `digits` it knows (what
    `geocoder.description_for_valid_number` finds, for a number of the region, at a fraction of
    its cost)."""
    data = _geocode_data()
    for end in range(min(len(digits), GEOCODE_LONGEST_PREFIX), 0, -1):
        names = data.get(digits[:end])
        if names:
            return names.get("en") or next(iter(names.values()))
    return ""


@cache
def _geocode_data() -> dict[str, dict[str, str]]:
    from phonenumbers.geodata import GEOCODE_DATA  # noqa: PLC0415 - large; loaded on first use

    data: dict[str, dict[str, str]] = GEOCODE_DATA
    return data


@cache
def _local_prefixes(country: str, calling_code: str) -> tuple[str, ...]:
    """The geocoder's prefixes (without the calling code) of places under the country's calling
    code; for the US and Canada only those that name a city in it ("City, ST"). Where several
    countries share a calling code, a number drawn from another's prefix is dropped by its
    region. Sorted: the same order on every machine."""
    prefixes = []
    for prefix, names in _geocode_data().items():
        if not prefix.startswith(calling_code) or len(prefix) <= len(calling_code):
            continue
        name = names.get("en") or next(iter(names.values()))
        if country in RATE_CENTER_COUNTRIES and ", " not in name:
            continue
        if country in RATE_CENTER_COUNTRIES and (name[-2:] in _CANADA) != (country == "CA"):
            continue
        prefixes.append(prefix[len(calling_code) :])
    return tuple(sorted(prefixes))


def _from_prefix(rng: random.Random, prefix: str, calling_code: str, desc: PhoneNumberDesc) -> str:
    lengths = [n for n in desc.possible_length if n > len(prefix)] or [len(prefix) + 1]
    length = rng.choice(lengths)
    return prefix + "".join(rng.choice(_DIGITS) for _ in range(length - len(prefix)))


# The provinces and territories of Canada, as the geocoder's descriptions end: the rest of +1's
# city-level descriptions are the US's (and a few other NANP countries', whose numbers the
# region check drops).
_CANADA = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")


Sampler = Any  # Callable[[random.Random], str]


@cache
def _sampler(pattern: str) -> Sampler:
    """A function drawing a random string that the pattern matches in full."""
    tree = _PARSER.parse(pattern)
    return lambda rng: "".join(_draw(rng, tree))


def _draw(rng: random.Random, items: Any) -> Iterator[str]:
    c = _CONSTANTS
    for op, argument in items:
        if op is c.LITERAL:
            yield chr(argument)
        elif op is c.IN:
            yield rng.choice(_class_digits(argument))
        elif op is c.ANY:
            yield rng.choice(_DIGITS)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, body = argument
            if high is c.MAXREPEAT:
                high = low + UNBOUNDED_REPEAT
            for _ in range(rng.randint(low, high)):
                yield from _draw(rng, body)
        elif op is c.SUBPATTERN:
            yield from _draw(rng, argument[-1])
        elif op is c.BRANCH:
            yield from _draw(rng, rng.choice(argument[1]))
        elif op is c.AT:
            continue  # ^ and $: nothing to draw
        else:
            raise ValueError(f"number patterns hold no {op}")


def _class_digits(items: Any) -> str:
    """The digits a character class such as `[2-9]` or `\\d` allows."""
    c = _CONSTANTS
    allowed: set[str] = set()
    negate = False
    for op, argument in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            allowed.add(chr(argument))
        elif op is c.RANGE:
            allowed.update(chr(code) for code in range(argument[0], argument[1] + 1))
        elif op is c.CATEGORY:
            allowed.update(_DIGITS)  # \d: the only category number patterns use
    digits = [d for d in _DIGITS if (d in allowed) != negate]
    return "".join(digits)
