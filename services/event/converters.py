"""Protobuf messages ↔ domain objects for the event service."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf import struct_pb2
from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message
from rewardmesh.event.v1 import event_pb2

from services.common.convert import from_timestamp, set_timestamp, timestamp
from services.common.errors import InvalidArgument
from services.event.domain import (
    AuditEntry,
    Claim,
    ClaimStatus,
    ConditionType,
    DeadLetter,
    Event,
    EventChanges,
    EventDraft,
    EventStatus,
    Progress,
    Reward,
    RewardDraft,
    RewardType,
)
from services.event.use_cases import EventStats

E = TypeVar("E", bound=enum.Enum)


def _enum_in(value: int, proto_enum: Any, domain: type[E], field: str) -> E | None:
    """Proto enum number → domain enum; None for *_UNSPECIFIED, an error for unknown numbers."""
    if value == 0:
        return None
    prefix = proto_enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    try:
        return domain(proto_enum.Name(value).removeprefix(prefix))
    except ValueError:
        raise InvalidArgument.field(field, f"unknown value {value}") from None


def _enum_out(value: enum.Enum | None, proto_enum: Any) -> Any:
    return 0 if value is None else _enum_number(value, proto_enum)


@functools.cache
def _enum_number(value: enum.Enum, proto_enum: Any) -> int:
    prefix = proto_enum.DESCRIPTOR.values[0].name.removesuffix("UNSPECIFIED")
    number: int = proto_enum.Value(prefix + value.name)
    return number


def _time(message: Message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    try:
        return from_timestamp(getattr(message, field))
    except ValueError:
        # Native gRPC callers can send any seconds/nanos; the transcoder never would.
        raise InvalidArgument.field(
            field, "must be a valid timestamp (years 1-9999, nanos 0-999999999)"
        ) from None


def status_in(value: int, field: str = "status") -> EventStatus | None:
    return _enum_in(value, event_pb2.EventStatus, EventStatus, field)


def claim_status_in(value: int) -> ClaimStatus | None:
    return _enum_in(value, event_pb2.ClaimStatus, ClaimStatus, "status")


def reward_draft(
    message: event_pb2.Reward | event_pb2.AddRewardRequest, field: str = ""
) -> RewardDraft:
    return RewardDraft(
        name=message.name,
        type=_enum_in(message.type, event_pb2.RewardType, RewardType, f"{field}type"),
        amount=message.amount,
    )


def event_draft(request: event_pb2.CreateEventRequest) -> EventDraft:
    return EventDraft(
        title=request.title,
        description=request.description,
        condition_type=_enum_in(
            request.condition.type, event_pb2.ConditionType, ConditionType, "condition.type"
        ),
        target=request.condition.target,
        activity=request.condition.activity,
        starts_at=_time(request, "starts_at"),
        ends_at=_time(request, "ends_at"),
        claim_deadline=_time(request, "claim_deadline"),
        timezone=request.timezone,
        status=status_in(request.status),
        rewards=tuple(reward_draft(r, f"rewards[{i}].") for i, r in enumerate(request.rewards)),
    )


def event_changes(request: event_pb2.UpdateEventRequest) -> EventChanges:
    condition: dict[str, Any] = {}
    if request.HasField("condition"):
        # A condition in an update replaces the whole condition.
        condition_type = _enum_in(
            request.condition.type, event_pb2.ConditionType, ConditionType, "condition.type"
        )
        if condition_type is None:
            raise InvalidArgument.field("condition.type", "is required when condition is sent")
        condition = {
            "condition_type": condition_type,
            "target": request.condition.target,
            "activity": request.condition.activity,
        }
    status = None
    if request.HasField("status"):
        status = status_in(request.status)
        if status is None:
            raise InvalidArgument.field(
                "status", "must be EVENT_STATUS_ACTIVE or EVENT_STATUS_INACTIVE"
            )
    return EventChanges(
        title=request.title if request.HasField("title") else None,
        description=request.description if request.HasField("description") else None,
        starts_at=_time(request, "starts_at"),
        ends_at=_time(request, "ends_at"),
        claim_deadline=_time(request, "claim_deadline"),
        timezone=request.timezone if request.HasField("timezone") else None,
        status=status,
        **condition,
    )


def event_to_proto(event: Event) -> event_pb2.Event:
    return event_pb2.Event(
        id=event.id,
        title=event.title,
        description=event.description,
        condition=event_pb2.Condition(
            type=_enum_out(event.condition.type, event_pb2.ConditionType),
            target=event.condition.target,
            activity=event.condition.activity,
        ),
        starts_at=timestamp(event.starts_at),
        ends_at=timestamp(event.ends_at),
        claim_deadline=timestamp(event.claim_deadline),
        timezone=event.timezone,
        status=_enum_out(event.status, event_pb2.EventStatus),
        rewards=[reward_to_proto(r) for r in event.rewards],
        created_by=event.created_by,
        created_at=timestamp(event.created_at),
    )


def reward_to_proto(reward: Reward) -> event_pb2.Reward:
    return event_pb2.Reward(
        id=reward.id,
        name=reward.name,
        type=_enum_out(reward.type, event_pb2.RewardType),
        amount=reward.amount,
    )


def progress_to_proto(event: Event, progress: Progress) -> event_pb2.Progress:
    message = event_pb2.Progress(
        event_id=event.id,
        user_id=progress.user_id,
        login_count=progress.login_count,
        login_days=len(progress.login_days),
        current_streak=progress.current_streak,
        activity_total=progress.activity_total,
        status=_enum_out(progress.status, event_pb2.ProgressStatus),
        rewards=[
            event_pb2.RewardProgress(
                reward_id=r.id,
                name=r.name,
                amount=r.amount,
                claimed=progress.claimed.get(r.id, 0),
                remaining=max(progress.remaining(r), 0),
            )
            for r in event.rewards
        ],
    )
    if progress.completed_at is not None:
        set_timestamp(message.completed_at, progress.completed_at)
    return message


def claim_to_proto(claim: Claim) -> event_pb2.Claim:
    return _build_claim(event_pb2.Claim, claim)


def add_claims(
    field: RepeatedCompositeFieldContainer[event_pb2.Claim], claims: list[Claim]
) -> None:
    """Appends `claims` to a response's repeated field, each built in place (the hot path
    of a player's history: no message built apart and then copied in)."""
    for claim in claims:
        _build_claim(field.add, claim)


