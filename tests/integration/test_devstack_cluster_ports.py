"""The embedded Redis Cluster's nodes draw their ports at random before any of them starts:
two nodes that drew the same port (or a port taken meanwhile) must not stop the cluster from
starting. The later node moves to another free pair before its first start, and every
node keeps its port after it (a cluster member's address is its identity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcnad.topology.devstack import cluster as devcluster

pytestmark = pytest.mark.timeout(120)


def test_nodes_that_drew_the_same_port_start_on_distinct_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = devcluster.cluster_port
    same = real()
    draws = iter([same, same])
    monkeypatch.setattr(devcluster, "cluster_port", lambda *a, **k: next(draws, None) or real())
    stack = devcluster.RedisClusterStack(masters=1, replicas=1, log_dir=tmp_path)
    assert [n.port for n in stack.nodes] == [same, same]
    try:
        stack.start(timeout_s=60.0)
        ports = [n.port for n in stack.nodes]
        assert ports[0] == same and ports[1] != same, ports
        with stack.nodes[1].client() as c:
            assert "cluster_state:ok" in c.execute_command("CLUSTER", "INFO")
        node = stack.nodes[1]
        node.kill()
        node.start(timeout_s=60.0)  # a member starts again on its own port
        assert node.port == ports[1]
    finally:
        stack.stop()
