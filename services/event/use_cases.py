"""The event service's operations.

Claim ordering (why a crash at any point ends consistent when the client retries):
  1. Reserve: a PENDING claim-log entry (unique on request_id) binds the request_id to
     its parameters (player, event, reward, amount). Another caller using the same
     request_id gets REQUEST_ID_REUSED, so a request_id can only ever act on one
     player's progress.
  2. Commit: the player's progress document is the commit point. One conditional
     update either grants (adds to `claimed.<reward>` and records the attempt under its
     request_id) or records a failed attempt; the filter `claim_request_ids !=
     request_id` makes each request_id take effect at most once, whatever the
     concurrency.
  3. Log: the PENDING entry becomes the decided claim, derived from that record.
A retry of a request that crashed after 1 or 2 finds the PENDING entry, then the
recorded attempt in the progress document, and finishes the log from it: never a lost
grant, never a second one. Failures for players without a progress document cannot
grant anything and go straight to step 3.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from services.common.errors import (
    AlreadyExists,
    DomainError,
    FailedPrecondition,
    NotFound,
    Unavailable,
)
from services.common.identity import Principal
from services.common.paging import PageRequest, page_token
from services.common.subjects import SUBJECT_AUDIT_PREFIX, SUBJECT_LOGGED_IN
from services.event.domain import (
    ActivityReport,
    Attempt,
    AuditEntry,
    Claim,
    ClaimRequest,
    ClaimStatus,
    ConditionType,
    DeadLetter,
    Event,
    EventChanges,
    EventDraft,
    EventStatus,
    Progress,
    ProgressStatus,
    Reward,
    RewardDraft,
    check_completable,
    claim_from_attempt,
    claimable_reward,
    create_event,
    decide_claim,
    event_changes_summary,
    new_id,
    new_reward,
    to_millis,
    update_event,
)
from services.event.ports import (
    Advance,
    AuditLog,
    ClaimFilter,
    ClaimLog,
    Clock,
    DeadLetters,
    Events,
    Progresses,
    RewardTotals,
)

log = logging.getLogger(__name__)

LOGIN_CONDITIONS = (ConditionType.LOGIN_COUNT, ConditionType.LOGIN_DAYS, ConditionType.LOGIN_STREAK)
# Optimistic-concurrency retries for event updates before giving up.
_UPDATE_ATTEMPTS = 5
# A claim re-decides after losing a race; each loss means another claim made progress.
_GRANT_ATTEMPTS = 10


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class RewardStats:
    reward: Reward
    totals: RewardTotals


@dataclass(frozen=True)
class EventStats:
    event_id: str
    participants: int
    completed: int
    rewards: list[RewardStats]


class EventUseCases:
    def __init__(
        self,
        *,
        events: Events,
        progresses: Progresses,
        claims: ClaimLog,
        audit: AuditLog,
        dead_letters: DeadLetters,
        clock: Clock,
    ) -> None:
        self._dead_letters = dead_letters
        self._events = events
        self._progresses = progresses
        self._claims = claims
        self._audit = audit
        self._clock = clock

    # --- events -------------------------------------------------------------------------

    async def create_event(self, caller: Principal, draft: EventDraft) -> Event:
        event = create_event(draft, created_by=caller.subject, now=self._clock.now())
        await self._events.add(event)
        await self._record(caller, "event.create", event, {"title": event.title})
        return event

    async def get_event(self, event_id: str) -> Event:
        event = await self._events.get(event_id) if event_id else None
        if event is None:
            raise NotFound(f"event {event_id!r} not found", reason="EVENT_NOT_FOUND")
        return event

    async def list_events(self, status: EventStatus | None, page: PageRequest) -> Page[Event]:
        events = await self._events.page(status, page.after, page.size + 1)
        return _page(events, page.size, lambda e: [e.created_at.isoformat(), e.id])

    async def update_event(self, caller: Principal, event_id: str, changes: EventChanges) -> Event:
        for _ in range(_UPDATE_ATTEMPTS):
            before = await self.get_event(event_id)
            after = update_event(before, changes)
            if await self._events.replace(before, after):
                await self._record(
                    caller, "event.update", after, event_changes_summary(before, after)
                )
                return after
        raise Unavailable(
            "the event is being changed concurrently; retry", reason="CONCURRENT_UPDATE"
        )

    async def add_reward(self, caller: Principal, event_id: str, draft: RewardDraft) -> Reward:
        for _ in range(_UPDATE_ATTEMPTS):
            before = await self.get_event(event_id)
            reward = new_reward(before, draft)
            if await self._events.add_reward(before, reward):
                await self._record(
                    caller,
                    "event.add_reward",
                    before,
                    {
                        "reward": {
                            "id": reward.id,
                            "name": reward.name,
                            "type": reward.type.value,
                            "amount": reward.amount,
                        }
                    },
                )
                return reward
        raise Unavailable(
            "the event is being changed concurrently; retry", reason="CONCURRENT_UPDATE"
        )

    # --- progress -----------------------------------------------------------------------

    async def record_login(self, user_id: str, at: datetime, message_id: str) -> int:
        """Counts one login for every ACTIVE login event whose period contains `at`.
        Idempotent per message_id. Returns how many progress documents changed."""
        changed = 0
        for event in await self._events.active_at(at, LOGIN_CONDITIONS):
            advance = Advance(event.id, user_id, message_id, logins=1, day=event.local_day(at))
            changed += await self._progresses.advance(advance, self._clock.now())
        return changed

    async def record_activity(self, report: ActivityReport) -> int:
        """Adds a game server's report to every ACTIVE ACTIVITY_COUNT event for that
        activity whose period contains its time. Idempotent per idempotency key."""
        report.validate()
        changed = 0
        for event in await self._events.active_at(
            report.occurred_at, (ConditionType.ACTIVITY_COUNT,), report.activity
        ):
            advance = Advance(
                event.id,
                report.user_id,
                f"activity:{report.idempotency_key}",
                activity=report.amount,
            )
            changed += await self._progresses.advance(advance, self._clock.now())
        return changed

    async def get_progress(self, event_id: str, user_id: str) -> tuple[Event, Progress]:
        event = await self.get_event(event_id)
        return event, await self._progress(event_id, user_id)

    async def complete(self, user_id: str, event_id: str) -> tuple[Event, Progress]:
        event, progress = await self.get_progress(event_id, user_id)
        if progress.status is ProgressStatus.COMPLETED:
            return event, progress
        check_completable(event, progress, self._clock.now())
        # The condition only ever grows, so checking it before the update is safe.
        completed = await self._progresses.complete(event_id, user_id, self._clock.now())
        return event, completed or await self._progress(event_id, user_id)

    # --- claims -------------------------------------------------------------------------

    async def claim(self, request: ClaimRequest) -> Claim:
        request.validate()
        now = to_millis(self._clock.now())  # as stored: a replay returns the same instant
        # Binds the request_id to these parameters before anything is granted, so it can
        # take effect in one progress document only, whoever else sends it.
        logged = await self._claims.reserve(request.reservation(now))
        if logged is not None and (
            logged.status is not ClaimStatus.PENDING or not request.same_parameters(logged)
        ):
            return _replay(request, logged)
        event = await self._events.get(request.event_id)
        # A PENDING entry this call did not create may belong to an attempt decided already.
        maybe_decided = logged is not None
        if not maybe_decided and event is not None and request.amount > 0:
            # The usual claim, granted without reading the progress first: the grant's
            # conditions are the player's half of decide_claim, checked atomically. If it
            # is not granted, the full decision below finds out why.
            try:
                reward = claimable_reward(request, event, now)
            except DomainError:
                pass
            else:
                granted = await self._grant(request, reward, request.amount, now)
                if granted is not None:
                    return granted
                maybe_decided = True  # a duplicate of this request may have been decided
        progress = await self._progress(request.event_id, request.user_id)
        for _ in range(_GRANT_ATTEMPTS):
            if maybe_decided and (decided := await self._decided(request)) is not None:
                return await self._settle(request, decided)
            try:
                if event is None:
                    raise NotFound(
                        f"event {request.event_id!r} not found", reason="EVENT_NOT_FOUND"
                    )
                reward, amount = decide_claim(request, event, progress, now)
            except DomainError as error:
                return await self._fail(request, event, progress, error, now)
            granted = await self._grant(request, reward, amount, now)
            if granted is not None:
                return granted
            # Lost a race (a duplicate of this request, or other claims): decide again.
            progress = await self._progress(request.event_id, request.user_id)
            maybe_decided = True
        raise Unavailable("too many concurrent claims for this reward; retry", reason="CONTENDED")

    async def _grant(
        self, request: ClaimRequest, reward: Reward, amount: int, now: datetime
    ) -> Claim | None:
        """Grants `amount` of the reward if the progress allows it at this instant, and
        settles the claim; None if it does not allow it (nothing changed)."""
        attempt = Attempt(
            request_id=request.request_id,
            reward_id=reward.id,
            reward_name=reward.name,
            requested_amount=request.amount,
            amount=amount,
            limit=reward.amount,
            at=now,
        )
        total = await self._progresses.grant(
            request.event_id, request.user_id, attempt, reward.amount
        )
        if total is None:
            return None
        return await self._settle(
            request, replace(attempt, remaining=max(reward.amount - total, 0))
        )

    async def _fail(
        self,
        request: ClaimRequest,
        event: Event | None,
        progress: Progress,
        error: DomainError,
        now: datetime,
    ) -> Claim:
        reward = event.reward(request.reward_id) if event else None
        attempt = Attempt(
            request_id=request.request_id,
            reward_id=request.reward_id,
            reward_name=reward.name if reward else "",
            requested_amount=request.amount,
            amount=0,
            limit=reward.amount if reward else 0,
            at=now,
            failure=error,
            remaining=progress.remaining(reward) if reward else 0,
        )
        if progress.exists and not await self._progresses.record_failure(
            request.event_id, request.user_id, attempt
        ):
            # A duplicate of this request was decided meanwhile: its record wins. Otherwise
            # the document is full of attempts, and then nothing can be granted to this
            # player in this event any more: logging the failure alone is safe.
            attempt = await self._decided(request) or attempt
        return await self._settle(request, attempt)

    async def _decided(self, request: ClaimRequest) -> Attempt | None:
        """The attempt already recorded for this request_id in the player's progress."""
        return await self._progresses.attempt(request.event_id, request.user_id, request.request_id)

    async def _settle(self, request: ClaimRequest, attempt: Attempt) -> Claim:
        """Logs the decided attempt (once) and returns or raises its outcome, which is
        REQUEST_ID_REUSED if the attempt was decided for other parameters."""
        return _replay(request, await self._claims.finish(claim_from_attempt(request, attempt)))

    async def list_claims(self, where: ClaimFilter, page: PageRequest) -> Page[Claim]:
        claims = await self._claims.page(where, page.after, page.size + 1)
        return _page(claims, page.size, lambda c: [c.claimed_at.isoformat(), c.request_id])

    # --- messages from other services -------------------------------------------------

    async def handle_login_message(self, data: bytes) -> int:
        """`auth.user.logged_in` → progress. Raises BadMessage for anything malformed."""
        body = _json_object(data)
        try:
            user_id, message_id = body["user_id"], body["message_id"]
            at = datetime.fromisoformat(body["logged_in_at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BadMessage(f"not a login message: {exc!r}") from exc
        if not (isinstance(user_id, str) and isinstance(message_id, str) and at.tzinfo):
            raise BadMessage("login message needs string user_id/message_id and an aware time")
        return await self.record_login(user_id, at, message_id)

    async def handle_audit_message(self, data: bytes) -> None:
        """`audit.*` from other services → the audit log (idempotent on the entry id)."""
        body = _json_object(data)
        try:
            entry = AuditEntry(
                id=str(body["id"]),
                actor_id=str(body["actor_id"]),
                actor_role=str(body["actor_role"]),
                action=str(body["action"]),
                target=str(body["target"]),
                changes=dict(body.get("changes") or {}),
                service=str(body["service"]),
                created_at=datetime.fromisoformat(body["created_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadMessage(f"not an audit message: {exc!r}") from exc
        await self._audit.add(entry)

    async def handle_message(self, subject: str, data: bytes) -> None:
        if subject == SUBJECT_LOGGED_IN:
            await self.handle_login_message(data)
        elif subject.startswith(SUBJECT_AUDIT_PREFIX):
            await self.handle_audit_message(data)
        else:
            raise BadMessage(f"no handler for subject {subject!r}")

    # --- dead letters -------------------------------------------------------------------

    async def capture_dead_letter(self, letter: DeadLetter) -> None:
        if await self._dead_letters.add(letter):
            log.error(
                "dead letter",
                extra={
                    "dead_letter_id": letter.id,
                    "subject": letter.subject,
                    "error": letter.error,
                },
            )

    async def list_dead_letters(self, page: PageRequest) -> Page[DeadLetter]:
        letters = await self._dead_letters.page(page.after, page.size + 1)
        return _page(letters, page.size, lambda d: [d.created_at.isoformat(), d.id])

    async def replay_dead_letter(self, caller: Principal, letter_id: str) -> DeadLetter:
        """Processes the message again. Handlers are idempotent, and a letter already
        replayed is returned as it is, so replaying twice has no extra effect."""
        letter = await self._dead_letters.get(letter_id) if letter_id else None
        if letter is None:
            raise NotFound(f"dead letter {letter_id!r} not found", reason="DEAD_LETTER_NOT_FOUND")
        if letter.replayed_at is not None:
            return letter
        try:
            await self.handle_message(letter.subject, letter.data)
        except BadMessage as exc:
            await self._dead_letters.set_error(letter.id, str(exc))
            raise FailedPrecondition(
                f"the message still cannot be processed: {exc}", reason="REPLAY_FAILED"
            ) from exc
        replayed = await self._dead_letters.mark_replayed(letter.id, self._clock.now())
        await self._audit.add(
            AuditEntry(
                id=new_id("aud"),
                actor_id=caller.subject,
                actor_role=caller.role,
                action="dead_letter.replay",
                target=f"dead_letter/{letter.id}",
                changes={"subject": letter.subject},
                service="event",
                created_at=self._clock.now(),
            )
        )
        return replayed or await self._dead_letters.get(letter.id) or letter

    # --- stats and audit ----------------------------------------------------------------

    async def stats(self, event_id: str) -> EventStats:
        event = await self.get_event(event_id)
        participants, completed = await self._progresses.counts(event_id)
        totals = await self._claims.totals(event_id)
        empty = RewardTotals(0, 0, 0)
        return EventStats(
            event_id,
            participants,
            completed,
            [RewardStats(r, totals.get(r.id, empty)) for r in event.rewards],
        )

    async def list_audit(
        self, actor_id: str | None, action: str | None, page: PageRequest
    ) -> Page[AuditEntry]:
        entries = await self._audit.page(actor_id, action, page.after, page.size + 1)
        return _page(entries, page.size, lambda a: [a.created_at.isoformat(), a.id])

    async def _record(
        self, caller: Principal, action: str, event: Event, changes: dict[str, Any]
    ) -> None:
        await self._audit.add(
            AuditEntry(
                id=new_id("aud"),
                actor_id=caller.subject,
                actor_role=caller.role,
                action=action,
                target=f"event/{event.id}",
                changes=changes,
                service="event",
                created_at=self._clock.now(),
            )
        )

    async def _progress(self, event_id: str, user_id: str) -> Progress:
        stored = await self._progresses.get(event_id, user_id)
        return stored or Progress(event_id=event_id, user_id=user_id, exists=False)


class BadMessage(ValueError):
    """A message that can never be processed as it is (it will end as a dead letter)."""


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadMessage(f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadMessage("not a JSON object")
    return body


def _replay(request: ClaimRequest, logged: Claim) -> Claim:
    if not request.same_parameters(logged):
        raise AlreadyExists(
            f"request_id {request.request_id!r} was already used for a different claim; "
            "use a new request_id for a new claim",
            reason="REQUEST_ID_REUSED",
        )
    if logged.failure is not None:
        raise logged.failure
    return logged


def _page(items: list[T], size: int, key: Callable[[T], list[Any]]) -> Page[T]:
    more = len(items) > size
    items = items[:size]
    return Page(items, page_token(key(items[-1])) if more else "")
