"""Container health probe: exits 0 when a gRPC server reports SERVING, else 1.

    python -m tools.healthcheck 127.0.0.1:50051

docker-compose runs it inside the service's own container. It asks the standard
grpc.health.v1 service for the overall status (service name ""), which our servers
report as NOT_SERVING until their store, keys and dependencies are ready.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import grpc
from grpc_health.v1 import health_pb2

CHECK = "/grpc.health.v1.Health/Check"
TIMEOUT_SECONDS = 2.0


def is_serving(target: str, timeout: float = TIMEOUT_SECONDS) -> bool:
    with grpc.insecure_channel(target) as channel:
        # The health stubs' type hints lack the methods; call the method by path.
        check = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
        return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.healthcheck", description=__doc__)
    parser.add_argument("target", help="host:port of the gRPC server, e.g. 127.0.0.1:50051")
    args = parser.parse_args(argv)
    sys.exit(0 if is_serving(args.target) else 1)


if __name__ == "__main__":
    main()
