"""``RedisClusterCacheStore``: the Redis store on a Redis Cluster, one round trip per node.

The keys, the save script, the codec and the fencing are ``RedisCacheStore``'s (this is a
subclass; only the transport differs). Both keys of a stream carry its hash tag, so they
live in one slot, on one master. A ``load``, ``save`` or ``delete`` groups its per-stream
commands by the master that owns their slot and sends each group as one pipeline, all
masters at once: one round trip per master (per ``PIPELINE_BYTES`` of requests), counted in
``stats.node_round_trips``.

Slot owners come from redis-py's ``redis.asyncio.cluster.RedisCluster`` (CLUSTER SLOTS of
any reachable node, the nodes it discovered included), read at the first call and again
after a MOVED reply, a CLUSTERDOWN or a node that does not answer. Replies are handled per
command:

* MOVED: the slot map is read again and the command resent to the new owner (up to
  ``REDIRECTS`` times in one call);
* ASK (a slot being migrated): resent to the importing node, preceded by ASKING;
* NOSCRIPT: the save script is loaded on that node and the command resent;
* TRYAGAIN (a stream's two keys split by a migration in progress), CLUSTERDOWN, a node that
  does not answer: ``StoreUnavailable`` naming the streams involved; the caller retries.

Saves can wait for replication: with ``wait_replicas`` > 0 every pipeline of a save ends
with ``WAIT wait_replicas wait_timeout_ms``. A node whose replicas acknowledged fewer
writes fails its streams' saves with ``StoreUnavailable``, so the caller does not commit
their offsets and retries them (a retry that finds the save already applied writes the
meta again, so its WAIT covers the first write too).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisClusterException,
    RedisError,
)

from tcnad.detector.state import StateLayout
from tcnad.state.base import StoreStats
from tcnad.state.errors import StoreUnavailable
from tcnad.state.redis_store import Command, RedisCacheStore, resp_size

log = logging.getLogger(__name__)

REDIRECTS = 5  # MOVED/ASK rounds within one call before it fails as StoreUnavailable


@dataclass
class ClusterStats(StoreStats):
    """``StoreStats`` plus, per master (``host:port``), the round trips sent to it;
    ``calls``: loads, saves and deletes that sent anything; ``redirects``: MOVED and ASK
    replies followed; ``short_waits``: pipelines whose WAIT saw fewer replicas than asked."""

    node_round_trips: dict[str, int] = field(default_factory=dict)
    calls: int = 0
    redirects: int = 0
    short_waits: int = 0


class ShortWait(RedisError):
    """Fewer replicas than asked acknowledged a save's writes within the WAIT timeout."""


