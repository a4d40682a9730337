"""A game server's view of Reward Mesh: native gRPC through the gateway.

It exchanges its service-account credentials for a short-lived GAME_SERVER token,
reports player activities (each with a deadline, retried on retryable codes with the
same idempotency key, so a retry never counts twice), and reads a player's progress.

    PYTHONPATH=.:gen python examples/game_server_client.py \\
        --target 127.0.0.1:8080 --client-id sa_... --client-secret gss_... \\
        --user-id usr_... --event-id evt_... --activity monster_kill --amount 3
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import grpc
from rewardmesh.auth.v1 import auth_pb2, auth_pb2_grpc
from rewardmesh.event.v1 import event_pb2, event_pb2_grpc

T = TypeVar("T")

# Safe to retry: the call did not happen, or happening twice is harmless (idempotency key).
RETRYABLE = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
DEADLINE_SECONDS = 3.0


def with_retries(call: Callable[[], T], *, attempts: int = 5) -> T:
    """Retries retryable failures with jittered exponential backoff; raises the rest."""
    for attempt in range(attempts):
        try:
            return call()
        except grpc.RpcError as error:
            if error.code() not in RETRYABLE or attempt == attempts - 1:
                raise
            time.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
    raise AssertionError("unreachable")


class GameServerClient:
    def __init__(self, channel: grpc.Channel, client_id: str, client_secret: str) -> None:
        self._auth = auth_pb2_grpc.AuthServiceStub(channel)
        self._events = event_pb2_grpc.EventServiceStub(channel)
        self._client_id = client_id
        self._client_secret = client_secret
        self._token = ""
        self._expires_at = 0.0

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        if time.monotonic() > self._expires_at - 60:  # renew a minute early
            response = with_retries(
                lambda: self._auth.IssueServiceToken(
                    auth_pb2.IssueServiceTokenRequest(
                        client_id=self._client_id, client_secret=self._client_secret
                    ),
                    timeout=DEADLINE_SECONDS,
                )
            )
            self._token = response.access_token
            self._expires_at = time.monotonic() + response.expires_in
        return (("authorization", f"Bearer {self._token}"),)

    def report_activity(self, user_id: str, activity: str, amount: int) -> None:
        # One key per real-world occurrence; every retry of it reuses the key.
        request = event_pb2.RecordActivityRequest(
            user_id=user_id, activity=activity, amount=amount, idempotency_key=uuid.uuid4().hex
        )
        with_retries(
            lambda: self._events.RecordActivity(
                request, metadata=self._metadata(), timeout=DEADLINE_SECONDS
            )
        )

    def progress(self, user_id: str, event_id: str) -> event_pb2.Progress:
        response = with_retries(
            lambda: self._events.GetPlayerProgress(
                event_pb2.GetPlayerProgressRequest(user_id=user_id, event_id=event_id),
                metadata=self._metadata(),
                timeout=DEADLINE_SECONDS,
            )
        )
        return response.progress


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--target", default="127.0.0.1:8080")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--event-id", required=True)
    parser.add_argument("--activity", required=True)
    parser.add_argument("--amount", type=int, default=1)
    args = parser.parse_args()
    with grpc.insecure_channel(args.target) as channel:
        client = GameServerClient(channel, args.client_id, args.client_secret)
        client.report_activity(args.user_id, args.activity, args.amount)
        progress = client.progress(args.user_id, args.event_id)
        status = event_pb2.ProgressStatus.Name(progress.status)
        print(f"activity_total={progress.activity_total} status={status}")


if __name__ == "__main__":
    main()
