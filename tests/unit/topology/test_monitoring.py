"""docker/prometheus and docker/grafana: the dashboard and the alert rules name only metrics
a worker exports, Prometheus finds every worker replica, and promtool accepts the files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tcnad.topology.settings import Settings
from tcnad.topology.worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "docker"
PROMETHEUS = DOCKER / "prometheus"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "tcnad.json"
NAME = re.compile(r"\btcnad_[a-z0-9_]+")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def exported() -> set[str]:
    """Every series name a worker's /metrics can show."""
    names = set()
    for family in WorkerMetrics().registry.collect():
        names.update(family.name + s for s in SUFFIXES[family.type])
    return names


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_exported_names_follow_the_exposition_format() -> None:
    names = exported()
    assert {"tcnad_alerts_total", "tcnad_consumer_lag", "tcnad_batch_seconds_bucket"} <= names
    assert "tcnad_alerts" not in names  # a counter is only ever NAME_total


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_only_exported_metrics_are_named(source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else [r["expr"] for r in rules()]
    named = {n for e in exprs for n in NAME.findall(e)}
    assert named, source
    assert named - exported() == set()


def test_the_check_sees_a_wrong_name() -> None:
    assert NAME.findall("rate(tcnad_alerts[5m]) + tcnad_lag") == ["tcnad_alerts", "tcnad_lag"]
    assert not {"tcnad_alerts", "tcnad_lag"} <= exported()


def test_the_dashboard_shows_what_operators_watch() -> None:
    named = {n for e in dashboard_exprs() for n in NAME.findall(e)}
    assert {
        "tcnad_readings_applied_total",
        "tcnad_consumer_lag",
        "tcnad_batch_seconds_bucket",
        "tcnad_state_save_seconds_bucket",
        "tcnad_alerts_total",
        "tcnad_dead_letters_total",
        "tcnad_fenced_saves_total",
        "tcnad_state_regressions_total",
        "tcnad_hot_streams",
        "tcnad_batch_stage_seconds_total",
    } <= named
    dash = json.loads(DASHBOARD.read_text())
    assert len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    assert any("by (reason)" in e for e in dashboard_exprs())


def test_the_rules_cover_the_failures() -> None:
    names = {r["alert"] for r in rules()}
    assert {
        "TcnadWorkerDown",
        "TcnadLagGrowing",
        "TcnadDeadLetters",
        "TcnadStoreUnavailable",
        "TcnadSaveLatencyHigh",
    } <= names
    lag = next(r for r in rules() if r["alert"] == "TcnadLagGrowing")
    assert lag["for"] == "5m"


def test_prometheus_scrapes_every_worker_replica_on_the_metrics_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "tcnad-worker")
    (sd,) = job["dns_sd_configs"]
    port = Settings.model_fields["metrics_port"].default
    assert sd["names"] == ["worker"] and sd["type"] == "A" and sd["port"] == port
    assert config["rule_files"] == ["rules.yml"]
    assert any('job="tcnad-worker"' in r["expr"] for r in rules())


def test_compose_mounts_the_monitoring_files() -> None:
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    services = compose["services"]
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for mount in mounts:
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (DOCKER / source).exists(), mount
    assert "./prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    provider = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/tcnad.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert f"./grafana/dashboards:{path}:ro" in services["grafana"]["volumes"]
    source = yaml.safe_load(
        (DOCKER / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    dash = json.loads(DASHBOARD.read_text())
    uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
    assert uids == {source["uid"]}


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install prometheus); "
    "the metric-name checks above ran",
)
@pytest.mark.parametrize(
    "args", [["check", "rules", "rules.yml"], ["check", "config", "prometheus.yml"]]
)
def test_promtool_accepts_the_files(args: list[str]) -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