def _build_claim(make: Callable[..., event_pb2.Claim], claim: Claim) -> event_pb2.Claim:
    """The Claim message for `claim`, made by `make`: its constructor, or `add` of a
    repeated field."""
    message = make(
        request_id=claim.request_id,
        user_id=claim.user_id,
        event_id=claim.event_id,
        reward_id=claim.reward_id,
        reward_name=claim.reward_name,
        amount=claim.amount,
        status=_enum_out(claim.status, event_pb2.ClaimStatus),
        failure_reason=claim.failure_reason,
        remaining=claim.remaining,
    )
    set_timestamp(message.claimed_at, claim.claimed_at)
    return message


def stats_to_proto(stats: EventStats) -> event_pb2.EventStats:
    return event_pb2.EventStats(
        event_id=stats.event_id,
        participants=stats.participants,
        completed=stats.completed,
        rewards=[
            event_pb2.RewardStats(
                reward_id=r.reward.id,
                name=r.reward.name,
                amount_per_player=r.reward.amount,
                total_claimed=r.totals.total_claimed,
                claim_count=r.totals.claim_count,
                claimants=r.totals.claimants,
            )
            for r in stats.rewards
        ],
    )


def _struct(values: Mapping[str, object]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(values))  # type: ignore[arg-type]  # audit changes are JSON values
    return struct


def audit_to_proto(entry: AuditEntry) -> event_pb2.AuditLog:
    return event_pb2.AuditLog(
        id=entry.id,
        actor_id=entry.actor_id,
        actor_role=entry.actor_role,
        action=entry.action,
        target=entry.target,
        changes=_struct(entry.changes),
        service=entry.service,
        created_at=timestamp(entry.created_at),
    )


def occurred_at(request: event_pb2.RecordActivityRequest) -> datetime:
    return _time(request, "occurred_at") or datetime.now(UTC)


def dead_letter_to_proto(letter: DeadLetter) -> event_pb2.DeadLetter:
    message = event_pb2.DeadLetter(
        id=letter.id,
        subject=letter.subject,
        stream_sequence=letter.stream_sequence,
        data=letter.data.decode("utf-8", errors="replace"),
        error=letter.error,
        deliveries=letter.deliveries,
        created_at=timestamp(letter.created_at),
    )
    if letter.replayed_at is not None:
        set_timestamp(message.replayed_at, letter.replayed_at)
    return message
