"""``RedisCacheStore`` specifics against real redis-servers: keys, TTL, scripts, wire
volume, connection settings (password, TLS) and errors."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions
from redis.crc import key_slot

from tcnad.state import RedisCacheStore, StoreUnavailable, redis_store
from tcnad.state.redis_store import ENCODE_CHUNK, resp_size
from tcnad.state.types import StreamUpdate
from tests.integration.redis_proc import RedisProc, free_port
from tests.state_fixtures import reference_layout, synthetic_update
from tests.unit.state.contract import assert_state

LAYOUT = reference_layout()
# 2,304 bytes of ring rows and meta, plus the 8 bytes that name the source of the stored
# position (state format 2), without which a new or recreated topic could not be told from a
# replay.
PER_READING_LIMIT = 16 * 32 * 4 + 256 + 8


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProc]:
    with RedisProc(Path(tmp_path_factory.mktemp("redis"))) as proc:
        yield proc


@pytest.fixture
async def client(server: RedisProc) -> AsyncIterator[aioredis.Redis]:
    c = aioredis.Redis.from_url(server.url)
    await c.flushall()
    yield c
    await c.aclose()


async def test_keys_share_a_hash_tag_and_carry_the_ttl(server: RedisProc, client: aioredis.Redis):
    store = RedisCacheStore(server.url, LAYOUT, namespace="ns1", ttl_s=30)
    await store.save([synthetic_update(LAYOUT, "dev:7", 0, 3)])
    assert sorted(await client.keys("*")) == [b"ns1:{dev:7}:meta", b"ns1:{dev:7}:rings"]
    assert key_slot(b"ns1:{dev:7}:meta") == key_slot(b"ns1:{dev:7}:rings") == key_slot(b"dev:7")
    for key in (b"ns1:{dev:7}:meta", b"ns1:{dev:7}:rings"):
        assert 29_000 < await client.pttl(key) <= 30_000
    persistent = RedisCacheStore(server.url, LAYOUT, namespace="ns1")
    await persistent.save([synthetic_update(LAYOUT, "dev:7", 3, 4)])
    for key in (b"ns1:{dev:7}:meta", b"ns1:{dev:7}:rings"):
        assert await client.pttl(key) == -1  # no TTL configured: nothing expires
    await store.close()
    await persistent.close()


async def test_scripts_reload_after_script_flush(server: RedisProc, client: aioredis.Redis):
    store = RedisCacheStore(server.url, LAYOUT)
    await store.save([synthetic_update(LAYOUT, "s", 0, 2)])
    await client.script_flush()
    trips = store.stats.round_trips
    assert (await store.save([synthetic_update(LAYOUT, "s", 2, 3)])).saved == ["s"]
    assert store.stats.round_trips == trips + 3  # NOSCRIPT, SCRIPT LOAD, resend
    assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 3)
    await store.close()


async def test_counted_commands_match_the_server(server: RedisProc, client: aioredis.Redis):
    """The store's own counters agree with what redis-server says it received."""
    store = RedisCacheStore(server.url, LAYOUT)
    streams = [f"sensor-{i:05d}" for i in range(256)]
    await store.save([synthetic_update(LAYOUT, s, 0, 1) for s in streams])

    async def server_stats() -> tuple[int, int]:
        calls = (await client.info("commandstats"))["cmdstat_evalsha"]["calls"]
        return int(calls), int((await client.info("stats"))["total_net_input_bytes"])

    cmds0, bytes0 = await server_stats()
    sent0, trips0 = store.stats.bytes_sent, store.stats.round_trips
    result = await store.save([synthetic_update(LAYOUT, s, 1, 2) for s in streams])
    assert result.saved == streams
    cmds1, bytes1 = await server_stats()
    sent = store.stats.bytes_sent - sent0
    assert store.stats.round_trips - trips0 == 1
    assert cmds1 - cmds0 == len(streams)  # EVALSHA calls, one per stream
    info_bytes = bytes1 - bytes0 - sent
    assert 0 < info_bytes < 100  # the server got exactly the counted bytes plus two INFOs
    assert sent / len(streams) <= PER_READING_LIMIT
    await store.close()


async def test_large_saves_and_loads_go_in_bounded_pieces(
    server: RedisProc, client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
):
    """A pipeline is written in one piece, so big ones are split by bytes: every stream is
    still saved, loaded and fenced on its own, and a NOSCRIPT reply in any piece is handled."""
    store = RedisCacheStore(server.url, LAYOUT)
    streams = [f"big-{i:03d}" for i in range(10)]
    first = [synthetic_update(LAYOUT, s, 0, 1) for s in streams]
    await store.save(first[:1])  # loads the script
    body, rows = store.codec.encode_update(first[0])
    per_command = resp_size(("EVALSHA", "x" * 40, 2, *store.keys(streams[0]), 0, body, rows))
    monkeypatch.setattr(redis_store, "PIPELINE_BYTES", 3 * per_command)
    trips = store.stats.round_trips
    assert (await store.save(first)).saved == streams
    assert store.stats.round_trips - trips == 4  # 3 + 3 + 3 + 1 commands
    await client.script_flush()
    trips = store.stats.round_trips
    second = [synthetic_update(LAYOUT, s, 1, 2) for s in streams]
    second[4] = synthetic_update(LAYOUT, streams[4], 0, 2)  # stale: fenced
    result = await store.save(second)
    assert result.fenced == [streams[4]] and len(result.saved) == 9
    assert store.stats.round_trips - trips == 4 + 1 + 4  # NOSCRIPT, SCRIPT LOAD, resend
    loaded = await store.load(streams)
    assert store.stats.round_trips - trips == 9 + 1  # MGETs are small requests
    for s in streams:
        assert_state(loaded.records[s], LAYOUT, s, 1 if s == streams[4] else 2)
    await store.close()


