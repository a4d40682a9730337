"""gRPC server bootstrap: health, reflection, interceptors, graceful shutdown."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.access import MESH_SERVICES
from services.common.interceptors import Intercepted, Interceptor

log = logging.getLogger("server")

T = TypeVar("T")

# Registers a servicer on a server, e.g. auth_pb2_grpc.add_AuthServiceServicer_to_server.
Registration = tuple[Callable[[Any, Any], None], object]


class _GenericHandlersOnly:
    """What a generated `add_*Servicer_to_server` sees: the server, minus registered
    methods, adding its handlers with the interceptors around them.

    grpc.aio queues the calls of each registered method apart. Under a mixed load the
    busiest method's calls waited behind the rest: in the benchmark's mixed workload
    GetMyProgress (half the calls) spent ~80 ms queued against ~10 ms for ClaimReward and
    ListMyClaims, its handler taking 0.2 ms; p99 160 ms. Served through the generic
    handlers alone, calls are taken in arrival order: every kind p50 ~43 ms, p99 ~71 ms
    at the same throughput.
    """

    def __init__(self, server: grpc.aio.Server, interceptors: Sequence[Interceptor]) -> None:
        self._server = server
        self._interceptors = interceptors

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(
            [Intercepted(handler, self._interceptors) for handler in handlers]
        )

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        """Ignored: the generic handler added alongside serves the same methods."""


@dataclass
class GrpcHost:
    """A started gRPC server and its health service."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: Sequence[str] = field(default_factory=list)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            await self.health.set(name, status)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_grpc(
    address: str,
    registrations: Sequence[Registration],
    served: Sequence[str],
    interceptors: Sequence[Interceptor],
) -> GrpcHost:
    """Starts a server on `address` (port 0 picks a free one), reporting NOT_SERVING.

    `served` names the mesh services this process implements. Reflection lists every
    mesh service (the gateway sends reflection to one backend), plus health.
    """
    server = grpc.aio.server(
        options=[("grpc.so_reuseport", 0), ("grpc.max_receive_message_length", 4 * 1024 * 1024)],
    )
    generic_only: Any = _GenericHandlersOnly(server, interceptors)
    for add, servicer in registrations:
        add(servicer, generic_only)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, generic_only)
    reflection.enable_server_reflection(
        [s.full_name for s in MESH_SERVICES] + [health.SERVICE_NAME, reflection.SERVICE_NAME],
        server,
    )
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    host = GrpcHost(server, port, health_servicer, list(served))
    await host.set_serving(False)
    await server.start()
    return host


def freeze_startup_objects() -> None:
    """Moves everything alive once the service has started (modules, classes, protobuf
    descriptors, the wired application) out of the garbage collector's sight: they live
    as long as the process. A full collection then walks only what requests created, and
    its pause (which stalls every call in flight) drops from ~60-85 ms to a few ms."""
    gc.collect()
    gc.freeze()


async def wait_for_signal() -> None:
    """Returns on SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutdown requested")


async def retry_until_ready(
    name: str, attempt: Callable[[], Awaitable[T]], *, interval: float = 0.5
) -> T:
    """Retries a dependency until it answers (health stays NOT_SERVING meanwhile)."""
    while True:
        try:
            return await attempt()
        except Exception as exc:  # any failure means "not ready yet"
            log.warning("waiting for %s: %s", name, exc)
            await asyncio.sleep(interval)
