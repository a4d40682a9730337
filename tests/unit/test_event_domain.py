"""The event rules of DESIGN §5, exercised on the domain alone (no storage, no RPC)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from services.common.errors import (
    AlreadyExists,
    DomainError,
    ErrorKind,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    rebuild_error,
)
from services.event.domain import (
    DEFAULT_CLAIM_WINDOW,
    MAX_REWARDS,
    ActivityReport,
    Attempt,
    Claim,
    ClaimRequest,
    ClaimStatus,
    Condition,
    ConditionType,
    Event,
    EventChanges,
    EventDraft,
    EventStatus,
    Progress,
    ProgressStatus,
    RewardDraft,
    RewardType,
    check_completable,
    claim_from_attempt,
    create_event,
    decide_claim,
    event_changes_summary,
    new_reward,
    update_event,
)

STARTS = datetime(2026, 1, 1, tzinfo=UTC)
ENDS = STARTS + timedelta(days=7)
NOW = STARTS + timedelta(days=1)


def draft(**changes: Any) -> EventDraft:
    base = EventDraft(
        title="Log in 3 times",
        description="New year event",
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


def event(**changes: Any) -> Event:
    return replace(create_event(draft(), created_by="operator-1", now=STARTS), **changes)


def completed(event: Event, **claimed: int) -> Progress:
    """A COMPLETED progress; `claimed` maps reward names to amounts already claimed."""
    by_name = {r.name: r.id for r in event.rewards}
    return Progress(
        event.id,
        "player-1",
        login_count=3,
        status=ProgressStatus.COMPLETED,
        completed_at=NOW,
        claimed={by_name[name]: amount for name, amount in claimed.items()},
    )


def claim_request(event: Event, reward: str = "Gold", amount: int = 0) -> ClaimRequest:
    reward_id = next(r.id for r in event.rewards if r.name == reward)
    return ClaimRequest("player-1", event.id, reward_id, "request-0001", amount)


def fields(error: pytest.ExceptionInfo[InvalidArgument]) -> set[str]:
    return {v.field for v in error.value.violations}


def days(*numbers: int) -> frozenset[date]:
    return frozenset(date(2026, 1, n) for n in numbers)


# --- create_event ------------------------------------------------------------------------


def test_create_event_defaults_claim_deadline_timezone_and_status() -> None:
    created = create_event(draft(), created_by="operator-1", now=NOW)

    assert created.claim_deadline == ENDS + DEFAULT_CLAIM_WINDOW == ENDS + timedelta(days=7)
    assert created.timezone == "UTC"
    assert created.status is EventStatus.ACTIVE
    assert created.created_by == "operator-1"
    assert created.created_at == NOW
    assert created.version == 0
    assert created.id.startswith("evt_")
    assert [(r.name, r.type, r.amount) for r in created.rewards] == [
        ("Gold", RewardType.CURRENCY, 100),
        ("Elixir", RewardType.ITEM, 5),
    ]
    assert len({r.id for r in created.rewards}) == 2


def test_create_event_keeps_explicit_deadline_timezone_status_and_trims_names() -> None:
    created = create_event(
        draft(
            title="  Spaced  ",
            claim_deadline=ENDS + timedelta(days=1),
            timezone="Asia/Seoul",
            status=EventStatus.INACTIVE,
            rewards=(RewardDraft("  Gold ", RewardType.POINT, 1),),
        ),
        created_by="operator-1",
        now=NOW,
    )

    assert created.title == "Spaced"
    assert created.claim_deadline == ENDS + timedelta(days=1)
    assert created.timezone == "Asia/Seoul"
    assert created.status is EventStatus.INACTIVE
    assert created.rewards[0].name == "Gold"


def test_create_event_truncates_times_to_milliseconds_in_utc() -> None:
    seoul = timezone(timedelta(hours=9))
    created = create_event(
        draft(
            starts_at=datetime(2026, 1, 1, 9, 0, 0, 123456, tzinfo=seoul),
            ends_at=datetime(2026, 1, 8, 9, 0, 0, 999999, tzinfo=seoul),
            claim_deadline=datetime(2026, 1, 9, 0, 0, 0, 500, tzinfo=UTC),
        ),
        created_by="operator-1",
        now=datetime(2026, 1, 1, 0, 0, 0, 987654, tzinfo=UTC),
    )

    assert created.starts_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)
    assert created.ends_at == datetime(2026, 1, 8, 0, 0, 0, 999000, tzinfo=UTC)
    assert created.claim_deadline == datetime(2026, 1, 9, tzinfo=UTC)
    assert created.created_at == datetime(2026, 1, 1, 0, 0, 0, 987000, tzinfo=UTC)
    assert created.starts_at.utcoffset() == timedelta(0)


def test_default_claim_deadline_is_computed_from_the_truncated_end() -> None:
    created = create_event(
        draft(ends_at=ENDS.replace(microsecond=456789)), created_by="operator-1", now=NOW
    )

    assert created.claim_deadline == ENDS.replace(microsecond=456000) + DEFAULT_CLAIM_WINDOW


def test_claim_deadline_may_equal_ends_at() -> None:
    created = create_event(draft(claim_deadline=ENDS), created_by="operator-1", now=NOW)

    assert created.claim_deadline == created.ends_at


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "x" * 4001}, "description"),
        ({"condition_type": None}, "condition.type"),
        ({"target": 0}, "condition.target"),
        ({"condition_type": ConditionType.ACTIVITY_COUNT, "activity": "  "}, "condition.activity"),
        (
            {"condition_type": ConditionType.ACTIVITY_COUNT, "activity": "k" * 101},
            "condition.activity",
        ),
        ({"condition_type": ConditionType.LOGIN_DAYS, "activity": "quest"}, "condition.activity"),
        ({"starts_at": None}, "starts_at"),
        ({"ends_at": None}, "ends_at"),
        ({"ends_at": STARTS}, "ends_at"),
        ({"ends_at": STARTS - timedelta(seconds=1)}, "ends_at"),
        ({"claim_deadline": ENDS - timedelta(milliseconds=1)}, "claim_deadline"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"rewards": ()}, "rewards"),
        ({"rewards": (RewardDraft("", RewardType.ITEM, 1),)}, "rewards[0].name"),
        ({"rewards": (RewardDraft("n" * 101, RewardType.ITEM, 1),)}, "rewards[0].name"),
        ({"rewards": (RewardDraft("Gold", None, 1),)}, "rewards[0].type"),
        ({"rewards": (RewardDraft("Gold", RewardType.ITEM, 0),)}, "rewards[0].amount"),
        ({"rewards": (RewardDraft("Gold", RewardType.ITEM, 2**31),)}, "rewards[0].amount"),
        (
            {
                "rewards": (
                    RewardDraft("Gold", RewardType.ITEM, 1),
                    RewardDraft("Elixir", RewardType.ITEM, -3),
                )
            },
            "rewards[1].amount",
        ),
        (
            {
                "rewards": tuple(
                    RewardDraft(f"Reward {i}", RewardType.ITEM, 1) for i in range(MAX_REWARDS + 1)
                )
            },
            "rewards",
        ),
    ],
)
def test_create_event_reports_the_violated_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        create_event(draft(**changes), created_by="operator-1", now=NOW)

    assert fields(error) == {field}
    assert error.value.reason == "INVALID_ARGUMENT"
    assert error.value.kind is ErrorKind.INVALID_ARGUMENT


def test_create_event_rejects_reward_names_that_differ_only_in_case_or_spaces() -> None:
    rewards = (RewardDraft("Gold", RewardType.ITEM, 1), RewardDraft(" GOLD ", RewardType.POINT, 2))

    with pytest.raises(InvalidArgument) as error:
        create_event(draft(rewards=rewards), created_by="operator-1", now=NOW)

    assert fields(error) == {"rewards"}
    assert "GOLD" in error.value.violations[0].description


def test_create_event_reports_every_violation_at_once() -> None:
    bad = draft(
        title="",
        target=0,
        ends_at=STARTS - timedelta(days=1),
        timezone="Not/AZone",
        rewards=(RewardDraft("", None, 0),),
    )

    with pytest.raises(InvalidArgument) as error:
        create_event(bad, created_by="operator-1", now=NOW)

    assert fields(error) == {
        "title",
        "condition.target",
        "ends_at",
        "timezone",
        "rewards[0].name",
        "rewards[0].type",
        "rewards[0].amount",
    }
    for field in ("title", "condition.target", "ends_at", "timezone"):
        assert field in error.value.message


# --- update_event ------------------------------------------------------------------------


def test_update_event_rejects_a_change_that_changes_nothing() -> None:
    with pytest.raises(InvalidArgument) as error:
        update_event(event(), EventChanges())

    assert fields(error) == {"event"}


def test_update_event_keeps_the_claim_window_when_only_ends_at_moves() -> None:
    original = event(claim_deadline=ENDS + timedelta(days=3))
    new_end = ENDS + timedelta(days=2)

    updated = update_event(original, EventChanges(ends_at=new_end))

    assert updated.ends_at == new_end
    assert updated.claim_deadline == new_end + timedelta(days=3)
    assert updated.starts_at == original.starts_at


def test_update_event_uses_an_explicit_claim_deadline_over_the_kept_window() -> None:
    deadline = ENDS + timedelta(days=30)

    updated = update_event(
        event(), EventChanges(ends_at=ENDS + timedelta(days=1), claim_deadline=deadline)
    )

    assert updated.claim_deadline == deadline


def test_update_event_replaces_the_condition() -> None:
    updated = update_event(
        event(),
        EventChanges(condition_type=ConditionType.ACTIVITY_COUNT, target=50, activity=" quest "),
    )

    assert updated.condition == Condition(ConditionType.ACTIVITY_COUNT, 50, "quest")


def test_update_event_changes_only_the_fields_sent() -> None:
    original = event()

    updated = update_event(original, EventChanges(title=" Renamed ", status=EventStatus.INACTIVE))

    assert updated.title == "Renamed"
    assert updated.status is EventStatus.INACTIVE
    assert replace(updated, title=original.title, status=original.status, version=0) == original


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (EventChanges(timezone="Atlantis/Capital"), "timezone"),
        (EventChanges(timezone=""), "timezone"),
        (EventChanges(title=" "), "title"),
        (EventChanges(target=0), "condition.target"),
        (EventChanges(starts_at=ENDS), "ends_at"),
        (EventChanges(claim_deadline=ENDS - timedelta(hours=1)), "claim_deadline"),
        (EventChanges(condition_type=ConditionType.ACTIVITY_COUNT), "condition.activity"),
    ],
)
def test_update_event_validates_the_result(changes: EventChanges, field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        update_event(event(), changes)

    assert fields(error) == {field}


def test_update_event_increments_the_version_on_every_change() -> None:
    first = update_event(event(), EventChanges(title="One"))
    second = update_event(first, EventChanges(title="Two"))

    assert (first.version, second.version) == (1, 2)


def test_event_changes_summary_lists_only_changed_fields_as_before_and_after() -> None:
    before = event()
    after = update_event(
        before, EventChanges(title="Renamed", status=EventStatus.INACTIVE, target=5)
    )

    summary = event_changes_summary(before, after)

    assert summary["title"] == ["Log in 3 times", "Renamed"]
    assert summary["status"] == ["ACTIVE", "INACTIVE"]
    assert set(summary) == {"title", "status", "condition"}


# --- new_reward --------------------------------------------------------------------------


def test_new_reward_rejects_a_name_already_used_in_any_case() -> None:
    with pytest.raises(InvalidArgument) as error:
        new_reward(event(), RewardDraft("  gOLD ", RewardType.ITEM, 1))

    assert fields(error) == {"name"}


@pytest.mark.parametrize("amount", [0, -1])
def test_new_reward_needs_an_amount_of_at_least_one(amount: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        new_reward(event(), RewardDraft("Coupon", RewardType.COUPON, amount))

    assert fields(error) == {"amount"}


def test_new_reward_accepts_amount_one_and_trims_the_name() -> None:
    reward = new_reward(event(), RewardDraft(" Coupon ", RewardType.COUPON, 1))

    assert (reward.name, reward.type, reward.amount) == ("Coupon", RewardType.COUPON, 1)
    assert reward.id.startswith("rwd_")


def test_new_reward_refuses_more_than_the_maximum_number_of_rewards() -> None:
    full = event(
        rewards=tuple(
            new_reward(event(rewards=()), RewardDraft(f"R{i}", RewardType.ITEM, 1))
            for i in range(MAX_REWARDS)
        )
    )

    with pytest.raises(InvalidArgument) as error:
        new_reward(full, RewardDraft("One more", RewardType.ITEM, 1))

    assert fields(error) == {"event_id"}


# --- period and days ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "counts"),
    [
        (STARTS - timedelta(microseconds=1), False),
        (STARTS, True),
        (ENDS - timedelta(microseconds=1), True),
        (ENDS, False),
    ],
)
def test_event_period_includes_its_start_and_excludes_its_end(at: datetime, counts: bool) -> None:
    assert event().contains(at) is counts


def test_local_day_follows_the_event_time_zone_across_midnight() -> None:
    at = datetime(2026, 1, 1, 15, 30, tzinfo=UTC)

    assert event(timezone="Asia/Seoul").local_day(at) == date(2026, 1, 2)
    assert event(timezone="UTC").local_day(at) == date(2026, 1, 1)
    assert event(timezone="Asia/Seoul").local_day(at - timedelta(minutes=31)) == date(2026, 1, 1)
    assert event(timezone="America/Los_Angeles").local_day(at) == date(2026, 1, 1)
    assert event(timezone="America/Los_Angeles").local_day(STARTS) == date(2025, 12, 31)


# --- progress ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login_days", "current", "best"),
    [
        (days(), 0, 0),
        (days(4), 1, 1),
        (days(1, 2, 3, 5, 6), 2, 3),
        (days(1, 3, 4, 5, 7), 1, 3),
        (days(2, 3, 4, 5), 4, 4),
        (days(1, 9), 1, 1),
    ],
)
def test_streaks_count_consecutive_login_days(
    login_days: frozenset[date], current: int, best: int
) -> None:
    progress = Progress("evt", "player-1", login_days=login_days)

    assert (progress.current_streak, progress.best_streak) == (current, best)


def test_streak_spans_month_and_year_boundaries() -> None:
    progress = Progress(
        "evt", "player-1", login_days=frozenset({date(2025, 12, 31), date(2026, 1, 1)})
    )

    assert (progress.current_streak, progress.best_streak) == (2, 2)


@pytest.mark.parametrize(
    ("condition_type", "expected"),
    [
        (ConditionType.LOGIN_COUNT, 7),
        (ConditionType.LOGIN_DAYS, 4),
        (ConditionType.LOGIN_STREAK, 3),
        (ConditionType.ACTIVITY_COUNT, 42),
    ],
)
def test_measure_reads_the_counter_of_the_condition(
    condition_type: ConditionType, expected: int
) -> None:
    progress = Progress(
        "evt", "player-1", login_count=7, login_days=days(1, 2, 3, 9), activity_total=42
    )

    assert progress.measure(Condition(condition_type, 1)) == expected


def test_check_completable_passes_once_the_condition_is_met() -> None:
    check_completable(event(), Progress("evt", "player-1", login_count=3), NOW)


def test_check_completable_allows_completion_after_the_end_until_the_claim_deadline() -> None:
    target = event()

    check_completable(target, Progress("evt", "player-1", login_count=3), target.claim_deadline)


def test_check_completable_refuses_an_inactive_event() -> None:
    with pytest.raises(FailedPrecondition) as error:
        check_completable(
            event(status=EventStatus.INACTIVE), Progress("evt", "p", login_count=3), NOW
        )

    assert error.value.reason == "EVENT_INACTIVE"


def test_check_completable_refuses_after_the_claim_deadline() -> None:
    target = event()

    with pytest.raises(FailedPrecondition) as error:
        check_completable(
            target,
            Progress("evt", "p", login_count=3),
            target.claim_deadline + timedelta(milliseconds=1),
        )

    assert error.value.reason == "CLAIM_WINDOW_CLOSED"


def test_check_completable_reports_current_and_target_when_not_met() -> None:
    target = event(condition=Condition(ConditionType.LOGIN_DAYS, 5))

    with pytest.raises(FailedPrecondition) as error:
        check_completable(target, Progress("evt", "p", login_count=9, login_days=days(1, 2)), NOW)

    assert error.value.reason == "CONDITION_NOT_MET"
    assert error.value.metadata == {"condition": "LOGIN_DAYS", "current": "2", "target": "5"}
    assert "2 of 5" in error.value.message


# --- claims ------------------------------------------------------------------------------


def test_decide_claim_grants_the_requested_part() -> None:
    target = event()

    reward, amount = decide_claim(
        claim_request(target, amount=30), target, completed(target, Gold=50), NOW
    )

    assert (reward.name, amount) == ("Gold", 30)


def test_decide_claim_amount_zero_means_everything_that_remains() -> None:
    target = event()

    _, amount = decide_claim(claim_request(target), target, completed(target, Gold=60), NOW)

    assert amount == 40


def test_decide_claim_grants_exactly_the_remaining_amount() -> None:
    target = event()

    _, amount = decide_claim(
        claim_request(target, amount=40), target, completed(target, Gold=60), NOW
    )

    assert amount == 40


def test_decide_claim_counts_remaining_per_reward() -> None:
    target = event()

    _, amount = decide_claim(
        claim_request(target, "Elixir"), target, completed(target, Gold=100), NOW
    )

    assert amount == 5


def reason_of(
    request: ClaimRequest, event: Event, progress: Progress, now: datetime = NOW
) -> DomainError:
    with pytest.raises(DomainError) as error:
        decide_claim(request, event, progress, now)
    return error.value


def test_decide_claim_rejects_a_negative_amount() -> None:
    target = event()

    error = reason_of(claim_request(target, amount=-1), target, completed(target))

    assert isinstance(error, InvalidArgument)
    assert error.reason == "INVALID_AMOUNT"
    assert [v.field for v in error.violations] == ["amount"]


def test_decide_claim_rejects_an_unknown_reward() -> None:
    target = event()
    request = replace(claim_request(target), reward_id="rwd_missing")

    error = reason_of(request, target, completed(target))

    assert isinstance(error, NotFound)
    assert error.reason == "REWARD_NOT_FOUND"


def test_decide_claim_rejects_an_inactive_event() -> None:
    target = event(status=EventStatus.INACTIVE)

    error = reason_of(claim_request(target), target, completed(target))

    assert isinstance(error, FailedPrecondition)
    assert error.reason == "EVENT_INACTIVE"


def test_decide_claim_accepts_the_deadline_itself_and_rejects_after_it() -> None:
    target = event()

    decide_claim(claim_request(target), target, completed(target), target.claim_deadline)
    error = reason_of(
        claim_request(target),
        target,
        completed(target),
        target.claim_deadline + timedelta(milliseconds=1),
    )

    assert error.reason == "CLAIM_WINDOW_CLOSED"


def test_decide_claim_rejects_a_progress_that_is_not_completed() -> None:
    target = event()

    error = reason_of(
        claim_request(target), target, Progress(target.id, "player-1", login_count=99)
    )

    assert error.reason == "NOT_COMPLETED"


@pytest.mark.parametrize(("claimed", "amount"), [(100, 0), (100, 1), (99, 2), (0, 101)])
def test_decide_claim_rejects_more_than_remains(claimed: int, amount: int) -> None:
    target = event()

    error = reason_of(claim_request(target, amount=amount), target, completed(target, Gold=claimed))

    assert isinstance(error, FailedPrecondition)
    assert error.reason == "INSUFFICIENT_REMAINING"
    assert error.metadata["remaining"] == str(100 - claimed)


@pytest.mark.parametrize("length", [8, 64, 128])
def test_claim_request_accepts_request_ids_of_8_to_128_characters(length: int) -> None:
    ClaimRequest("p", "e", "r", "x" * length, 0).validate()


@pytest.mark.parametrize("length", [0, 7, 129])
def test_claim_request_rejects_request_ids_outside_8_to_128_characters(length: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        ClaimRequest("p", "e", "r", "x" * length, 0).validate()

    assert fields(error) == {"request_id"}


def test_claim_request_same_parameters_compares_user_event_reward_and_amount() -> None:
    request = ClaimRequest("p", "e", "r", "request-0001", 3)
    logged = Claim("request-0001", "p", "e", "r", "Gold", 3, 3, ClaimStatus.SUCCEEDED, 97, NOW)

    assert request.same_parameters(logged)
    for other in (
        replace(request, user_id="q"),
        replace(request, event_id="f"),
        replace(request, reward_id="s"),
        replace(request, amount=0),
    ):
        assert not other.same_parameters(logged)


def test_claim_from_attempt_marks_failed_attempts_with_their_reason() -> None:
    failure = FailedPrecondition("no", reason="NOT_COMPLETED")
    request = ClaimRequest("p", "e", "r", "request-0001", 0)
    attempt = Attempt("request-0001", "r", "Gold", 0, 0, 100, NOW, failure, remaining=100)

    claim = claim_from_attempt(request, attempt)

    assert claim.status is ClaimStatus.FAILED
    assert claim.failure_reason == "NOT_COMPLETED"
    assert (claim.amount, claim.remaining, claim.claimed_at) == (0, 100, NOW)


def test_claim_from_attempt_marks_granted_attempts_succeeded() -> None:
    request = ClaimRequest("p", "e", "r", "request-0001", 30)
    attempt = Attempt("request-0001", "r", "Gold", 30, 30, 100, NOW, remaining=70)

    claim = claim_from_attempt(request, attempt)

    assert claim.status is ClaimStatus.SUCCEEDED
    assert (claim.reward_name, claim.amount, claim.remaining, claim.failure_reason) == (
        "Gold",
        30,
        70,
        "",
    )


def test_claim_from_attempt_describes_the_attempt_not_a_retry_with_other_parameters() -> None:
    retry = ClaimRequest("p", "e", "other-reward", "request-0001", 50)
    attempt = Attempt("request-0001", "r", "Gold", 30, 30, 100, NOW, remaining=70)

    claim = claim_from_attempt(retry, attempt)

    assert (claim.reward_id, claim.requested_amount, claim.amount) == ("r", 30, 30)
    assert not retry.same_parameters(claim)


# --- activity reports --------------------------------------------------------------------


def report(**changes: Any) -> ActivityReport:
    base = ActivityReport("player-1", "monster_kill", 3, "report-0001", NOW)
    return replace(base, **changes)


def test_activity_report_accepts_a_valid_report() -> None:
    report().validate()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"user_id": ""}, "user_id"),
        ({"activity": "  "}, "activity"),
        ({"activity": "a" * 101}, "activity"),
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"idempotency_key": "short"}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
    ],
)
def test_activity_report_reports_the_violated_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        report(**changes).validate()

    assert fields(error) == {field}


def test_activity_report_reports_every_violation_at_once() -> None:
    with pytest.raises(InvalidArgument) as error:
        report(user_id="", activity="", amount=0, idempotency_key="").validate()

    assert fields(error) == {"user_id", "activity", "amount", "idempotency_key"}


# --- stored errors -----------------------------------------------------------------------

ERROR_CLASSES: dict[ErrorKind, type[DomainError]] = {
    ErrorKind.INVALID_ARGUMENT: InvalidArgument,
    ErrorKind.NOT_FOUND: NotFound,
    ErrorKind.ALREADY_EXISTS: AlreadyExists,
    ErrorKind.FAILED_PRECONDITION: FailedPrecondition,
    ErrorKind.PERMISSION_DENIED: PermissionDenied,
    ErrorKind.UNAUTHENTICATED: Unauthenticated,
    ErrorKind.RESOURCE_EXHAUSTED: ResourceExhausted,
    ErrorKind.UNAVAILABLE: Unavailable,
}


def test_every_error_kind_has_an_error_class() -> None:
    assert set(ERROR_CLASSES) == set(ErrorKind)


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_rebuild_error_round_trips_every_kind(kind: ErrorKind) -> None:
    rebuilt = rebuild_error(kind.value, "what went wrong", "SOME_REASON", {"remaining": "3"})

    assert type(rebuilt) is ERROR_CLASSES[kind]
    assert rebuilt.kind is kind
    assert (rebuilt.message, str(rebuilt)) == ("what went wrong", "what went wrong")
    assert rebuilt.reason == "SOME_REASON"
    assert rebuilt.metadata == {"remaining": "3"}


def test_rebuild_error_keeps_field_violations() -> None:
    original = InvalidArgument.field("amount", "must be positive", reason="INVALID_AMOUNT")

    rebuilt = rebuild_error(
        original.kind.value,
        original.message,
        original.reason,
        original.metadata,
        original.violations,
    )

    assert isinstance(rebuilt, InvalidArgument)
    assert rebuilt.violations == (FieldViolation("amount", "must be positive"),)
    assert (rebuilt.message, rebuilt.reason) == (original.message, "INVALID_AMOUNT")


def test_rebuild_error_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="NOT_A_KIND"):
        rebuild_error("NOT_A_KIND", "m", "R")
