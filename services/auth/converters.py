"""Domain objects ↔ protobuf messages for the auth service."""

from __future__ import annotations

from rewardmesh.auth.v1 import auth_pb2
from rewardmesh.authz.v1 import authz_pb2

from services.auth.domain import Role, ServiceAccount, User
from services.common.convert import timestamp


def role_to_proto(role: Role) -> authz_pb2.Role.ValueType:
    return authz_pb2.Role.Value(f"ROLE_{role.value}")


def role_from_proto(value: int) -> Role | None:
    """None for ROLE_UNSPECIFIED and for numbers this build does not know."""
    if value == authz_pb2.ROLE_UNSPECIFIED or value not in authz_pb2.Role.values():
        return None
    return Role(authz_pb2.Role.Name(value).removeprefix("ROLE_"))  # type: ignore[arg-type]


def user_to_proto(user: User) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id,
        email=user.email,
        role=role_to_proto(user.role),
        created_at=timestamp(user.created_at),
    )


def service_account_to_proto(account: ServiceAccount) -> auth_pb2.ServiceAccount:
    return auth_pb2.ServiceAccount(
        id=account.id,
        name=account.name,
        disabled=account.disabled,
        created_at=timestamp(account.created_at),
    )
