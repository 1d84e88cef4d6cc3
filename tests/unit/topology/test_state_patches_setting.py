"""TCNAD_STATE_PATCHES: the worker's store sends stats patches unless it is false."""

from __future__ import annotations

import pytest

from tcnad.topology.settings import Settings
from tcnad.topology.worker.app import create_store
from tests.state_fixtures import reference_layout


async def test_the_state_patches_setting_reaches_both_stores(monkeypatch: pytest.MonkeyPatch):
    layout = reference_layout()
    for cluster in (False, True):
        on = create_store(Settings(redis_cluster=cluster), layout)
        assert on.bases.limit > 1000  # thousands of streams' bodies
        monkeypatch.setenv("TCNAD_STATE_PATCHES", "false")
        off = create_store(Settings(redis_cluster=cluster), layout)
        monkeypatch.delenv("TCNAD_STATE_PATCHES")
        off.bases.put("s", bytes(off.codec.body_size))
        assert off.bases.limit == 0 and off.bases.base("s", 1) is None
        for store in (on, off):
            await store.close()
