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
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    Continuation = Callable[
        [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
    ]

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


def _wrap_unary(
    handler: grpc.RpcMethodHandler[Any, Any], wrap: Callable[[Handler], Handler]
) -> grpc.RpcMethodHandler[Any, Any]:
    """Returns `handler` with its unary-unary behaviour wrapped; other kinds pass through."""
    if handler.unary_unary is None:
        return handler
    return grpc.unary_unary_rpc_method_handler(
        wrap(handler.unary_unary),  # type: ignore[arg-type]
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


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


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps exceptions to statuses and writes one access-log line per RPC."""

    def __init__(self, domain: str) -> None:
        self._domain = domain

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def wrap(behaviour: Handler) -> Handler:
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
                    await context.abort(
                        _INTERNAL.code, _INTERNAL.details, _INTERNAL.trailing_metadata
                    )
                finally:
                    log.log(
                        logging.DEBUG if method.startswith(_QUIET_PREFIX) else logging.INFO,
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

        return _wrap_unary(handler, wrap)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Verifies the bearer token itself and enforces the RPC's access policy.

    Services are exactly as strict when called directly as through the gateway.
    Methods outside the mesh's packages (health, reflection) are public infrastructure;
    a mesh method without a policy is denied.
    """

    def __init__(self, policies: Mapping[str, Policy], verifier: TokenVerifier) -> None:
        self._policies = policies
        self._verifier = verifier

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith("/rewardmesh."):
            return handler
        policy = self._policies.get(method)

        def wrap(behaviour: Handler) -> Handler:
            async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                await self._authorize(policy, context)
                return await behaviour(request, context)

            return run

        return _wrap_unary(handler, wrap)

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
