"""Runs the whole mesh natively: nats-server (JetStream), auth, event and Envoy.

`python -m tools.mesh run` is what `make run` calls; tests use `Mesh` directly with
free ports. Every process is started here and stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.render import local_layout, render
from tools.healthcheck import is_serving

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DESCRIPTORS = ROOT / "gen" / "descriptors.pb"
LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Distinct free ports: every socket stays bound until all are picked, so the
    kernel cannot hand the same port out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind((LOOPBACK, 0))
        return [s.getsockname()[1] for s in sockets]


def free_port() -> int:
    return free_ports(1)[0]


@dataclass(frozen=True)
class Ports:
    gateway: int
    admin: int
    auth_grpc: int
    auth_jwks: int
    event_grpc: int
    nats: int
    nats_monitor: int

    @classmethod
    def free(cls) -> Ports:
        return cls(*free_ports(7))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        def port(name: str, default: int) -> int:
            return int(env.get(name, default))

        return cls(
            gateway=port("GATEWAY_PORT", 8080),
            admin=port("ENVOY_ADMIN_PORT", 9901),
            auth_grpc=port("AUTH_GRPC_PORT", 50051),
            auth_jwks=port("AUTH_JWKS_PORT", 8081),
            event_grpc=port("EVENT_GRPC_PORT", 50052),
            nats=port("NATS_PORT", 4222),
            nats_monitor=port("NATS_MONITOR_PORT", 8222),
        )


class StartupError(RuntimeError):
    pass


@dataclass
class Mesh:
    data_dir: Path
    ports: Ports = field(default_factory=Ports.free)
    admin_email: str = "admin@rewardmesh.local"
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    mongodb_url: str | None = None
    # An external NATS; when unset the mesh starts its own nats-server.
    nats_url: str | None = None
    # Extra environment for both services (e.g. short token lifetimes in tests).
    service_env: Mapping[str, str] = field(default_factory=dict)
    # GatewayLayout fields to change (e.g. lower rate limits in tests).
    gateway_overrides: Mapping[str, Any] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def gateway_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.gateway}"

    @property
    def gateway_target(self) -> str:
        return f"{LOOPBACK}:{self.ports.gateway}"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(self, timeout: float = 60.0) -> None:
        try:
            if self.nats_url is None:
                self.start_nats()
            self.start_auth()
            self.start_event()
            self.wait_ready(timeout, ("nats", "auth", "event"))
            # After auth is serving, so Envoy's first JWKS fetch succeeds.
            self.start_envoy()
            self.wait_ready(timeout, ("envoy", "gateway"))
        except BaseException:
            self.stop()
            raise

    # --- processes ------------------------------------------------------------------

    def start_nats(self) -> None:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        self._spawn(
            "nats",
            [
                str(BIN / "nats-server"),
                "--jetstream",
                "--store_dir", str(store),
                "--addr", LOOPBACK,
                "--port", str(self.ports.nats),
                "--http_port", str(self.ports.nats_monitor),
            ],
        )  # fmt: skip

    def start_auth(self) -> None:
        self._spawn(
            "auth",
            [sys.executable, "-m", "services.auth.main"],
            {
                "AUTH_GRPC_PORT": str(self.ports.auth_grpc),
                "AUTH_JWKS_PORT": str(self.ports.auth_jwks),
                "BOOTSTRAP_ADMIN_EMAIL": self.admin_email,
                "BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
            },
        )

    def start_event(self) -> None:
        self._spawn(
            "event",
            [sys.executable, "-m", "services.event.main"],
            {
                "EVENT_GRPC_PORT": str(self.ports.event_grpc),
                "AUTH_JWKS_URL": f"http://{LOOPBACK}:{self.ports.auth_jwks}/.well-known/jwks.json",
            },
        )

    def start_envoy(self) -> None:
        config = self.data_dir / "envoy.yaml"
        layout = local_layout(
            gateway_port=self.ports.gateway,
            admin_port=self.ports.admin,
            auth_port=self.ports.auth_grpc,
            jwks_port=self.ports.auth_jwks,
            event_port=self.ports.event_grpc,
            descriptor_path=str(DESCRIPTORS),
        )
        config.write_text(render(dataclasses.replace(layout, **self.gateway_overrides)))
        self._spawn(
            "envoy",
            [
                str(BIN / "envoy"),
                "-c", str(config),
                "--disable-hot-restart",
                "--log-level", "warn",
                # One worker thread. Each process here runs in a session of its own, and
                # the kernel's autogroup scheduling gives each session an equal CPU share,
                # split across the CPUs its threads run on: under load each of two workers
                # waited for a CPU 65% of the time, stalling every request it held for up
                # to ~100 ms (mixed benchmark p99 108-146 ms; 32-48 ms with one worker, at
                # the same rps relative to the baseline). One worker serves far more than
                # the services behind it.
                "--concurrency", "1",
            ],
        )  # fmt: skip

    def _service_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gen'}",
            "BIND_HOST": LOOPBACK,
            "DATA_DIR": str(self.data_dir),
            "NATS_URL": self.nats_url or f"nats://{LOOPBACK}:{self.ports.nats}",
            **self.service_env,
            **extra,
        }
        if self.mongodb_url:
            env["MONGODB_URL"] = self.mongodb_url
        else:
            env.pop("MONGODB_URL", None)
        return env

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path(name).open("ab")
        self.processes[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=self._service_env(env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in `make run` reaches us, not them directly
        )
        log.close()

    def stop_process(self, name: str, *, kill: bool = False, timeout: float = 10.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def stop(self) -> None:
        for name in ("envoy", "event", "auth", "nats"):
            self.stop_process(name)

    # --- readiness -----------------------------------------------------------------

    def wait_ready(self, timeout: float, names: tuple[str, ...]) -> None:
        deadline = time.monotonic() + timeout
        checks: dict[str, Callable[[], bool]] = {
            "nats": lambda: _http_ok(f"http://{LOOPBACK}:{self.ports.nats_monitor}/healthz"),
            "auth": lambda: _grpc_serving(self.ports.auth_grpc),
            "event": lambda: _grpc_serving(self.ports.event_grpc),
            "envoy": lambda: _http_ok(f"http://{LOOPBACK}:{self.ports.admin}/ready"),
            "gateway": lambda: _grpc_serving(self.ports.gateway),
        }
        for name in names:
            if name == "nats" and "nats" not in self.processes:
                continue
            while not checks[name]():
                self._fail_if_exited()
                if time.monotonic() > deadline:
                    raise StartupError(f"{name} not ready after {timeout:.0f}s; see {self.log_dir}")
                time.sleep(0.1)

    def _fail_if_exited(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = self.log_path(name).read_text(errors="replace")[-3000:]
                raise StartupError(f"{name} exited with {process.returncode}:\n{tail}")


def _grpc_serving(port: int) -> bool:
    return is_serving(f"{LOOPBACK}:{port}", timeout=1)


def _http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def running(mesh: Mesh, timeout: float = 60.0) -> Iterator[Mesh]:
    mesh.start(timeout)
    try:
        yield mesh
    finally:
        mesh.stop()


def _admin_password(data_dir: Path) -> str:
    """Configured, else generated once and kept so it stays valid with a persistent MongoDB."""
    configured = os.environ.get("BOOTSTRAP_ADMIN_PASSWORD")
    if configured:
        return configured
    stored = data_dir / "bootstrap-admin-password"
    if not stored.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        stored.write_text(secrets.token_urlsafe(18))
        stored.chmod(0o600)
    return stored.read_text().strip()


def run() -> None:
    data_dir = Path(os.environ.get("DATA_DIR", ROOT / ".data")).resolve()
    mesh = Mesh(
        data_dir=data_dir,
        ports=Ports.from_env(os.environ),
        admin_email=os.environ.get("BOOTSTRAP_ADMIN_EMAIL", "admin@rewardmesh.local"),
        admin_password=_admin_password(data_dir),
        mongodb_url=os.environ.get("MONGODB_URL") or None,
        nats_url=os.environ.get("NATS_URL") or None,
    )
    stop_requested = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print("starting nats-server, auth, event and envoy ...", flush=True)
    with running(mesh):
        store = "MongoDB" if mesh.mongodb_url else "embedded in-memory store (data lost on exit)"
        print(
            f"""
Reward Mesh is up.
  REST     {mesh.gateway_url}   (e.g. curl {mesh.gateway_url}/v1/events)
  gRPC     {mesh.gateway_target}   (grpcurl -plaintext {mesh.gateway_target} list)
  JWKS     {mesh.gateway_url}/.well-known/jwks.json
  API docs {mesh.gateway_url}/docs   (OpenAPI: {mesh.gateway_url}/openapi.json)
  admin    {mesh.admin_email} / {mesh.admin_password}
  store    {store}
  logs     {mesh.log_dir}/
Ctrl-C stops everything.""",
            flush=True,
        )
        while not stop_requested:
            for name, process in mesh.processes.items():
                if process.poll() is not None:
                    print(
                        f"{name} exited ({process.returncode}); stopping. See {mesh.log_path(name)}"
                    )
                    stop_requested = True
            time.sleep(0.5)
        print("stopping ...", flush=True)
    print("stopped.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)
    try:
        run()
    except StartupError as exc:
        sys.exit(f"mesh failed to start: {exc}")


if __name__ == "__main__":
    main()