class RedisClusterCacheStore(RedisCacheStore):
    """``CacheStore`` on a Redis Cluster; see the module docstring.

    redis_url: ``redis://`` or ``rediss://`` URL of any node (the others are discovered);
    password, ACL user and TLS options apply to every node. wait_replicas: replicas that
    must acknowledge a save's writes before it counts as saved (0: do not wait);
    wait_timeout_ms: how long WAIT waits for them. Other arguments as ``RedisCacheStore``.
    """

    stats: ClusterStats

    def __init__(
        self,
        redis_url: str,
        layout: StateLayout,
        *,
        namespace: str = "tcnad",
        ttl_s: float | None = None,
        on_incompatible: str = "reset",
        wait_replicas: int = 1,
        wait_timeout_ms: int = 1000,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 5.0,
        client_kwargs: Mapping[str, Any] | None = None,
        stats_patches: bool = True,
    ) -> None:
        if wait_replicas < 0:
            raise ValueError(f"wait_replicas must be >= 0, got {wait_replicas}")
        if wait_timeout_ms < 1:  # WAIT n 0 would block until the replicas answer
            raise ValueError(f"wait_timeout_ms must be >= 1, got {wait_timeout_ms}")
        self._configure(layout, namespace, ttl_s, on_incompatible, wait_replicas > 0, stats_patches)
        self.stats = ClusterStats()
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._url = urlsplit(redis_url)
        self._kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_connect_timeout,
            "decode_responses": False,
            **dict(client_kwargs or {}),
        }
        self.cluster = RedisCluster.from_url(redis_url, **self._kwargs)
        self._nodes: dict[str, aioredis.Redis] = {}
        self._scripted: set[str] = set()  # nodes known to hold the save script
        self._started = False
        self._stale = True  # read the slot map before the next call

    # --- topology -----------------------------------------------------------------------

    async def _refresh(self) -> None:
        if not self._started:
            await self.cluster.initialize()
            self._started = True
        elif self._stale:
            await self.cluster.nodes_manager.initialize()
        self._stale = False

    def _owner(self, stream: str) -> str:
        """``host:port`` of the master that owns ``stream``'s slot (as last read)."""
        slot = self.cluster.keyslot(self.keys(stream)[0])
        return str(self.cluster.nodes_manager.get_node_from_slot(slot).name)

    def _client(self, node: str) -> aioredis.Redis:
        """A client of one node, with the URL's credentials and TLS options."""
        client = self._nodes.get(node)
        if client is None:
            host, _, port = node.rpartition(":")
            auth = self._url.netloc.rpartition("@")[0]
            netloc = f"{auth}@{host}:{port}" if auth else f"{host}:{port}"
            url = self._url._replace(netloc=netloc, path="/0").geturl()
            client = aioredis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **self._kwargs)
            self._nodes[node] = client
        return client

    def masters(self) -> list[str]:
        """``host:port`` of every master, as last read."""
        return sorted(n.name for n in self.cluster.get_primaries())

    # --- transport ----------------------------------------------------------------------

    async def _run(self, op: str, streams: list[str], commands: list[Command]) -> list[Any]:
        """Send one command per stream, grouped by master, every group at once; returns the
        replies in order. Any failure is ``StoreUnavailable`` naming the streams involved
        (the others are done)."""
        if not commands:
            return []
        replies: list[Any] = [None] * len(commands)
        pending = list(range(len(commands)))
        ask: dict[int, str] = {}  # command -> node that is importing its slot
        self.stats.calls += 1
        try:
            for _ in range(REDIRECTS + 1):
                await self._refresh()
                groups: dict[tuple[str, bool], list[int]] = {}
                for i in pending:
                    target = (ask[i], True) if i in ask else (self._owner(streams[i]), False)
                    groups.setdefault(target, []).append(i)
                ask = {}
                rounds = [
                    self._node_run(op, node, [commands[i] for i in idx], asking)
                    for (node, asking), idx in groups.items()
                ]
                pending = []
                for idx, got in zip(groups.values(), await asyncio.gather(*rounds), strict=True):
                    for i, reply in zip(idx, got, strict=True):
                        replies[i] = reply
                        if isinstance(reply, MovedError):
                            self._stale = True
                            pending.append(i)
                        elif isinstance(reply, AskError):
                            ask[i] = f"{reply.host}:{reply.port}"
                            pending.append(i)
                if not pending:
                    break
                self.stats.redirects += len(pending)
                log.info("state %s redirected streams=%d (slots moving)", op, len(pending))
        except (RedisError, RedisClusterException, OSError) as exc:
            self._stale = True
            raise StoreUnavailable(op, streams, exc) from exc
        failed = [i for i, r in enumerate(replies) if isinstance(r, BaseException)]
        if failed:
            if any(isinstance(replies[i], ClusterDownError) for i in failed):
                self._stale = True
            raise StoreUnavailable(op, [streams[i] for i in failed], replies[failed[0]])
        return replies

    async def _node_run(
        self, op: str, node: str, commands: list[Command], asking: bool
    ) -> list[Any]:
        """One node's share of a call: its replies, or the error for every command when
        the node does not answer or a WAIT came back short."""
        try:
            if op == "save" and node not in self._scripted:
                await self._load_script_on(node)
            replies = await self._send(op, node, commands, asking)
            again = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if again:
                log.warning("state save script missing on %s (restarted?); reloading", node)
                await self._load_script_on(node)
                retried = await self._send(op, node, [commands[i] for i in again], asking)
                for i, r in zip(again, retried, strict=True):
                    replies[i] = r
            return replies
        except (RedisError, OSError) as exc:
            self._scripted.discard(node)
            if not isinstance(exc, ShortWait):
                self._stale = True  # a node that does not answer may have been failed over
            return [exc] * len(commands)

    async def _send(self, op: str, node: str, commands: list[Command], asking: bool) -> list[Any]:
        wait = op == "save" and self.wait_replicas > 0
        tail: Command | None = ("WAIT", self.wait_replicas, self.wait_timeout_ms) if wait else None
        client = self._client(node)
        replies, acks = await self._pipelined(client, commands, tail=tail, asking=asking)
        self._count_trips(node, len(acks))  # one reply to the tail (or None) per round trip
        if wait and any(int(a) < self.wait_replicas for a in acks):
            self.stats.short_waits += 1
            raise ShortWait(
                f"WAIT on {node}: {min(int(a) for a in acks)} replica(s) acknowledged within "
                f"{self.wait_timeout_ms} ms, {self.wait_replicas} required"
            )
        return replies

    def _count_trips(self, node: str, trips: int) -> None:
        counts = self.stats.node_round_trips
        counts[node] = counts.get(node, 0) + trips

    async def _load_script_on(self, node: str) -> None:
        self.stats.bytes_sent += resp_size(("SCRIPT", "LOAD", self._script))
        self.stats.round_trips += 1
        self.stats.commands += 1
        self._count_trips(node, 1)
        sha = await self._client(node).script_load(self._script)
        sha = sha.decode() if isinstance(sha, bytes) else str(sha)
        if sha != self._sha:
            raise RedisError(f"save script digest {sha} != {self._sha}")
        self._scripted.add(node)

    # --- the rest of the store ------------------------------------------------------------

    async def server_run_id(self) -> str:
        """The ``run_id`` s of the masters, joined: it changes when any master restarts or
        a replica takes over."""
        try:
            await self._refresh()
            ids = [str((await self._client(n).info("server"))["run_id"]) for n in self.masters()]
        except (RedisError, RedisClusterException, OSError) as exc:
            self._stale = True
            raise StoreUnavailable("info", [], exc) from exc
        return ",".join(ids)

    async def check(self) -> None:
        """Read the slot map, then load the save script on every master: raises
        ``StoreUnavailable`` unless the cluster answers and accepts it."""
        try:
            await self._refresh()
            for node in self.masters():
                await self._load_script_on(node)
        except (RedisError, RedisClusterException, OSError) as exc:
            self._stale = True
            raise StoreUnavailable("check", [], exc) from exc

    async def close(self) -> None:
        for client in self._nodes.values():
            await client.aclose()
        self._nodes.clear()
        await self.cluster.aclose()
