"""Wires the event service: store, token verification, gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.common.access import policies
from services.common.interceptors import AuthInterceptor, ErrorInterceptor
from services.common.server import GrpcHost, retry_until_ready, start_grpc
from services.common.store import Store, UtcClock, connect
from services.common.tokens import RemoteKeySet, Revocations, TokenVerifier
from services.event.mongo import (
    DOCUMENTS,
    MongoAuditLog,
    MongoClaimLog,
    MongoDeadLetters,
    MongoEvents,
    MongoProgresses,
)
from services.event.nats_bus import ConsumerSettings, EventConsumers
from services.event.servicer import EventServicer
from services.event.settings import EventSettings
from services.event.use_cases import EventUseCases

log = logging.getLogger(__name__)

SERVICE_NAME = event_pb2.DESCRIPTOR.services_by_name["EventService"].full_name


@dataclass
class EventApp:
    settings: EventSettings
    grpc: GrpcHost
    store: Store
    use_cases: EventUseCases
    consumers: EventConsumers
    consuming: asyncio.Task[None]

    async def stop(self) -> None:
        await self.grpc.stop(self.settings.shutdown_grace_seconds)
        self.consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.consuming
        await self.store.close()


async def start(settings: EventSettings) -> EventApp:
    database = f"{settings.mongodb_database_prefix}event"
    store = await retry_until_ready(
        f"the {database} database",
        lambda: connect(settings.mongodb_url_value, database, DOCUMENTS),
    )
    use_cases = EventUseCases(
        events=MongoEvents(),
        progresses=MongoProgresses(),
        claims=MongoClaimLog(),
        audit=MongoAuditLog(),
        dead_letters=MongoDeadLetters(),
        clock=UtcClock(),
    )
    keys = RemoteKeySet(settings.auth_jwks_url)
    # Disabled service accounts, learned from the auth service's messages.
    revocations = Revocations()
    verifier = TokenVerifier(
        keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=revocations,
    )
    grpc_host = await start_grpc(
        f"{settings.bind_host}:{settings.event_grpc_port}",
        [(event_pb2_grpc.add_EventServiceServicer_to_server, EventServicer(use_cases))],
        [SERVICE_NAME],
        [ErrorInterceptor("rewardmesh.event"), AuthInterceptor(policies(), verifier)],
    )
    await retry_until_ready("the auth service's JWKS", keys.refresh)
    consumers = EventConsumers(
        settings.nats_url,
        use_cases,
        ConsumerSettings(
            batch=settings.consumer_batch_size,
            max_deliver=settings.consumer_max_deliver,
            backoff=tuple(settings.consumer_backoff_seconds),
            ack_wait=settings.consumer_ack_wait_seconds,
        ),
        revocations,
    )
    consuming = asyncio.create_task(consumers.run(), name="consumers")
    try:
        await asyncio.wait_for(
            consumers.revocations_loaded.wait(), settings.revocations_wait_seconds
        )
    except TimeoutError:
        # Staying down while NATS is would be worse; revocations apply once it is back.
        log.warning("serving before the revoked service accounts are known")
    await grpc_host.set_serving(True)
    log.info("event service ready", extra={"grpc_port": grpc_host.port})
    return EventApp(settings, grpc_host, store, use_cases, consumers, consuming)
