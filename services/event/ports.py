"""What the event use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from services.event.domain import (
    Attempt,
    AuditEntry,
    Claim,
    ClaimStatus,
    ConditionType,
    DeadLetter,
    Event,
    EventStatus,
    Progress,
    Reward,
)


class Events(Protocol):
    async def add(self, event: Event) -> None: ...

    async def get(self, event_id: str) -> Event | None: ...

    async def replace(self, before: Event, after: Event) -> bool:
        """Stores `after` only if the stored event still equals `before` (optimistic
        concurrency); False means someone changed it meanwhile."""

    async def add_reward(self, before: Event, reward: Reward) -> bool:
        """Appends the reward only if the event is unchanged since `before`."""

    async def page(
        self, status: EventStatus | None, after: Sequence[Any] | None, size: int
    ) -> list[Event]:
        """Newest first, strictly after the sort key `after` (created_at, id)."""

    async def active_at(
        self, at: datetime, types: Sequence[ConditionType], activity: str | None = None
    ) -> list[Event]:
        """ACTIVE events of these condition types whose period contains `at`."""


@dataclass(frozen=True)
class Advance:
    """One login or activity report applied to one progress document."""

    event_id: str
    user_id: str
    message_id: str
    logins: int = 0
    day: date | None = None
    activity: int = 0


class Progresses(Protocol):
    async def get(self, event_id: str, user_id: str) -> Progress | None: ...

    async def advance(self, advance: Advance, now: datetime) -> bool:
        """Applies the advance once per message_id (creating the document on first use);
        False if this message was already applied."""

    async def complete(self, event_id: str, user_id: str, now: datetime) -> Progress | None:
        """IN_PROGRESS → COMPLETED; None if there is no IN_PROGRESS document."""

    async def attempt(self, event_id: str, user_id: str, request_id: str) -> Attempt | None:
        """The attempt recorded for request_id in this progress, if it was decided here."""

    async def grant(self, event_id: str, user_id: str, attempt: Attempt, limit: int) -> int | None:
        """Atomically adds `attempt.amount` to the reward's claimed total and records the
        attempt, if the progress is COMPLETED, the request_id is new, there is room for
        another attempt and the total stays within `limit`. Returns the new total, or None
        if any of that does not hold."""

    async def record_failure(self, event_id: str, user_id: str, attempt: Attempt) -> bool:
        """Records a failed attempt if the request_id is new and there is room for another
        attempt; False otherwise."""

    async def counts(self, event_id: str) -> tuple[int, int]:
        """(participants, completed)."""


@dataclass(frozen=True)
class ClaimFilter:
    user_id: str | None = None
    event_id: str | None = None
    reward_id: str | None = None
    status: ClaimStatus | None = None


@dataclass(frozen=True)
class RewardTotals:
    total_claimed: int
    claim_count: int
    claimants: int


class ClaimLog(Protocol):
    async def reserve(self, claim: Claim) -> Claim | None:
        """Stores a PENDING entry for a new request_id and returns None; if the request_id
        is taken, returns the stored entry instead (PENDING or decided)."""

    async def finish(self, claim: Claim) -> Claim:
        """Replaces the PENDING entry with the decided claim; if it was decided already,
        returns what was stored (the first decision wins)."""

    async def get(self, request_id: str) -> Claim | None: ...

    async def page(self, where: ClaimFilter, after: Sequence[Any] | None, size: int) -> list[Claim]:
        """Newest first, strictly after the sort key `after` (claimed_at, request_id)."""

    async def totals(self, event_id: str) -> dict[str, RewardTotals]:
        """Successful claims per reward id."""


class AuditLog(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...

    async def page(
        self, actor_id: str | None, action: str | None, after: Sequence[Any] | None, size: int
    ) -> list[AuditEntry]: ...


class DeadLetters(Protocol):
    async def add(self, letter: DeadLetter) -> bool:
        """False if this (stream, sequence) is already stored."""

    async def get(self, letter_id: str) -> DeadLetter | None: ...

    async def page(self, after: Sequence[Any] | None, size: int) -> list[DeadLetter]:
        """Newest first, strictly after the sort key `after` (created_at, id)."""

    async def mark_replayed(self, letter_id: str, now: datetime) -> DeadLetter | None:
        """Sets replayed_at unless already set; None if it was already set."""

    async def set_error(self, letter_id: str, error: str) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
