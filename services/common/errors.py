"""Domain errors: what went wrong, in domain terms, with a stable machine-readable reason.

Standard library only, so every domain module may raise them. One interceptor turns
them into canonical gRPC status codes with a `google.rpc.ErrorInfo` (see interceptors.py).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class ErrorKind(enum.Enum):
    """The canonical status a domain error maps to (names follow google.rpc.Code)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    FAILED_PRECONDITION = "FAILED_PRECONDITION"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class DomainError(Exception):
    """Base of every expected failure. `reason` is UPPER_SNAKE and stable for clients."""

    kind: ErrorKind = ErrorKind.FAILED_PRECONDITION

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        metadata: Mapping[str, str] | None = None,
        violations: tuple[FieldViolation, ...] = (),
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.violations = violations
        self.retry_after_seconds = retry_after_seconds


class InvalidArgument(DomainError):
    kind = ErrorKind.INVALID_ARGUMENT

    def __init__(self, *violations: FieldViolation, reason: str = "INVALID_ARGUMENT") -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(f"invalid request: {summary}", reason=reason, violations=violations)

    @classmethod
    def field(
        cls, field: str, description: str, *, reason: str = "INVALID_ARGUMENT"
    ) -> InvalidArgument:
        return cls(FieldViolation(field, description), reason=reason)


class NotFound(DomainError):
    kind = ErrorKind.NOT_FOUND


class AlreadyExists(DomainError):
    kind = ErrorKind.ALREADY_EXISTS


class FailedPrecondition(DomainError):
    kind = ErrorKind.FAILED_PRECONDITION


class PermissionDenied(DomainError):
    kind = ErrorKind.PERMISSION_DENIED


class Unauthenticated(DomainError):
    kind = ErrorKind.UNAUTHENTICATED


class ResourceExhausted(DomainError):
    kind = ErrorKind.RESOURCE_EXHAUSTED


class Unavailable(DomainError):
    kind = ErrorKind.UNAVAILABLE


class Violations:
    """Collects every field problem of a request, then raises them together."""

    def __init__(self) -> None:
        self._items: list[FieldViolation] = []

    def add(self, field: str, description: str) -> None:
        self._items.append(FieldViolation(field, description))

    def check(self, ok: bool, field: str, description: str) -> None:
        if not ok:
            self.add(field, description)

    def raise_if_any(self) -> None:
        if self._items:
            raise InvalidArgument(*self._items)


_BY_KIND: dict[ErrorKind, type[DomainError]] = {
    cls.kind: cls
    for cls in (
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        PermissionDenied,
        Unauthenticated,
        ResourceExhausted,
        Unavailable,
    )
}


def rebuild_error(
    kind: str,
    message: str,
    reason: str,
    metadata: Mapping[str, str] | None = None,
    violations: tuple[FieldViolation, ...] = (),
) -> DomainError:
    """A stored error (kind, message, reason, metadata, violations) as an exception again."""
    error_kind = ErrorKind(kind)
    if error_kind is ErrorKind.INVALID_ARGUMENT:
        error: DomainError = InvalidArgument(reason=reason)
        DomainError.__init__(
            error, message, reason=reason, metadata=metadata, violations=violations
        )
        return error
    return _BY_KIND[error_kind](message, reason=reason, metadata=metadata, violations=violations)
