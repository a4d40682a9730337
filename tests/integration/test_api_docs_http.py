"""The auth service's plain-HTTP server also serves the OpenAPI document and Swagger UI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from swagger_ui_bundle import swagger_ui_path

from services.auth.jwks_http import JwksServer, SwaggerUi

OPENAPI = b'{"openapi": "3.0.3", "info": {"title": "t", "version": "v1"}, "paths": {}}'


def jwks() -> dict[str, Any]:
    return {"keys": []}


async def serve(server: JwksServer) -> AsyncIterator[httpx.AsyncClient]:
    port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            yield client
    finally:
        await server.stop()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    (tmp_path / "secret.txt").write_text("not an asset")
    assets = tmp_path / "dist"
    assets.mkdir()
    (assets / "swagger-ui.css").write_text("body {}")
    (assets / "swagger-ui-bundle.js").write_text("var SwaggerUIBundle;")
    (assets / "index.j2").write_text("{{ template }}")
    (assets / "swagger-initializer.js").write_text('url: "https://petstore.swagger.io"')
    async for served in serve(JwksServer(jwks, openapi=OPENAPI, docs=SwaggerUi(assets))):
        yield served


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body["code"], int)
    assert body["message"]


async def test_serves_the_openapi_document_as_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == OPENAPI


async def test_without_a_generated_document_openapi_json_is_a_json_404() -> None:
    async for client in serve(JwksServer(jwks)):
        assert_json_error(await client.get("/openapi.json"), 404)
        assert_json_error(await client.get("/docs"), 404)


@pytest.mark.parametrize("path", ["/docs", "/docs/", "/docs/index.html"])
async def test_docs_page_loads_swagger_ui_from_docs_and_the_document_from_openapi_json(
    client: httpx.AsyncClient, path: str
) -> None:
    page = await client.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'src="/docs/swagger-ui-bundle.js"' in page.text
    assert 'href="/docs/swagger-ui.css"' in page.text
    initializer = await client.get("/docs/swagger-initializer.js")
    assert initializer.headers["content-type"] == "text/javascript; charset=utf-8"
    assert 'url: "/openapi.json"' in initializer.text
    assert "petstore" not in initializer.text
    assert "validatorUrl: null" in initializer.text


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/docs/swagger-ui.css", "text/css; charset=utf-8", b"body {}"),
        ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", b"var SwaggerUIBundle;"),
    ],
)
async def test_serves_the_dist_files_with_their_content_types(
    client: httpx.AsyncClient, path: str, content_type: str, body: bytes
) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == body


@pytest.mark.parametrize(
    "path",
    [
        "/docs/missing.js",
        "/docs/index.j2",  # not a type we serve
        "/docs/../secret.txt",
        "/docs/..%2Fsecret.txt",
        "/docs/%2e%2e/secret.txt",
        "/docs//etc/passwd",
        "/docs/.hidden.js",
        "/docsx",
    ],
)
async def test_nothing_outside_the_dist_directory_is_served(
    client: httpx.AsyncClient, path: str
) -> None:
    # Written to the socket as is: an HTTP client would normalise the "..".
    port = client.base_url.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    assert head.startswith(b"HTTP/1.1 404 "), head
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["code"] == 5


async def test_the_real_swagger_ui_bundle_has_the_files_the_page_loads() -> None:
    async for client in serve(JwksServer(jwks, docs=SwaggerUi(Path(str(swagger_ui_path))))):
        for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"):
            response = await client.get(f"/docs/{asset}")
            assert response.status_code == 200, asset
            assert len(response.content) > 100, asset


async def test_other_methods_get_a_json_405(client: httpx.AsyncClient) -> None:
    assert_json_error(await client.request("DELETE", "/docs"), 405)
