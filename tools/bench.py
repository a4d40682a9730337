"""`make bench`: starts the mesh, drives each workload for a bounded time from 127.0.0.1,
prints a table and saves it as JSON under bench/results/.

Every figure is relative to a baseline measured in the same run (gRPC health Check
through Envoy, at the start and again at the end; the ratios use their mean), so runs
on a noisy shared machine stay comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import httpx
import nats
from grpc_health.v1 import health_pb2
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from services.common.subjects import SUBJECT_LOGGED_IN
from tools.mesh import ROOT, Mesh

RESULTS = ROOT / "bench" / "results"
Call = Callable[[int], Awaitable[Any]]


@dataclass
class Result:
    workload: str
    transport: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    vs_baseline: float = 0.0
    # CPU time each mesh process spent per request during the workload: steadier than
    # rps on a shared machine, and it shows where the time goes.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    # For the mixed workload: p50/p99 ms of each kind of call in it.
    by_call: dict[str, dict[str, float]] = field(default_factory=dict)
    # Claims each player had in the log when the workload started (the data size that
    # matters: a claim's progress document and a player's history grow with it).
    claims_per_player: float = 0.0


@dataclass
class Player:
    user_id: str
    token: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


async def drive(
    name: str, transport: str, call: Call, *, seconds: float, concurrency: int
) -> Result:
    """Runs `call` from `concurrency` workers for `seconds`; one latency sample per call."""
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def worker(worker_id: int) -> None:
        nonlocal errors
        i = worker_id
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                await call(i)
            except Exception:  # every failure is counted, none stops the run
                errors += 1
            latencies.append(time.perf_counter() - started)
            i += concurrency

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    return Result(
        workload=name,
        transport=transport,
        requests=len(latencies),
        errors=errors,
        seconds=round(elapsed, 2),
        rps=round(len(latencies) / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=_ms(ordered, 0.99),
    )


async def _credential_call(
    rest: httpx.AsyncClient, path: str, body: dict[str, str]
) -> httpx.Response:
    """Registers or logs in as docs/retries.md tells clients to: the gateway allows each
    client address only so many of these a second (429), so it backs off and tries again."""
    for attempt in range(10):
        response = await rest.post(path, json=body)
        if response.status_code != 429:
            response.raise_for_status()
            return response
        await asyncio.sleep(min(0.25 * 2**attempt, 2.0))
    raise RuntimeError(f"{path} stayed rate limited: {response.text}")


class Bench:
    def __init__(
        self,
        mesh: Mesh,
        players: int,
        seconds: float,
        concurrency: int,
        channels: int | None = None,
    ) -> None:
        self.mesh = mesh
        self.player_count = players
        self.seconds = seconds
        self.concurrency = concurrency
        # gRPC connections, like the REST rows' pool: by default one per caller in flight.
        self.channels = max(1, min(channels or concurrency, concurrency))
        self.players: list[Player] = []
        self.mixed_latencies: dict[str, list[float]] = {}
        self.event_id = ""
        self.reward_id = ""
        self.claims_sent = 0

    async def setup(self, rest: httpx.AsyncClient) -> None:
        """One ACTIVITY_COUNT event with a large reward; every player has completed it."""
        admin = (
            await rest.post(
                "/v1/auth/login",
                json={"email": self.mesh.admin_email, "password": self.mesh.admin_password},
            )
        ).json()
        boss = {"authorization": f"Bearer {admin['access_token']}"}
        now = datetime.now(UTC)
        event = (
            await rest.post(
                "/v1/events",
                headers=boss,
                json={
                    "title": "Benchmark",
                    "condition": {
                        "type": "CONDITION_TYPE_ACTIVITY_COUNT",
                        "target": 1,
                        "activity": "bench",
                    },
                    "starts_at": (now - timedelta(hours=1)).isoformat(),
                    "ends_at": (now + timedelta(days=1)).isoformat(),
                    "rewards": [
                        {"name": "Coin", "type": "REWARD_TYPE_CURRENCY", "amount": 2_000_000_000}
                    ],
                },
            )
        ).json()["event"]
        self.event_id, self.reward_id = event["id"], event["rewards"][0]["id"]
        semaphore = asyncio.Semaphore(8)

        async def make_player(n: int) -> Player:
            async with semaphore:
                email, password = (
                    f"bench-{n}-{secrets.token_hex(3)}@example.com",
                    secrets.token_urlsafe(12),
                )
                credentials = {"email": email, "password": password}
                await _credential_call(rest, "/v1/auth/register", credentials)
                body = (await _credential_call(rest, "/v1/auth/login", credentials)).json()
                player = Player(body["user"]["id"], body["access_token"])
                await rest.post(
                    "/v1/activities",
                    headers=boss,
                    json={
                        "user_id": player.user_id,
                        "activity": "bench",
                        "amount": 1,
                        "idempotency_key": uuid.uuid4().hex,
                    },
                )
                done = await rest.post(
                    f"/v1/events/{self.event_id}:complete", headers=player.headers
                )
                done.raise_for_status()
                return player

        self.players = list(
            await asyncio.gather(*(make_player(n) for n in range(self.player_count)))
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds (user + system) used so far by each mesh process; Linux only."""
        ticks = os.sysconf("SC_CLK_TCK")
        used = {}
        for name, process in self.mesh.processes.items():
            try:
                fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used[name] = (int(fields[11]) + int(fields[12])) / ticks
        return used

    def player(self, i: int) -> Player:
        return self.players[i % len(self.players)]

    async def run_pipeline_only(self, logins: int) -> list[Result]:
        async with httpx.AsyncClient(base_url=self.mesh.gateway_url, timeout=30) as rest:
            await self.setup(rest)
        return [await self.pipeline(logins)]

    async def run(self, logins: int) -> list[Result]:
        results: list[Result] = []
        async with (
            httpx.AsyncClient(base_url=self.mesh.gateway_url, timeout=30) as setup_client,
            # aiohttp for the measured REST traffic: httpx costs the shared cores several
            # times more per request and would measure itself rather than the mesh.
            aiohttp.ClientSession(
                base_url=self.mesh.gateway_url,
                timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(limit=self.concurrency),
            ) as rest,
            contextlib.AsyncExitStack() as stack,
        ):
            await self.setup(setup_client)
            # Worker w sends every call on channel w % channels. A local subchannel pool
            # keeps each channel on a connection of its own (grpc shares them otherwise).
            channels = [
                await stack.enter_async_context(
                    grpc.aio.insecure_channel(
                        self.mesh.gateway_target, options=[("grpc.use_local_subchannel_pool", 1)]
                    )
                )
                for _ in range(self.channels)
            ]
            stubs = [event_pb2_grpc.EventServiceStub(channel) for channel in channels]
            checks = [
                channel.unary_unary(
                    "/grpc.health.v1.Health/Check",
                    request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                    response_deserializer=health_pb2.HealthCheckResponse.FromString,
                )
                for channel in channels
            ]

            def stub(i: int) -> Any:
                return stubs[i % len(stubs)]

            def check(i: int) -> Awaitable[Any]:
                call: Awaitable[Any] = checks[i % len(checks)](
                    health_pb2.HealthCheckRequest(), timeout=10
                )
                return call

            # One call of each reading kind first, so one-time work is not measured: the
            # embedded store builds the index a player's history is read from on first use
            # (MongoDB has it from the start).
            await self._progress_grpc(stub(0), 0)
            await self._history_grpc(stub(0), 0)
            workloads: list[tuple[str, str, Call]] = [
                ("baseline: health Check", "grpc", check),
                ("GetMyProgress", "grpc", lambda i: self._progress_grpc(stub(i), i)),
                ("GetMyProgress", "rest", lambda i: self._progress_rest(rest, i)),
                ("ClaimReward", "grpc", lambda i: self._claim_grpc(stub(i), i)),
                ("ClaimReward", "rest", lambda i: self._claim_rest(rest, i)),
                (
                    "mixed player",
                    "grpc",
                    lambda i: self._mixed(stub(i), rest, i, grpc_transport=True),
                ),
                (
                    "mixed player",
                    "rest",
                    lambda i: self._mixed(stub(i), rest, i, grpc_transport=False),
                ),
                # Again at the end: the ratios use the mean of both, so a machine that
                # slows down or speeds up during the run moves them less.
                ("baseline again", "grpc", check),
            ]
            for name, transport, call in workloads:
                self.mixed_latencies = {}
                claims_per_player = round(self.claims_sent / len(self.players), 1)
                before = self.cpu_seconds()
                result = await drive(
                    name, transport, call, seconds=self.seconds, concurrency=self.concurrency
                )
                after = self.cpu_seconds()
                result.cpu_ms_per_request = {
                    process: round((after[process] - spent) * 1000 / max(result.requests, 1), 3)
                    for process, spent in before.items()
                    if process in after
                }
                result.claims_per_player = claims_per_player
                result.by_call = {
                    kind: {"p50_ms": _ms(samples, 0.5), "p99_ms": _ms(samples, 0.99)}
                    for kind, samples in sorted(self.mixed_latencies.items())
                }
                results.append(result)
                print(
                    f"  {name:<24} {transport:<5} {result.rps:>8.1f} rps"
                    f"  p99 {result.p99_ms:>7.1f} ms",
                    flush=True,
                )
        baseline = statistics.mean([results[0].rps, results[-1].rps]) or 1.0
        for result in results:
            result.vs_baseline = round(result.rps / baseline, 3)
        results.append(await self.pipeline(logins))
        return results

    async def _progress_grpc(self, stub: Any, i: int) -> None:
        await stub.GetMyProgress(
            event_pb2.GetMyProgressRequest(event_id=self.event_id),
            metadata=self.player(i).metadata,
            timeout=10,
        )

    async def _progress_rest(self, rest: aiohttp.ClientSession, i: int) -> None:
        path = f"/v1/events/{self.event_id}/progress"
        async with rest.get(path, headers=self.player(i).headers) as response:
            response.raise_for_status()
            await response.read()

    async def _claim_grpc(self, stub: Any, i: int) -> None:
        self.claims_sent += 1
        await stub.ClaimReward(
            event_pb2.ClaimRewardRequest(
                event_id=self.event_id,
                reward_id=self.reward_id,
                request_id=uuid.uuid4().hex,
                amount=1,
            ),
            metadata=self.player(i).metadata,
            timeout=10,
        )

    async def _claim_rest(self, rest: aiohttp.ClientSession, i: int) -> None:
        self.claims_sent += 1
        async with rest.post(
            f"/v1/events/{self.event_id}/rewards/{self.reward_id}:claim",
            json={"request_id": uuid.uuid4().hex, "amount": 1},
            headers=self.player(i).headers,
        ) as response:
            response.raise_for_status()
            await response.read()

    async def _history_grpc(self, stub: Any, i: int) -> None:
        await stub.ListMyClaims(
            event_pb2.ListMyClaimsRequest(page_size=20),
            metadata=self.player(i).metadata,
            timeout=10,
        )

    async def _history_rest(self, rest: aiohttp.ClientSession, i: int) -> None:
        async with rest.get(
            "/v1/me/claims", params={"page_size": 20}, headers=self.player(i).headers
        ) as response:
            response.raise_for_status()
            await response.read()

    async def _mixed(
        self, stub: Any, rest: aiohttp.ClientSession, i: int, *, grpc_transport: bool
    ) -> None:
        roll = random.random()  # noqa: S311 - workload mix, not security
        started = time.perf_counter()
        if roll < 0.5:
            kind = "GetMyProgress"
            await (self._progress_grpc(stub, i) if grpc_transport else self._progress_rest(rest, i))
        elif roll < 0.8:
            kind = "ClaimReward"
            await (self._claim_grpc(stub, i) if grpc_transport else self._claim_rest(rest, i))
        else:
            kind = "ListMyClaims"
            await (self._history_grpc(stub, i) if grpc_transport else self._history_rest(rest, i))
        self.mixed_latencies.setdefault(kind, []).append(time.perf_counter() - started)

    async def pipeline(self, logins: int) -> Result:
        """Publishes synthetic logins straight to JetStream and times until all are processed."""
        connection = await nats.connect(f"nats://127.0.0.1:{self.mesh.ports.nats}")
        js = connection.jetstream()
        before = self.cpu_seconds()
        try:
            now = datetime.now(UTC).isoformat()
            started = time.monotonic()
            batch = 500
            for offset in range(0, logins, batch):
                acks = [
                    js.publish(
                        SUBJECT_LOGGED_IN,
                        json.dumps(
                            {
                                "message_id": f"bench-{offset + n}-{uuid.uuid4().hex}",
                                "user_id": self.player(offset + n).user_id,
                                "role": "USER",
                                "logged_in_at": now,
                            }
                        ).encode(),
                    )
                    for n in range(min(batch, logins - offset))
                ]
                await asyncio.gather(*acks)
            while True:
                info = await js.consumer_info("AUTH", "event-logins")
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
        finally:
            await connection.close()
        print(f"  {'login pipeline':<24} {'nats':<5} {logins / elapsed:>8.1f} logins/s", flush=True)
        return Result(
            "login pipeline (logins/s)",
            "nats",
            logins,
            0,
            round(elapsed, 2),
            round(logins / elapsed, 1),
            0.0,
            0.0,
            cpu_ms_per_request={
                process: round((spent - before[process]) * 1000 / logins, 3)
                for process, spent in self.cpu_seconds().items()
                if process in before
            },
            claims_per_player=round(self.claims_sent / len(self.players), 1),
        )


