"""The front door under hostile clients (issue 16, F1): keys before bodies, slow and stalled clients, floods.

Real `contacthub serve` processes (support/processes.py) on both backends, driven over raw
sockets, because the limits live in the HTTP server itself (adapters/http/server.py) and in
the middleware that reads bodies (adapters/http/limits.py); an in-process client would never
reach them. Limits are set small through the environment so each test is bounded in time.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from contacthub.bootstrap import ContactHub
from contacthub.domain.roles import Role
from helpers import contact, registered
from support.auth import new_key
from support.processes import ApiServer, ChannelClient

HEAD_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 2.0
SLACK_S = 3.0
"""How much later than its deadline a refusal may come on a loaded 2-core machine."""
FOUR_MIB = 4 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def answer_and_close(sock: socket.socket, within_s: float) -> tuple[int, bytes, float]:
    """Read until the server closes the connection: (status, raw answer, seconds it took). Fails if it stays open."""
    start = time.monotonic()
    sock.settimeout(within_s)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {within_s} s; got {data[:200]!r}")
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - start
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else 0
    return status, data, elapsed


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture
def server(hub: ContactHub, database_url: str, tmp_path: Path) -> Iterator[ApiServer]:
    process = ApiServer(database_url, tmp_path, env={
        "CONTACTHUB_HEADER_TIMEOUT_S": str(HEAD_TIMEOUT_S),
        "CONTACTHUB_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "CONTACTHUB_MAX_CONNECTIONS": "300",
        "CONTACTHUB_MAX_BODY_BYTES": str(FOUR_MIB),
        "CONTACTHUB_MAX_BODY_BYTES_IN_FLIGHT": str(2 * FOUR_MIB),
    })
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_a_body_without_a_valid_key_is_never_read_and_stalled_keyless_uploads_cost_no_memory(
    hub: ContactHub, server: ApiServer
) -> None:
    """F1: 100 stalled 4 MiB uploads without a key took the server from 288 MB to 700 MB. Now each is answered 401
    (the page's form: the login page) at once, from the headers alone, and its connection closed."""
    before = rss_bytes(server.pid)
    sockets = []
    for i in range(100):
        sock = connect(server.port)
        key_header = {} if i % 2 else {"Authorization": "Bearer ch_000000000000_" + "x" * 43}  # none, or unknown
        sock.sendall(head("POST", "/v1/events", {"Content-Type": "application/json",
                                                 "Content-Length": str(FOUR_MIB), **key_header}))
        sock.sendall(b"{" + b" " * 60_000)  # part of the body, then nothing more
        sockets.append(sock)
    for sock in sockets:
        status, data, _ = answer_and_close(sock, within_s=10)
        assert status == 401, data[:300]
        assert b"www-authenticate: bearer" in data.lower()
        sock.close()
    grown = rss_bytes(server.pid) - before
    assert grown < 40 * 1024 * 1024, f"the server grew {grown / 2**20:.1f} MiB for bodies it should not have read"

    # A desk form without a login: the login page, the body unread.
    sock = connect(server.port)
    sock.sendall(head("POST", "/desk/complaints/CMP-1/actions", {
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "60000", "Origin": "http://127.0.0.1"}))
    status, data, _ = answer_and_close(sock, within_s=10)
    assert status == 303 and b"location: /desk/login" in data.lower()
    sock.close()


def test_request_heads_that_stall_or_trickle_are_cut_off_at_the_deadline(server: ApiServer) -> None:
    """F1: clients sending partial headers were never timed out (1,000 still open after 30 s)."""
    stalled = []
    for i in range(200):
        sock = connect(server.port)
        sock.sendall(b"GET /v1/status HT" if i % 2 else b"")  # half stall mid-line, half never send a byte
        stalled.append(sock)
    started = time.monotonic()
    for sock in stalled:
        status, data, _ = answer_and_close(sock, within_s=HEAD_TIMEOUT_S + SLACK_S)
        assert status == 408, data[:200]
        sock.close()
    assert time.monotonic() - started < HEAD_TIMEOUT_S + SLACK_S

    # A head trickled a byte at a time does not reset the deadline.
    sock = connect(server.port)
    started = time.monotonic()
    trickle = b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200
    closed = False
    for byte in trickle:
        try:
            sock.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        time.sleep(0.05)
        if time.monotonic() - started > HEAD_TIMEOUT_S + SLACK_S:
            break
    if not closed:
        status, _, _ = answer_and_close(sock, within_s=HEAD_TIMEOUT_S + SLACK_S)
        assert status == 408
    assert time.monotonic() - started < HEAD_TIMEOUT_S + SLACK_S + 1
    sock.close()

    # The server still answers.
    assert ChannelClient(server.port, "").request("GET", "/health").status == 200


def test_a_stalled_body_with_a_valid_key_is_refused_at_its_deadline_and_nothing_is_stored(
    hub: ContactHub, server: ApiServer
) -> None:
    hotline = new_key(hub, Role.CHANNEL, channel="hotline")
    boss = new_key(hub, Role.CHANNEL, channel="boss")
    assert ChannelClient(server.port, boss).request("POST", "/v1/events", {"events": [registered("C1")]}).status == 200
    head_before = hub.event_log.head_position()
    body = orjson.dumps({"events": [contact({"customer_id": "C1"}, event_id="stalled-1")]})
    sock = connect(server.port)
    sock.sendall(head("POST", "/v1/events", {"Authorization": f"Bearer {hotline}", "Content-Type": "application/json",
                                             "Content-Length": str(len(body))}))
    sock.sendall(body[:-1])  # all but the last byte
    status, data, elapsed = answer_and_close(sock, within_s=BODY_TIMEOUT_S + SLACK_S)
    sock.close()
    assert status == 408 and b'"field":"body"' in data
    assert elapsed >= BODY_TIMEOUT_S - 0.5
    assert hub.event_log.head_position() == head_before


def test_bodies_arriving_at_once_are_bounded_per_process(hub: ContactHub, server: ApiServer) -> None:
    """Two stalled 4 MiB uploads with a valid key fill this server's bound (8 MiB): a third is answered 503
    with Retry-After at once; when the stalled ones are cut off at their deadline, uploads are taken again."""
    hotline = new_key(hub, Role.CHANNEL, channel="hotline")
    headers = {"Authorization": f"Bearer {hotline}", "Content-Type": "application/json", "Content-Length": str(FOUR_MIB)}
    holding = []
    for _ in range(2):
        sock = connect(server.port)
        sock.sendall(head("POST", "/v1/events", headers) + b"{")
        holding.append(sock)
    time.sleep(0.5)  # both are being read
    third = connect(server.port)
    third.sendall(head("POST", "/v1/events", headers) + b"{")
    status, data, elapsed = answer_and_close(third, within_s=5)
    third.close()
    assert status == 503 and b"retry-after: 1" in data.lower() and elapsed < 2
    for sock in holding:
        assert answer_and_close(sock, within_s=BODY_TIMEOUT_S + SLACK_S)[0] == 408
        sock.close()
    boss = new_key(hub, Role.CHANNEL, channel="boss")
    assert ChannelClient(server.port, boss).request("POST", "/v1/events", {"events": [registered("C2", msisdns=("13800138002",))]}).status == 200


def test_connections_past_the_cap_are_refused_at_once_and_the_server_recovers(
    hub: ContactHub, database_url: str, tmp_path: Path
) -> None:
    server = ApiServer(database_url, tmp_path, name="capped", env={
        "CONTACTHUB_MAX_CONNECTIONS": "20", "CONTACTHUB_HEADER_TIMEOUT_S": str(HEAD_TIMEOUT_S)})
    server.start()
    try:
        time.sleep(0.3)  # the start-up probe's connection is closed
        idle = [connect(server.port) for _ in range(20)]
        time.sleep(0.2)
        extra = connect(server.port)
        status, data, elapsed = answer_and_close(extra, within_s=5)
        extra.close()
        assert status == 503 and b"retry-after: 1" in data.lower() and elapsed < 1
        for sock in idle:  # cut off at the head deadline: they never sent a request
            assert answer_and_close(sock, within_s=HEAD_TIMEOUT_S + SLACK_S)[0] == 408
            sock.close()
        assert ChannelClient(server.port, "").request("GET", "/health").status == 200
    finally:
        server.stop()
