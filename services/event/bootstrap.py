"""Wires the event service: store, token verification, gRPC server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.common.access import policies
from services.common.interceptors import AuthInterceptor, ErrorInterceptor
from services.common.server import GrpcHost, retry_until_ready, start_grpc
from services.common.tokens import RemoteKeySet, TokenVerifier
from services.event.settings import EventSettings

log = logging.getLogger(__name__)

SERVICE_NAME = event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name


@dataclass
class EventApp:
    settings: EventSettings
    grpc: GrpcHost

    async def stop(self) -> None:
        await self.grpc.stop(self.settings.shutdown_grace_seconds)


async def start(settings: EventSettings) -> EventApp:
    keys = RemoteKeySet(settings.auth_jwks_url)
    verifier = TokenVerifier(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    grpc_host = await start_grpc(
        f"{settings.bind_host}:{settings.event_grpc_port}",
        [
            (
                event_pb2_grpc.add_EventServiceServicer_to_server,
                event_pb2_grpc.EventServiceServicer(),  # type: ignore[abstract]
            )
        ],
        [SERVICE_NAME],
        [ErrorInterceptor("rewardmesh.event"), AuthInterceptor(policies(), verifier)],
    )
    await retry_until_ready("the auth service's JWKS", keys.refresh)
    await grpc_host.set_serving(True)
    log.info("event service ready", extra={"grpc_port": grpc_host.port})
    return EventApp(settings, grpc_host)
