"""Settings shared by every service, read from the environment and validated at startup."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Unset: the embedded in-memory store (data is lost when the process exits).
    mongodb_url: SecretStr | None = None
    # Prepended to each service's database name ("auth", "event"); tests use it to isolate runs.
    mongodb_database_prefix: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    bind_host: str = "0.0.0.0"  # noqa: S104 - services listen for the gateway in containers
    data_dir: Path = Path(".data")
    jwt_issuer: str = "rewardmesh-auth"
    jwt_audience: str = "rewardmesh"
    shutdown_grace_seconds: float = Field(default=5.0, ge=0)

    @property
    def mongodb_url_value(self) -> str | None:
        return self.mongodb_url.get_secret_value() if self.mongodb_url else None
