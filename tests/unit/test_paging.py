"""AIP-158 page requests and tokens (services/common/paging.py)."""

from __future__ import annotations

import base64
import json

import pytest

from services.common.errors import InvalidArgument
from services.common.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    PageRequest,
    page_request,
    page_token,
)

KEY = ["2026-03-02T12:00:00.123000+00:00", "usr_0123456789abcdef"]


def encode(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def test_first_page_without_a_size_gets_the_default_size() -> None:
    assert page_request(0, "") == PageRequest(DEFAULT_PAGE_SIZE, None)


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        (1, 1),
        (7, 7),
        (MAX_PAGE_SIZE, MAX_PAGE_SIZE),
        (MAX_PAGE_SIZE + 1, MAX_PAGE_SIZE),
        (10**6, MAX_PAGE_SIZE),
    ],
)
def test_page_size_is_honoured_up_to_the_maximum(asked: int, given: int) -> None:
    assert page_request(asked, "").size == given


def test_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_request(-1, "")
    assert [v.field for v in caught.value.violations] == ["page_size"]


def test_page_token_round_trips_the_sort_key_of_the_last_item() -> None:
    token = page_token(KEY)
    assert page_request(10, token) == PageRequest(10, KEY)


def test_page_token_is_url_safe() -> None:
    token = page_token(["2026-03-02T12:00:00+00:00", "id-with-?&/+=~" * 5])
    assert token == token.strip()
    assert not set(token) & set("+/?& ")


@pytest.mark.parametrize(
    "token",
    [
        "not base64 at all!",
        "%%%%",
        base64.urlsafe_b64encode(b"not json").decode(),
        encode({"after": KEY}),
        encode("2026-03-02T12:00:00+00:00"),
        encode([]),
        encode([KEY[0]]),
        encode([*KEY, "extra"]),
        encode([KEY[0], 42]),
        encode(["yesterday", "usr_1"]),
        encode([{"$gt": ""}, "usr_1"]),
        encode(None),
    ],
)
def test_token_not_issued_by_a_list_call_is_invalid(token: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        page_request(10, token)
    assert [v.field for v in caught.value.violations] == ["page_token"]
