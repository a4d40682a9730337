"""Where the gateway listens and where its upstreams are: the only input besides the protos."""

from __future__ import annotations

from dataclasses import dataclass

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: up to `burst` requests at once, refilled at `per_second`."""

    per_second: int
    burst: int


@dataclass(frozen=True)
class GatewayLayout:
    auth: Upstream  # auth service gRPC (h2c)
    auth_jwks: Upstream  # auth service plain HTTP/1.1 JWKS server, /.well-known/jwks.json
    event: Upstream  # event service gRPC (h2c)
    descriptor_path: str  # descriptors.pb as Envoy sees it
    listen_address: str = "0.0.0.0"  # noqa: S104 - the gateway is the public entry point
    listen_port: int = 8080
    admin_address: str = LOOPBACK
    admin_port: int = 9901
    jwt_issuer: str = "rewardmesh-auth"
    jwt_audience: str = "rewardmesh"
    # Each credential endpoint (login, register, refresh, service token) has its own
    # bucket in front of the auth service's per-account lockout: it caps password
    # guessing across accounts and the argon2 work an attacker can make us do.
    credential_rate_limit: RateLimit = RateLimit(per_second=100, burst=200)
    # ...and, inside it, one bucket per client address, so one client cannot use up the
    # endpoint for everyone else (generous: many players may share an address behind NAT).
    credential_rate_limit_per_client: RateLimit = RateLimit(per_second=20, burst=40)
    # Proxies in front of the gateway whose X-Forwarded-For entries are trusted: 0 when
    # clients connect to it directly; behind a load balancer, 1, or every client would
    # share the balancer's address (and its per-client buckets).
    trusted_proxy_hops: int = 0


def compose_layout() -> GatewayLayout:
    """docker-compose: services reached by their compose host names."""
    return GatewayLayout(
        auth=Upstream("auth", 50051),
        auth_jwks=Upstream("auth", 8081),
        event=Upstream("event", 50052),
        descriptor_path="/etc/envoy/descriptors.pb",
    )


def local_layout(
    *,
    gateway_port: int,
    admin_port: int,
    auth_port: int,
    jwks_port: int,
    event_port: int,
    descriptor_path: str,
) -> GatewayLayout:
    """Everything on one machine, on loopback (the native mesh and the tests)."""
    return GatewayLayout(
        auth=Upstream(LOOPBACK, auth_port),
        auth_jwks=Upstream(LOOPBACK, jwks_port),
        event=Upstream(LOOPBACK, event_port),
        descriptor_path=descriptor_path,
        listen_address=LOOPBACK,
        listen_port=gateway_port,
        admin_address=LOOPBACK,
        admin_port=admin_port,
    )
