"""Property tests of native gRPC requests through the gateway (hypothesis).

Whatever the field values — out-of-range numbers, unknown enum values, impossible
timestamps, hostile strings, forged page tokens — an RPC either succeeds or fails with a
client-side status (never one that maps to a 5xx: INTERNAL, UNKNOWN, UNAVAILABLE...) that
carries a message. Each strategy mixes plausible values (to get past the first check and
reach the domain logic and the store) with wild ones. Derandomized: the same examples on
every run; `FUZZ_MAX_EXAMPLES` raises the count for a deeper hunt.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import grpc
import httpx
import pytest
from google.protobuf import timestamp_pb2
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from tests.e2e.event_api import create_event, report_activity
from tests.helpers import Account, eventually

pytestmark = pytest.mark.fuzz

T = TypeVar("T")

RPC_TIMEOUT = 10.0  # seconds; a hang shows up as DEADLINE_EXCEEDED, which fails the test
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_MAX_EXAMPLES", "30")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# The statuses the gateway turns into 5xx: a request must never be able to cause them.
SERVER_FAULTS = {
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.DATA_LOSS,
}

ACTIVITY = "fuzz_kill"
# Stand-ins for ids that exist, swapped for the fixture's real ones in each test.
EVENT, REWARD, USER = "<event>", "<reward>", "<user>"

# --- strategies -----------------------------------------------------------------------------

INT32 = st.integers(-(2**31), 2**31 - 1)
ENUMS = st.integers(-2, 7)  # every known value and unknown ones: proto3 enums are open
WILD_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(["", " ", "\x00", "a" * 5000, "../../etc/passwd", '{"$ne": null}', "$where"]),
)
TIMEZONES = (
    st.sampled_from(
        ["UTC", "Asia/Seoul", "right/UTC", "Etc/GMT-14", "America", "../etc", "/UTC", "zone.tab"]
    )
    | WILD_TEXT
)
PAGE_TOKENS = st.one_of(
    WILD_TEXT,
    st.lists(st.text(max_size=30) | st.integers() | st.none(), max_size=3).map(
        lambda key: base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    ),
    st.tuples(
        st.sampled_from(["2026-01-01T00:00:00+00:00", "0001-01-01", "9999-12-31T23:59:59", "x"]),
        st.text(max_size=20),
    ).map(lambda key: base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()),
)
# 8 to 128 characters is what request ids and idempotency keys must be.
KEYS = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=128)


def plausible_or_wild(plausible: st.SearchStrategy[T], wild: st.SearchStrategy[T]) -> Any:
    return st.one_of(plausible, wild)


def _timestamp(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


# The first and last seconds a Timestamp may hold (years 1 and 9999).
FIRST, LAST = -62135596800, 253402300799
NOW = int(datetime.now(UTC).timestamp())
VALID_SECONDS = st.one_of(
    st.integers(NOW - 30 * 86_400, NOW + 30 * 86_400),
    st.sampled_from([FIRST, FIRST + 1, 0, LAST - 1, LAST]),
    st.integers(FIRST, LAST),
)
WILD_TIMESTAMPS = st.builds(
    _timestamp,
    st.integers(-(2**62), 2**62) | st.sampled_from([FIRST - 1, LAST + 1]),
    st.integers(-(2**31), 2**31 - 1),
)
TIMESTAMPS = plausible_or_wild(
    st.builds(_timestamp, VALID_SECONDS, st.integers(0, 999_999_999)), WILD_TIMESTAMPS
)
MAYBE_TIMESTAMP = st.none() | TIMESTAMPS
IDS = {kind: st.just(kind) | WILD_TEXT for kind in (EVENT, REWARD, USER)}
AMOUNTS = plausible_or_wild(st.integers(-1, 10), INT32)

REWARDS = st.builds(
    event_pb2.Reward,
    name=plausible_or_wild(st.sampled_from(["Elixir", "Gems", "elixir"]), WILD_TEXT),
    type=ENUMS,
    amount=AMOUNTS,
)
CONDITIONS = st.builds(
    event_pb2.Condition,
    type=ENUMS,
    target=AMOUNTS,
    activity=plausible_or_wild(st.just(ACTIVITY), WILD_TEXT),
)
TITLES = plausible_or_wild(st.just("Fuzzed hunt"), WILD_TEXT)
EVENT_FIELDS = ("title", "description", "condition", "period", "timezone", "status", "rewards")


def _set_times(message: Any, **times: timestamp_pb2.Timestamp | None) -> None:
    for name, value in times.items():
        if value is not None:
            getattr(message, name).CopyFrom(value)


@st.composite
def periods(draw: st.DrawFn) -> dict[str, timestamp_pb2.Timestamp | None]:
    """starts_at < ends_at <= claim_deadline (or no deadline), anywhere in years 1-9999."""
    starts = draw(st.integers(FIRST, LAST - 1) | st.sampled_from([FIRST, NOW]))
    ends = draw(st.integers(starts + 1, LAST) | st.just(LAST))
    deadline = draw(st.none() | st.integers(ends, LAST))
    return {
        "starts_at": _timestamp(starts),
        "ends_at": _timestamp(ends),
        "claim_deadline": None if deadline is None else _timestamp(deadline),
    }


@st.composite
def create_event_requests(draw: st.DrawFn) -> event_pb2.CreateEventRequest:
    """A valid event with up to two of its fields made wild, so most requests get past
    the first check and exercise the rest (defaults, limits, the store)."""
    wild = draw(st.sets(st.sampled_from(EVENT_FIELDS), max_size=2))
    kind = draw(st.sampled_from(event_pb2.ConditionType.values()[1:]))
    activity = ACTIVITY if kind == event_pb2.CONDITION_TYPE_ACTIVITY_COUNT else ""
    request = event_pb2.CreateEventRequest(
        title=draw(WILD_TEXT) if "title" in wild else "Fuzzed hunt",
        description=draw(WILD_TEXT) if "description" in wild else "",
        condition=draw(CONDITIONS)
        if "condition" in wild
        else event_pb2.Condition(
            type=kind, target=draw(st.integers(1, 2**31 - 1)), activity=activity
        ),
        timezone=draw(TIMEZONES) if "timezone" in wild else draw(st.sampled_from(["", "UTC"])),
        status=event_pb2.EventStatus.ValueType(draw(ENUMS))
        if "status" in wild
        else event_pb2.EVENT_STATUS_ACTIVE,
        rewards=draw(st.lists(REWARDS, max_size=4))
        if "rewards" in wild
        else [event_pb2.Reward(name="Elixir", type=event_pb2.REWARD_TYPE_ITEM, amount=1)],
    )
    if "period" in wild:
        _set_times(
            request,
            starts_at=draw(MAYBE_TIMESTAMP),
            ends_at=draw(MAYBE_TIMESTAMP),
            claim_deadline=draw(MAYBE_TIMESTAMP),
        )
    else:
        _set_times(request, **draw(periods()))
    return request


@st.composite
def update_event_requests(draw: st.DrawFn) -> event_pb2.UpdateEventRequest:
    request = event_pb2.UpdateEventRequest(event_id=draw(IDS[EVENT]))
    # Each optional field present or absent: absent means "leave it as it is".
    for name, values in (
        ("title", TITLES),
        ("description", WILD_TEXT),
        ("timezone", TIMEZONES),
        ("status", ENUMS),
    ):
        if draw(st.booleans()):
            setattr(request, name, draw(values))
    if draw(st.booleans()):
        request.condition.CopyFrom(draw(CONDITIONS))
    if draw(st.booleans()):
        _set_times(request, **draw(periods()))
    else:
        _set_times(
            request,
            starts_at=draw(MAYBE_TIMESTAMP),
            ends_at=draw(MAYBE_TIMESTAMP),
            claim_deadline=draw(MAYBE_TIMESTAMP),
        )
    return request


CLAIM_REQUESTS = st.builds(
    event_pb2.ClaimRewardRequest,
    event_id=IDS[EVENT],
    reward_id=IDS[REWARD],
    request_id=plausible_or_wild(KEYS, WILD_TEXT),
    amount=AMOUNTS,
)


@st.composite
def activity_requests(draw: st.DrawFn) -> event_pb2.RecordActivityRequest:
    request = event_pb2.RecordActivityRequest(
        user_id=draw(IDS[USER]),
        activity=draw(plausible_or_wild(st.just(ACTIVITY), WILD_TEXT)),
        amount=draw(AMOUNTS),
        idempotency_key=draw(plausible_or_wild(KEYS, WILD_TEXT)),
    )
    _set_times(request, occurred_at=draw(MAYBE_TIMESTAMP))
    return request


LIST_CLAIMS_REQUESTS = st.builds(
    event_pb2.ListClaimsRequest,
    user_id=st.just("") | IDS[USER],
    event_id=st.just("") | IDS[EVENT],
    reward_id=st.just("") | IDS[REWARD],
    status=ENUMS,
    page_size=plausible_or_wild(st.integers(-1, 101), INT32),
    page_token=st.just("") | PAGE_TOKENS,
)

# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stub(gateway_channel: grpc.aio.Channel) -> event_pb2_grpc.EventServiceAsyncStub:
    return event_pb2_grpc.EventServiceStub(gateway_channel)


@pytest.fixture(scope="session")
async def known_ids(rest: httpx.AsyncClient, fuzz_admin: Account) -> dict[str, str]:
    """An active event whose condition the admin has met, so claims reach the claim logic."""
    now = datetime.now(UTC)
    event = await create_event(
        rest,
        fuzz_admin,
        title="Fuzz target",
        condition={"type": "CONDITION_TYPE_ACTIVITY_COUNT", "target": 1, "activity": ACTIVITY},
        starts_at=(now - timedelta(days=1)).isoformat(),
        ends_at=(now + timedelta(days=30)).isoformat(),
    )
    await report_activity(rest, fuzz_admin.headers, fuzz_admin.user_id, 1, ACTIVITY)

    async def completed() -> bool:
        response = await rest.post(
            f"/v1/events/{event['id']}:complete", json={}, headers=fuzz_admin.headers
        )
        return response.status_code == 200

    await eventually(completed)
    return {EVENT: event["id"], REWARD: event["rewards"][0]["id"], USER: fuzz_admin.user_id}


def resolve(message: T, known: dict[str, str], *fields: str) -> T:
    """Swaps the id stand-ins in `fields` for the real ids."""
    for name in fields:
        value = getattr(message, name)
        setattr(message, name, known.get(value, value))
    return message


async def assert_no_server_fault(call: Awaitable[Any]) -> None:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        code, details = error.code(), error.details()
    else:
        return
    assert code not in SERVER_FAULTS, f"{code.name}: {details}"
    assert details, f"{code.name} without a message"


# --- properties -----------------------------------------------------------------------------


# Regressions: a Timestamp out of range was an INTERNAL error, and so was an event ending
# in year 9999 without a claim deadline (its default, ends_at + 7 days, overflowed).
OUT_OF_RANGE = _timestamp(NOW, nanos=-1)
ENDS_IN_9999 = event_pb2.CreateEventRequest(
    title="Forever",
    condition=event_pb2.Condition(type=event_pb2.CONDITION_TYPE_LOGIN_COUNT, target=1),
    starts_at=_timestamp(NOW),
    ends_at=_timestamp(LAST),
    rewards=[event_pb2.Reward(name="Elixir", type=event_pb2.REWARD_TYPE_ITEM, amount=1)],
)


@FUZZ
@given(request=create_event_requests())
@example(request=ENDS_IN_9999)
@example(request=event_pb2.CreateEventRequest(starts_at=OUT_OF_RANGE))
async def test_create_event_never_fails_with_a_server_fault(
    stub: event_pb2_grpc.EventServiceAsyncStub,
    fuzz_admin: Account,
    request: event_pb2.CreateEventRequest,
) -> None:
    await assert_no_server_fault(
        stub.CreateEvent(request, metadata=fuzz_admin.metadata, timeout=RPC_TIMEOUT)
    )


@FUZZ
@given(request=CLAIM_REQUESTS)
async def test_claim_reward_never_fails_with_a_server_fault(
    stub: event_pb2_grpc.EventServiceAsyncStub,
    fuzz_admin: Account,
    known_ids: dict[str, str],
    request: event_pb2.ClaimRewardRequest,
) -> None:
    request = resolve(request, known_ids, "event_id", "reward_id")
    await assert_no_server_fault(
        stub.ClaimReward(request, metadata=fuzz_admin.metadata, timeout=RPC_TIMEOUT)
    )


@FUZZ
@given(request=activity_requests())
@example(request=event_pb2.RecordActivityRequest(occurred_at=OUT_OF_RANGE))
async def test_record_activity_never_fails_with_a_server_fault(
    stub: event_pb2_grpc.EventServiceAsyncStub,
    fuzz_admin: Account,
    known_ids: dict[str, str],
    request: event_pb2.RecordActivityRequest,
) -> None:
    request = resolve(request, known_ids, "user_id")
    await assert_no_server_fault(
        stub.RecordActivity(request, metadata=fuzz_admin.metadata, timeout=RPC_TIMEOUT)
    )


@FUZZ
@given(request=LIST_CLAIMS_REQUESTS)
async def test_list_claims_never_fails_with_a_server_fault(
    stub: event_pb2_grpc.EventServiceAsyncStub,
    fuzz_admin: Account,
    known_ids: dict[str, str],
    request: event_pb2.ListClaimsRequest,
) -> None:
    request = resolve(request, known_ids, "user_id", "event_id", "reward_id")
    await assert_no_server_fault(
        stub.ListClaims(request, metadata=fuzz_admin.metadata, timeout=RPC_TIMEOUT)
    )


@FUZZ
@given(request=update_event_requests())
@example(request=event_pb2.UpdateEventRequest(event_id=EVENT, ends_at=_timestamp(LAST)))
@example(request=event_pb2.UpdateEventRequest(event_id=EVENT, claim_deadline=OUT_OF_RANGE))
async def test_update_event_never_fails_with_a_server_fault(
    stub: event_pb2_grpc.EventServiceAsyncStub,
    fuzz_admin: Account,
    known_ids: dict[str, str],
    request: event_pb2.UpdateEventRequest,
) -> None:
    request = resolve(request, known_ids, "event_id")
    await assert_no_server_fault(
        stub.UpdateEvent(request, metadata=fuzz_admin.metadata, timeout=RPC_TIMEOUT)
    )
