"""The caller of the current RPC, set by the authentication interceptor."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from services.common.errors import Unauthenticated


@dataclass(frozen=True)
class Principal:
    subject: str  # user id, or service account id for GAME_SERVER
    role: str  # role name without the ROLE_ prefix, e.g. "ADMIN"


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)


def set_principal(principal: Principal | None) -> None:
    _principal.set(principal)


def current_principal() -> Principal:
    principal = _principal.get()
    if principal is None:
        raise Unauthenticated("this call needs a signed-in caller", reason="TOKEN_MISSING")
    return principal
