"""The auth service's plain HTTP/1.1 server, which the gateway routes to as is:

- GET /.well-known/jwks.json: the token verification keys, for the gateway and the other
  services (a transcoded RPC would deadlock Envoy's start-up fetch);
- GET /openapi.json: the REST API's OpenAPI document (generated from the protos);
- GET /docs: a Swagger UI page for it, with its files under /docs/ (from a local
  swagger-ui dist directory, so the page works offline).

GET only; keep-alive supported. Errors carry the gateway's `{code, message, details}` body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

JWKS_PATH = "/.well-known/jwks.json"
OPENAPI_PATH = "/openapi.json"
DOCS_PATH = "/docs"
_MAX_HEADER_BYTES = 16 * 1024

# google.rpc.Code values of the errors this server answers with.
_INVALID_ARGUMENT, _NOT_FOUND, _UNIMPLEMENTED = 3, 5, 12


@dataclass(frozen=True)
class Reply:
    status: str
    body: bytes
    content_type: str = "application/json"
    cache_control: str = "public, max-age=60"


def error_reply(status: str, code: int, message: str) -> Reply:
    body = {"code": code, "message": message, "details": []}
    return Reply(status, json.dumps(body).encode(), cache_control="no-store")


def _response(reply: Reply, *, keep_alive: bool) -> bytes:
    headers = [
        f"HTTP/1.1 {reply.status}",
        f"Content-Type: {reply.content_type}",
        f"Content-Length: {len(reply.body)}",
        f"Cache-Control: {reply.cache_control}",
        "X-Content-Type-Options: nosniff",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + reply.body


_PAGE = f"""\
<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>Reward Mesh API</title>
    <link rel="stylesheet" type="text/css" href="{DOCS_PATH}/swagger-ui.css">
    <link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png" sizes="32x32">
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="{DOCS_PATH}/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="{DOCS_PATH}/swagger-initializer.js" charset="UTF-8"></script>
  </body>
</html>
""".encode()

# Replaces the dist's own initializer, which loads the Petstore example from the internet.
# validatorUrl: null keeps the page from sending the document to an online validator.
_INITIALIZER = f"""\
window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{OPENAPI_PATH}",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  }});
}};
""".encode()

_CONTENT_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".png": "image/png",
}
# One plain file name: no separators, no leading dot, so no way out of the directory.
_ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class SwaggerUi:
    """The Swagger UI page for OPENAPI_PATH, and the files of a swagger-ui dist directory."""

    def __init__(self, assets: Path) -> None:
        self._assets = assets.resolve()
        self._files: dict[str, bytes] = {}  # read on first request, then kept

    def reply(self, path: str) -> Reply:
        if path in (DOCS_PATH, f"{DOCS_PATH}/", f"{DOCS_PATH}/index.html"):
            return Reply("200 OK", _PAGE, "text/html; charset=utf-8", "no-cache")
        name = path.removeprefix(f"{DOCS_PATH}/")
        if name == "swagger-initializer.js":
            return Reply("200 OK", _INITIALIZER, _CONTENT_TYPES[".js"], "no-cache")
        content_type = _CONTENT_TYPES.get(Path(name).suffix)
        body = self._file(name) if content_type and _ASSET_NAME.fullmatch(name) else None
        if content_type is None or body is None:
            return error_reply("404 Not Found", _NOT_FOUND, "not found")
        return Reply("200 OK", body, content_type, "public, max-age=86400")

    def _file(self, name: str) -> bytes | None:
        if name not in self._files:
            candidate = (self._assets / name).resolve()
            if candidate.parent != self._assets or not candidate.is_file():
                return None
            self._files[name] = candidate.read_bytes()
        return self._files[name]


class JwksServer:
    def __init__(
        self,
        document: Callable[[], dict[str, Any]],
        *,
        openapi: bytes | None = None,
        docs: SwaggerUi | None = None,
    ) -> None:
        self._document = document
        self._openapi = openapi
        self._docs = docs
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

    def _route(self, path: str) -> Reply:
        if path == JWKS_PATH:
            return Reply("200 OK", json.dumps(self._document()).encode())
        if path == OPENAPI_PATH:
            if self._openapi is None:
                return error_reply(
                    "404 Not Found", _NOT_FOUND, "the OpenAPI document was not generated"
                )
            return Reply("200 OK", self._openapi)
        if self._docs is not None and (path == DOCS_PATH or path.startswith(f"{DOCS_PATH}/")):
            return self._docs.reply(path)
        return error_reply("404 Not Found", _NOT_FOUND, "not found")

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
                    keep_alive = False
                    reply = error_reply("400 Bad Request", _INVALID_ARGUMENT, "no body expected")
                elif method != "GET":
                    reply = error_reply("405 Method Not Allowed", _UNIMPLEMENTED, "GET only")
                else:
                    reply = self._route(path)
                writer.write(_response(reply, keep_alive=keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except ConnectionError:
            return
        finally:
            writer.close()
