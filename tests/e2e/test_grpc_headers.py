"""Native gRPC calls with malformed reserved headers, sent as hand-made HTTP/2 (gRPC
libraries never send such values): the gateway answers INVALID_ARGUMENT itself, and later
calls from other clients, with deadlines, are unharmed."""

from __future__ import annotations

import asyncio
import socket

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

from tools.healthcheck import CHECK as HEALTH_CHECK
from tools.healthcheck import is_serving
from tools.mesh import LOOPBACK, Mesh

EMPTY_MESSAGE = b"\x00\x00\x00\x00\x00"  # uncompressed, length 0


def raw_grpc_call(port: int, path: str, extra: list[tuple[str, str]]) -> dict[str, str]:
    """One unary call over a fresh h2c connection; the response's headers and trailers."""
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    answer: dict[str, str] = {}
    with socket.create_connection((LOOPBACK, port), timeout=10) as sock:
        connection.initiate_connection()
        stream = connection.get_next_available_stream_id()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", f"{LOOPBACK}:{port}"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *extra,
        ]
        connection.send_headers(stream, headers)
        connection.send_data(stream, EMPTY_MESSAGE, end_stream=True)
        sock.sendall(connection.data_to_send())
        while True:
            data = sock.recv(65536)
            assert data, f"the gateway closed the connection: {answer}"
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
                    answer.update((k.decode(), v.decode()) for k, v in event.headers)
                if isinstance(event, h2.events.StreamEnded | h2.events.StreamReset):
                    return answer
            sock.sendall(connection.data_to_send())


@pytest.mark.parametrize(
    ("header", "value"),
    [("grpc-timeout", "bogus"), ("grpc-timeout", "123456789S"), ("grpc-encoding", "bogus")],
)
async def test_a_malformed_reserved_header_is_invalid_argument_and_harms_no_later_call(
    mesh: Mesh, header: str, value: str
) -> None:
    answer = await asyncio.to_thread(
        raw_grpc_call, mesh.ports.gateway, HEALTH_CHECK, [(header, value)]
    )
    assert answer["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0]), answer
    assert answer["grpc-message"].startswith(f"{header} must be"), answer
    # Before the gateway checked them, the health service's gRPC runtime got such a call,
    # failed it with INTERNAL, and then failed the next calls on that connection that
    # carried a valid value: every call with a deadline, from whichever client.
    for _ in range(3):
        assert await asyncio.to_thread(is_serving, mesh.gateway_target, 5)


def test_a_valid_deadline_sent_by_hand_is_honoured(mesh: Mesh) -> None:
    answer = raw_grpc_call(mesh.ports.gateway, HEALTH_CHECK, [("grpc-timeout", "5S")])
    assert answer["grpc-status"] == "0", answer