def _ms(samples: list[float], quantile: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * quantile))] * 1000, 2)


def _table(results: list[Result]) -> str:
    lines = [
        "| workload | transport | rps | p50 ms | p99 ms | errors | vs baseline "
        "| event CPU ms/req | claims/player |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ratio = f"{r.vs_baseline:.2f}" if r.vs_baseline else "-"
        event_cpu = r.cpu_ms_per_request.get("event")
        # The pipeline is timed as a whole: it has no per-request latencies.
        p50, p99 = (r.p50_ms, r.p99_ms) if r.p99_ms else ("-", "-")
        lines.append(
            f"| {r.workload} | {r.transport} | {r.rps:.0f} | {p50} | {p99} "
            f"| {r.errors} | {ratio} | {'-' if event_cpu is None else f'{event_cpu:.2f}'} "
            f"| {r.claims_per_player:.0f} |"
        )
    for r in results:
        if r.by_call:
            calls = "; ".join(
                f"{kind} p50 {q['p50_ms']} / p99 {q['p99_ms']} ms" for kind, q in r.by_call.items()
            )
            lines.append(f"\n{r.workload} ({r.transport}) by call: {calls}")
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        mesh = Mesh(data_dir=Path(data_dir), service_env={"LOG_LEVEL": "WARNING"})
        print("starting the mesh ...", flush=True)
        mesh.start(timeout=90)
        try:
            bench = Bench(mesh, args.players, args.seconds, args.concurrency, args.channels)
            if args.only_pipeline:
                results = await bench.run_pipeline_only(args.logins)
            else:
                results = await bench.run(args.logins)
        finally:
            mesh.stop()
    table = _table(results)
    print(
        f"\nplayers: {args.players}, one event, {args.concurrency} in flight "
        f"(gRPC over {bench.channels} channels, REST over up to {args.concurrency} "
        f"connections), {args.seconds:.0f} s per workload; claims/player: in the log when "
        "the workload started\n"
    )
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "at": stamp,
                "machine": {
                    "python": platform.python_version(),
                    "cpus": __import__("os").cpu_count(),
                },
                "players": args.players,
                "concurrency": args.concurrency,
                "grpc_channels": bench.channels,
                "seconds_per_workload": args.seconds,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    (RESULTS / "latest.md").write_text(table + "\n")
    print(f"\nsaved {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per workload (max 60)")
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument(
        "--channels",
        type=int,
        default=None,
        help="gRPC channels (connections) the callers share; default one per caller",
    )
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument(
        "--logins", type=int, default=5000, help="synthetic logins for the pipeline"
    )
    parser.add_argument(
        "--only-pipeline", action="store_true", help="only the login pipeline (logins/s)"
    )
    args = parser.parse_args()
    args.seconds = min(args.seconds, 60.0)
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
