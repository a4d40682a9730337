"""Wires the auth service: store, keys, use cases, gRPC server, JWKS server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from swagger_ui_bundle import swagger_ui_path

from services.auth.crypto import Argon2Hasher, Keyring
from services.auth.domain import LockoutPolicy
from services.auth.jwks_http import JwksServer, SwaggerUi
from services.auth.mongo import (
    DOCUMENTS,
    MongoOutbox,
    MongoServiceAccounts,
    MongoSessions,
    MongoUsers,
)
from services.auth.nats_bus import OutboxRelay
from services.auth.servicer import AuthServicer
from services.auth.settings import AuthSettings
from services.auth.use_cases import AuthUseCases, TokenPolicy
from services.common.access import policies
from services.common.interceptors import AuthInterceptor, ErrorInterceptor
from services.common.server import GrpcHost, retry_until_ready, start_grpc
from services.common.store import Store, UtcClock, connect
from services.common.tokens import TokenVerifier

log = logging.getLogger(__name__)

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


@dataclass
class AuthApp:
    settings: AuthSettings
    store: Store
    grpc: GrpcHost
    jwks: JwksServer
    jwks_port: int
    use_cases: AuthUseCases
    relay: asyncio.Task[None]

    async def stop(self) -> None:
        await self.grpc.stop(self.settings.shutdown_grace_seconds)
        await self.jwks.stop()
        self.relay.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.relay
        await self.store.close()


async def start(settings: AuthSettings) -> AuthApp:
    keyring = Keyring.load(
        settings.signing_key_path,
        settings.auth_previous_key_files,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    database = f"{settings.mongodb_database_prefix}auth"
    store = await retry_until_ready(
        f"the {database} database",
        lambda: connect(settings.mongodb_url_value, database, DOCUMENTS),
    )
    clock = UtcClock()
    outbox = MongoOutbox(clock.now)
    use_cases = AuthUseCases(
        users=MongoUsers(),
        sessions=MongoSessions(),
        service_accounts=MongoServiceAccounts(),
        outbox=outbox,
        hasher=Argon2Hasher(),
        signer=keyring,
        clock=clock,
        lockout=LockoutPolicy(
            max_failures=settings.login_max_failures,
            duration=timedelta(seconds=settings.login_lockout_seconds),
        ),
        tokens=TokenPolicy(
            access_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
            service_ttl=timedelta(seconds=settings.service_token_ttl_seconds),
        ),
    )
    verifier = TokenVerifier(
        keyring,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        revocations=use_cases,
    )
    grpc_host = await start_grpc(
        f"{settings.bind_host}:{settings.auth_grpc_port}",
        [(auth_pb2_grpc.add_AuthServiceServicer_to_server, AuthServicer(use_cases))],
        [SERVICE_NAME],
        [ErrorInterceptor("rewardmesh.auth"), AuthInterceptor(policies(), verifier)],
    )
    jwks = JwksServer(
        keyring.jwks,
        openapi=_read_openapi(settings.auth_openapi_file),
        docs=SwaggerUi(Path(str(swagger_ui_path))),
    )
    jwks_port = await jwks.start(settings.bind_host, settings.auth_jwks_port)
    await _ensure_bootstrap_admin(settings, use_cases)
    relay = asyncio.create_task(OutboxRelay(settings.nats_url, outbox).run(), name="outbox-relay")
    await grpc_host.set_serving(True)
    log.info(
        "auth service ready",
        extra={
            "grpc_port": grpc_host.port,
            "jwks_port": jwks_port,
            "embedded_store": store.embedded,
        },
    )
    return AuthApp(settings, store, grpc_host, jwks, jwks_port, use_cases, relay)


def _read_openapi(path: Path) -> bytes | None:
    """The generated document, checked to be JSON; without it /openapi.json answers 404."""
    try:
        document = path.read_bytes()
        json.loads(document)
    except (OSError, ValueError) as error:
        log.warning("no OpenAPI document to serve", extra={"path": str(path), "error": str(error)})
        return None
    return document


async def _ensure_bootstrap_admin(settings: AuthSettings, use_cases: AuthUseCases) -> None:
    # An empty value counts as unset: it would otherwise leave no usable admin.
    configured = (
        settings.bootstrap_admin_password.get_secret_value()
        if settings.bootstrap_admin_password
        else ""
    )
    password = configured or secrets.token_urlsafe(18)
    created = await use_cases.ensure_admin(settings.bootstrap_admin_email, password)
    if created and not configured:
        # Deliberately not a log line: logs are shipped and kept, this is shown once.
        print(
            f"bootstrap admin created: {settings.bootstrap_admin_email} / {password}",
            file=sys.stderr,
            flush=True,
        )
