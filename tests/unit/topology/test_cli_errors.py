"""A bad TCNAD_ variable or flag is one line on stderr naming it, its value and what is
allowed, with exit code 2, for every command and for ``tcnad --help``; secrets never show."""

from __future__ import annotations

import importlib

import pytest
from pydantic import ValidationError

from tcnad.topology.settings import Settings, check_kafka_bootstrap, check_redis_url

cli = importlib.import_module("tcnad.topology.cli.main")  # the package re-exports main()


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:pw@redis:6379/0",
        "redis://user:pw@redis/0",
        "rediss://redis.example:6380/0?ssl_cert_reqs=required",
        "unix:///run/redis.sock?db=0",
    ],
)
def test_redis_urls_redis_py_can_use_are_accepted(url: str) -> None:
    assert check_redis_url(url) == url and Settings(redis_url=url).redis_url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("localhost:6379", "must be a redis://, rediss:// or unix:// URL"),
        ("http://redis:6379/0", "must be a redis://, rediss:// or unix:// URL"),
        ("redis://redis:port/0", "not a usable URL"),
        ("redis:///0", "needs a host"),
        ("unix://", "needs the socket's path"),
    ],
)
def test_other_redis_urls_are_refused_saying_what_is_allowed(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_redis_url(url)
    with pytest.raises(ValidationError, match="redis_url"):
        Settings(redis_url=url)


def test_kafka_bootstrap_is_host_port_pairs() -> None:
    assert check_kafka_bootstrap("k1:9092, k2:9093") == "k1:9092,k2:9093"
    assert check_kafka_bootstrap("[::1]:9092") == "[::1]:9092"
    for bad in ("k1", "k1:9092,", "kafka://k1:9092", "k1:0", "k1:99999", ""):
        with pytest.raises(ValueError, match="host:port"):
            check_kafka_bootstrap(bad)
    with pytest.raises(ValidationError, match="kafka_bootstrap"):
        Settings(kafka_bootstrap="k1")


def test_a_bad_variable_is_named_with_its_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TCNAD_PARTITIONS", "abc")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert cli.describe(info.value) == (
        "TCNAD_PARTITIONS='abc' is not valid: "
        "Input should be a valid integer, unable to parse string as an integer"
    )


def test_a_flag_is_named_by_the_flag_and_several_errors_share_the_line() -> None:
    with pytest.raises(cli.BadSetting) as info:
        cli.settings_from(
            {"partitions": ("--partitions", "0"), "log_level": ("--log-level", "loud")}
        )
    assert str(info.value) == (
        "--partitions='0' is not valid: Input should be greater than or equal to 1; "
        "--log-level='loud' is not valid: "
        "Input should be 'crit', 'error', 'warn', 'info' or 'debug'"
    )


def test_a_check_across_fields_is_one_line_too() -> None:
    with pytest.raises(cli.BadSetting, match=r"^invalid settings: batch_min_size \(30000\)"):
        cli.settings_from(
            {
                "batch_min_size": ("--batch-min-size", "30000"),
                "batch_max_size": ("--batch-max-size", "20000"),
            }
        )


def test_passwords_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCNAD_REDIS_URL", "http://:hunter2@redis:6379/0")
    with pytest.raises(cli.BadSetting) as info:
        cli.settings_from({})
    assert "hunter2" not in str(info.value)
    assert str(info.value).startswith("TCNAD_REDIS_URL='http://:***@redis:6379/0' is not valid")
    assert cli.shown_value("kafka_sasl_password", "hunter2") == "'***'"


def test_tcnad_help_with_a_bad_variable_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TCNAD_PARTITIONS", "abc")
    assert cli.main(["--help"]) == 2
    captured = capsys.readouterr()
    assert one_line(captured.err).startswith("tcnad: TCNAD_PARTITIONS='abc' is not valid: ")
    assert captured.out == ""


def test_a_bad_worker_flag_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["worker", "--redis-url", "localhost:6379"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "tcnad worker: --redis-url='localhost:6379' is not valid: must be a redis://, "
        "rediss:// or unix:// URL, e.g. redis://127.0.0.1:6379/0"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["produce", "--partitions", "x"], "tcnad produce: --partitions='x' is not valid: "),
        (["alerts", "--bootstrap", "nope"], "tcnad alerts: --bootstrap='nope' is not valid: "),
    ],
)
def test_the_kafka_tools_check_their_flags_through_settings(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert one_line(capsys.readouterr().err).startswith(expected)


def test_the_kafka_tools_default_to_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from tcnad.topology.cli import produce

    monkeypatch.setenv("TCNAD_KAFKA_BOOTSTRAP", "k1:9092")
    monkeypatch.setenv("TCNAD_READINGS_TOPIC", "r")
    monkeypatch.setenv("TCNAD_PARTITIONS", "3")
    args = cli.build_parser().parse_args(["produce", "--partitions", "2"])
    produce._kafka_settings(args)
    assert (args.bootstrap, args.topic, args.partitions) == ("k1:9092", "r", 2)


def test_usage_errors_are_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["worker", "--log-level", "loud"])
    assert info.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("tcnad worker: argument -l/--log-level: invalid choice: 'loud'")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"tcnad {cli.package_version()}\n"
    assert cli.package_version()[0].isdigit()


def test_worker_help_hides_the_redis_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TCNAD_REDIS_URL", "redis://:hunter2@redis:6379/0")
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit):
        cli.main(["worker", "--help"])
    out = capsys.readouterr().out
    assert "redis://:***@redis:6379/0" in out and "hunter2" not in out
