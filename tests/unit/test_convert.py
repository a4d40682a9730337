"""Well-known type conversions (services/common/convert.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import example, given
from hypothesis import strategies as st

from services.common.convert import from_timestamp, timestamp

ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)


@given(st.datetimes(timezones=ZONES))
@example(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
@example(datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-1))))
@example(datetime(1, 1, 1, tzinfo=UTC))
@example(datetime.max)
def test_a_time_converts_as_from_datetime_converts_it(value: datetime) -> None:
    expected = Timestamp()
    try:
        expected.FromDatetime(value)
    except OverflowError:
        with pytest.raises(OverflowError):
            timestamp(value)
        return
    assert timestamp(value) == expected


@given(st.datetimes(timezones=st.just(UTC)))
def test_a_utc_time_survives_the_round_trip(value: datetime) -> None:
    assert from_timestamp(timestamp(value)) == value
