"""Conversions between protobuf well-known types and Python values."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A Timestamp holds 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z.
_SECONDS = range(-62_135_596_800, 253_402_300_800)


def timestamp(value: datetime) -> Timestamp:
    """What `Timestamp.FromDatetime` makes of `value` (a naive time is taken as UTC),
    computed directly: it is on every time a response carries."""
    message = Timestamp()
    set_timestamp(message, value)
    return message


def set_timestamp(message: Timestamp, value: datetime) -> None:
    """Sets a message's Timestamp field in place to `timestamp(value)`: cheaper than
    building one and copying it in, which a message's constructor does."""
    since = (value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH
    seconds = since.days * 86_400 + since.seconds
    if seconds not in _SECONDS:  # a time zone moved it past year 1 or 9999
        raise OverflowError(f"{value.isoformat()} is outside a Timestamp's range")
    message.seconds = seconds
    message.nanos = since.microseconds * 1000


def from_timestamp(value: Timestamp) -> datetime:
    return value.ToDatetime(tzinfo=UTC)
