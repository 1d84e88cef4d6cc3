"""docker/: the compose file and Dockerfile agree with the CLI, the settings and each other.

No Docker engine runs the files here, so this test reads them: services, commands, env.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tcnad.topology.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
TCNAD_SERVICES = ("worker", "producer", "alerts")
KNOWN_ENV = {
    "TCNAD_KAFKA_BOOTSTRAP",
    "TCNAD_REDIS_URL",
    "TCNAD_READINGS_TOPIC",
    "TCNAD_ALERTS_TOPIC",
    "TCNAD_DLQ_TOPIC",
    "TCNAD_SCORES_TOPIC",
    "TCNAD_PARTITIONS",
    "TCNAD_GROUP_ID",
    "TCNAD_MODEL",
    "TCNAD_DEVICE",
    "TCNAD_NAMESPACE",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    return data


def _services(compose: dict[str, Any]) -> dict[str, Any]:
    services: dict[str, Any] = compose["services"]
    return services


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    services = _services(compose)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert not [name for name in services if "zookeeper" in name]
    listeners = env["KAFKA_ADVERTISED_LISTENERS"]
    assert "PLAINTEXT://kafka:9092" in listeners.split(",")


def test_redis_persists_append_only(compose: dict[str, Any]) -> None:
    redis = _services(compose)["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_worker_scales(compose: dict[str, Any]) -> None:
    worker = _services(compose)["worker"]
    assert "container_name" not in worker  # a fixed name forbids --scale
    assert "ports" not in worker  # so does a fixed host port
    assert worker["build"]["dockerfile"] == "docker/Dockerfile"
    assert (DOCKER / worker["build"]["context"] / worker["build"]["dockerfile"]).is_file()


@pytest.mark.parametrize("name", TCNAD_SERVICES)
def test_tcnad_services_run_real_commands(compose: dict[str, Any], name: str) -> None:
    service = _services(compose)[name]
    command = service["command"]
    assert command[0] in COMMANDS
    build_parser().parse_args(command)  # flags in the compose file exist in the CLI
    env = service["environment"]
    assert set(env) <= KNOWN_ENV, set(env) - KNOWN_ENV
    assert env["TCNAD_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["TCNAD_REDIS_URL"].startswith("redis://redis:6379/")


def test_topics_service_matches_the_settings(compose: dict[str, Any]) -> None:
    services = _services(compose)
    env = services["worker"]["environment"]
    script = "\n".join(services["topics"]["command"])
    topics = set(re.search(r"for t in ([^;]+);", script).group(1).split())  # type: ignore[union-attr]
    assert topics == {
        env["TCNAD_READINGS_TOPIC"],
        env["TCNAD_ALERTS_TOPIC"],
        env["TCNAD_DLQ_TOPIC"],
    }
    assert f"--partitions {env['TCNAD_PARTITIONS']}" in script


def test_dockerfile_cpu_default_cuda_by_argument() -> None:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:\S*slim", dockerfile, flags=re.M)
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in dockerfile
    spec = re.search(r'^ARG TORCH_SPEC="([^"]+)"', dockerfile, flags=re.M)
    assert spec is not None
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"{spec.group(1)}"' in pyproject  # the image installs the package's torch range
    for path in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):
        assert (ROOT / path).exists(), path
    assert 'ENTRYPOINT ["tcnad"]' in dockerfile


def test_kafka_keeps_its_log_on_a_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    log_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert f"kafka-data:{log_dir}" in kafka["volumes"]
    assert "kafka-data" in compose["volumes"]


def test_the_worker_healthcheck_asks_its_health_endpoint(compose: dict[str, Any]) -> None:
    from tcnad.topology.settings import Settings

    env = compose["x-tcnad-env"]
    port = int(env.get("TCNAD_METRICS_PORT", Settings.model_fields["metrics_port"].default))
    check = " ".join(compose["services"]["worker"]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/health" in check


@pytest.fixture(scope="module")
def cluster_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DOCKER / "docker-compose.cluster.yml").read_text())
    return data


def test_the_cluster_variant_has_three_masters_with_a_replica_each(
    cluster_compose: dict[str, Any],
) -> None:
    services = _services(cluster_compose)
    nodes = sorted(name for name in services if name.startswith("redis-") and name[6:].isdigit())
    assert nodes == [f"redis-{k}" for k in range(1, 7)]
    for name in nodes:
        command = services[name]["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert command[command.index("--appendonly") + 1] == "yes"
        assert command[command.index("--cluster-announce-hostname") + 1] == name
        assert f"{name}-data:/data" in services[name]["volumes"]
    create = " ".join(services["redis-cluster"]["command"])
    assert "--cluster-replicas 1" in create and all(f"{n}:6379" in create for n in nodes)


def test_the_cluster_variant_differs_from_the_base_only_in_redis(
    compose: dict[str, Any], cluster_compose: dict[str, Any]
) -> None:
    base, cluster = _services(compose), _services(cluster_compose)
    env = dict(compose["x-tcnad-env"])
    env.update(TCNAD_REDIS_URL="redis://redis-1:6379/0", TCNAD_REDIS_CLUSTER="1")
    assert cluster_compose["x-tcnad-env"] == env
    assert cluster["kafka"] == base["kafka"] and cluster["topics"] == base["topics"]
    for name in TCNAD_SERVICES:
        want = dict(base[name])
        if "redis" in want.get("depends_on", {}):
            deps = dict(want["depends_on"])
            del deps["redis"]
            deps["redis-cluster"] = {"condition": "service_completed_successfully"}
            want["depends_on"] = deps
        want["environment"] = env
        assert cluster[name] == want, name
