from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from numbers_api.domain import PhoneNumber
from numbers_api.serialisation import DETAILED_PROPERTIES, format_timestamp, phone_number_detailed

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Any number will do: which properties a number has does not depend on its values.
NUMBER = PhoneNumber._make(0 for _ in PhoneNumber._fields)._replace(
    tags=[], messaging_profile_id=None
)


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_a_timestamp_is_formatted_as_datetime_formats_it_to_the_millisecond(
    milliseconds: int,
) -> None:
    moment = EPOCH + timedelta(milliseconds=milliseconds)
    assert format_timestamp(milliseconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def test_the_detailed_properties_are_those_phone_number_detailed_gives_in_its_order() -> None:
    assert list(phone_number_detailed(NUMBER, {})) == [name for name, _ in DETAILED_PROPERTIES]
