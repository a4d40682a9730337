"""Faults under steady load: NATS, Envoy, auth and event restart one at a time while
players log in and claim. No login is lost or counted twice, no reward is over-claimed,
and every error a client sees is one it should retry (docs/retries.md).

The embedded store (no MONGODB_URL) lives inside a service's process, so a restarted auth
or event service starts empty by design (DESIGN §8). There those restarts are checked for
what clients see while the process goes down and is down, and for the service serving
again; exactly-once across them needs a store that outlives the process (real MongoDB).
These tests restart processes, so they run on a mesh of their own.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
import httpx
import nats
import pytest
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

from tests.conftest import requires_mongodb, running_mesh
from tests.e2e.event_api import all_pages, create_event
from tests.helpers import Account, admin, error_reason, grpc_error_reason, login, new_player
from tools.mesh import Mesh

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

PLAYERS = 20
# Logins cost an argon2 verification each (~0.1-0.3 s of CPU here): the scenarios that only
# watch a process go down use fewer players.
FEW_PLAYERS = 6
CONCURRENCY = 10
REWARD_AMOUNT = 3  # per player; the load asks for more, so refusals happen too
CLAIMS_PER_LOGIN = 3
REQUEST_TIMEOUT = 10.0
THINK_SECONDS = 0.05
SETTLE_SECONDS = 30.0
READY_TIMEOUT = 60.0
LOGIN_CONSUMER = ("AUTH", "event-logins")

# What a client retries (docs/retries.md): the canonical codes, and "TRANSPORT" for a
# connection that failed or broke before an answer arrived. CANCELLED, which these clients
# never cause themselves, is what gRPC answers a call that reaches a server in the instant
# it begins shutting down, before any handler ran (grpc/grpc#41785).
RETRYABLE = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "TRANSPORT"}
# Failures that prove the request never reached a service (nothing to connect to).
_NOT_DELIVERED = ("Connection refused", "connection failure", "no healthy upstream")
_CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}
_HTTP_CODES = {502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


@pytest.fixture(scope="module")
def faults_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(tmp_path_factory, "faults") as mesh:
        yield mesh


@pytest.fixture
async def client(faults_mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=faults_mesh.gateway_url, timeout=REQUEST_TIMEOUT) as c:
        yield c


@pytest.fixture
async def channel(faults_mesh: Mesh) -> AsyncIterator[grpc.aio.Channel]:
    # Reconnect promptly after the gateway comes back (gRPC's default backoff starts at 1 s).
    options = [
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]
    async with grpc.aio.insecure_channel(faults_mesh.gateway_target, options=options) as c:
        yield c


# --- what a client sees -----------------------------------------------------------------


class CallFailed(Exception):
    """One failed call: its canonical code (or TRANSPORT), as REST or gRPC showed it."""

    def __init__(
        self, code: str, label: str, detail: str, reason: str | None = None, *, sent: bool = True
    ) -> None:
        super().__init__(f"{label}: {detail}")
        self.code = code
        self.label = label
        self.detail = detail
        self.reason = reason
        self._sent = sent

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE

    @property
    def maybe_delivered(self) -> bool:
        """False only when the call surely never reached a service."""
        return self._sent and not any(marker in self.detail for marker in _NOT_DELIVERED)


class Api(Protocol):
    async def login(self, email: str, password: str) -> str:
        """Returns an access token."""

    async def claim(
        self, token: str, event_id: str, reward_id: str, request_id: str, amount: int
    ) -> int:
        """Returns the amount granted."""


class RestApi:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def login(self, email: str, password: str) -> str:
        body = await self._post("/v1/auth/login", {"email": email, "password": password})
        return str(body["access_token"])

    async def claim(
        self, token: str, event_id: str, reward_id: str, request_id: str, amount: int
    ) -> int:
        body = await self._post(
            f"/v1/events/{event_id}/rewards/{reward_id}:claim",
            {"request_id": request_id, "amount": amount},
            {"authorization": f"Bearer {token}"},
        )
        return int(body["claim"]["amount"])

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.post(path, json=body, headers=headers)
        except httpx.ConnectError as exc:
            # No connection, so nothing was sent.
            raise CallFailed("TRANSPORT", "REST ConnectError", str(exc), sent=False) from exc
        except httpx.TransportError as exc:
            name = type(exc).__name__
            raise CallFailed("TRANSPORT", f"REST {name}", str(exc) or name) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        if response.status_code == 200:
            return answer
        number = answer.get("code")
        code = _CODE_NAMES.get(number) if isinstance(number, int) else None
        code = code or _HTTP_CODES.get(response.status_code, "UNKNOWN")
        reason = error_reason(answer)
        label = f"REST {response.status_code} {code}" + (f" {reason}" if reason else "")
        raise CallFailed(code, label, str(answer.get("message") or response.text[:300]), reason)


class GrpcApi:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._auth = auth_pb2_grpc.AuthServiceStub(channel)
        self._events = event_pb2_grpc.EventServiceStub(channel)

    async def login(self, email: str, password: str) -> str:
        try:
            response = await self._auth.Login(
                auth_pb2.LoginRequest(email=email, password=password), timeout=REQUEST_TIMEOUT
            )
        except grpc.aio.AioRpcError as error:
            raise _grpc_failure(error) from error
        return str(response.access_token)

    async def claim(
        self, token: str, event_id: str, reward_id: str, request_id: str, amount: int
    ) -> int:
        request = event_pb2.ClaimRewardRequest(
            event_id=event_id, reward_id=reward_id, request_id=request_id, amount=amount
        )
        try:
            response = await self._events.ClaimReward(
                request,
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=REQUEST_TIMEOUT,
            )
        except grpc.aio.AioRpcError as error:
            raise _grpc_failure(error) from error
        return int(response.claim.amount)


def _grpc_failure(error: grpc.aio.AioRpcError) -> CallFailed:
    code = error.code().name
    reason = grpc_error_reason(error)
    label = f"gRPC {code}" + (f" {reason}" if reason else "")
    return CallFailed(code, label, error.details() or "", reason)


# --- the load -----------------------------------------------------------------------------


@dataclass
class Player:
    account: Account
    api: Api
    token: str
    # Logins this player saw succeed, from the one that completed the event (see prepare).
    logins: int = 1
    # Failed logins that may nevertheless have reached the auth service.
    uncertain_logins: int = 0
    granted: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    # Claims still being retried when the load was abandoned.
    unsettled: set[str] = field(default_factory=set)
    claims_sent: int = 0

    @property
    def request_ids(self) -> set[str]:
        return {*self.granted, *self.refused, *self.unsettled}


@dataclass(frozen=True)
class Snapshot:
    logins: int
    claims: int
    login_errors: int
    claim_errors: int


class Load:
    """Players looping login + claims, CONCURRENCY at a time, retrying like a client should:
    a failed login is tried again, a failed claim is retried with the same request_id
    until it is decided (granted, or refused for good)."""

    def __init__(self, players: list[Player], event_id: str, reward_id: str) -> None:
        self.players = players
        self.event_id = event_id
        self.reward_id = reward_id
        self.errors: Counter[str] = Counter()
        self.samples: dict[str, str] = {}
        self.unexpected: list[str] = []
        self.logins = 0
        self.claims = 0
        self.login_errors = 0
        self.claim_errors = 0
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started = time.monotonic()
        self.duration = 0.0

    def start(self) -> None:
        self._started = time.monotonic()
        self._tasks = [asyncio.create_task(self._play(p)) for p in self.players]

    async def stop(self, *, abandon: bool = False) -> None:
        """Lets every claim in flight be decided, or with `abandon` cancels at once."""
        self._stopping.set()
        if abandon:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        else:
            await asyncio.wait_for(asyncio.gather(*self._tasks), SETTLE_SECONDS)
        self.duration = time.monotonic() - self._started

    def snapshot(self) -> Snapshot:
        return Snapshot(self.logins, self.claims, self.login_errors, self.claim_errors)

    async def until(self, check: Callable[[Snapshot], bool], what: str, within: float) -> None:
        deadline = time.monotonic() + within
        while not check(self.snapshot()):
            assert time.monotonic() < deadline, f"{what}: not within {within:.0f} s\n{self}"
            await asyncio.sleep(0.05)

    async def progressed(self, what: str, *, logins: int = 3, claims: int = 3) -> None:
        """Waits until players have again logged in and had claims decided."""
        before = self.snapshot()
        await self.until(
            lambda now: (
                now.logins >= before.logins + logins and now.claims >= before.claims + claims
            ),
            what,
            within=20,
        )

    async def _play(self, player: Player) -> None:
        while not self._stopping.is_set():
            async with self._slots:
                await self._login(player)
                for _ in range(CLAIMS_PER_LOGIN):
                    player.claims_sent += 1
                    request_id = f"{player.account.user_id}-{player.claims_sent:05d}"
                    await self._claim(player, request_id, random.choice((1, 1, 2)))
            await asyncio.sleep(THINK_SECONDS)

    async def _login(self, player: Player) -> None:
        attempt = 0
        while True:
            try:
                player.token = await player.api.login(player.account.email, player.account.password)
            except CallFailed as error:
                self._saw("login", error)
                self.login_errors += 1
                if error.maybe_delivered:
                    player.uncertain_logins += 1
                if not error.retryable or self._stopping.is_set():
                    return
                await _backoff(attempt)
                attempt += 1
            else:
                player.logins += 1
                self.logins += 1
                return

    async def _claim(self, player: Player, request_id: str, amount: int) -> None:
        player.unsettled.add(request_id)
        attempt = 0
        while True:
            try:
                granted = await player.api.claim(
                    player.token, self.event_id, self.reward_id, request_id, amount
                )
            except CallFailed as error:
                if error.reason == "INSUFFICIENT_REMAINING":
                    # Decided: the player has claimed everything. A refusal, not a fault.
                    player.refused[request_id] = error.reason
                    break
                self._saw("claim", error)
                self.claim_errors += 1
                if not error.retryable:
                    player.refused[request_id] = error.label
                    break
                # Same request_id: if the first try was granted, the retry returns that grant.
                await _backoff(attempt)
                attempt += 1
            else:
                player.granted[request_id] = granted
                break
        player.unsettled.discard(request_id)
        self.claims += 1

    def _saw(self, call: str, error: CallFailed) -> None:
        key = f"{call}: {error.label}"
        self.errors[key] += 1
        self.samples.setdefault(key, error.detail[:160])
        if not error.retryable:
            self.unexpected.append(f"{key}: {error.detail}")

    def __str__(self) -> str:
        lines = [
            f"load {self.duration:.1f} s: {self.logins} logins, {self.claims} claims decided, "
            f"{sum(len(p.granted) for p in self.players)} granted",
            *(f"  {n:5d} x {key}  ({self.samples[key]})" for key, n in self.errors.most_common()),
        ]
        return "\n".join(lines)


async def _backoff(attempt: int) -> None:
    """Exponential backoff with jitter, as docs/retries.md advises."""
    await asyncio.sleep(min(1.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))


# --- faults -------------------------------------------------------------------------------

Faults = tuple[tuple[str, bool], ...]  # (component, SIGKILL rather than SIGTERM)

READY_CHECKS = {
    "nats": ("nats",),
    "envoy": ("envoy", "gateway"),
    "auth": ("auth",),
    "event": ("event",),
}


def outage_noticed(component: str, before: Snapshot) -> Callable[[Snapshot], bool]:
    """When a component has been down long enough to matter to the players."""
    if component == "nats":
        # Logins made while NATS is down wait in the outbox; they must all count later.
        return lambda now: now.logins >= before.logins + 10
    if component == "auth":
        return lambda now: now.login_errors >= before.login_errors + 3
    if component == "event":
        return lambda now: now.claim_errors >= before.claim_errors + 3
    return lambda now: (
        now.login_errors + now.claim_errors >= before.login_errors + before.claim_errors + 3
    )


async def take_down(mesh: Mesh, load: Load, component: str, *, kill: bool) -> float:
    """Stops `component` (SIGTERM, or SIGKILL) and waits until the load has felt it."""
    before = load.snapshot()
    started = time.monotonic()
    await asyncio.to_thread(mesh.stop_process, component, kill=kill)
    await load.until(outage_noticed(component, before), f"{component} down", within=20)
    return time.monotonic() - started


async def bring_up(mesh: Mesh, component: str) -> float:
    started = time.monotonic()
    await asyncio.to_thread(getattr(mesh, f"start_{component}"))
    await asyncio.to_thread(mesh.wait_ready, READY_TIMEOUT, READY_CHECKS[component])
    return time.monotonic() - started


async def restart_under_load(mesh: Mesh, load: Load, faults: Faults) -> list[str]:
    timeline = []
    for component, kill in faults:
        down = await take_down(mesh, load, component, kill=kill)
        up = await bring_up(mesh, component)
        await load.progressed(f"players served again after {component} restarted")
        signal = "SIGKILL" if kill else "SIGTERM"
        timeline.append(f"{component} {signal}: down {down:.1f} s, ready {up:.1f} s later")
    return timeline


async def go_down_under_load(mesh: Mesh, load: Load, component: str, *, kill: bool) -> None:
    """Stops `component` under load, then restarts it once the load has stopped."""
    load.start()
    try:
        await load.progressed(f"players served before {component} goes down")
        down = await take_down(mesh, load, component, kill=kill)
    finally:
        await load.stop(abandon=True)
    up = await bring_up(mesh, component)
    signal = "SIGKILL" if kill else "SIGTERM"
    report(f"{component} {signal}", load, [f"down {down:.1f} s, ready {up:.1f} s later"])
    assert not load.unexpected, f"errors a client must not retry:\n{load}"
    assert load.errors, f"clients never noticed {component} was down"


# --- setup and checks ---------------------------------------------------------------------


async def prepare(
    client: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    mesh: Mesh,
    players: int = PLAYERS,
    accounts: list[Account] | None = None,
) -> tuple[str, str, list[Player]]:
    """A login event and players (half REST, half gRPC) who have completed it: `players`
    fresh ones, or `accounts` logging in again."""
    boss = await admin(client, mesh)
    event = await create_event(
        client,
        boss,
        condition={"type": "CONDITION_TYPE_LOGIN_COUNT", "target": 1},
        rewards=[{"name": "Coin", "type": "REWARD_TYPE_CURRENCY", "amount": REWARD_AMOUNT}],
    )
    apis: tuple[Api, Api] = (RestApi(client), GrpcApi(channel))
    slots = asyncio.Semaphore(CONCURRENCY)

    async def enrolled(index: int) -> Player:
        async with slots:
            if accounts is None:
                account = await new_player(client, "faults")
            else:
                known = accounts[index]
                account = await login(client, known.email, known.password)
        headers = account.headers
        deadline = time.monotonic() + SETTLE_SECONDS
        # That login reaches the event service through the pipeline.
        while True:
            done = await client.post(f"/v1/events/{event['id']}:complete", headers=headers)
            if done.status_code == 200:
                return Player(account, apis[index % 2], account.access_token)
            assert error_reason(done.json()) == "CONDITION_NOT_MET", done.text
            assert time.monotonic() < deadline, "the player's login was never counted"
            await asyncio.sleep(0.1)

    count = players if accounts is None else len(accounts)
    ready = await asyncio.gather(*(enrolled(i) for i in range(count)))
    return event["id"], event["rewards"][0]["id"], list(ready)


async def _poll(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _consumer_drained(mesh: Mesh) -> bool:
    connection = await nats.connect(f"nats://127.0.0.1:{mesh.ports.nats}")
    try:
        info = await connection.jetstream().consumer_info(*LOGIN_CONSUMER)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await connection.close()


async def _progress(client: httpx.AsyncClient, player: Player, event_id: str) -> dict[str, Any]:
    response = await client.get(
        f"/v1/events/{event_id}/progress", headers={"authorization": f"Bearer {player.token}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["progress"]
    return body


async def assert_exactly_once(client: httpx.AsyncClient, mesh: Mesh, load: Load) -> None:
    """Every login counted once, every claim decided once and logged once, none over."""
    players, event_id = load.players, load.event_id

    async def all_counted() -> bool:
        seen = await asyncio.gather(*(_progress(client, p, event_id) for p in players))
        return all(s["login_count"] >= p.logins for s, p in zip(seen, players, strict=True))

    # The outbox relays and the consumer catches up; a lost login would never arrive.
    await _poll(all_counted, SETTLE_SECONDS)
    assert await _poll(lambda: _consumer_drained(mesh), SETTLE_SECONDS), "consumer not drained"

    problems = []
    counted = 0
    for player in players:
        progress = await _progress(client, player, event_id)
        count, who = progress["login_count"], player.account.user_id
        counted += count
        if not player.logins <= count <= player.logins + player.uncertain_logins:
            problems.append(
                f"{who}: {count} logins counted; it saw {player.logins} succeed and "
                f"{player.uncertain_logins} fail after maybe reaching the service"
            )
        claimed = progress["rewards"][0]["claimed"]
        log = await all_pages(
            client,
            "/v1/me/claims",
            "claims",
            {"authorization": f"Bearer {player.token}"},
            event_id=event_id,
        )
        logged = Counter(c["request_id"] for c in log)
        succeeded = {c["request_id"]: c["amount"] for c in log if c["status"].endswith("SUCCEEDED")}
        if claimed > REWARD_AMOUNT:
            problems.append(f"{who}: over-claimed {claimed} of {REWARD_AMOUNT}")
        if sum(succeeded.values()) != claimed:
            problems.append(f"{who}: claim log grants {succeeded} but {claimed} claimed")
        if succeeded != player.granted:
            problems.append(f"{who}: log grants {succeeded}, the player got {player.granted}")
        if logged != Counter(player.request_ids):
            problems.append(f"{who}: logged {dict(logged)} for requests {player.request_ids}")
    boss = await admin(client, mesh)
    letters = await client.get("/v1/dead-letters", headers=boss.headers)
    assert letters.status_code == 200, letters.text
    problems += [f"dead letter: {d}" for d in letters.json()["dead_letters"]]
    seen = sum(p.logins for p in players), sum(p.uncertain_logins for p in players)
    print(f"logins counted {counted}: {seen[0]} seen to succeed, {seen[1]} failed uncertainly")
    assert not problems, "\n".join(problems)


def report(title: str, load: Load, timeline: list[str]) -> None:
    # Shown with `pytest -s` (and on failure): what the clients saw during the faults.
    print(f"\n== {title}\n" + "\n".join(timeline) + f"\n{load}")


async def run_exactly_once_scenario(
    client: httpx.AsyncClient,
    channel: grpc.aio.Channel,
    mesh: Mesh,
    windows: tuple[Faults, ...],
) -> None:
    """The same players under load through each window of faults in turn; after each
    window the load settles and everything is checked. Gateway and auth faults leave some
    logins in doubt (the call failed after it may have reached the auth service); a window
    without them should leave none, so there the count is exact."""
    event_id, reward_id, players = await prepare(client, channel, mesh)
    for faults in windows:
        load = Load(players, event_id, reward_id)
        load.start()
        try:
            await load.progressed("players served before any fault")
            timeline = await restart_under_load(mesh, load, faults)
        except BaseException:
            await load.stop(abandon=True)
            raise
        await load.stop()
        report(", ".join(f"{c} {'KILL' if k else 'TERM'}" for c, k in faults), load, timeline)
        assert not load.unexpected, f"errors a client must not retry:\n{load}"
        await assert_exactly_once(client, mesh, load)
    # The load asked for more than there was: the limit was tested, not just approached.
    assert any(p.refused for p in players)


# --- the tests ----------------------------------------------------------------------------


async def test_nats_and_envoy_restarts_under_load_lose_no_login_double_none_and_never_over_claim(
    client: httpx.AsyncClient, channel: grpc.aio.Channel, faults_mesh: Mesh
) -> None:
    await run_exactly_once_scenario(
        client,
        channel,
        faults_mesh,
        ((("nats", False), ("nats", True)), (("envoy", True), ("envoy", False))),
    )


async def test_auth_and_event_going_down_under_load_show_clients_only_retryable_errors(
    client: httpx.AsyncClient, channel: grpc.aio.Channel, faults_mesh: Mesh
) -> None:
    """The load stops before the restarted process serves: on the embedded store it comes
    back empty, and what a client sees then (unknown event, unknown account) is data loss,
    not a fault to retry. The `prepare` after each restart proves the service serves again:
    a new event; its players log in again (event restarted) or register anew (auth
    restarted), their logins travel to the event service, they complete and claim."""
    event_id, reward_id, players = await prepare(client, channel, faults_mesh, FEW_PLAYERS)
    faults = (("event", False), ("auth", True), ("event", True), ("auth", False))
    for number, (component, kill) in enumerate(faults, 1):
        await go_down_under_load(
            faults_mesh, Load(players, event_id, reward_id), component, kill=kill
        )
        accounts = [p.account for p in players] if component == "event" else None
        count = FEW_PLAYERS if number < len(faults) else 1
        event_id, reward_id, players = await prepare(client, channel, faults_mesh, count, accounts)
    player = players[0]
    granted = await player.api.claim(player.token, event_id, reward_id, "after-restarts-1", 1)
    assert granted == 1


@requires_mongodb
async def test_auth_and_event_restarts_under_load_lose_no_login_double_none_and_never_over_claim(
    client: httpx.AsyncClient, channel: grpc.aio.Channel, faults_mesh: Mesh
) -> None:
    await run_exactly_once_scenario(
        client,
        channel,
        faults_mesh,
        ((("auth", False), ("event", True)), (("auth", True), ("event", False))),
    )
