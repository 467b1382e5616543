from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from numbers_api.http.ceiling import PAGE
from numbers_api.serialisation import DETAILED_PROPERTIES, format_timestamp, phone_number_detailed

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_a_timestamp_is_formatted_as_datetime_formats_it_to_the_millisecond(
    milliseconds: int,
) -> None:
    moment = EPOCH + timedelta(milliseconds=milliseconds)
    assert format_timestamp(milliseconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def test_the_detailed_properties_are_those_phone_number_detailed_gives_in_its_order() -> None:
    number = PAGE[0]._replace(messaging_profile_id=None)
    assert list(phone_number_detailed(number, {})) == [name for name, _ in DETAILED_PROPERTIES]
