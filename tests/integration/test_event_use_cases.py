"""EventUseCases on the real Mongo adapters: the embedded store, or MongoDB with MONGODB_URL.

The embedded store runs every operation synchronously, so concurrent use cases would
never interleave on it; every adapter is wrapped to yield to the event loop around each
call, which lets them interleave as they do against a real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from services.common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.common.identity import Principal
from services.common.paging import PageRequest, page_request, page_token
from services.common.store import Store, connect
from services.event import domain
from services.event.domain import (
    ActivityReport,
    Attempt,
    Claim,
    ClaimRequest,
    ClaimStatus,
    ConditionType,
    Event,
    EventChanges,
    EventDraft,
    EventStatus,
    ProgressStatus,
    RewardDraft,
    RewardType,
)
from services.event.mongo import (
    DOCUMENTS,
    EventDoc,
    MongoAuditLog,
    MongoClaimLog,
    MongoDeadLetters,
    MongoEvents,
    MongoProgresses,
)
from services.event.ports import ClaimFilter, ClaimLog
from services.event.use_cases import EventUseCases, Page
from tests.conftest import MONGODB_URL, database_prefix

# A Monday noon UTC, with microseconds: the store keeps milliseconds.
T0 = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)
STARTS = datetime(2026, 3, 1, tzinfo=UTC)
ENDS = datetime(2026, 3, 9, tzinfo=UTC)
OPERATOR = Principal("operator-1", "OPERATOR")
ADMIN = Principal("admin-1", "ADMIN")
PLAYER = "player-1"

T = TypeVar("T")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value

    def advance(self, delta: timedelta) -> None:
        self.value += delta


class Interleaved:
    """Yields to the event loop a few times before and after every adapter call."""

    def __init__(self, inner: object, rng: random.Random) -> None:
        self._inner = inner
        self._rng = rng

    async def _pause(self) -> None:
        for _ in range(self._rng.randint(0, 3)):
            await asyncio.sleep(0)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        @functools.wraps(attribute)
        async def call(*args: Any, **kwargs: Any) -> Any:
            await self._pause()
            result = await attribute(*args, **kwargs)
            await self._pause()
            return result

        return call


class CrashingClaimLog(MongoClaimLog):
    """Fails the claim-log write of chosen request_ids once, as if the process died
    between committing the attempt to the progress document and logging it."""

    def __init__(self, crash_for: set[str]) -> None:
        super().__init__()
        self.crash_for = crash_for

    async def finish(self, claim: Claim) -> Claim:
        if claim.request_id in self.crash_for:
            self.crash_for.discard(claim.request_id)
            raise ConnectionError("simulated crash before the claim log write")
        return await super().finish(claim)


@dataclass
class World:
    uc: EventUseCases
    clock: Clock
    rng: random.Random

    def use_cases(self, claims: ClaimLog) -> EventUseCases:
        """Another instance of the service on the same database, with its own claim log."""
        return wire(self.clock, self.rng, claims)


def wire(clock: Clock, rng: random.Random, claims: ClaimLog | None = None) -> EventUseCases:
    def port(adapter: object) -> Any:
        return Interleaved(adapter, rng)

    return EventUseCases(
        events=port(MongoEvents()),
        progresses=port(MongoProgresses()),
        claims=port(claims or MongoClaimLog()),
        audit=port(MongoAuditLog()),
        dead_letters=port(MongoDeadLetters()),
        clock=clock,
    )


@pytest.fixture
async def store() -> AsyncIterator[Store]:
    name = f"{database_prefix()}event"
    store = await connect(MONGODB_URL, name, DOCUMENTS)
    yield store
    if not store.embedded:
        await store.client.drop_database(name)
    await store.close()


@pytest.fixture
def world(store: Store) -> World:
    clock, rng = Clock(T0), random.Random(7)
    return World(wire(clock, rng), clock, rng)


def draft(**changes: Any) -> EventDraft:
    base = EventDraft(
        title="Log in 3 times",
        description="Spring event",
        condition_type=ConditionType.LOGIN_COUNT,
        target=3,
        activity="",
        starts_at=STARTS,
        ends_at=ENDS,
        claim_deadline=None,
        timezone="",
        status=None,
        rewards=(
            RewardDraft("Gold", RewardType.CURRENCY, 100),
            RewardDraft("Elixir", RewardType.ITEM, 5),
        ),
    )
    return replace(base, **changes)


async def new_event(world: World, **changes: Any) -> Event:
    return await world.uc.create_event(OPERATOR, draft(**changes))


async def completed_event(world: World, *players: str, **changes: Any) -> Event:
    """An ACTIVITY_COUNT event (target 1) that `players` (default PLAYER) have completed."""
    changes = {"condition_type": ConditionType.ACTIVITY_COUNT, "target": 1} | changes
    changes.setdefault("activity", f"quest-{world.rng.randrange(10**9)}")
    event = await new_event(world, **changes)
    for player in players or (PLAYER,):
        await world.uc.record_activity(
            ActivityReport(player, event.condition.activity, 1, f"done-{player}", T0)
        )
        _, progress = await world.uc.complete(player, event.id)
        assert progress.status is ProgressStatus.COMPLETED
    return event


def reward_id(event: Event, name: str = "Gold") -> str:
    return next(r.id for r in event.rewards if r.name == name)


def claim_request(
    event: Event, request_id: str, amount: int = 0, reward: str = "Gold", user_id: str = PLAYER
) -> ClaimRequest:
    return ClaimRequest(user_id, event.id, reward_id(event, reward), request_id, amount)


async def claimed(world: World, event: Event, reward: str = "Gold", user: str = PLAYER) -> int:
    _, progress = await world.uc.get_progress(event.id, user)
    return progress.claimed.get(reward_id(event, reward), 0)


async def failure(call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as error:
        await call
    return error.value


async def all_pages(fetch: Callable[[PageRequest], Awaitable[Page[T]]], size: int) -> list[T]:
    items: list[T] = []
    token = ""
    for _ in range(1000):
        page = await fetch(page_request(size, token))
        assert len(page.items) <= size
        items += page.items
        token = page.next_page_token
        if not token:
            return items
    raise AssertionError("pagination does not end")


async def claim_log(world: World, **where: Any) -> list[Claim]:
    return await all_pages(lambda p: world.uc.list_claims(ClaimFilter(**where), p), 7)


# --- events ------------------------------------------------------------------------------


async def test_created_event_is_stored_as_returned(world: World) -> None:
    created = await new_event(world)

    assert await world.uc.get_event(created.id) == created
    assert created.created_at == T0.replace(microsecond=123000)
    assert created.created_by == OPERATOR.subject


@pytest.mark.parametrize("event_id", ["evt_missing", ""])
async def test_get_event_reports_an_unknown_event(world: World, event_id: str) -> None:
    error = await failure(world.uc.get_event(event_id))

    assert isinstance(error, NotFound)
    assert error.reason == "EVENT_NOT_FOUND"


async def test_list_events_filters_by_status_newest_first(world: World) -> None:
    created = []
    for status in [EventStatus.ACTIVE, EventStatus.INACTIVE, EventStatus.ACTIVE] * 2:
        created.append(await new_event(world, status=status))
        world.clock.advance(timedelta(seconds=1))
    newest_first = [e.id for e in reversed(created)]

    active = await world.uc.list_events(EventStatus.ACTIVE, page_request(0, ""))
    inactive = await world.uc.list_events(EventStatus.INACTIVE, page_request(0, ""))
    every = await world.uc.list_events(None, page_request(0, ""))

    assert [e.id for e in every.items] == newest_first
    assert [e.id for e in active.items] == [
        e.id for e in reversed(created) if e.status is EventStatus.ACTIVE
    ]
    assert [e.id for e in inactive.items] == [
        e.id for e in reversed(created) if e.status is EventStatus.INACTIVE
    ]
    assert every.next_page_token == active.next_page_token == ""


async def test_list_events_pages_through_every_event_exactly_once(world: World) -> None:
    # Same creation time for all: the id breaks the tie, so no event is skipped or repeated.
    created = {(await new_event(world)).id for _ in range(7)}
    world.clock.advance(timedelta(seconds=1))
    created |= {(await new_event(world)).id for _ in range(3)}

    for size in (1, 3, 10):
        listed = await all_pages(lambda p: world.uc.list_events(None, p), size)
        assert Counter(e.id for e in listed) == Counter(dict.fromkeys(created, 1))

    first = await world.uc.list_events(None, page_request(10, ""))
    assert len(first.items) == 10
    assert first.next_page_token == ""


async def test_page_size_is_defaulted_capped_and_must_not_be_negative(world: World) -> None:
    for _ in range(3):
        await new_event(world)

    assert page_request(0, "").size == 50
    assert page_request(5000, "").size == 100
    assert len((await world.uc.list_events(None, page_request(0, ""))).items) == 3
    with pytest.raises(InvalidArgument) as error:
        page_request(-1, "")
    assert [v.field for v in error.value.violations] == ["page_size"]


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        "bm9wZQ==",  # base64 of "nope"
        page_token({"a": 1}),  # type: ignore[arg-type]
        page_token(["2026-01-01T00:00:00+00:00"]),
        page_token(["yesterday", "evt_1"]),
        page_token([1, 2]),
    ],
)
async def test_a_page_token_not_issued_by_the_service_is_an_invalid_argument(
    world: World, token: str
) -> None:
    with pytest.raises(InvalidArgument) as error:
        await world.uc.list_events(None, page_request(10, token))

    assert [v.field for v in error.value.violations] == ["page_token"]


async def test_update_event_is_audited_with_actor_role_action_target_and_changes(
    world: World,
) -> None:
    event = await new_event(world)
    world.clock.advance(timedelta(minutes=5))

    updated = await world.uc.update_event(
        ADMIN, event.id, EventChanges(title="Renamed", status=EventStatus.INACTIVE)
    )

    assert await world.uc.get_event(event.id) == updated
    assert (updated.title, updated.status, updated.version) == ("Renamed", EventStatus.INACTIVE, 1)
    audit = (await world.uc.list_audit(None, None, page_request(0, ""))).items
    assert [(a.action, a.actor_id, a.actor_role) for a in audit] == [
        ("event.update", "admin-1", "ADMIN"),
        ("event.create", "operator-1", "OPERATOR"),
    ]
    change = audit[0]
    assert change.target == f"event/{event.id}"
    assert change.service == "event"
    assert change.changes == {
        "title": ["Log in 3 times", "Renamed"],
        "status": ["ACTIVE", "INACTIVE"],
    }
    assert change.created_at == (T0 + timedelta(minutes=5)).replace(microsecond=123000)


async def test_update_event_rejects_unknown_events_and_invalid_changes(world: World) -> None:
    event = await new_event(world)

    missing = await failure(world.uc.update_event(OPERATOR, "evt_missing", EventChanges(title="x")))
    invalid = await failure(world.uc.update_event(OPERATOR, event.id, EventChanges(target=0)))

    assert missing.reason == "EVENT_NOT_FOUND"
    assert isinstance(invalid, InvalidArgument)
    assert await world.uc.get_event(event.id) == event


async def test_add_reward_appends_the_reward_and_is_audited(world: World) -> None:
    event = await new_event(world)

    reward = await world.uc.add_reward(
        OPERATOR, event.id, RewardDraft("Coupon", RewardType.COUPON, 2)
    )

    stored = await world.uc.get_event(event.id)
    assert stored.rewards == (*event.rewards, reward)
    assert stored.version == event.version + 1
    entry = (await world.uc.list_audit(None, "event.add_reward", page_request(0, ""))).items[0]
    assert (entry.actor_id, entry.target) == ("operator-1", f"event/{event.id}")
    assert entry.changes == {
        "reward": {"id": reward.id, "name": "Coupon", "type": "COUPON", "amount": 2}
    }


async def test_an_instance_sees_every_change_another_instance_makes_to_an_event(
    world: World,
) -> None:
    event = await new_event(world)
    other = world.use_cases(MongoClaimLog())
    assert await world.uc.get_event(event.id) == event  # now kept by this instance

    closed = await other.update_event(OPERATOR, event.id, EventChanges(status=EventStatus.INACTIVE))
    assert await world.uc.get_event(event.id) == closed
    reward = await other.add_reward(OPERATOR, event.id, RewardDraft("Gem", RewardType.ITEM, 1))
    assert (await world.uc.get_event(event.id)).rewards == (*event.rewards, reward)

    await EventDoc.get_pymongo_collection().delete_one({"_id": event.id})
    assert (await failure(world.uc.get_event(event.id))).reason == "EVENT_NOT_FOUND"


async def test_an_event_change_that_keeps_the_version_is_refused(world: World) -> None:
    event = await new_event(world)
    with pytest.raises(ValueError, match="higher version"):
        await MongoEvents().replace(event, replace(event, title="Same version"))
    assert await world.uc.get_event(event.id) == event


async def test_add_reward_rejects_a_name_the_event_already_uses(world: World) -> None:
    event = await new_event(world)

    error = await failure(
        world.uc.add_reward(OPERATOR, event.id, RewardDraft("gold", RewardType.ITEM, 1))
    )

    assert isinstance(error, InvalidArgument)
    assert (await world.uc.get_event(event.id)).rewards == event.rewards


async def test_concurrent_updates_are_all_applied(world: World) -> None:
    event = await new_event(world)

    await asyncio.gather(
        world.uc.update_event(OPERATOR, event.id, EventChanges(title="New title")),
        world.uc.update_event(OPERATOR, event.id, EventChanges(description="New description")),
        world.uc.update_event(OPERATOR, event.id, EventChanges(target=9)),
        world.uc.add_reward(OPERATOR, event.id, RewardDraft("Coupon", RewardType.COUPON, 1)),
    )

    stored = await world.uc.get_event(event.id)
    assert (stored.title, stored.description, stored.condition.target) == (
        "New title",
        "New description",
        9,
    )
    assert [r.name for r in stored.rewards] == ["Gold", "Elixir", "Coupon"]
    assert stored.version == 4
    audit = await all_pages(lambda p: world.uc.list_audit(None, None, p), 10)
    assert Counter(a.action for a in audit) == {
        "event.create": 1,
        "event.update": 3,
        "event.add_reward": 1,
    }


# --- logins and activity -----------------------------------------------------------------


async def test_a_login_counts_only_for_active_login_events_whose_period_contains_it(
    world: World,
) -> None:
    counted = [
        await new_event(world, condition_type=ConditionType.LOGIN_COUNT),
        await new_event(world, condition_type=ConditionType.LOGIN_DAYS),
        await new_event(world, condition_type=ConditionType.LOGIN_STREAK),
    ]
    ignored = [
        await new_event(world, status=EventStatus.INACTIVE),
        await new_event(world, condition_type=ConditionType.ACTIVITY_COUNT, activity="quest"),
        await new_event(world, starts_at=T0 + timedelta(hours=1)),
        await new_event(world, starts_at=STARTS - timedelta(days=9), ends_at=T0),
    ]

    changed = await world.uc.record_login(PLAYER, T0, "login-1")

    assert changed == len(counted)
    for event in counted:
        _, progress = await world.uc.get_progress(event.id, PLAYER)
        assert (progress.exists, progress.login_count, progress.status) == (
            True,
            1,
            ProgressStatus.IN_PROGRESS,
        )
    for event in ignored:
        _, progress = await world.uc.get_progress(event.id, PLAYER)
        assert (progress.exists, progress.login_count) == (False, 0)


async def test_the_first_login_creates_the_progress(world: World) -> None:
    event = await new_event(world)
    _, before = await world.uc.get_progress(event.id, PLAYER)

    await world.uc.record_login(PLAYER, T0, "login-1")

    _, after = await world.uc.get_progress(event.id, PLAYER)
    assert (before.exists, before.login_count) == (False, 0)
    assert (after.exists, after.login_count, after.status) == (True, 1, ProgressStatus.IN_PROGRESS)
    assert (await world.uc.stats(event.id)).participants == 1


async def test_the_same_login_message_counts_once(world: World) -> None:
    event = await new_event(world)

    first = await world.uc.record_login(PLAYER, T0, "login-1")
    again = await world.uc.record_login(PLAYER, T0, "login-1")
    concurrent = await asyncio.gather(
        *(world.uc.record_login(PLAYER, T0, "login-2") for _ in range(5))
    )

    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert (first, again, sorted(concurrent)) == (1, 0, [0, 0, 0, 0, 1])
    assert progress.login_count == 2


async def test_concurrent_first_logins_of_one_player_create_one_progress(world: World) -> None:
    event = await new_event(world)

    changed = await asyncio.gather(
        *(world.uc.record_login(PLAYER, T0, f"login-{i}") for i in range(10))
    )

    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert changed == [1] * 10
    assert progress.login_count == 10
    assert (await world.uc.stats(event.id)).participants == 1


async def test_logins_at_the_period_boundaries(world: World) -> None:
    event = await new_event(world)

    at_start = await world.uc.record_login(PLAYER, STARTS, "at-start")
    at_end = await world.uc.record_login(PLAYER, ENDS, "at-end")
    before = await world.uc.record_login(PLAYER, STARTS - timedelta(milliseconds=1), "before")

    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert (at_start, at_end, before) == (1, 0, 0)
    assert progress.login_count == 1


async def test_login_days_are_calendar_days_in_the_event_time_zone(world: World) -> None:
    seoul = await new_event(
        world, condition_type=ConditionType.LOGIN_DAYS, target=2, timezone="Asia/Seoul"
    )
    utc = await new_event(world, condition_type=ConditionType.LOGIN_DAYS, target=2)

    # 23:00 and 00:30 in Seoul (two days there); 14:00 and 15:30 on one UTC day.
    await world.uc.record_login(PLAYER, datetime(2026, 3, 2, 14, 0, tzinfo=UTC), "login-1")
    await world.uc.record_login(PLAYER, datetime(2026, 3, 2, 15, 30, tzinfo=UTC), "login-2")

    _, in_seoul = await world.uc.complete(PLAYER, seoul.id)
    error = await failure(world.uc.complete(PLAYER, utc.id))
    assert (in_seoul.status, len(in_seoul.login_days), in_seoul.login_count) == (
        ProgressStatus.COMPLETED,
        2,
        2,
    )
    assert error.reason == "CONDITION_NOT_MET"
    assert error.metadata == {"condition": "LOGIN_DAYS", "current": "1", "target": "2"}


async def test_login_streaks_are_consecutive_days_in_the_event_time_zone(world: World) -> None:
    seoul = await new_event(
        world, condition_type=ConditionType.LOGIN_STREAK, target=3, timezone="Asia/Seoul"
    )
    utc = await new_event(world, condition_type=ConditionType.LOGIN_STREAK, target=3)
    logins = [
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),  # Seoul: 3/2 01:00
        datetime(2026, 3, 2, 14, 0, tzinfo=UTC),  # Seoul: 3/2 23:00
        datetime(2026, 3, 3, 1, 0, tzinfo=UTC),  # Seoul: 3/3 10:00
    ]
    for number, at in enumerate(logins):
        await world.uc.record_login(PLAYER, at, f"login-{number}")

    _, in_utc = await world.uc.complete(PLAYER, utc.id)
    _, in_seoul = await world.uc.get_progress(seoul.id, PLAYER)
    error = await failure(world.uc.complete(PLAYER, seoul.id))
    assert (in_utc.status, in_utc.current_streak) == (ProgressStatus.COMPLETED, 3)
    assert (in_seoul.current_streak, in_seoul.best_streak) == (2, 2)
    assert error.reason == "CONDITION_NOT_MET"
    assert error.metadata["current"] == "2"


async def test_activity_counts_only_for_active_activity_events_of_that_activity(
    world: World,
) -> None:
    kills = await new_event(world, condition_type=ConditionType.ACTIVITY_COUNT, activity="kill")
    fishing = await new_event(world, condition_type=ConditionType.ACTIVITY_COUNT, activity="fish")
    logins = await new_event(world, condition_type=ConditionType.LOGIN_COUNT)
    paused = await new_event(
        world,
        condition_type=ConditionType.ACTIVITY_COUNT,
        activity="kill",
        status=EventStatus.INACTIVE,
    )

    changed = await world.uc.record_activity(ActivityReport(PLAYER, "kill", 5, "report-1", T0))

    assert changed == 1
    _, progress = await world.uc.get_progress(kills.id, PLAYER)
    assert (progress.activity_total, progress.login_count) == (5, 0)
    for other in (fishing, logins, paused):
        _, untouched = await world.uc.get_progress(other.id, PLAYER)
        assert not untouched.exists


async def test_an_activity_report_counts_once_per_idempotency_key(world: World) -> None:
    event = await new_event(world, condition_type=ConditionType.ACTIVITY_COUNT, activity="kill")
    report = ActivityReport(PLAYER, "kill", 5, "report-1", T0)

    results = [
        await world.uc.record_activity(report),
        await world.uc.record_activity(report),
        await world.uc.record_activity(replace(report, amount=3, idempotency_key="report-2")),
        await world.uc.record_activity(
            replace(report, occurred_at=ENDS, idempotency_key="late-report-1")
        ),
    ]

    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert results == [1, 0, 1, 0]
    assert progress.activity_total == 8


async def test_an_invalid_activity_report_is_rejected(world: World) -> None:
    error = await failure(world.uc.record_activity(ActivityReport(PLAYER, "kill", 0, "k", T0)))

    assert isinstance(error, InvalidArgument)
    assert {v.field for v in error.violations} == {"amount", "idempotency_key"}


# --- completion --------------------------------------------------------------------------


async def test_complete_refuses_until_the_condition_is_met(world: World) -> None:
    event = await new_event(world, target=2)
    not_started = await failure(world.uc.complete(PLAYER, event.id))
    await world.uc.record_login(PLAYER, T0, "login-1")

    halfway = await failure(world.uc.complete(PLAYER, event.id))

    assert isinstance(halfway, FailedPrecondition)
    assert (not_started.reason, not_started.metadata["current"]) == ("CONDITION_NOT_MET", "0")
    assert halfway.reason == "CONDITION_NOT_MET"
    assert halfway.metadata == {"condition": "LOGIN_COUNT", "current": "1", "target": "2"}
    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert progress.status is ProgressStatus.IN_PROGRESS


async def test_complete_marks_the_progress_completed_once(world: World) -> None:
    event = await new_event(world, target=1)
    await world.uc.record_login(PLAYER, T0, "login-1")

    _, first = await world.uc.complete(PLAYER, event.id)
    world.clock.advance(timedelta(hours=1))
    _, again = await world.uc.complete(PLAYER, event.id)
    concurrent = await asyncio.gather(*(world.uc.complete(PLAYER, event.id) for _ in range(5)))

    assert first.status is ProgressStatus.COMPLETED
    assert first.completed_at == T0.replace(microsecond=123000)
    assert again == first
    assert all(p == first for _, p in concurrent)
    assert (await world.uc.stats(event.id)).completed == 1


async def test_complete_refuses_an_inactive_or_closed_event(world: World) -> None:
    paused = await new_event(world, target=1, status=EventStatus.INACTIVE)
    closing = await new_event(world, target=1, claim_deadline=ENDS)
    await world.uc.record_login(PLAYER, T0, "login-1")
    world.clock.value = ENDS + timedelta(milliseconds=1)

    assert (await failure(world.uc.complete(PLAYER, paused.id))).reason == "EVENT_INACTIVE"
    assert (await failure(world.uc.complete(PLAYER, closing.id))).reason == "CLAIM_WINDOW_CLOSED"


# --- claims ------------------------------------------------------------------------------


async def test_a_reward_is_claimed_in_parts_then_the_rest(world: World) -> None:
    event = await completed_event(world)

    part = await world.uc.claim(claim_request(event, "claim-0001", amount=30))
    world.clock.advance(timedelta(seconds=1))
    rest = await world.uc.claim(claim_request(event, "claim-0002"))
    nothing_left = await failure(world.uc.claim(claim_request(event, "claim-0003", amount=1)))

    assert (part.status, part.amount, part.remaining, part.reward_name) == (
        ClaimStatus.SUCCEEDED,
        30,
        70,
        "Gold",
    )
    assert (rest.amount, rest.remaining) == (70, 0)
    assert rest.claimed_at == (T0 + timedelta(seconds=1)).replace(microsecond=123000)
    assert nothing_left.reason == "INSUFFICIENT_REMAINING"
    assert nothing_left.metadata == {"remaining": "0", "requested": "1"}
    assert await claimed(world, event) == 100
    assert await claimed(world, event, "Elixir") == 0


async def test_replaying_a_request_id_returns_the_original_claim_and_grants_nothing(
    world: World,
) -> None:
    event = await completed_event(world)
    original = await world.uc.claim(claim_request(event, "claim-0001", amount=30))
    world.clock.advance(timedelta(minutes=1))

    replays = [
        await world.uc.claim(claim_request(event, "claim-0001", amount=30)) for _ in range(3)
    ]

    assert replays == [original] * 3
    assert await claimed(world, event) == 30
    assert [c.request_id for c in await claim_log(world, user_id=PLAYER)] == ["claim-0001"]


async def test_replaying_a_failed_request_id_fails_the_same_way_even_after_things_change(
    world: World,
) -> None:
    event = await new_event(world, target=1)
    first = await failure(world.uc.claim(claim_request(event, "claim-0001")))
    await world.uc.record_login(PLAYER, T0, "login-1")
    await world.uc.complete(PLAYER, event.id)

    again = await failure(world.uc.claim(claim_request(event, "claim-0001")))

    assert type(again) is type(first)
    assert again.reason == first.reason == "NOT_COMPLETED"
    assert again.message == first.message
    assert await claimed(world, event) == 0
    assert (await world.uc.claim(claim_request(event, "claim-0002"))).amount == 100


async def test_a_replayed_invalid_amount_keeps_its_field_violation(world: World) -> None:
    event = await completed_event(world)

    first = await failure(world.uc.claim(claim_request(event, "claim-0001", amount=-5)))
    again = await failure(world.uc.claim(claim_request(event, "claim-0001", amount=-5)))

    assert first.reason == again.reason == "INVALID_AMOUNT"
    assert first.violations == again.violations
    assert [v.field for v in again.violations] == ["amount"]


@pytest.mark.parametrize(
    "reuse",
    [
        {"amount": 31},
        {"amount": 0},
        {"reward": "Elixir", "amount": 30},
        {"user_id": "player-2", "amount": 30},
    ],
)
async def test_reusing_a_request_id_with_other_parameters_is_refused(
    world: World, reuse: dict[str, Any]
) -> None:
    event = await completed_event(world, PLAYER, "player-2")
    await world.uc.claim(claim_request(event, "claim-0001", amount=30))

    error = await failure(world.uc.claim(claim_request(event, "claim-0001", **reuse)))

    assert isinstance(error, AlreadyExists)
    assert error.reason == "REQUEST_ID_REUSED"
    assert await claimed(world, event) == 30
    assert await claimed(world, event, "Elixir") == 0
    assert await claimed(world, event, user="player-2") == 0
    assert [c.requested_amount for c in await claim_log(world)] == [30]


async def test_a_request_id_reused_on_another_event_is_refused(world: World) -> None:
    first, second = await completed_event(world), await completed_event(world)
    await world.uc.claim(claim_request(first, "claim-0001", amount=30))

    error = await failure(world.uc.claim(claim_request(second, "claim-0001", amount=30)))

    assert error.reason == "REQUEST_ID_REUSED"
    assert await claimed(world, second) == 0


async def test_an_invalid_request_id_is_refused_before_anything_is_logged(world: World) -> None:
    event = await completed_event(world)

    error = await failure(world.uc.claim(claim_request(event, "short")))

    assert isinstance(error, InvalidArgument)
    assert [v.field for v in error.violations] == ["request_id"]
    assert await claim_log(world) == []


async def test_every_claim_failure_has_its_own_reason_and_is_logged(world: World) -> None:
    done = await completed_event(world)
    started = await new_event(world)
    await world.uc.record_login(PLAYER, T0, "login-1")
    paused = await completed_event(world)
    await world.uc.update_event(OPERATOR, paused.id, EventChanges(status=EventStatus.INACTIVE))
    closing = await completed_event(
        world, ends_at=T0 + timedelta(minutes=1), claim_deadline=T0 + timedelta(minutes=1)
    )
    await world.uc.claim(claim_request(done, "claim-all", reward="Elixir"))

    cases: list[tuple[ClaimRequest, type[DomainError], str]] = [
        (claim_request(done, "fail-amount", amount=-1), InvalidArgument, "INVALID_AMOUNT"),
        (
            replace(claim_request(done, "fail-reward"), reward_id="rwd_missing"),
            NotFound,
            "REWARD_NOT_FOUND",
        ),
        (
            replace(claim_request(done, "fail-event"), event_id="evt_missing"),
            NotFound,
            "EVENT_NOT_FOUND",
        ),
        (claim_request(paused, "fail-inactive"), FailedPrecondition, "EVENT_INACTIVE"),
        (claim_request(started, "fail-not-completed"), FailedPrecondition, "NOT_COMPLETED"),
        (
            claim_request(started, "fail-no-progress", user_id="player-9"),
            FailedPrecondition,
            "NOT_COMPLETED",
        ),
        (
            claim_request(done, "fail-insufficient", reward="Elixir", amount=1),
            FailedPrecondition,
            "INSUFFICIENT_REMAINING",
        ),
        (
            claim_request(done, "fail-too-much", amount=101),
            FailedPrecondition,
            "INSUFFICIENT_REMAINING",
        ),
    ]
    for request, kind, reason in cases:
        error = await failure(world.uc.claim(request))
        assert (type(error), error.reason) == (kind, reason), request.request_id
    world.clock.advance(timedelta(minutes=2))
    closed = await failure(world.uc.claim(claim_request(closing, "fail-closed")))
    assert closed.reason == "CLAIM_WINDOW_CLOSED"

    logged = {c.request_id: c for c in await claim_log(world)}
    expected = {request.request_id: reason for request, _, reason in cases}
    expected["fail-closed"] = "CLAIM_WINDOW_CLOSED"
    assert {k: c.failure_reason for k, c in logged.items() if k != "claim-all"} == expected
    assert all(
        (c.status, c.amount) == (ClaimStatus.FAILED, 0)
        for k, c in logged.items()
        if k != "claim-all"
    )
    assert await claimed(world, done) == 0
    assert await claimed(world, done, "Elixir") == 5


async def test_a_grant_never_exceeds_the_reward_even_into_an_empty_total(world: World) -> None:
    """The store's grant is the last word on over-claims: a claim is granted without a
    read of the progress first, so the grant itself must refuse what decide_claim would."""
    event = await completed_event(world)
    gold = reward_id(event, "Gold")

    def attempt(request_id: str, amount: int) -> Attempt:
        return Attempt(request_id, gold, "Gold", amount, amount, limit=100, at=T0)

    progresses = MongoProgresses()
    assert await progresses.grant(event.id, PLAYER, attempt("too-much", 101), 100) is None
    assert await progresses.grant(event.id, PLAYER, attempt("nothing", 0), 100) is None
    assert await progresses.grant(event.id, PLAYER, attempt("all", 100), 100) == 100
    assert await progresses.grant(event.id, PLAYER, attempt("one-more", 1), 100) is None
    assert await claimed(world, event) == 100
    failed = await failure(world.uc.claim(claim_request(event, "after-all", amount=1)))
    assert failed.reason == "INSUFFICIENT_REMAINING"


async def test_every_attempt_appears_in_the_claim_log_exactly_once(world: World) -> None:
    event = await completed_event(world)
    attempts = [
        ("claim-0001", 10),
        ("claim-0002", 0),
        ("claim-0003", 5),
        ("claim-0001", 10),
        ("claim-0004", -1),
        ("claim-0002", 0),
        ("claim-0004", -1),
        ("claim-0001", 11),
    ]
    for request_id, amount in attempts:
        world.clock.advance(timedelta(milliseconds=1))
        with contextlib.suppress(DomainError):
            await world.uc.claim(claim_request(event, request_id, amount))

    log = await claim_log(world, user_id=PLAYER, event_id=event.id)
    assert Counter(c.request_id for c in log) == Counter(
        dict.fromkeys(["claim-0001", "claim-0002", "claim-0003", "claim-0004"], 1)
    )
    by_id = {c.request_id: c for c in log}
    assert (by_id["claim-0001"].amount, by_id["claim-0002"].amount) == (10, 90)
    assert by_id["claim-0003"].failure_reason == "INSUFFICIENT_REMAINING"
    assert by_id["claim-0004"].failure_reason == "INVALID_AMOUNT"
    assert [c.request_id for c in log] == ["claim-0004", "claim-0003", "claim-0002", "claim-0001"]


async def test_list_claims_filters_by_user_event_reward_and_status(world: World) -> None:
    first = await completed_event(world, PLAYER, "player-2")
    second = await completed_event(world)
    await world.uc.claim(claim_request(first, "p1-first-gold", amount=1))
    await world.uc.claim(claim_request(first, "p1-first-elixir", reward="Elixir"))
    await world.uc.claim(claim_request(second, "p1-second-gold"))
    await world.uc.claim(claim_request(first, "p2-first-gold", user_id="player-2"))
    await failure(world.uc.claim(claim_request(first, "p1-first-fail", reward="Elixir")))

    def ids(claims: Sequence[Claim]) -> set[str]:
        return {c.request_id for c in claims}

    assert ids(await claim_log(world, user_id="player-2")) == {"p2-first-gold"}
    assert ids(await claim_log(world, event_id=second.id)) == {"p1-second-gold"}
    assert ids(await claim_log(world, reward_id=reward_id(first, "Elixir"))) == {
        "p1-first-elixir",
        "p1-first-fail",
    }
    assert ids(await claim_log(world, status=ClaimStatus.FAILED)) == {"p1-first-fail"}
    assert ids(
        await claim_log(world, user_id=PLAYER, event_id=first.id, status=ClaimStatus.SUCCEEDED)
    ) == {"p1-first-gold", "p1-first-elixir"}
    assert len(await claim_log(world)) == 5


async def test_instances_that_keep_different_entries_list_the_same_claims(world: World) -> None:
    event = await completed_event(world, PLAYER, "player-2")
    # Two more instances on the same database: one keeps every SUCCEEDED entry it reads,
    # the other only the last three (it forgets the oldest as it reads more).
    writer, forgetful = MongoClaimLog(), MongoClaimLog(kept=3)
    other = world.use_cases(writer)
    for n in range(6):
        world.clock.advance(timedelta(milliseconds=1))
        await other.claim(claim_request(event, f"writer-000{n}", amount=n % 3 + 1))
    await failure(other.claim(claim_request(event, "writer-fail", amount=1000)))
    await world.uc.claim(claim_request(event, "player2-gold", amount=1, user_id="player-2"))
    stuck = claim_request(event, "crashed-0001", amount=2).reservation(T0)
    assert await writer.reserve(stuck) is None  # reserved, never finished

    async def listed(log: MongoClaimLog, **where: Any) -> list[tuple[Any, ...]]:
        # A failure is an exception: equal to another only as its kind, reason and message.
        return [
            (replace(c, failure=None), type(c.failure), c.failure_reason, str(c.failure))
            for c in await log.page(ClaimFilter(**where), None, 50)
        ]

    mine = await listed(MongoClaimLog(), user_id=PLAYER)  # a fresh instance reads them all
    assert [c.request_id for c, *_ in mine] == [
        "writer-fail",
        *(f"writer-000{n}" for n in reversed(range(6))),
    ]
    for _ in range(3):
        assert await listed(writer, user_id=PLAYER) == mine
        assert await listed(forgetful, user_id=PLAYER) == mine
    pending = await listed(forgetful, status=ClaimStatus.PENDING)
    assert [(c.request_id, c.status) for c, *_ in pending] == [("crashed-0001", stuck.status)]

    await writer.finish(replace(stuck, status=ClaimStatus.SUCCEEDED, amount=2, remaining=1))
    finished = await listed(forgetful, user_id=PLAYER)
    assert finished[-1][0] == await writer.get("crashed-0001")  # the oldest: reserved at T0
    assert (finished[-1][0].status, finished[:-1]) == (ClaimStatus.SUCCEEDED, mine)
    assert await listed(forgetful, status=ClaimStatus.PENDING) == []
    assert await listed(writer, user_id="player-2") == await listed(forgetful, user_id="player-2")


async def test_concurrent_claims_never_grant_more_than_the_reward(world: World) -> None:
    event = await completed_event(world)
    rng = random.Random(20260302)
    distinct = [(f"concurrent-{i:04d}", rng.choice([0, 1, 1, 2, 3, 5])) for i in range(150)]
    requests = distinct + [rng.choice(distinct) for _ in range(50)]
    rng.shuffle(requests)

    async def attempt(request_id: str, amount: int) -> Claim | DomainError:
        # CONTENDED asks the client to retry, which is what a client does.
        for _ in range(20):
            try:
                return await world.uc.claim(claim_request(event, request_id, amount))
            except Unavailable:
                continue
            except DomainError as error:
                return error
        raise AssertionError(f"{request_id} never got an answer")

    outcomes = await asyncio.gather(*(attempt(r, a) for r, a in requests))

    by_request: dict[str, set[object]] = {}
    for (request_id, _), outcome in zip(requests, outcomes, strict=True):
        key = outcome if isinstance(outcome, Claim) else (type(outcome), outcome.reason)
        by_request.setdefault(request_id, set()).add(key)
    assert all(len(seen) == 1 for seen in by_request.values()), "a replay changed the outcome"
    granted = {o.request_id: o.amount for o in outcomes if isinstance(o, Claim)}
    total = await claimed(world, event)
    assert sum(granted.values()) == total == 100
    reasons = {o.reason for o in outcomes if isinstance(o, DomainError)}
    assert reasons == {"INSUFFICIENT_REMAINING"}

    log = await claim_log(world, event_id=event.id)
    assert Counter(c.request_id for c in log) == Counter(dict.fromkeys(by_request, 1))
    succeeded = {c.request_id: c.amount for c in log if c.status is ClaimStatus.SUCCEEDED}
    assert succeeded == granted
    assert sum(succeeded.values()) == total
    remaining = sorted(
        (c.remaining for c in log if c.status is ClaimStatus.SUCCEEDED), reverse=True
    )
    assert remaining[-1] == 0
    assert len(set(remaining)) == len(remaining), "two grants saw the same remaining amount"


# --- crash recovery ----------------------------------------------------------------------


async def test_a_grant_whose_log_write_was_lost_is_logged_on_retry_and_not_granted_again(
    world: World,
) -> None:
    event = await completed_event(world)
    crashing = world.use_cases(CrashingClaimLog({"claim-0001"}))

    with pytest.raises(ConnectionError):
        await crashing.claim(claim_request(event, "claim-0001", amount=30))
    assert await claimed(world, event) == 30
    assert await claim_log(world) == []
    world.clock.advance(timedelta(minutes=1))

    retried = await world.uc.claim(claim_request(event, "claim-0001", amount=30))
    replayed = await world.uc.claim(claim_request(event, "claim-0001", amount=30))

    assert (retried.status, retried.amount, retried.remaining) == (ClaimStatus.SUCCEEDED, 30, 70)
    assert retried.claimed_at == T0.replace(microsecond=123000)
    assert replayed == retried
    assert await claim_log(world) == [retried]
    assert await claimed(world, event) == 30


async def test_a_lost_grant_retried_with_other_parameters_is_refused_and_logged_as_made(
    world: World,
) -> None:
    event = await completed_event(world)
    crashing = world.use_cases(CrashingClaimLog({"claim-0001"}))
    with pytest.raises(ConnectionError):
        await crashing.claim(claim_request(event, "claim-0001", amount=30))

    error = await failure(world.uc.claim(claim_request(event, "claim-0001", amount=50)))
    original = await world.uc.claim(claim_request(event, "claim-0001", amount=30))

    assert error.reason == "REQUEST_ID_REUSED"
    assert (original.amount, original.requested_amount) == (30, 30)
    assert await claim_log(world) == [original]
    assert await claimed(world, event) == 30


async def test_a_failure_whose_log_write_was_lost_is_replayed_as_the_same_failure(
    world: World,
) -> None:
    event = await new_event(world, target=1)
    await world.uc.record_login(PLAYER, T0, "login-1")
    crashing = world.use_cases(CrashingClaimLog({"claim-0001"}))

    with pytest.raises(ConnectionError):
        await crashing.claim(claim_request(event, "claim-0001"))
    await world.uc.complete(PLAYER, event.id)
    retried = await failure(world.uc.claim(claim_request(event, "claim-0001")))

    assert retried.reason == "NOT_COMPLETED"
    log = await claim_log(world)
    assert [(c.request_id, c.status, c.failure_reason) for c in log] == [
        ("claim-0001", ClaimStatus.FAILED, "NOT_COMPLETED")
    ]
    assert await claimed(world, event) == 0


async def test_crashes_during_concurrent_claims_leave_the_log_equal_to_the_grants(
    world: World,
) -> None:
    event = await completed_event(world)
    request_ids = [f"claim-{i:04d}" for i in range(40)]
    crashing = world.use_cases(CrashingClaimLog(set(request_ids[::3])))

    first = await asyncio.gather(
        *(crashing.claim(claim_request(event, r, 3)) for r in request_ids),
        return_exceptions=True,
    )
    retried = await asyncio.gather(
        *(world.uc.claim(claim_request(event, r, 3)) for r in request_ids),
        return_exceptions=True,
    )

    assert sum(isinstance(o, ConnectionError) for o in first) == len(request_ids[::3])
    granted = [o for o in retried if isinstance(o, Claim)]
    assert sum(c.amount for c in granted) == await claimed(world, event) == 99
    log = await claim_log(world)
    assert Counter(c.request_id for c in log) == Counter(dict.fromkeys(request_ids, 1))
    assert sum(c.amount for c in log if c.status is ClaimStatus.SUCCEEDED) == 99


# --- stats and audit ---------------------------------------------------------------------


async def test_stats_count_participants_completions_and_successful_claims(world: World) -> None:
    event = await completed_event(world, "player-1", "player-2")
    await world.uc.record_activity(
        ActivityReport("player-3", event.condition.activity, 1, "p3-report", T0)
    )
    await world.uc.record_login("player-4", T0, "login-ignored")
    await world.uc.claim(claim_request(event, "p1-gold-1", amount=10, user_id="player-1"))
    await world.uc.claim(claim_request(event, "p1-gold-2", amount=20, user_id="player-1"))
    await world.uc.claim(claim_request(event, "p2-gold-1", amount=5, user_id="player-2"))
    await failure(world.uc.claim(claim_request(event, "p3-gold-1", user_id="player-3")))
    await failure(world.uc.claim(claim_request(event, "p2-gold-2", amount=99, user_id="player-2")))

    stats = await world.uc.stats(event.id)

    assert (stats.event_id, stats.participants, stats.completed) == (event.id, 3, 2)
    by_name = {r.reward.name: r.totals for r in stats.rewards}
    assert (by_name["Gold"].total_claimed, by_name["Gold"].claim_count) == (35, 3)
    assert by_name["Gold"].claimants == 2
    assert (by_name["Elixir"].total_claimed, by_name["Elixir"].claimants) == (0, 0)


async def test_stats_of_an_unknown_event_is_not_found(world: World) -> None:
    assert (await failure(world.uc.stats("evt_missing"))).reason == "EVENT_NOT_FOUND"


async def test_audit_log_filters_by_actor_and_action_and_pages_newest_first(
    world: World,
) -> None:
    other = Principal("operator-2", "OPERATOR")
    events = [await new_event(world) for _ in range(3)]
    for number, event in enumerate(events):
        world.clock.advance(timedelta(seconds=1))
        await world.uc.update_event(other, event.id, EventChanges(title=f"Title {number}"))
    world.clock.advance(timedelta(seconds=1))
    await world.uc.add_reward(other, events[0].id, RewardDraft("Coupon", RewardType.COUPON, 1))

    everything = await all_pages(lambda p: world.uc.list_audit(None, None, p), 2)
    by_other = await all_pages(lambda p: world.uc.list_audit("operator-2", None, p), 1)
    updates = await all_pages(lambda p: world.uc.list_audit(None, "event.update", p), 2)
    created_by_other = await all_pages(
        lambda p: world.uc.list_audit("operator-2", "event.create", p), 2
    )

    assert len(everything) == 7
    assert len({a.id for a in everything}) == 7
    assert [a.created_at for a in everything] == sorted(
        (a.created_at for a in everything), reverse=True
    )
    assert [a.action for a in by_other] == ["event.add_reward"] + ["event.update"] * 3
    assert {a.actor_id for a in by_other} == {"operator-2"}
    assert [a.target for a in updates] == [f"event/{e.id}" for e in reversed(events)]
    assert created_by_other == []


async def test_two_players_racing_with_one_request_id_get_one_grant(world: World) -> None:
    event = await completed_event(world, "player-1", "player-2")
    both_looked = asyncio.Barrier(2)

    class RacingClaimLog(MongoClaimLog):
        """Both claims reach the claim log at the same moment."""

        async def reserve(self, claim: Claim) -> Claim | None:
            await asyncio.wait_for(both_looked.wait(), 5)
            return await super().reserve(claim)

    racing = world.use_cases(RacingClaimLog())

    outcomes = await asyncio.gather(
        racing.claim(claim_request(event, "claim-0001", amount=30, user_id="player-1")),
        racing.claim(claim_request(event, "claim-0001", amount=30, user_id="player-2")),
        return_exceptions=True,
    )

    granted = [await claimed(world, event, user=p) for p in ("player-1", "player-2")]
    logged = sum(c.amount for c in await claim_log(world, status=ClaimStatus.SUCCEEDED))
    assert sum(isinstance(o, Claim) for o in outcomes) == 1
    assert sum(granted) == logged == 30


async def test_a_player_runs_out_of_claim_attempts_and_nothing_more_is_granted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(domain, "MAX_CLAIM_ATTEMPTS", 3)
    event = await completed_event(world)
    await world.uc.claim(claim_request(event, "claim-0001", amount=1))
    for request_id in ("claim-0002", "claim-0003"):
        assert (
            await failure(world.uc.claim(claim_request(event, request_id, amount=10**6)))
        ).reason == "INSUFFICIENT_REMAINING"

    refused = await failure(world.uc.claim(claim_request(event, "claim-0004", amount=1)))

    assert refused.reason == "TOO_MANY_ATTEMPTS"
    assert await claimed(world, event) == 1
    _, progress = await world.uc.get_progress(event.id, PLAYER)
    assert progress.attempt_count == 3
    logged = {c.request_id: c.failure_reason for c in await claim_log(world, event_id=event.id)}
    assert logged["claim-0004"] == "TOO_MANY_ATTEMPTS"
    assert len(logged) == 4
