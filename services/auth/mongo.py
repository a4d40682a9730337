"""MongoDB adapters for the auth ports (Beanie documents, atomic single-document updates)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from beanie import Document
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.auth.domain import RefreshSession, Role, ServiceAccount, User
from services.auth.ports import OutboxMessage
from services.common.errors import AlreadyExists
from services.common.store import after_cursor


class UserDoc(Document):
    id: str  # type: ignore[assignment]
    email: str
    role: str
    password_hash: str
    created_at: datetime
    failed_logins: int = 0
    locked_until: datetime | None = None

    class Settings:
        name = "users"
        indexes = [
            IndexModel([("email", ASCENDING)], unique=True),
            IndexModel([("created_at", ASCENDING), ("_id", ASCENDING)]),
        ]


class SessionDoc(Document):
    id: str  # type: ignore[assignment]  # SHA-256 of the refresh token
    user_id: str
    family_id: str
    created_at: datetime
    expires_at: datetime
    rotated_at: datetime | None = None
    revoked: bool = False

    class Settings:
        name = "sessions"
        indexes = [
            IndexModel([("family_id", ASCENDING)]),
            # MongoDB deletes sessions once they have expired.
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0),
        ]


class ServiceAccountDoc(Document):
    id: str  # type: ignore[assignment]
    name: str
    secret_hash: str
    created_at: datetime
    created_by: str
    disabled: bool = False

    class Settings:
        name = "service_accounts"


class OutboxDoc(Document):
    """A message waiting to be published; written in the same request as the change."""

    id: str  # type: ignore[assignment]
    subject: str
    payload: dict[str, Any]
    created_at: datetime
    sent_at: datetime | None = None

    class Settings:
        name = "outbox"
        indexes = [
            IndexModel([("sent_at", ASCENDING), ("created_at", ASCENDING)]),
            # Sent messages are kept a day for inspection, then MongoDB deletes them.
            IndexModel([("sent_at", ASCENDING)], expireAfterSeconds=86_400, name="sent_ttl"),
        ]


DOCUMENTS: tuple[type[Document], ...] = (UserDoc, SessionDoc, ServiceAccountDoc, OutboxDoc)


def _user(doc: Mapping[str, Any]) -> User:
    return User(
        id=doc["_id"],
        email=doc["email"],
        role=Role(doc["role"]),
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
        failed_logins=doc.get("failed_logins", 0),
        locked_until=doc.get("locked_until"),
    )


def _session(doc: Mapping[str, Any]) -> RefreshSession:
    return RefreshSession(
        token_hash=doc["_id"],
        user_id=doc["user_id"],
        family_id=doc["family_id"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        rotated_at=doc.get("rotated_at"),
        revoked=doc.get("revoked", False),
    )


class MongoUsers:
    def __init__(self) -> None:
        self._c = UserDoc.get_pymongo_collection()

    async def add(self, user: User) -> None:
        try:
            await self._c.insert_one(
                {
                    "_id": user.id,
                    "email": user.email,
                    "role": user.role.value,
                    "password_hash": user.password_hash,
                    "created_at": user.created_at,
                    "failed_logins": 0,
                    "locked_until": None,
                }
            )
        except DuplicateKeyError as exc:
            raise AlreadyExists(
                f"an account with email {user.email} already exists", reason="EMAIL_TAKEN"
            ) from exc

    async def by_id(self, user_id: str) -> User | None:
        doc = await self._c.find_one({"_id": user_id})
        return _user(doc) if doc else None

    async def by_email(self, email: str) -> User | None:
        doc = await self._c.find_one({"email": email})
        return _user(doc) if doc else None

    async def page(self, after: Sequence[Any] | None, size: int) -> list[User]:
        cursor = self._c.find(_after_filter(after)).sort(OLDEST_FIRST).limit(size)
        return [_user(doc) for doc in await cursor.to_list()]

    async def set_role(self, user_id: str, role: Role) -> User | None:
        doc = await self._c.find_one_and_update(
            {"_id": user_id}, {"$set": {"role": role.value}}, return_document=ReturnDocument.AFTER
        )
        return _user(doc) if doc else None

    async def add_failed_login(self, user_id: str, now: datetime, window: timedelta) -> int:
        recent = await self._c.find_one_and_update(
            {"_id": user_id, "last_failed_at": {"$gte": now - window}},
            {"$inc": {"failed_logins": 1}, "$set": {"last_failed_at": now}},
            projection={"failed_logins": 1},
            return_document=ReturnDocument.AFTER,
        )
        if recent is not None:
            return int(recent["failed_logins"])
        await self._c.update_one(
            {"_id": user_id}, {"$set": {"failed_logins": 1, "last_failed_at": now}}
        )
        return 1

    async def lock(self, user_id: str, until: datetime) -> None:
        await self._c.update_one(
            {"_id": user_id}, {"$set": {"locked_until": until, "failed_logins": 0}}
        )

    async def clear_failed_logins(self, user_id: str) -> None:
        await self._c.update_one({"_id": user_id}, {"$set": {"failed_logins": 0}})


class MongoSessions:
    def __init__(self) -> None:
        self._c = SessionDoc.get_pymongo_collection()

    async def add(self, session: RefreshSession) -> None:
        await self._c.insert_one(
            {
                "_id": session.token_hash,
                "user_id": session.user_id,
                "family_id": session.family_id,
                "created_at": session.created_at,
                "expires_at": session.expires_at,
                "rotated_at": None,
                "revoked": False,
            }
        )

    async def get(self, token_hash: str) -> RefreshSession | None:
        doc = await self._c.find_one({"_id": token_hash})
        return _session(doc) if doc else None

    async def mark_rotated(self, token_hash: str, now: datetime) -> RefreshSession | None:
        doc = await self._c.find_one_and_update(
            {"_id": token_hash, "rotated_at": None, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"rotated_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return _session(doc) if doc else None

    async def revoke_family(self, family_id: str) -> None:
        await self._c.update_many({"family_id": family_id}, {"$set": {"revoked": True}})


def _service_account(doc: Mapping[str, Any]) -> ServiceAccount:
    return ServiceAccount(
        id=doc["_id"],
        name=doc["name"],
        secret_hash=doc["secret_hash"],
        created_at=doc["created_at"],
        created_by=doc["created_by"],
        disabled=doc.get("disabled", False),
    )


def _after_filter(after: Sequence[Any] | None) -> dict[str, Any]:
    return after_cursor(after, "created_at", newest_first=False)


OLDEST_FIRST = [("created_at", ASCENDING), ("_id", ASCENDING)]


class MongoServiceAccounts:
    def __init__(self) -> None:
        self._c = ServiceAccountDoc.get_pymongo_collection()

    async def add(self, account: ServiceAccount) -> None:
        await self._c.insert_one(
            {
                "_id": account.id,
                "name": account.name,
                "secret_hash": account.secret_hash,
                "created_at": account.created_at,
                "created_by": account.created_by,
                "disabled": account.disabled,
            }
        )

    async def get(self, account_id: str) -> ServiceAccount | None:
        doc = await self._c.find_one({"_id": account_id})
        return _service_account(doc) if doc else None

    async def page(self, after: Sequence[Any] | None, size: int) -> list[ServiceAccount]:
        cursor = self._c.find(_after_filter(after)).sort(OLDEST_FIRST).limit(size)
        return [_service_account(doc) for doc in await cursor.to_list()]

    async def set_secret(self, account_id: str, secret_hash: str) -> ServiceAccount | None:
        return await self._update(account_id, {"secret_hash": secret_hash})

    async def disable(self, account_id: str) -> ServiceAccount | None:
        return await self._update(account_id, {"disabled": True})

    async def _update(self, account_id: str, fields: dict[str, Any]) -> ServiceAccount | None:
        doc = await self._c.find_one_and_update(
            {"_id": account_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return _service_account(doc) if doc else None


class MongoOutbox:
    def __init__(self, clock_now: Callable[[], datetime]) -> None:
        self._c = OutboxDoc.get_pymongo_collection()
        self._now = clock_now
        # Set by the relay so a new message is published at once instead of at the next poll.
        self.on_added: Callable[[], None] = lambda: None

    async def add(self, subject: str, payload: Mapping[str, Any]) -> None:
        await self._c.insert_one(
            {
                "_id": uuid.uuid4().hex,
                "subject": subject,
                "payload": dict(payload),
                "created_at": self._now(),
                "sent_at": None,
            }
        )
        self.on_added()

    async def pending(self, limit: int) -> list[OutboxMessage]:
        cursor = self._c.find({"sent_at": None}).sort([("created_at", ASCENDING)]).limit(limit)
        return [OutboxMessage(d["_id"], d["subject"], d["payload"]) for d in await cursor.to_list()]

    async def mark_sent(self, ids: list[str]) -> None:
        await self._c.update_many({"_id": {"$in": ids}}, {"$set": {"sent_at": self._now()}})
