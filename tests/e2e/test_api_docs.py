"""The generated OpenAPI document and its Swagger UI, served through the gateway."""

from __future__ import annotations

import httpx
import pytest

from tools.mesh import ROOT

GENERATED = ROOT / "gen" / "openapi.json"


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_anyone_gets_the_generated_openapi_document_through_the_gateway(
    rest: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = await rest.get("/openapi.json", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == GENERATED.read_bytes()


async def test_swagger_ui_page_and_its_files_come_through_the_gateway(
    rest: httpx.AsyncClient,
) -> None:
    page = await rest.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for asset, content_type in (
        ("/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("/docs/swagger-ui.css", "text/css; charset=utf-8"),
        ("/docs/swagger-initializer.js", "text/javascript; charset=utf-8"),
    ):
        assert asset in page.text or asset.endswith("initializer.js")
        response = await rest.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["content-type"] == content_type


@pytest.mark.parametrize("path", ["/docs/missing.js", "/docsx", "/openapi.yaml"])
async def test_unknown_docs_paths_are_json_404s(rest: httpx.AsyncClient, path: str) -> None:
    response = await rest.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["code"] == 5
