"""Who may call what, read from the `rewardmesh.authz.v1.access` option of each RPC.

The proto option is the single source of truth: the gateway renders Envoy RBAC from
the same function, and every service enforces it again in its interceptor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.descriptor_pb2 import MethodOptions
from rewardmesh.auth.v1 import auth_pb2
from rewardmesh.authz.v1 import authz_pb2
from rewardmesh.event.v1 import event_pb2

# Every gRPC service of the mesh, in the order the gateway lists them.
MESH_SERVICES: tuple[ServiceDescriptor, ...] = (
    auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
    event_pb2.DESCRIPTOR.services_by_name["EventService"],
)

ROLE_PREFIX = "ROLE_"
# Role names as they appear in the token's `role` claim.
ROLES: tuple[str, ...] = tuple(
    v.name.removeprefix(ROLE_PREFIX) for v in authz_pb2.Role.DESCRIPTOR.values if v.number != 0
)


@dataclass(frozen=True)
class Policy:
    public: bool
    roles: tuple[str, ...]  # token `role` claim values, in the order the proto lists them

    def allows(self, role: str | None) -> bool:
        return self.public or role in self.roles


def grpc_path(service: ServiceDescriptor, method: str) -> str:
    return f"/{service.full_name}/{method}"


def access_policy(path: str, options: MethodOptions) -> Policy:
    """The `access` option of one RPC's options; raises if it is missing or ambiguous."""
    if not options.HasExtension(authz_pb2.access):
        raise ValueError(f"{path} declares no rewardmesh.authz.v1.access option")
    access = options.Extensions[authz_pb2.access]
    roles = tuple(authz_pb2.Role.Name(r).removeprefix(ROLE_PREFIX) for r in access.roles)
    if access.public == bool(roles):
        raise ValueError(f"{path}: access must be either public or list roles")
    return Policy(public=access.public, roles=roles)


def policies(services: Iterable[ServiceDescriptor] = MESH_SERVICES) -> Mapping[str, Policy]:
    """The access policy of every RPC, keyed by its gRPC path. Raises if one is missing."""
    return {
        grpc_path(service, method.name): access_policy(
            grpc_path(service, method.name), method.GetOptions()
        )
        for service in services
        for method in service.methods
    }
