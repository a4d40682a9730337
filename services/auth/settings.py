"""Auth service configuration (environment variables, validated at startup)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from services.common.settings import CommonSettings

# Written by `make gen` (python -m gateway.openapi); served at /openapi.json when present.
DEFAULT_OPENAPI_FILE = Path(__file__).resolve().parents[2] / "gen" / "openapi.json"


class AuthSettings(CommonSettings):
    auth_grpc_port: int = Field(default=50051, ge=0, le=65535)
    auth_jwks_port: int = Field(default=8081, ge=0, le=65535)
    # PEM (P-256). Generated on first run if the file does not exist.
    auth_signing_key_file: Path | None = None
    # Keys still published in the JWKS after a rotation (PEM, private or public).
    auth_previous_key_files: list[Path] = []
    bootstrap_admin_email: str = "admin@rewardmesh.local"
    # Unset: a random password is generated and printed once, when the admin is created.
    bootstrap_admin_password: SecretStr | None = None
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=14 * 86_400, ge=60)
    service_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=900, ge=1)
    auth_openapi_file: Path = DEFAULT_OPENAPI_FILE

    @property
    def signing_key_path(self) -> Path:
        return self.auth_signing_key_file or self.data_dir / "auth" / "signing-key.pem"
