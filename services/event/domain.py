"""Events, progress and claims: the rules of DESIGN §5. Standard library only."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Violations,
)

DEFAULT_CLAIM_WINDOW = timedelta(days=7)
DEFAULT_TIMEZONE = "UTC"
MAX_TITLE = 200
MAX_DESCRIPTION = 4000
MAX_NAME = 100
MAX_REWARDS = 50
MAX_AMOUNT = 2**31 - 1
REQUEST_ID_LENGTH = (8, 128)
# Claim attempts (failures included) one player may make in one event. Each is recorded
# in the player's progress document, which must not grow without bound.
MAX_CLAIM_ATTEMPTS = 1000


class EventStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


class ConditionType(enum.Enum):
    LOGIN_COUNT = "LOGIN_COUNT"
    LOGIN_DAYS = "LOGIN_DAYS"
    LOGIN_STREAK = "LOGIN_STREAK"
    ACTIVITY_COUNT = "ACTIVITY_COUNT"

    @property
    def counts_logins(self) -> bool:
        return self is not ConditionType.ACTIVITY_COUNT


class RewardType(enum.Enum):
    ITEM = "ITEM"
    POINT = "POINT"
    COUPON = "COUPON"
    CURRENCY = "CURRENCY"


class ProgressStatus(enum.Enum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"


class ClaimStatus(enum.Enum):
    # Reserved in the claim log, not decided yet (never listed; see EventUseCases.claim).
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def to_millis(value: datetime) -> datetime:
    """MongoDB keeps milliseconds; truncating up front keeps responses equal to what is stored."""
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    target: int
    activity: str = ""


@dataclass(frozen=True)
class Reward:
    id: str
    name: str
    type: RewardType
    amount: int


@dataclass(frozen=True)
class Event:
    id: str
    title: str
    description: str
    condition: Condition
    starts_at: datetime
    ends_at: datetime
    claim_deadline: datetime
    timezone: str
    status: EventStatus
    rewards: tuple[Reward, ...]
    created_by: str
    created_at: datetime
    # Incremented on every change; updates are conditional on it (optimistic concurrency).
    version: int = 0

    def contains(self, at: datetime) -> bool:
        """Whether something that happened at `at` counts: the period is [starts_at, ends_at)."""
        return self.starts_at <= at < self.ends_at

    def local_day(self, at: datetime) -> date:
        return at.astimezone(ZoneInfo(self.timezone)).date()

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)


# ----------------------------------------------------------------------------------------
# Drafts: what operators send, validated as a whole before anything is stored.


@dataclass(frozen=True)
class RewardDraft:
    name: str
    type: RewardType | None
    amount: int


@dataclass(frozen=True)
class EventDraft:
    title: str
    description: str
    condition_type: ConditionType | None
    target: int
    activity: str
    starts_at: datetime | None
    ends_at: datetime | None
    claim_deadline: datetime | None
    timezone: str
    status: EventStatus | None
    rewards: tuple[RewardDraft, ...] = ()


@dataclass(frozen=True)
class EventChanges:
    """UpdateEvent: only the fields that are not None change."""

    title: str | None = None
    description: str | None = None
    condition_type: ConditionType | None = None
    target: int | None = None
    activity: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    claim_deadline: datetime | None = None
    timezone: str | None = None
    status: EventStatus | None = None

    def is_empty(self) -> bool:
        return all(v is None for v in vars(self).values())


def _valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _check_reward(problems: Violations, prefix: str, draft: RewardDraft) -> None:
    problems.check(bool(draft.name.strip()), f"{prefix}name", "is required")
    problems.check(
        len(draft.name) <= MAX_NAME, f"{prefix}name", f"must be at most {MAX_NAME} characters"
    )
    problems.check(
        draft.type is not None, f"{prefix}type", "must be ITEM, POINT, COUPON or CURRENCY"
    )
    problems.check(1 <= draft.amount <= MAX_AMOUNT, f"{prefix}amount", "must be at least 1")


def _check_event(problems: Violations, event: Event) -> None:
    _check_fields(
        problems,
        title=event.title,
        description=event.description,
        condition=event.condition,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        claim_deadline=event.claim_deadline,
        timezone=event.timezone,
    )


def _check_fields(
    problems: Violations,
    *,
    title: str,
    description: str,
    condition: Condition | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    claim_deadline: datetime | None,
    timezone: str,
) -> None:
    """Every rule on an event's own fields; None means "missing" (reported as required)."""
    problems.check(bool(title.strip()), "title", "is required")
    problems.check(len(title) <= MAX_TITLE, "title", f"must be at most {MAX_TITLE} characters")
    problems.check(
        len(description) <= MAX_DESCRIPTION,
        "description",
        f"must be at most {MAX_DESCRIPTION} characters",
    )
    if condition is None:
        problems.add("condition.type", "is required")
    else:
        problems.check(condition.target >= 1, "condition.target", "must be at least 1")
        if condition.type is ConditionType.ACTIVITY_COUNT:
            problems.check(
                bool(condition.activity.strip()),
                "condition.activity",
                "is required for ACTIVITY_COUNT conditions",
            )
            problems.check(
                len(condition.activity) <= MAX_NAME,
                "condition.activity",
                f"must be at most {MAX_NAME} characters",
            )
        else:
            problems.check(
                not condition.activity,
                "condition.activity",
                "applies only to ACTIVITY_COUNT conditions",
            )
    problems.check(starts_at is not None, "starts_at", "is required")
    problems.check(ends_at is not None, "ends_at", "is required")
    if starts_at and ends_at:
        problems.check(ends_at > starts_at, "ends_at", "must be after starts_at")
    if ends_at and claim_deadline:
        problems.check(claim_deadline >= ends_at, "claim_deadline", "must not be before ends_at")
    problems.check(
        _valid_timezone(timezone), "timezone", "must be an IANA time zone, e.g. Asia/Seoul"
    )


