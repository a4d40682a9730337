"""Event service configuration (environment variables, validated at startup)."""

from __future__ import annotations

from pydantic import Field

from services.common.settings import CommonSettings


class EventSettings(CommonSettings):
    event_grpc_port: int = Field(default=50052, ge=0, le=65535)
    # Where the auth service publishes its token signing keys.
    auth_jwks_url: str = "http://127.0.0.1:8081/.well-known/jwks.json"
