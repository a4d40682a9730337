"""Serves the JWKS over plain HTTP/1.1 for the gateway (a transcoded RPC would deadlock
Envoy's start-up fetch) and for the other services. GET only; keep-alive supported."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"
_MAX_HEADER_BYTES = 16 * 1024


def _response(
    status: str, body: bytes, *, keep_alive: bool, content_type: str = "application/json"
) -> bytes:
    headers = [
        f"HTTP/1.1 {status}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Cache-Control: public, max-age=60",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


class JwksServer:
    def __init__(self, document: Callable[[], dict[str, Any]]) -> None:
        self._document = document
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._handle, host, port, limit=_MAX_HEADER_BYTES)
        bound: int = self._server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, _, rest = request_line.partition(" ")
                path = rest.partition(" ")[0].partition("?")[0]
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (line.partition(":") for line in header_lines if line)
                }
                keep_alive = headers.get("connection", "").lower() != "close"
                if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
                    writer.write(
                        _response(
                            "400 Bad Request", b'{"message":"no body expected"}', keep_alive=False
                        )
                    )
                    keep_alive = False
                elif method != "GET":
                    writer.write(
                        _response(
                            "405 Method Not Allowed",
                            b'{"message":"GET only"}',
                            keep_alive=keep_alive,
                        )
                    )
                elif path != JWKS_PATH:
                    writer.write(
                        _response(
                            "404 Not Found", b'{"message":"not found"}', keep_alive=keep_alive
                        )
                    )
                else:
                    body = json.dumps(self._document()).encode()
                    writer.write(_response("200 OK", body, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()
