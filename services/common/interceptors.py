"""Cross-cutting RPC concerns: errors + access log (outermost), then authentication.

Servicers never catch exceptions: a DomainError becomes its canonical status with a
google.rpc.ErrorInfo (and BadRequest / RetryInfo where they apply); anything else
becomes INTERNAL with a generic message, the traceback going only to the log.
"""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services.common.access import Policy
from services.common.errors import DomainError, ErrorKind, PermissionDenied, Unauthenticated
from services.common.identity import set_principal
from services.common.tokens import TokenVerifier, bearer_token

log = logging.getLogger("rpc")

if TYPE_CHECKING:
    Handler = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]

_CODES: Mapping[ErrorKind, grpc.StatusCode] = {
    kind: grpc.StatusCode[kind.value] for kind in ErrorKind
}


# Health probes arrive every few seconds from the gateway; they would drown the log.
_QUIET_PREFIX = "/grpc.health.v1.Health/"


@dataclass
class RpcInfo:
    """What the access log line reports about the current RPC; filled in along the way."""

    method: str
    request_id: str
    user_id: str | None = None
    reason: str | None = None


_rpc_info: contextvars.ContextVar[RpcInfo | None] = contextvars.ContextVar("rpc", default=None)


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


def status_of(error: DomainError, domain: str) -> grpc.Status:
    details = [
        error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
    ]
    if error.violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in error.violations
                ]
            )
        )
    if error.retry_after_seconds is not None:
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_seconds * 1000))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        any_detail = any_pb2.Any()
        any_detail.Pack(detail)
        packed.append(any_detail)
    code = _CODES[error.kind]
    status = status_pb2.Status(code=code.value[0], message=error.message, details=packed)
    return rpc_status.to_status(status)


_INTERNAL = rpc_status.to_status(
    status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; it has been logged")
)


class ErrorInterceptor:
    """Maps exceptions to statuses and writes one access-log line per RPC."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    def wrap(self, method: str, behaviour: Handler) -> Handler:
        level = logging.DEBUG if method.startswith(_QUIET_PREFIX) else logging.INFO

        async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            info = RpcInfo(method, _metadata(context, "x-request-id") or uuid.uuid4().hex)
            _rpc_info.set(info)
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                return await behaviour(request, context)
            except DomainError as error:
                code, info.reason = _CODES[error.kind], error.reason
                status = status_of(error, self._domain)
                await context.abort(status.code, status.details, status.trailing_metadata)
            except NotImplementedError:
                code = grpc.StatusCode.UNIMPLEMENTED
                await context.abort(code, f"{method} is not implemented yet")
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                await context.abort(_INTERNAL.code, _INTERNAL.details, _INTERNAL.trailing_metadata)
            finally:
                if log.isEnabledFor(level):
                    log.log(
                        level,
                        "rpc",
                        extra={
                            "method": method,
                            "status": code.name,
                            "reason": info.reason,
                            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                            "request_id": info.request_id,
                            "user_id": info.user_id,
                        },
                    )

        return run


class AuthInterceptor:
    """Verifies the bearer token itself and enforces the RPC's access policy.

    Services are exactly as strict when called directly as through the gateway.
    Methods outside the mesh's packages (health, reflection) are public infrastructure;
    a mesh method without a policy is denied.
    """

    def __init__(self, policies: Mapping[str, Policy], verifier: TokenVerifier) -> None:
        self._policies = policies
        self._verifier = verifier

    def wrap(self, method: str, behaviour: Handler) -> Handler:
        if not method.startswith("/rewardmesh."):
            return behaviour
        policy = self._policies.get(method)

        async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await self._authorize(policy, context)
            return await behaviour(request, context)

        return run

    async def _authorize(
        self, policy: Policy | None, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        set_principal(None)
        if policy is None:
            raise PermissionDenied("this method has no access policy", reason="NO_POLICY")
        if policy.public:
            # Public calls ignore credentials: a stale token must not block RefreshToken.
            return
        token = bearer_token(_metadata(context, "authorization"))
        if token is None:
            raise Unauthenticated("this call needs an access token", reason="TOKEN_MISSING")
        principal = await self._verifier.verify(token)
        set_principal(principal)
        info = _rpc_info.get()
        if info is not None:
            info.user_id = principal.subject
        if not policy.allows(principal.role):
            raise PermissionDenied(
                f"role {principal.role} may not call this method", reason="ROLE_NOT_ALLOWED"
            )


class Interceptor(Protocol):
    def wrap(self, method: str, behaviour: Handler) -> Handler:
        """`behaviour` (a unary-unary method's) with this concern around it."""


class Intercepted(grpc.GenericRpcHandler):
    """The methods of `handler`, their unary-unary behaviour run through `interceptors`
    (the first outermost).

    Each method is wrapped once, on its first call, and kept: grpc.aio's own server
    interceptors run their chain and wrap the handler again on every call: a health Check
    cost the service ~235 µs of CPU that way, ~205 µs this way (~200 with no interceptor).
    """

    def __init__(self, handler: grpc.GenericRpcHandler, interceptors: Sequence[Interceptor]):
        self._handler = handler
        self._interceptors = interceptors
        # Only methods the handler serves are kept: unknown names cannot grow it.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = self._handler.service(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        behaviour: Handler = handler.unary_unary  # type: ignore[assignment]  # stubs type it sync
        for interceptor in reversed(self._interceptors):
            behaviour = interceptor.wrap(method, behaviour)
        wrapped = self._wrapped[method] = grpc.unary_unary_rpc_method_handler(
            behaviour,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
        return wrapped
