"""The mesh's RPCs and who may call them, read from the descriptor set Envoy transcodes with.

Reading gen/descriptors.pb (rather than a list kept by hand) means the routes, JWT rules
and RBAC policies always cover exactly the RPCs the transcoder knows about.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

# Importing access registers the `access` extension (via authz_pb2), so it is parsed out
# of the MethodOptions in the descriptor set instead of staying an unknown field.
from services.common.access import access_policy

DEFAULT_DESCRIPTOR_SET = Path(__file__).resolve().parent.parent / "gen" / "descriptors.pb"
MESH_PACKAGE_PREFIX = "rewardmesh."


@dataclass(frozen=True)
class Rpc:
    grpc_path: str  # "/rewardmesh.auth.v1.AuthService/Login"
    public: bool
    roles: tuple[str, ...]  # values of the token's `role` claim, e.g. ("OPERATOR", "ADMIN")


@dataclass(frozen=True)
class MeshService:
    full_name: str  # "rewardmesh.auth.v1.AuthService"
    upstream: str  # the service that implements it: "auth" for package rewardmesh.auth.v1
    rpcs: tuple[Rpc, ...]

    @property
    def path_prefix(self) -> str:
        return f"/{self.full_name}/"


def load_services(descriptor_set: Path = DEFAULT_DESCRIPTOR_SET) -> tuple[MeshService, ...]:
    """Every gRPC service in a `rewardmesh.*` package, in descriptor-set order."""
    try:
        data = descriptor_set.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{descriptor_set} is missing; run `make gen`") from None
    files = descriptor_pb2.FileDescriptorSet.FromString(data).file
    return tuple(
        _mesh_service(file, service)
        for file in files
        if file.package.startswith(MESH_PACKAGE_PREFIX)
        for service in file.service
    )


def _mesh_service(
    file: descriptor_pb2.FileDescriptorProto, service: descriptor_pb2.ServiceDescriptorProto
) -> MeshService:
    full_name = f"{file.package}.{service.name}"
    return MeshService(
        full_name=full_name,
        upstream=file.package.split(".")[1],
        rpcs=tuple(_rpc(f"/{full_name}/{method.name}", method) for method in service.method),
    )


def _rpc(grpc_path: str, method: descriptor_pb2.MethodDescriptorProto) -> Rpc:
    policy = access_policy(grpc_path, method.options)
    return Rpc(grpc_path=grpc_path, public=policy.public, roles=policy.roles)
