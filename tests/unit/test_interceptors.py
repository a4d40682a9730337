"""How interceptors are put around the services' methods (services/common/interceptors.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from services.common.interceptors import Intercepted

Behaviour = Callable[[Any, Any], Awaitable[Any]]


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata = ()


class _Tagging:
    """Records which methods it wrapped, and tags each call's result with its name."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.wrapped: list[str] = []

    def wrap(self, method: str, behaviour: Behaviour) -> Behaviour:
        self.wrapped.append(method)

        async def run(request: Any, context: Any) -> Any:
            return [self.name, *await behaviour(request, context)]

        return run


async def _echo(request: Any, context: Any) -> list[Any]:
    return [request]


async def _stream(request: Any, context: Any) -> None:
    return None


_SERVICE = grpc.method_handlers_generic_handler(
    "test.Service",
    {
        "Echo": grpc.unary_unary_rpc_method_handler(_echo),
        "Watch": grpc.unary_stream_rpc_method_handler(_stream),
    },
)


def _intercepted() -> tuple[Intercepted, _Tagging, _Tagging]:
    outer, inner = _Tagging("outer"), _Tagging("inner")
    return Intercepted(_SERVICE, [outer, inner]), outer, inner


def test_the_first_interceptor_is_outermost() -> None:
    handler = _intercepted()[0].service(_Details("/test.Service/Echo"))
    assert handler is not None
    behaviour: Any = handler.unary_unary
    assert asyncio.run(behaviour("hi", None)) == ["outer", "inner", "hi"]


def test_a_method_is_wrapped_once_and_its_handler_kept() -> None:
    intercepted, outer, inner = _intercepted()
    first = intercepted.service(_Details("/test.Service/Echo"))
    second = intercepted.service(_Details("/test.Service/Echo"))
    assert first is second
    assert outer.wrapped == inner.wrapped == ["/test.Service/Echo"]


def test_unknown_methods_are_not_kept() -> None:
    intercepted, outer, _ = _intercepted()
    for n in range(3):
        assert intercepted.service(_Details(f"/test.Service/Missing{n}")) is None
    assert outer.wrapped == []
    assert intercepted._wrapped == {}


def test_streaming_methods_pass_through_unwrapped() -> None:
    intercepted, outer, _ = _intercepted()
    details = _Details("/test.Service/Watch")
    assert intercepted.service(details) is _SERVICE.service(details)
    assert outer.wrapped == []
