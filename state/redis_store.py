"""``RedisCacheStore``: per-stream detector state in Redis, pipelined round trips.

Keys (one Redis Cluster hash tag per stream, so both live on one slot):
``<ns>:{<stream>}:meta`` (codec header + step, offset, timestamp, stats) and
``<ns>:{<stream>}:rings`` (all rings as one little-endian blob in the layout's ring dtype).

``load`` pipelines one MGET (meta, rings) per stream; ``save`` pipelines one EVALSHA of the
save script per stream, which checks the stored step against ``since_step`` and SETRANGEs
only the changed ring rows. Both go out pipelined, one round trip per ``PIPELINE_BYTES`` of
requests. The script is loaded on first use and again after a NOSCRIPT reply (a restarted
Redis), resending only the commands that got it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from tcnad.detector.state import StateLayout
from tcnad.state.base import (
    BASES_BYTES,
    Bases,
    Converted,
    OnIncompatible,
    Outcome,
    StoreStats,
    check_policy,
    collect,
    unique,
)
from tcnad.state.codec import StateCodec
from tcnad.state.errors import StoreUnavailable
from tcnad.state.lua import save_script, sha1
from tcnad.state.patch import encode_patches
from tcnad.state.types import LoadResult, SaveResult, StreamUpdate

log = logging.getLogger(__name__)

Command = tuple[str | bytes | int, ...]
ENCODE_CHUNK = 128  # updates encoded between two yields to the event loop
PIPELINE_BYTES = 1 << 20  # commands per round trip, in bytes (see RedisCacheStore._pipeline)


def resp_size(command: Command) -> int:
    """Bytes of ``command`` in the Redis protocol (RESP2 array of bulk strings)."""
    size = len(f"*{len(command)}\r\n")
    for arg in command:
        n = len(arg) if isinstance(arg, bytes) else len(str(arg).encode("utf-8"))
        size += len(f"${n}\r\n") + n + 2
    return size


def stream_keys(namespace: str, stream: str) -> tuple[str, str]:
    """``(meta key, rings key)`` of a stream; both carry the hash tag ``{stream}``."""
    if not stream:
        raise ValueError("stream name must not be empty")
    return f"{namespace}:{{{stream}}}:meta", f"{namespace}:{{{stream}}}:rings"


class RedisCacheStore:
    """``CacheStore`` on redis.asyncio; see the module docstring for keys and scripts.

    redis_url: ``redis://[:password@]host:port/db`` or ``rediss://`` for TLS (URL query
    options such as ``ssl_cert_reqs`` or ``ssl_ca_certs`` are passed through by redis-py).
    ttl_s: idle expiry; every save renews it. None keeps states until deleted.
    on_incompatible: "reset" (treat states of another model/format as new and count them)
    or "error" (``load`` raises ``IncompatibleState``).
    stats_patches: a save sends only the stats that changed since the body this store last
    loaded or saved for the stream (``tcnad.state.patch``); False sends every body whole.
    Client-side retries are off: a failure surfaces at once as ``StoreUnavailable``.
    """

    def __init__(
        self,
        redis_url: str,
        layout: StateLayout,
        *,
        namespace: str = "tcnad",
        ttl_s: float | None = None,
        on_incompatible: str = "reset",
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 5.0,
        client_kwargs: Mapping[str, Any] | None = None,
        stats_patches: bool = True,
    ) -> None:
        self._configure(layout, namespace, ttl_s, on_incompatible, stats_patches=stats_patches)
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            redis_url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=False,
            **dict(client_kwargs or {}),
        )

    def _configure(
        self,
        layout: StateLayout,
        namespace: str,
        ttl_s: float | None,
        on_incompatible: str,
        rewrite_replayed: bool = False,
        stats_patches: bool = True,
    ) -> None:
        """What every Redis store shares: codec, policy, counters and the save script."""
        if not namespace or "{" in namespace or "}" in namespace:
            raise ValueError(f"namespace must be non-empty without braces, got {namespace!r}")
        if ttl_s is not None and ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive or None, got {ttl_s}")
        self.layout = layout
        self.namespace = namespace
        self.policy: OnIncompatible = check_policy(on_incompatible)
        self.codec = StateCodec(layout)
        self.stats = StoreStats()
        self.converted = Converted(self.codec)
        self.bases = Bases(self.codec, BASES_BYTES if stats_patches else 0)
        ttl_ms = 0 if ttl_s is None else max(1, round(ttl_s * 1000))
        self._script = save_script(self.codec, self.policy == "reset", ttl_ms, rewrite_replayed)
        self._sha = sha1(self._script)
        self._script_loaded = False

    def keys(self, stream: str) -> tuple[str, str]:
        return stream_keys(self.namespace, stream)

    async def load(self, streams: Sequence[str]) -> LoadResult:
        """States of ``streams`` (one pipelined round trip); absent ones are ``missing``.

        Each stream is one ``MGET meta rings``: a single command, so atomic per stream, and
        both keys share the stream's hash slot.
        """
        names = unique(streams)
        replies = await self._run("load", names, [("MGET", *self.keys(s)) for s in names])
        rows = [(s, r[0], r[1]) for s, r in zip(names, replies, strict=True)]
        result = collect(self.codec, self.policy, self.stats, rows, self.converted)
        for s, meta, _ in rows:
            self.bases.loaded(s, meta)
        return result

    async def save(self, updates: Sequence[StreamUpdate]) -> SaveResult:
        """Apply the updates, each atomically and only if the stored step is its
        ``since_step`` (one pipelined round trip). Raises ``StoreUnavailable``.

        A stream whose body at ``since_step`` this store holds (``Bases``) sends a stats
        patch instead of its body (``tcnad.state.patch``)."""
        commands: list[Command] = []
        sent_whole: list[bool] = []
        bodies: list[bytes] = []
        for start in range(0, len(updates), ENCODE_CHUNK):
            if start:
                await asyncio.sleep(0)  # a large save lets other work run in between
            part = updates[start : start + ENCODE_CHUNK]
            encoded = [self.codec.encode_update(u) for u in part]  # validates before sending
            wholes = [
                self.converted.whole(u, rows) for u, (_, rows) in zip(part, encoded, strict=True)
            ]
            sent = self._patches(part, [body for body, _ in encoded], wholes)
            for u, (body, rows), whole, patch in zip(part, encoded, wholes, sent, strict=True):
                keys, since = self.keys(u.stream), u.delta.since_step
                sent_whole.append(whole is not None)
                bodies.append(body)
                if whole is not None:
                    commands.append(("EVALSHA", self._sha, 2, *keys, since, body, whole, 1))
                elif patch is not None:
                    commands.append(("EVALSHA", self._sha, 2, *keys, since, patch, rows, "p"))
                else:
                    commands.append(("EVALSHA", self._sha, 2, *keys, since, body, rows))
        names = [u.stream for u in updates]
        replies = await self._run("save", names, commands)
        if self.converted.held:
            for s, w, r in zip(names, sent_whole, replies, strict=True):
                if w or r != Outcome.FENCED:  # stored in this dtype now, or fenced
                    self.converted.forget(s)
        for s, body, r in zip(names, bodies, replies, strict=True):
            if r == Outcome.FENCED:
                self.bases.forget(s)
            else:
                self.bases.put(s, body)
        saved = [s for s, r in zip(names, replies, strict=True) if r != Outcome.FENCED]
        fenced = [s for s, r in zip(names, replies, strict=True) if r == Outcome.FENCED]
        if fenced:
            log.info("state fenced streams=%d first=%s", len(fenced), fenced[0])
        self.stats.saved += len(saved)
        self.stats.fenced += len(fenced)
        return SaveResult(saved, fenced)

    def _patches(
        self, part: Sequence[StreamUpdate], bodies: list[bytes], wholes: list[bytes | None]
    ) -> list[bytes | None]:
        """Per update, the stats patch to send instead of its body (None: send the body):
        where the store holds the body stored at its ``since_step`` and the patch is the
        smaller."""
        picked: list[tuple[int, bytes]] = []
        for i, (u, whole) in enumerate(zip(part, wholes, strict=True)):
            base = None if whole is not None else self.bases.base(u.stream, u.delta.since_step)
            if base is not None:
                picked.append((i, base))
        out: list[bytes | None] = [None] * len(part)
        if not picked:
            return out
        patches = encode_patches(
            [base for _, base in picked], [bodies[i] for i, _ in picked], self.layout.stats_size
        )
        for (i, _), patch in zip(picked, patches, strict=True):
            if len(patch) < len(bodies[i]):  # most stats changed: the body is smaller
                out[i] = patch
        return out

    async def delete(self, streams: Sequence[str]) -> int:
        """Remove ``streams`` (explicit reset); returns how many had stored keys."""
        names = unique(streams)
        replies = await self._run("delete", names, [("DEL", *self.keys(s)) for s in names])
        for s in names:
            self.converted.forget(s)
            self.bases.forget(s)
        return sum(1 for r in replies if int(r) > 0)

    async def server_run_id(self) -> str:
        """Redis's ``run_id``: it changes when the server restarts, which may have lost the
        last second of writes (see docs/architecture.md, state durability)."""
        try:
            info = await self.client.info("server")
        except (RedisError, OSError) as exc:
            raise StoreUnavailable("info", [], exc) from exc
        return str(info["run_id"])

    async def check(self) -> None:
        """PING, then load the save script: raises ``StoreUnavailable`` unless Redis answers
        and accepts the script (a worker checks this before it joins its group)."""
        try:
            await self.client.ping()
            await self._load_script()
        except (RedisError, OSError) as exc:
            self._script_loaded = False
            raise StoreUnavailable("check", [], exc) from exc

    async def close(self) -> None:
        await self.client.aclose()

    async def _run(self, op: str, streams: list[str], commands: list[Command]) -> list[Any]:
        """Send one command per stream in one pipeline; returns the replies. Every failure
        becomes ``StoreUnavailable`` naming the streams involved."""
        if not commands:
            return []
        try:
            if op == "save" and not self._script_loaded:
                await self._load_script()
            replies = await self._pipeline(commands)
            again = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if again:
                log.warning("state save script missing on redis (restarted?); reloading")
                await self._load_script()
                retried = await self._pipeline([commands[i] for i in again])
                for i, r in zip(again, retried, strict=True):
                    replies[i] = r
        except (RedisError, OSError) as exc:
            self._script_loaded = False  # a restarted server has none
            raise StoreUnavailable(op, streams, exc) from exc
        failed = [i for i, r in enumerate(replies) if isinstance(r, BaseException)]
        if failed:
            raise StoreUnavailable(op, [streams[i] for i in failed], replies[failed[0]])
        return replies

    async def _pipeline(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` pipelined, ``PIPELINE_BYTES`` at a time; returns their replies."""
        replies, _ = await self._pipelined(self.client, commands)
        return replies

    async def _pipelined(
        self,
        client: aioredis.Redis,
        commands: Sequence[Command],
        *,
        tail: Command | None = None,
        asking: bool = False,
    ) -> tuple[list[Any], list[Any]]:
        """Send ``commands`` to ``client`` pipelined, ``PIPELINE_BYTES`` at a time.

        Returns the commands' replies and, per round trip, the reply to ``tail`` (a command
        sent last in every piece, such as WAIT, which covers the writes of its connection),
        or None without one. ``asking``: each command is preceded by ASKING (a slot being
        imported, Redis Cluster); their replies are dropped.

        A pipeline is written to the socket in one piece: redis-py joins it into one
        buffer and asyncio copies what the socket does not take at once, all inside one
        callback of the event loop. A save of a thousand busy streams is tens of MB, which
        would hold the loop (and every batch behind it) for tens of milliseconds; pieces
        of ``PIPELINE_BYTES`` bound that to a few, at the cost of one round trip each.
        """
        replies: list[Any] = []
        tails: list[Any] = []
        pipe, size = client.pipeline(transaction=False), 0

        async def flush() -> None:
            if tail is not None:
                pipe.execute_command(*tail)
                self.stats.bytes_sent += resp_size(tail)
            got = await self._execute(pipe)
            tails.append(got.pop() if tail is not None else None)
            replies.extend(got[1::2] if asking else got)

        for command in commands:
            n = resp_size(command)
            if size and size + n > PIPELINE_BYTES:
                await flush()
                pipe, size = client.pipeline(transaction=False), 0
            if asking:
                pipe.execute_command("ASKING")
            pipe.execute_command(*command)
            size += n
            self.stats.bytes_sent += n
        self.stats.commands += len(commands)
        await flush()
        return replies, tails

    async def _execute(self, pipe: Any) -> list[Any]:
        self.stats.round_trips += 1
        return list(await pipe.execute(raise_on_error=False))

    async def _load_script(self) -> None:
        self.stats.bytes_sent += resp_size(("SCRIPT", "LOAD", self._script))
        self.stats.round_trips += 1
        self.stats.commands += 1
        sha = await self.client.script_load(self._script)
        sha = sha.decode() if isinstance(sha, bytes) else str(sha)
        if sha != self._sha:
            raise RedisError(f"save script digest {sha} != {self._sha}")
        self._script_loaded = True