async def test_a_save_that_fails_between_pieces_is_retried_whole(
    server: RedisProc, client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
):
    """The first piece is applied, the connection fails before the second: the save raises
    for every stream, and the retry reports every stream saved (the first piece's as
    already applied), with each state stored once."""
    store = RedisCacheStore(server.url, LAYOUT)
    streams = [f"cut-{i}" for i in range(4)]
    await store.save([synthetic_update(LAYOUT, s, 0, 1) for s in streams])
    updates = [synthetic_update(LAYOUT, s, 1, 3) for s in streams]
    body, rows = store.codec.encode_update(updates[0])
    per_command = resp_size(("EVALSHA", "x" * 40, 2, *store.keys(streams[0]), 1, body, rows))
    monkeypatch.setattr(redis_store, "PIPELINE_BYTES", 2 * per_command)
    execute, calls = RedisCacheStore._execute, []

    async def cut_after_first(self: RedisCacheStore, pipe: Any) -> list[Any]:
        calls.append(1)
        if len(calls) == 2:
            raise redis.exceptions.ConnectionError("connection lost")
        return await execute(self, pipe)

    monkeypatch.setattr(RedisCacheStore, "_execute", cut_after_first)
    with pytest.raises(StoreUnavailable) as info:
        await store.save(updates)
    assert info.value.streams == tuple(streams)
    monkeypatch.setattr(RedisCacheStore, "_execute", execute)
    metas = await client.mget([store.keys(s)[0] for s in streams])
    new = [store.codec.encode_update(u)[0] for u in updates]
    applied = [m is not None and m.endswith(b) for m, b in zip(metas, new, strict=True)]
    assert applied == [True, True, False, False]  # the first piece only
    result = await store.save(updates)
    assert result.saved == streams and not result.fenced
    loaded = await store.load(streams)
    for s in streams:
        assert_state(loaded.records[s], LAYOUT, s, 3)
    await store.close()


async def test_unreachable_redis_is_store_unavailable() -> None:
    store = RedisCacheStore(f"redis://127.0.0.1:{free_port()}/0", LAYOUT, socket_timeout=1)
    with pytest.raises(StoreUnavailable) as info:
        await store.save([synthetic_update(LAYOUT, s, 0, 1) for s in ("a", "b")])
    assert info.value.retriable and info.value.streams == ("a", "b")
    assert "'a', 'b'" in str(info.value)
    with pytest.raises(StoreUnavailable, match="load"):
        await store.load(["a"])
    await store.close()


async def test_password_from_url(tmp_path: Path) -> None:
    with RedisProc(tmp_path, password="s3cret") as proc:
        store = RedisCacheStore(proc.url, LAYOUT)
        assert (await store.save([synthetic_update(LAYOUT, "s", 0, 1)])).saved == ["s"]
        wrong = RedisCacheStore(proc.url.replace("s3cret", "nope"), LAYOUT)
        with pytest.raises(StoreUnavailable) as info:
            await wrong.load(["s"])
        assert info.value.streams == ("s",)
        await store.close()
        await wrong.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    subprocess.run(
        [
            *command.split(),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_rediss_tls_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("TLS test needs redis-server (built with TLS) and openssl on PATH")
    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("TCNAD_TEST_REDIS_SERVER", binary)
    tls_port = free_port()
    extra = (
        f"--tls-port {tls_port} --tls-cert-file {cert} --tls-key-file {key} "
        f"--tls-ca-cert-file {cert} --tls-auth-clients no"
    ).split()
    proc = RedisProc(tmp_path, extra=tuple(extra))
    try:
        proc.start()
    except RuntimeError:
        if "tls" in (tmp_path / "redis.log").read_text().lower():
            pytest.skip(f"{binary} is built without TLS support")
        raise
    with proc:
        url = f"rediss://127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        store = RedisCacheStore(url, LAYOUT)
        assert (await store.save([synthetic_update(LAYOUT, "s", 0, 2)])).saved == ["s"]
        assert_state((await store.load(["s"])).records["s"], LAYOUT, "s", 2)
        await store.close()
        plain = RedisCacheStore(f"redis://127.0.0.1:{tls_port}/0", LAYOUT, socket_timeout=1)
        with pytest.raises(StoreUnavailable):
            await plain.load(["s"])
        await plain.close()


async def test_a_large_save_lets_other_tasks_run_while_it_encodes(server: RedisProc):
    """Encoding a save of many streams is CPU work on the event loop: it yields between
    chunks, so a worker's next batch is not held up for the whole encoding."""
    store = RedisCacheStore(server.url, LAYOUT)
    n = 3 * ENCODE_CHUNK
    updates = [synthetic_update(LAYOUT, f"s{i}", 0, 2) for i in range(n)]
    ran: list[bool] = [False]
    seen: list[bool] = []
    encode = store.codec.encode_update

    def spy(update: StreamUpdate) -> tuple[bytes, bytes]:
        seen.append(ran[0])
        return encode(update)

    store.codec.encode_update = spy  # type: ignore[method-assign]
    asyncio.get_running_loop().call_soon(lambda: ran.__setitem__(0, True))
    assert len((await store.save(updates)).saved) == n
    assert seen[:ENCODE_CHUNK] == [False] * ENCODE_CHUNK  # one chunk in one piece
    assert seen[-1] is True  # ... but the other callback ran before the last chunk
    assert_state((await store.load(["s0"])).records["s0"], LAYOUT, "s0", 2)
    await store.close()