def _unique_names(problems: Violations, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        key = name.strip().casefold()
        problems.check(key not in seen, "rewards", f"reward name {name!r} is used twice")
        seen.add(key)


def _later(at: datetime, delta: timedelta) -> datetime:
    """`at + delta`, capped at the last representable moment: an end in year 9999 would
    otherwise overflow (OverflowError, an INTERNAL error) instead of meaning "never"."""
    try:
        return at + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def create_event(draft: EventDraft, *, created_by: str, now: datetime) -> Event:
    ends_at = to_millis(draft.ends_at) if draft.ends_at else None
    claim_deadline = draft.claim_deadline or (
        _later(ends_at, DEFAULT_CLAIM_WINDOW) if ends_at else None
    )
    condition = (
        Condition(draft.condition_type, draft.target, draft.activity.strip())
        if draft.condition_type
        else None
    )
    problems = Violations()
    _check_fields(
        problems,
        title=draft.title,
        description=draft.description,
        condition=condition,
        starts_at=draft.starts_at,
        ends_at=ends_at,
        claim_deadline=claim_deadline,
        timezone=draft.timezone or DEFAULT_TIMEZONE,
    )
    problems.check(bool(draft.rewards), "rewards", "an event needs at least one reward")
    problems.check(len(draft.rewards) <= MAX_REWARDS, "rewards", f"at most {MAX_REWARDS} rewards")
    for index, reward in enumerate(draft.rewards):
        _check_reward(problems, f"rewards[{index}].", reward)
    _unique_names(problems, (r.name for r in draft.rewards))
    problems.raise_if_any()
    assert condition and draft.starts_at and ends_at and claim_deadline  # noqa: PT018
    return Event(
        id=new_id("evt"),
        title=draft.title.strip(),
        description=draft.description,
        condition=condition,
        starts_at=to_millis(draft.starts_at),
        ends_at=ends_at,
        claim_deadline=to_millis(claim_deadline),
        timezone=draft.timezone or DEFAULT_TIMEZONE,
        status=draft.status or EventStatus.ACTIVE,
        rewards=tuple(
            Reward(new_id("rwd"), r.name.strip(), r.type, r.amount)  # type: ignore[arg-type]
            for r in draft.rewards
        ),
        created_by=created_by,
        created_at=to_millis(now),
    )


def update_event(event: Event, changes: EventChanges) -> Event:
    if changes.is_empty():
        raise InvalidArgument.field("event", "the request changes nothing; send at least one field")
    ends_at = to_millis(changes.ends_at) if changes.ends_at else event.ends_at
    claim_deadline = event.claim_deadline
    if changes.claim_deadline:
        claim_deadline = to_millis(changes.claim_deadline)
    elif changes.ends_at:
        # Keep the claim window as long as it was when only the end moves.
        claim_deadline = _later(ends_at, event.claim_deadline - event.ends_at)
    condition = event.condition
    updated = replace(
        event,
        title=event.title if changes.title is None else changes.title.strip(),
        description=event.description if changes.description is None else changes.description,
        condition=Condition(
            changes.condition_type or condition.type,
            condition.target if changes.target is None else changes.target,
            condition.activity if changes.activity is None else changes.activity.strip(),
        ),
        starts_at=to_millis(changes.starts_at) if changes.starts_at else event.starts_at,
        ends_at=ends_at,
        claim_deadline=claim_deadline,
        timezone=event.timezone if changes.timezone is None else changes.timezone,
        status=changes.status or event.status,
        version=event.version + 1,
    )
    problems = Violations()
    _check_event(problems, updated)
    problems.raise_if_any()
    return updated


def new_reward(event: Event, draft: RewardDraft) -> Reward:
    problems = Violations()
    _check_reward(problems, "", draft)
    problems.check(
        len(event.rewards) < MAX_REWARDS, "event_id", f"the event already has {MAX_REWARDS} rewards"
    )
    taken = {r.name.casefold() for r in event.rewards}
    problems.check(
        draft.name.strip().casefold() not in taken,
        "name",
        "another reward of this event has this name",
    )
    problems.raise_if_any()
    return Reward(new_id("rwd"), draft.name.strip(), draft.type, draft.amount)  # type: ignore[arg-type]


def event_changes_summary(before: Event, after: Event) -> dict[str, list[str]]:
    """Field → [before, after] for the audit log."""
    fields = ("title", "description", "starts_at", "ends_at", "claim_deadline", "timezone")
    summary = {
        name: [str(getattr(before, name)), str(getattr(after, name))]
        for name in fields
        if getattr(before, name) != getattr(after, name)
    }
    if before.condition != after.condition:
        summary["condition"] = [str(before.condition), str(after.condition)]
    if before.status != after.status:
        summary["status"] = [before.status.value, after.status.value]
    return summary


# ----------------------------------------------------------------------------------------
# Progress


@dataclass(frozen=True)
class Progress:
    event_id: str
    user_id: str
    login_count: int = 0
    login_days: frozenset[date] = frozenset()
    activity_total: int = 0
    status: ProgressStatus = ProgressStatus.IN_PROGRESS
    completed_at: datetime | None = None
    claimed: Mapping[str, int] = field(default_factory=dict)
    # Claim attempts decided against this progress (see Attempt), failures included.
    attempt_count: int = 0
    # False for a player who has not taken part yet (nothing is stored).
    exists: bool = True

    @property
    def current_streak(self) -> int:
        """Consecutive login days ending at the latest login day."""
        if not self.login_days:
            return 0
        day, streak = max(self.login_days), 0
        while day in self.login_days:
            streak, day = streak + 1, day - timedelta(days=1)
        return streak

    @property
    def best_streak(self) -> int:
        best = 0
        for day in self.login_days:
            if day - timedelta(days=1) not in self.login_days:
                run = 1
                while day + timedelta(days=run) in self.login_days:
                    run += 1
                best = max(best, run)
        return best

    def measure(self, condition: Condition) -> int:
        return {
            ConditionType.LOGIN_COUNT: self.login_count,
            ConditionType.LOGIN_DAYS: len(self.login_days),
            ConditionType.LOGIN_STREAK: self.best_streak,
            ConditionType.ACTIVITY_COUNT: self.activity_total,
        }[condition.type]

    def remaining(self, reward: Reward) -> int:
        return reward.amount - self.claimed.get(reward.id, 0)


def progress_id(event_id: str, user_id: str) -> str:
    return f"{event_id}:{user_id}"


_UNITS = {
    ConditionType.LOGIN_COUNT: "logins",
    ConditionType.LOGIN_DAYS: "days with a login",
    ConditionType.LOGIN_STREAK: "consecutive days with a login",
    ConditionType.ACTIVITY_COUNT: "activity",
}


def check_completable(event: Event, progress: Progress, now: datetime) -> None:
    """Raises unless the player may complete the event now."""
    if event.status is not EventStatus.ACTIVE:
        raise FailedPrecondition("the event is not active", reason="EVENT_INACTIVE")
    if now > event.claim_deadline:
        raise FailedPrecondition("the event is over", reason="CLAIM_WINDOW_CLOSED")
    current = progress.measure(event.condition)
    if current < event.condition.target:
        unit = _UNITS[event.condition.type]
        raise FailedPrecondition(
            f"condition not met yet: {current} of {event.condition.target} {unit}",
            reason="CONDITION_NOT_MET",
            metadata={
                "condition": event.condition.type.value,
                "current": str(current),
                "target": str(event.condition.target),
            },
        )


@dataclass(frozen=True)
class ActivityReport:
    user_id: str
    activity: str
    amount: int
    idempotency_key: str
    occurred_at: datetime

    def validate(self) -> None:
        problems = Violations()
        low, high = REQUEST_ID_LENGTH
        problems.check(bool(self.user_id), "user_id", "is required")
        problems.check(bool(self.activity.strip()), "activity", "is required")
        problems.check(
            len(self.activity) <= MAX_NAME, "activity", f"must be at most {MAX_NAME} characters"
        )
        problems.check(self.amount >= 1, "amount", "must be at least 1")
        problems.check(
            low <= len(self.idempotency_key) <= high,
            "idempotency_key",
            f"is required: {low} to {high} characters, unique per report",
        )
        problems.raise_if_any()


# ----------------------------------------------------------------------------------------
# Claims


@dataclass(frozen=True)
class ClaimRequest:
    user_id: str
    event_id: str
    reward_id: str
    request_id: str
    # 0: everything that remains.
    amount: int

    def validate(self) -> None:
        """What must hold before the attempt can even be logged (it is keyed by request_id)."""
        low, high = REQUEST_ID_LENGTH
        if not low <= len(self.request_id) <= high:
            raise InvalidArgument.field(
                "request_id", f"is required: {low} to {high} characters, the same for every retry"
            )

    def reservation(self, now: datetime) -> Claim:
        """The claim-log entry that binds this request_id to these parameters."""
        return Claim(
            request_id=self.request_id,
            user_id=self.user_id,
            event_id=self.event_id,
            reward_id=self.reward_id,
            reward_name="",
            requested_amount=self.amount,
            amount=0,
            status=ClaimStatus.PENDING,
            remaining=0,
            claimed_at=now,
        )

    def same_parameters(self, claim: Claim) -> bool:
        return (self.user_id, self.event_id, self.reward_id, self.amount) == (
            claim.user_id,
            claim.event_id,
            claim.reward_id,
            claim.requested_amount,
        )


@dataclass(frozen=True)
class Claim:
    """One attempt as stored in the claim log (unique on request_id)."""

    request_id: str
    user_id: str
    event_id: str
    reward_id: str
    reward_name: str
    requested_amount: int
    amount: int  # granted; 0 when failed
    status: ClaimStatus
    remaining: int
    claimed_at: datetime
    # For failed attempts: the error that was returned, replayed as is for the same request_id.
    failure: DomainError | None = None

    @property
    def failure_reason(self) -> str:
        return self.failure.reason if self.failure else ""


def decide_claim(
    request: ClaimRequest, event: Event, progress: Progress, now: datetime
) -> tuple[Reward, int]:
    """The reward and the amount to grant; otherwise a DomainError with a distinct reason."""
    if progress.attempt_count >= MAX_CLAIM_ATTEMPTS:
        raise ResourceExhausted(
            f"at most {MAX_CLAIM_ATTEMPTS} claim attempts per player and event",
            reason="TOO_MANY_ATTEMPTS",
        )
    reward = claimable_reward(request, event, now)
    if progress.status is not ProgressStatus.COMPLETED:
        raise FailedPrecondition(
            "complete the event before claiming rewards", reason="NOT_COMPLETED"
        )
    remaining = progress.remaining(reward)
    amount = request.amount or remaining
    if remaining <= 0 or amount > remaining:
        raise insufficient(reward, remaining, amount)
    return reward, amount


def claimable_reward(request: ClaimRequest, event: Event, now: datetime) -> Reward:
    """The checks of `decide_claim` that do not depend on the player: the reward, if the
    event lets anyone claim it now; otherwise a DomainError."""
    if request.amount < 0:
        raise InvalidArgument.field(
            "amount", "must be positive, or 0/absent for all that remains", reason="INVALID_AMOUNT"
        )
    reward = event.reward(request.reward_id)
    if reward is None:
        raise NotFound(
            f"event {event.id} has no reward {request.reward_id}", reason="REWARD_NOT_FOUND"
        )
    if event.status is not EventStatus.ACTIVE:
        raise FailedPrecondition("the event is not active", reason="EVENT_INACTIVE")
    if now > event.claim_deadline:
        raise FailedPrecondition(
            f"rewards could be claimed until {event.claim_deadline.isoformat()}",
            reason="CLAIM_WINDOW_CLOSED",
        )
    return reward


def insufficient(reward: Reward, remaining: int, requested: int) -> FailedPrecondition:
    return FailedPrecondition(
        f"only {remaining} of {reward.name} remain, {requested} requested",
        reason="INSUFFICIENT_REMAINING",
        metadata={"remaining": str(remaining), "requested": str(requested)},
    )


def claim_from_attempt(request: ClaimRequest, attempt: Attempt) -> Claim:
    """The claim as the attempt recorded it; `request` only names the progress it was
    recorded in (user, event), since a retry may come with other parameters."""
    return Claim(
        request_id=attempt.request_id,
        user_id=request.user_id,
        event_id=request.event_id,
        reward_id=attempt.reward_id,
        reward_name=attempt.reward_name,
        requested_amount=attempt.requested_amount,
        amount=attempt.amount,
        status=ClaimStatus.FAILED if attempt.failure else ClaimStatus.SUCCEEDED,
        remaining=attempt.remaining,
        claimed_at=attempt.at,
        failure=attempt.failure,
    )


@dataclass(frozen=True)
class Attempt:
    """A claim attempt as recorded in the player's progress document, atomically with its
    effect. This record, not the claim log, decides what a request_id did."""

    request_id: str
    reward_id: str
    reward_name: str
    requested_amount: int
    amount: int
    # The reward's amount per player when decided; `remaining` derives from it.
    limit: int
    at: datetime
    failure: DomainError | None = None
    # What remained after this attempt (computed from the attempts recorded before it).
    remaining: int = 0


@dataclass(frozen=True)
class AuditEntry:
    id: str
    actor_id: str
    actor_role: str
    action: str
    target: str
    changes: Mapping[str, object]
    service: str
    created_at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """A message that kept failing; kept for an admin to inspect and replay."""

    id: str
    stream: str
    consumer: str
    subject: str
    stream_sequence: int
    data: bytes
    error: str
    deliveries: int
    created_at: datetime
    replayed_at: datetime | None = None
