"""What the auth use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.auth.domain import RefreshSession, Role, ServiceAccount, User


class Users(Protocol):
    async def add(self, user: User) -> None:
        """Raises AlreadyExists when the email is taken."""

    async def by_id(self, user_id: str) -> User | None: ...

    async def by_email(self, email: str) -> User | None: ...

    async def page(self, after: Sequence[Any] | None, size: int) -> list[User]:
        """Users ordered by (created_at, id), strictly after the key `after`."""

    async def set_role(self, user_id: str, role: Role) -> User | None: ...

    async def add_failed_login(self, user_id: str, now: datetime, window: timedelta) -> int:
        """Atomically counts one more failed login, starting afresh if the previous one is
        older than `window`; returns the new count."""

    async def lock(self, user_id: str, until: datetime) -> None:
        """Locks the account and starts counting failures afresh."""

    async def clear_failed_logins(self, user_id: str) -> None: ...


class Sessions(Protocol):
    async def add(self, session: RefreshSession) -> None: ...

    async def get(self, token_hash: str) -> RefreshSession | None: ...

    async def mark_rotated(self, token_hash: str, now: datetime) -> RefreshSession | None:
        """Atomically marks an unrotated, unrevoked, unexpired session rotated and returns it;
        None if no such session exists (so two concurrent rotations cannot both win)."""

    async def revoke_family(self, family_id: str) -> None: ...


class ServiceAccounts(Protocol):
    async def add(self, account: ServiceAccount) -> None: ...

    async def get(self, account_id: str) -> ServiceAccount | None: ...

    async def page(self, after: Sequence[Any] | None, size: int) -> list[ServiceAccount]:
        """Ordered by (created_at, id), strictly after the key `after`."""

    async def set_secret(self, account_id: str, secret_hash: str) -> ServiceAccount | None: ...

    async def disable(self, account_id: str) -> ServiceAccount | None: ...


class Outbox(Protocol):
    """Messages for other services, stored with the change and relayed later."""

    async def add(self, subject: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    subject: str
    payload: dict[str, Any]


class PendingMessages(Protocol):
    """The relay's side of the outbox."""

    on_added: Callable[[], None]

    async def pending(self, limit: int) -> list[OutboxMessage]:
        """Unsent messages, oldest first."""

    async def mark_sent(self, ids: list[str]) -> None: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool: ...


class TokenSigner(Protocol):
    def access_token(self, subject: str, role: Role, ttl: timedelta) -> str: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
