"""Settings come from TCNAD_* variables; `tcnad worker` flags override them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tcnad.topology.cli import build_parser
from tcnad.topology.cli.worker import settings_from_args
from tcnad.topology.settings import Settings


def test_environment_variables_with_the_prefix_fill_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TCNAD_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("TCNAD_PARTITIONS", "3")
    monkeypatch.setenv("TCNAD_ALERT_WARMUP", "50")
    s = Settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092" and s.partitions == 3
    assert s.alert_policy_overrides() == {"warmup": 50}
    assert Settings().scores_topic == "" and s.dlq_topic == "readings-dlq"


def test_bad_values_are_refused_with_the_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCNAD_PARTITIONS", "0")
    with pytest.raises(ValidationError, match="partitions"):
        Settings()


def test_settings_are_frozen() -> None:
    with pytest.raises(ValidationError):
        Settings().partitions = 2  # type: ignore[misc]


def test_worker_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCNAD_REDIS_URL", "redis://env:1/0")
    monkeypatch.setenv("TCNAD_GROUP_ID", "from-env")
    args = build_parser().parse_args(
        ["worker", "--redis-url", "redis://flag:2/0", "--no-metrics", "-l", "debug"]
    )
    s = settings_from_args(args)
    assert s.redis_url == "redis://flag:2/0" and s.group_id == "from-env"
    assert not s.metrics_enabled and s.log_level == "debug"


def test_a_batch_floor_above_the_batch_cap_is_refused() -> None:
    with pytest.raises(ValidationError, match="batch_min_size"):
        Settings(batch_min_size=30_000, batch_max_size=20_000)
    assert Settings(batch_min_size=20_000, batch_max_size=20_000).batch_min_size == 20_000
    assert Settings(batch_max_size=400).batch_max_size == 400  # the default floor follows


def test_the_history_weight_setting_reaches_the_alert_policy() -> None:
    from tcnad.topology.settings import Settings

    assert "history_weight" not in Settings().alert_policy_overrides()
    s = Settings(alert_history_weight=0.01)
    assert s.alert_policy_overrides()["history_weight"] == 0.01
    from tcnad.detector.scoring import AlertPolicy

    assert AlertPolicy(**s.alert_policy_overrides()).likelihood.history_weight == 0.01
