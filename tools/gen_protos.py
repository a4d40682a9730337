"""Generates Python stubs (with typed .pyi) and the Envoy descriptor set from protos/.

Offline and idempotent: `python -m tools.gen_protos` rewrites gen/ from scratch.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc_tools
from google.api import annotations_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "gen"
DESCRIPTORS = OUT / "descriptors.pb"
# google/api/*.proto and google/rpc/*.proto ship in googleapis-common-protos; their
# Python modules come from that wheel, so only our own files get Python output.
GOOGLEAPIS = Path(annotations_pb2.__file__).resolve().parent.parent.parent
# mypy-protobuf's plugins live beside the interpreter, which need not be on PATH.
BIN = Path(sys.executable).parent
WELL_KNOWN = Path(grpc_tools.__file__).resolve().parent / "_proto"


def _protoc(*args: str) -> None:
    argv = ["protoc", f"-I{PROTOS}", f"-I{GOOGLEAPIS}", f"-I{WELL_KNOWN}", *args]
    if protoc.main(argv) != 0:
        sys.exit(f"protoc failed: {' '.join(args)}")


def main() -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    _protoc(
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={OUT}",
        f"--mypy_out={OUT}",
        f"--grpc_python_out={OUT}",
        f"--mypy_grpc_out={OUT}",
        *sources,
    )
    _protoc(
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={DESCRIPTORS}",
        *sources,
        "google/rpc/error_details.proto",
        "google/rpc/status.proto",
    )
    for package in {p.parent for p in OUT.rglob("*_pb2.py")}:
        while package != OUT:
            (package / "__init__.py").touch()
            package = package.parent
    (OUT / "rewardmesh" / "py.typed").touch()
    print(f"generated {len(sources)} protos into {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
