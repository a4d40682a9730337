"""requirements-runtime.lock, what the service image installs: current, and enough."""

from __future__ import annotations

import ast
import importlib.util
import sysconfig
from importlib import metadata
from pathlib import Path

from tools.runtime_lock import ROOT, RUNTIME_LOCK, normalized, render

# The code in the service image (Dockerfile).
IMAGE_CODE = ("services", "gen", "tools/healthcheck.py")


def test_the_runtime_lock_is_rendered_from_the_current_lock() -> None:
    assert RUNTIME_LOCK.read_text() == render(), "run: python -m tools.runtime_lock --out ..."


def imported_modules() -> set[str]:
    names: set[str] = set()
    for root in IMAGE_CODE:
        path = ROOT / root
        for file in [path] if path.is_file() else path.rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module)
    return names


def installed_files(distribution: str) -> set[Path]:
    dist = metadata.distribution(distribution)
    return {Path(str(dist.locate_file(f))).resolve() for f in dist.files or []}


def test_every_third_party_module_the_image_imports_comes_from_the_runtime_lock() -> None:
    pinned = [
        line.split("==")[0]
        for line in RUNTIME_LOCK.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    shipped = set().union(*(installed_files(name) for name in pinned))
    site_packages = Path(sysconfig.get_paths()["purelib"]).resolve()
    outside: dict[str, str] = {}
    for name in sorted(imported_modules()):
        spec = importlib.util.find_spec(name)
        assert spec is not None, f"{name} is not importable here"
        origin = Path(spec.origin).resolve() if spec.origin and spec.has_location else None
        if origin is None or site_packages not in origin.parents:
            continue  # the standard library, or this repository (services, gen)
        if origin not in shipped:
            owners = [
                d.metadata["Name"]
                for d in metadata.distributions()
                if origin in installed_files(d.metadata["Name"])
            ]
            outside[name] = ", ".join(normalized(o) for o in owners) or "?"
    assert not outside, f"imported by the image but not in {RUNTIME_LOCK.name}: {outside}"
