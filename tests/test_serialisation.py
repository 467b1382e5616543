from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from numbers_api.serialisation import format_timestamp

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=-(10**12), max_value=4 * 10**12))
def test_a_timestamp_is_formatted_as_datetime_formats_it_to_the_millisecond(
    milliseconds: int,
) -> None:
    moment = EPOCH + timedelta(milliseconds=milliseconds)
    assert format_timestamp(milliseconds) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )
