"""Event service configuration (environment variables, validated at startup)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class EventSettings(CommonSettings):
    event_grpc_port: int = Field(default=50052, ge=0, le=65535)
    # Where the auth service publishes its token signing keys.
    auth_jwks_url: str = "http://127.0.0.1:8081/.well-known/jwks.json"
    consumer_batch_size: int = Field(default=100, ge=1, le=1000)
    # Deliveries before a message becomes a dead letter.
    consumer_max_deliver: int = Field(default=5, ge=2)
    # Wait before each redelivery of a failed message (JSON list of seconds).
    consumer_backoff_seconds: list[float] = [1.0, 2.0, 5.0, 10.0]
    consumer_ack_wait_seconds: float = Field(default=30.0, gt=0)
    # How long startup waits to learn the revoked service accounts before serving anyway
    # (only matters when NATS is unreachable; replaying them takes milliseconds).
    revocations_wait_seconds: float = Field(default=3.0, ge=0)
