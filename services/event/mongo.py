"""MongoDB adapters for the event ports. Every state change that must not race is one
conditional update on one document (DESIGN §6)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from beanie import Document
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.errors import DomainError, FieldViolation, rebuild_error
from services.common.store import after_cursor, insert_new
from services.event import domain
from services.event.domain import (
    Attempt,
    AuditEntry,
    Claim,
    ClaimStatus,
    Condition,
    ConditionType,
    DeadLetter,
    Event,
    EventStatus,
    Progress,
    ProgressStatus,
    Reward,
    RewardType,
    progress_id,
)
from services.event.ports import Advance, ClaimFilter, RewardTotals

NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


class EventDoc(Document):
    id: str  # type: ignore[assignment]
    title: str
    status: str
    created_at: datetime

    class Settings:
        name = "events"
        indexes = [
            IndexModel([("status", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)]),
            IndexModel([("created_at", DESCENDING), ("_id", DESCENDING)]),
            IndexModel([("status", ASCENDING), ("starts_at", ASCENDING), ("ends_at", ASCENDING)]),
        ]


class ProgressDoc(Document):
    id: str  # type: ignore[assignment]  # "<event_id>:<user_id>"
    event_id: str
    user_id: str

    class Settings:
        name = "progress"
        indexes = [
            # (event_id, user_id) is unique through _id; this one serves per-player queries.
            IndexModel([("user_id", ASCENDING), ("event_id", ASCENDING)]),
            IndexModel([("event_id", ASCENDING), ("status", ASCENDING)]),
        ]


class ClaimDoc(Document):
    id: str  # type: ignore[assignment]  # the request_id: one entry per attempt
    user_id: str
    event_id: str
    claimed_at: datetime

    class Settings:
        name = "claims"
        indexes = [
            IndexModel([("claimed_at", DESCENDING), ("_id", DESCENDING)]),
            IndexModel([("user_id", ASCENDING), ("claimed_at", DESCENDING), ("_id", DESCENDING)]),
            IndexModel([("event_id", ASCENDING), ("claimed_at", DESCENDING), ("_id", DESCENDING)]),
        ]


class AuditDoc(Document):
    id: str  # type: ignore[assignment]
    actor_id: str
    action: str
    created_at: datetime

    class Settings:
        name = "audit_logs"
        indexes = [
            IndexModel(NEWEST_FIRST),
            IndexModel([("actor_id", ASCENDING), *NEWEST_FIRST]),
            IndexModel([("action", ASCENDING), *NEWEST_FIRST]),
        ]


def _newer_than(after: Sequence[Any] | None, field: str) -> dict[str, Any]:
    return after_cursor(after, field, newest_first=True)


def _and(*filters: Mapping[str, Any]) -> dict[str, Any]:
    parts = [dict(f) for f in filters if f]
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": parts}


# --- events ------------------------------------------------------------------------------


def _event_doc(event: Event) -> dict[str, Any]:
    return {
        "_id": event.id,
        "title": event.title,
        "description": event.description,
        "condition": {
            "type": event.condition.type.value,
            "target": event.condition.target,
            "activity": event.condition.activity,
        },
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "claim_deadline": event.claim_deadline,
        "timezone": event.timezone,
        "status": event.status.value,
        "rewards": [_reward_doc(r) for r in event.rewards],
        "created_by": event.created_by,
        "created_at": event.created_at,
        "version": event.version,
    }


def _reward_doc(reward: Reward) -> dict[str, Any]:
    return {
        "id": reward.id,
        "name": reward.name,
        "type": reward.type.value,
        "amount": reward.amount,
    }


_VERSION = {"_id": 0, "version": 1}


def _event(doc: Mapping[str, Any]) -> Event:
    condition = doc["condition"]
    return Event(
        id=doc["_id"],
        title=doc["title"],
        description=doc["description"],
        condition=Condition(
            ConditionType(condition["type"]), condition["target"], condition["activity"]
        ),
        starts_at=doc["starts_at"],
        ends_at=doc["ends_at"],
        claim_deadline=doc["claim_deadline"],
        timezone=doc["timezone"],
        status=EventStatus(doc["status"]),
        rewards=tuple(
            Reward(r["id"], r["name"], RewardType(r["type"]), r["amount"]) for r in doc["rewards"]
        ),
        created_by=doc["created_by"],
        created_at=doc["created_at"],
        version=doc.get("version", 0),
    )


# How many events a MongoEvents keeps as last read.
KEPT_EVENTS = 1_000


class MongoEvents:
    """Events. Every write raises an event's `version` (the writes are conditional on it),
    so the same version is the same event: `get` keeps the events it has read and, for one
    it keeps, reads only the version. (An edit made around the service, in mongosh, must
    raise `version` too, or the service keeps using what it read before.)"""

    def __init__(self, kept: int = KEPT_EVENTS) -> None:
        self._c = EventDoc.get_pymongo_collection()
        self._read: dict[str, Event] = {}
        self._kept = kept

    async def add(self, event: Event) -> None:
        await self._c.insert_one(_event_doc(event))

    async def get(self, event_id: str) -> Event | None:
        kept = self._read.get(event_id)
        if kept is not None:
            doc = await self._c.find_one({"_id": event_id}, projection=_VERSION)
            if doc is not None and doc.get("version", 0) == kept.version:
                return kept
        doc = await self._c.find_one({"_id": event_id})
        if doc is None:
            self._read.pop(event_id, None)
            return None
        if len(self._read) >= self._kept:
            self._read.clear()
        event = self._read[event_id] = _event(doc)
        return event

    async def replace(self, before: Event, after: Event) -> bool:
        if after.version <= before.version:
            raise ValueError("a changed event must have a higher version")
        fields = _event_doc(after)
        del fields["_id"]
        result = await self._c.update_one(
            {"_id": before.id, "version": before.version}, {"$set": fields}
        )
        return bool(result.matched_count)

    async def add_reward(self, before: Event, reward: Reward) -> bool:
        result = await self._c.update_one(
            {"_id": before.id, "version": before.version},
            {"$push": {"rewards": _reward_doc(reward)}, "$inc": {"version": 1}},
        )
        return bool(result.matched_count)

    async def page(
        self, status: EventStatus | None, after: Sequence[Any] | None, size: int
    ) -> list[Event]:
        query = _and({"status": status.value} if status else {}, _newer_than(after, "created_at"))
        cursor = self._c.find(query).sort(NEWEST_FIRST).limit(size)
        return [_event(doc) for doc in await cursor.to_list()]

    async def active_at(
        self, at: datetime, types: Sequence[ConditionType], activity: str | None = None
    ) -> list[Event]:
        query: dict[str, Any] = {
            "status": EventStatus.ACTIVE.value,
            "starts_at": {"$lte": at},
            "ends_at": {"$gt": at},
            "condition.type": {"$in": [t.value for t in types]},
        }
        if activity is not None:
            query["condition.activity"] = activity
        return [_event(doc) for doc in await self._c.find(query).to_list()]


# --- progress ----------------------------------------------------------------------------


def _failure_doc(error: DomainError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "kind": error.kind.value,
        "reason": error.reason,
        "message": error.message,
        "metadata": error.metadata,
        "violations": [[v.field, v.description] for v in error.violations],
    }


def _failure(doc: Mapping[str, Any] | None) -> DomainError | None:
    if not doc:
        return None
    violations = tuple(FieldViolation(f, d) for f, d in doc.get("violations", []))
    return rebuild_error(
        doc["kind"], doc["message"], doc["reason"], doc.get("metadata"), violations
    )


def _attempt_doc(attempt: Attempt) -> dict[str, Any]:
    return {
        "request_id": attempt.request_id,
        "reward_id": attempt.reward_id,
        "reward_name": attempt.reward_name,
        "requested_amount": attempt.requested_amount,
        "amount": attempt.amount,
        "limit": attempt.limit,
        "at": attempt.at,
        "failure": _failure_doc(attempt.failure),
    }


def _attempts(docs: Sequence[Mapping[str, Any]]) -> dict[str, Attempt]:
    """Attempts in the order they took effect; `remaining` follows from that order."""
    claimed: dict[str, int] = {}
    attempts: dict[str, Attempt] = {}
    for doc in docs:
        reward_id = doc["reward_id"]
        claimed[reward_id] = claimed.get(reward_id, 0) + doc["amount"]
        attempts[doc["request_id"]] = Attempt(
            request_id=doc["request_id"],
            reward_id=reward_id,
            reward_name=doc["reward_name"],
            requested_amount=doc["requested_amount"],
            amount=doc["amount"],
            limit=doc["limit"],
            at=doc["at"],
            failure=_failure(doc.get("failure")),
            remaining=max(doc["limit"] - claimed[reward_id], 0),
        )
    return attempts


def _progress(doc: Mapping[str, Any]) -> Progress:
    return Progress(
        event_id=doc["event_id"],
        user_id=doc["user_id"],
        login_count=doc.get("login_count", 0),
        login_days=frozenset(date.fromisoformat(d) for d in doc.get("login_days", [])),
        activity_total=doc.get("activity_total", 0),
        status=ProgressStatus(doc["status"]),
        completed_at=doc.get("completed_at"),
        claimed=dict(doc.get("claimed", {})),
        attempt_count=doc.get("attempt_count", 0),
    )


# The arrays grow with every login and claim: only the update filters need the id lists,
# and the attempts are read one request_id at a time (`attempt`), on the rare paths.
_PROGRESS_PROJECTION = {"processed_ids": 0, "claim_request_ids": 0, "attempts": 0}


def _room_for_another_attempt() -> dict[str, Any]:
    """Fewer than MAX_CLAIM_ATTEMPTS attempts recorded. `attempt_count` is set to 0 when
    the document is created and goes up by one in the same update as every `$push` to
    `attempts`; testing it spares the server a walk through the array."""
    return {"attempt_count": {"$lt": domain.MAX_CLAIM_ATTEMPTS}}


class MongoProgresses:
    def __init__(self) -> None:
        self._c = ProgressDoc.get_pymongo_collection()

    async def get(self, event_id: str, user_id: str) -> Progress | None:
        doc = await self._c.find_one(
            {"_id": progress_id(event_id, user_id)}, projection=_PROGRESS_PROJECTION
        )
        return _progress(doc) if doc else None

    async def advance(self, advance: Advance, now: datetime) -> bool:
        update: dict[str, Any] = {
            "$inc": {"login_count": advance.logins, "activity_total": advance.activity},
            "$push": {"processed_ids": advance.message_id},
            "$setOnInsert": {
                "event_id": advance.event_id,
                "user_id": advance.user_id,
                "status": ProgressStatus.IN_PROGRESS.value,
                "completed_at": None,
                "claimed": {},
                "claim_request_ids": [],
                "attempts": [],
                "attempt_count": 0,
                "created_at": now,
            },
        }
        if advance.day is not None:
            update["$addToSet"] = {"login_days": advance.day.isoformat()}
        query = {
            "_id": progress_id(advance.event_id, advance.user_id),
            "processed_ids": {"$ne": advance.message_id},
        }
        try:
            result = await self._c.update_one(query, update, upsert=True)
        except DuplicateKeyError:
            # Either the message was already applied (the filter missed an existing
            # document) or a concurrent first update created it: retry without upsert.
            result = await self._c.update_one(query, update)
        return bool(result.matched_count or result.upserted_id is not None)

    async def complete(self, event_id: str, user_id: str, now: datetime) -> Progress | None:
        doc = await self._c.find_one_and_update(
            {"_id": progress_id(event_id, user_id), "status": ProgressStatus.IN_PROGRESS.value},
            {"$set": {"status": ProgressStatus.COMPLETED.value, "completed_at": now}},
            projection=_PROGRESS_PROJECTION,
            return_document=ReturnDocument.AFTER,
        )
        return _progress(doc) if doc else None

    async def attempt(self, event_id: str, user_id: str, request_id: str) -> Attempt | None:
        doc = await self._c.find_one(
            {"_id": progress_id(event_id, user_id)}, projection={"attempts": 1}
        )
        return _attempts(doc.get("attempts", [])).get(request_id) if doc else None

    async def grant(self, event_id: str, user_id: str, attempt: Attempt, limit: int) -> int | None:
        if not 0 < attempt.amount <= limit:  # the filter below lets a missing total through
            return None
        counter = f"claimed.{attempt.reward_id}"
        doc = await self._c.find_one_and_update(
            {
                "_id": progress_id(event_id, user_id),
                "status": ProgressStatus.COMPLETED.value,
                "claim_request_ids": {"$ne": attempt.request_id},
                **_room_for_another_attempt(),
                # Missing (nothing claimed yet) or low enough to take `amount` more.
                counter: {"$not": {"$gt": limit - attempt.amount}},
            },
            {
                "$inc": {counter: attempt.amount, "attempt_count": 1},
                "$push": {
                    "claim_request_ids": attempt.request_id,
                    "attempts": _attempt_doc(attempt),
                },
            },
            projection={counter: 1},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["claimed"][attempt.reward_id]) if doc else None

    async def record_failure(self, event_id: str, user_id: str, attempt: Attempt) -> bool:
        result = await self._c.update_one(
            {
                "_id": progress_id(event_id, user_id),
                "claim_request_ids": {"$ne": attempt.request_id},
                **_room_for_another_attempt(),
            },
            {
                "$inc": {"attempt_count": 1},
                "$push": {
                    "claim_request_ids": attempt.request_id,
                    "attempts": _attempt_doc(attempt),
                },
            },
        )
        return bool(result.matched_count)

    async def counts(self, event_id: str) -> tuple[int, int]:
        completed = {"$cond": [{"$eq": ["$status", ProgressStatus.COMPLETED.value]}, 1, 0]}
        cursor = await self._c.aggregate(
            [
                {"$match": {"event_id": event_id}},
                {
                    "$group": {
                        "_id": None,
                        "participants": {"$sum": 1},
                        "completed": {"$sum": completed},
                    }
                },
            ]
        )
        rows = await cursor.to_list()
        return (rows[0]["participants"], rows[0]["completed"]) if rows else (0, 0)


# --- claim log ---------------------------------------------------------------------------


def _claim_doc(claim: Claim) -> dict[str, Any]:
    return {
        "_id": claim.request_id,
        "user_id": claim.user_id,
        "event_id": claim.event_id,
        "reward_id": claim.reward_id,
        "reward_name": claim.reward_name,
        "requested_amount": claim.requested_amount,
        "amount": claim.amount,
        "status": claim.status.value,
        "failure": _failure_doc(claim.failure),
        "remaining": claim.remaining,
        "claimed_at": claim.claimed_at,
    }


def _claim(doc: Mapping[str, Any]) -> Claim:
    return Claim(
        request_id=doc["_id"],
        user_id=doc["user_id"],
        event_id=doc["event_id"],
        reward_id=doc["reward_id"],
        reward_name=doc["reward_name"],
        requested_amount=doc["requested_amount"],
        amount=doc["amount"],
        status=ClaimStatus(doc["status"]),
        remaining=doc["remaining"],
        claimed_at=doc["claimed_at"],
        failure=_failure(doc.get("failure")),
    )


# How many SUCCEEDED claim-log entries a MongoClaimLog keeps (about 0.5 KB each).
KEPT_CLAIMS = 50_000


class MongoClaimLog:
    """The claim log. An entry that is final never changes again: `finish` moves only
    PENDING ones. So the log keeps the SUCCEEDED entries it has read (as stored), and a page
    reads only which entries it holds, in order, and fetches just the ones it does not keep
    (a player's history is mostly the same entries, page after page). FAILED entries are
    rare and are read each time: their error is raised again on a replay, and one exception
    object raised over and over would collect every traceback."""

    def __init__(self, kept: int = KEPT_CLAIMS) -> None:
        self._c = ClaimDoc.get_pymongo_collection()
        self._final: OrderedDict[str, Claim] = OrderedDict()
        self._kept = kept

    def _keep(self, claim: Claim) -> Claim:
        if claim.status is ClaimStatus.SUCCEEDED:
            self._final[claim.request_id] = claim
            if len(self._final) > self._kept:
                self._final.popitem(last=False)  # the one kept longest
        return claim

    async def reserve(self, claim: Claim) -> Claim | None:
        if await insert_new(self._c, _claim_doc(claim)):
            return None
        return await self.get(claim.request_id)

    async def finish(self, claim: Claim) -> Claim:
        fields = _claim_doc(claim)
        del fields["_id"]
        result = await self._c.update_one(
            {"_id": claim.request_id, "status": ClaimStatus.PENDING.value}, {"$set": fields}
        )
        if result.matched_count:
            return claim
        stored = await self.get(claim.request_id)
        return stored or claim

    async def get(self, request_id: str) -> Claim | None:
        kept = self._final.get(request_id)
        if kept is not None:
            return kept
        doc = await self._c.find_one({"_id": request_id})
        return self._keep(_claim(doc)) if doc else None

    async def page(self, where: ClaimFilter, after: Sequence[Any] | None, size: int) -> list[Claim]:
        match: dict[str, Any] = {
            key: value
            for key, value in (
                ("user_id", where.user_id),
                ("event_id", where.event_id),
                ("reward_id", where.reward_id),
                ("status", where.status.value if where.status else None),
            )
            if value
        }
        match.setdefault("status", {"$ne": ClaimStatus.PENDING.value})
        query = _and(match, _newer_than(after, "claimed_at"))
        cursor = (
            self._c.find(query, projection={"_id": 1})
            .sort([("claimed_at", DESCENDING), ("_id", DESCENDING)])
            .limit(size)
        )
        ids = [doc["_id"] for doc in await cursor.to_list()]
        found = {key: claim for key in ids if (claim := self._final.get(key)) is not None}
        if len(found) < len(ids):
            missing = [key for key in ids if key not in found]
            for doc in await self._c.find({"_id": {"$in": missing}}).to_list():
                found[doc["_id"]] = self._keep(_claim(doc))
        # Entries are never deleted: each id read is found (as it is now, maybe final).
        return [found[key] for key in ids if key in found]

    async def totals(self, event_id: str) -> dict[str, RewardTotals]:
        cursor = await self._c.aggregate(
            [
                {"$match": {"event_id": event_id, "status": ClaimStatus.SUCCEEDED.value}},
                {
                    "$group": {
                        "_id": "$reward_id",
                        "total": {"$sum": "$amount"},
                        "count": {"$sum": 1},
                        "users": {"$addToSet": "$user_id"},
                    }
                },
                {"$project": {"total": 1, "count": 1, "claimants": {"$size": "$users"}}},
            ]
        )
        return {
            row["_id"]: RewardTotals(row["total"], row["count"], row["claimants"])
            for row in await cursor.to_list()
        }


# --- audit -------------------------------------------------------------------------------


class MongoAuditLog:
    def __init__(self) -> None:
        self._c = AuditDoc.get_pymongo_collection()

    async def add(self, entry: AuditEntry) -> None:
        # A redelivered entry is already stored: nothing to do.
        await insert_new(
            self._c,
            {
                "_id": entry.id,
                "actor_id": entry.actor_id,
                "actor_role": entry.actor_role,
                "action": entry.action,
                "target": entry.target,
                "changes": dict(entry.changes),
                "service": entry.service,
                "created_at": entry.created_at,
            },
        )

    async def page(
        self, actor_id: str | None, action: str | None, after: Sequence[Any] | None, size: int
    ) -> list[AuditEntry]:
        match = {k: v for k, v in (("actor_id", actor_id), ("action", action)) if v}
        cursor = (
            self._c.find(_and(match, _newer_than(after, "created_at")))
            .sort(NEWEST_FIRST)
            .limit(size)
        )
        return [
            AuditEntry(
                id=doc["_id"],
                actor_id=doc["actor_id"],
                actor_role=doc["actor_role"],
                action=doc["action"],
                target=doc["target"],
                changes=doc["changes"],
                service=doc["service"],
                created_at=doc["created_at"],
            )
            for doc in await cursor.to_list()
        ]


# --- dead letters ------------------------------------------------------------------------


class DeadLetterDoc(Document):
    id: str  # type: ignore[assignment]  # "<stream>-<sequence>"
    created_at: datetime

    class Settings:
        name = "dead_letters"
        indexes = [IndexModel(NEWEST_FIRST)]


def _dead_letter(doc: Mapping[str, Any]) -> DeadLetter:
    return DeadLetter(
        id=doc["_id"],
        stream=doc["stream"],
        consumer=doc["consumer"],
        subject=doc["subject"],
        stream_sequence=doc["stream_sequence"],
        data=doc["data"],
        error=doc["error"],
        deliveries=doc["deliveries"],
        created_at=doc["created_at"],
        replayed_at=doc.get("replayed_at"),
    )


class MongoDeadLetters:
    def __init__(self) -> None:
        self._c = DeadLetterDoc.get_pymongo_collection()

    async def add(self, letter: DeadLetter) -> bool:
        return await insert_new(
            self._c,
            {
                "_id": letter.id,
                "stream": letter.stream,
                "consumer": letter.consumer,
                "subject": letter.subject,
                "stream_sequence": letter.stream_sequence,
                "data": letter.data,
                "error": letter.error,
                "deliveries": letter.deliveries,
                "created_at": letter.created_at,
                "replayed_at": None,
            },
        )

    async def get(self, letter_id: str) -> DeadLetter | None:
        doc = await self._c.find_one({"_id": letter_id})
        return _dead_letter(doc) if doc else None

    async def page(self, after: Sequence[Any] | None, size: int) -> list[DeadLetter]:
        cursor = self._c.find(_newer_than(after, "created_at")).sort(NEWEST_FIRST).limit(size)
        return [_dead_letter(doc) for doc in await cursor.to_list()]

    async def mark_replayed(self, letter_id: str, now: datetime) -> DeadLetter | None:
        doc = await self._c.find_one_and_update(
            {"_id": letter_id, "replayed_at": None},
            {"$set": {"replayed_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _dead_letter(doc) if doc else None

    async def set_error(self, letter_id: str, error: str) -> None:
        await self._c.update_one({"_id": letter_id}, {"$set": {"error": error}})


DOCUMENTS: tuple[type[Document], ...] = (EventDoc, ProgressDoc, ClaimDoc, AuditDoc, DeadLetterDoc)
