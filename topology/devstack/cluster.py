"""A Redis Cluster on loopback: masters, each with its replicas, all real redis-servers.

The nodes are the embedded stack's ``RedisServer`` with cluster mode on (the same binary),
each on a port whose cluster bus port (port + 10000) is free too. ``start()`` launches
them, gives each master an equal share of the 16384 slots, introduces the nodes to each
other (CLUSTER MEET), makes the replicas (CLUSTER REPLICATE) and returns once every node
reports ``cluster_state:ok`` and every replica is in sync.

    with RedisClusterStack(log_dir=path) as cluster:
        cluster.url        # "redis://127.0.0.1:PORT/0", any node's address
        cluster.masters()  # the nodes that own slots now

``cluster-node-timeout`` is short (1000 ms by default), so a replica takes over a master
that stops answering within a few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import random
import shutil
import socket
import tempfile
import time
from pathlib import Path

import redis

from tcnad.topology.devstack.probes import HOST, StackError
from tcnad.topology.devstack.stack import START_TIMEOUT_S, RedisServer, _StartStop

logger = logging.getLogger(__name__)

SLOTS = 16384
BUS_OFFSET = 10000  # Redis Cluster's bus listens on port + 10000


def cluster_port(host: str = HOST, low: int = 20000, high: int = 30000) -> int:
    """A port in ``[low, high)`` free on ``host`` with its bus port (+10000) free too."""
    for _ in range(200):
        port = random.randrange(low, high)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind((host, port))
                b.bind((host, port + BUS_OFFSET))
        except OSError:
            continue
        return port
    raise StackError(f"no free port pair (port, port + {BUS_OFFSET}) in [{low}, {high})")


class ClusterNodeServer(RedisServer):
    """One redis-server in cluster mode; its cluster config (nodes.conf) lives in its data
    directory, so a restart on the same port rejoins the cluster as the node it was."""

    def __init__(self, index: int, log_dir: Path, node_timeout_ms: int) -> None:
        self.name = f"redis-node{index}"
        # No fixed port: until its first start a node whose port was taken meanwhile (by
        # another node of the stack, which drew the same one, or by anything else) moves to
        # another pair; ``restart`` keeps the port, as a cluster member must.
        super().__init__(None, data_dir=log_dir / self.name, log_dir=log_dir)
        self.node_timeout_ms = node_timeout_ms

    def _free_port(self) -> int:
        return cluster_port()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        super().start(timeout_s)
        self._fixed_port = True  # a member of the cluster keeps its port from now on

    def _argv(self) -> list[str]:
        return [
            *super()._argv(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # a replica may take over however long it was cut off from its master
            "--cluster-replica-validity-factor", "0",
            "--repl-diskless-sync", "yes",
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip

    def client(self, timeout_s: float = 2.0) -> redis.Redis:
        return redis.Redis(HOST, self.port, socket_timeout=timeout_s, decode_responses=True)


class RedisClusterStack(_StartStop):
    """``masters`` masters with ``replicas`` replicas each, on loopback; see the module."""

    def __init__(
        self,
        masters: int = 3,
        replicas: int = 1,
        log_dir: Path | str | None = None,
        node_timeout_ms: int = 1000,
    ) -> None:
        if masters < 1 or replicas < 0:
            raise ValueError(f"need masters >= 1 and replicas >= 0, got {masters}, {replicas}")
        self._owned_dir: Path | None = None
        if log_dir is None:
            log_dir = self._owned_dir = Path(tempfile.mkdtemp(prefix="tcnad-cluster-"))
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.n_masters, self.n_replicas = masters, replicas
        self.nodes = [
            ClusterNodeServer(i, self.log_dir, node_timeout_ms)
            for i in range(masters * (1 + replicas))
        ]
        self._failed = False

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` of the first node (a client discovers the rest)."""
        return self.nodes[0].url

    @property
    def pids(self) -> list[int | None]:
        return [n.pid for n in self.nodes]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Start every node, form the cluster and wait until it is ready; on any failure
        stop whatever started."""
        try:
            for node in self.nodes:
                (node.data_dir / "nodes.conf").unlink(missing_ok=True)  # a new cluster
                node.start(timeout_s)
            self._form(timeout_s)
        except BaseException:
            self._failed = True
            self.stop()
            raise
        logger.info("redis cluster ready nodes=%s", [n.port for n in self.nodes])

    def _form(self, timeout_s: float) -> None:
        clients = [n.client() for n in self.nodes]
        try:
            ids = [str(_cluster(c, "MYID")) for c in clients]
            share = SLOTS // self.n_masters
            for m in range(self.n_masters):
                high = SLOTS if m == self.n_masters - 1 else (m + 1) * share
                _cluster(clients[m], "ADDSLOTS", *range(m * share, high))
            for c in clients[1:]:
                _cluster(c, "MEET", HOST, self.nodes[0].port)
            self._until(lambda: all(_known(c) == len(self.nodes) for c in clients), timeout_s)
            for r, c in enumerate(clients[self.n_masters :]):
                _cluster(c, "REPLICATE", ids[r % self.n_masters])
        finally:
            for c in clients:
                c.close()
        self.wait_ready(timeout_s)

    def masters(self) -> list[ClusterNodeServer]:
        """The running nodes that own slots now (a promoted replica included)."""
        out = []
        for node in self.nodes:
            if not node.running:
                continue
            with contextlib.suppress(redis.RedisError), node.client() as c:
                if c.info("replication")["role"] == "master" and _owns_slots(c):
                    out.append(node)
        return out

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until every running node says ``cluster_state:ok``, ``n_masters`` running
        nodes own slots, and every running replica's link to its master is up."""

        def ready() -> bool:
            running = [n for n in self.nodes if n.running]
            for node in running:
                with node.client() as c:
                    if c.cluster("info")["cluster_state"] != "ok":
                        return False
                    info = c.info("replication")
                    if info["role"] == "slave" and info.get("master_link_status") != "up":
                        return False
            return len(self.masters()) == self.n_masters

        self._until(ready, timeout_s)

    def _until(self, done: object, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError, KeyError):
                if done():  # type: ignore[operator]
                    return
            time.sleep(0.1)
        raise StackError(
            f"the redis cluster was not ready within {timeout_s:.0f}s; see the node logs in "
            f"{self.log_dir}"
        )

    def stop(self) -> None:
        """Stop every node; remove the log directory if this cluster made it."""
        with contextlib.ExitStack() as stack:  # stop each even if one raises
            for node in self.nodes:
                stack.callback(node.stop)
        if self._owned_dir is not None and not self._failed:
            shutil.rmtree(self._owned_dir, ignore_errors=True)


def _nodes(client: redis.Redis) -> list[tuple[str, str, bool]]:
    """CLUSTER NODES of ``client``'s node: ``(node id, flags, owns slots)`` per node."""
    text = str(_cluster(client, "NODES"))
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return [(f[0], f[2], len(f) > 8) for f in rows if len(f) >= 8]


def _known(client: redis.Redis) -> int:
    """How many nodes ``client``'s node knows, with the handshake done."""
    return sum(1 for _, f, _ in _nodes(client) if "handshake" not in f and "noaddr" not in f)


def _owns_slots(client: redis.Redis) -> bool:
    return any("myself" in f and slots for _, f, slots in _nodes(client))


def _cluster(client: redis.Redis, *args: object) -> object:
    """``CLUSTER <args>`` on one node (redis-py leaves ``execute_command`` untyped)."""
    return client.execute_command("CLUSTER", *args)  # type: ignore[no-untyped-call]
